/* dataset.h: labelled images, decoded to 8-bit pixels.
 *
 * JPEG images are decoded with libjpeg, resized so the shorter side is
 * `resize` with an antialiased triangle filter and centre-cropped, exactly
 * as ../shared/models/README.md describes the reference pipeline.  IDX
 * images are used as they are (one gray channel). */
#ifndef ONNXQ_DATASET_H
#define ONNXQ_DATASET_H

#include "onnxq/eval.h"

/* JPEG files read when scored; IDX and synthetic images held in memory. */
typedef enum { DATASET_JPEG, DATASET_IDX, DATASET_SYNTHETIC } dataset_kind;

typedef struct dataset_item {
    char *path;    /* JPEG file */
    int label;     /* class index */
    size_t origin; /* its place in the whole listing (the cache's record key) */
} dataset_item;

struct onnxq_dataset {
    dataset_kind kind;
    char *source;          /* the folder or IDX file, for messages and the cache key */
    size_t n;
    dataset_item *items;
    uint8_t *pixels;       /* in memory: n * rows * cols * channels, in item order */
    int rows, cols, channels;
    int classes;           /* number of classes named by the labels (0: unknown) */
    /* The whole listing the items were chosen from (a sample or a part of
     * a split keeps its parent's): its size, and a key naming its files,
     * their sizes and times, so that every selection shares one cache. */
    size_t listing_n;
    uint64_t listing_key;
};

/* An empty dataset of this kind, named by `source`; NULL when out of
 * memory.  Once its items are in, dataset_seal names the listing. */
onnxq_dataset *dataset_new(dataset_kind kind, const char *source);
void dataset_seal(onnxq_dataset *ds);

/* n synthetic images (synthetic.c) of rows x cols x channels (1 or 3)
 * pixels, all of label 0, the same for the same seed. */
onnxq_status dataset_synthetic(int channels, int rows, int cols, size_t n, uint64_t seed,
                               onnxq_dataset **out, onnxq_error *err);

/* 64-bit FNV-1a, for cache keys. */
uint64_t dataset_hash(uint64_t h, const void *data, size_t n);
#define DATASET_HASH_SEED 0xcbf29ce484222325ull

/* The images are held in memory (pixels), not read from files. */
static inline int dataset_in_memory(const onnxq_dataset *ds) { return ds->kind != DATASET_JPEG; }

/* Bytes of one image held in memory. */
static inline size_t dataset_image_bytes(const onnxq_dataset *ds)
{
    return (size_t)ds->rows * (size_t)ds->cols * (size_t)ds->channels;
}

/* Image i: JPEG as crop x crop x 3 RGB bytes, in memory as rows x cols x
 * channels bytes. */
onnxq_status dataset_load_pixels(const onnxq_dataset *ds, size_t i, int resize, int crop,
                                 uint8_t *out, onnxq_error *err);

/* Decode a JPEG file to RGB (grayscale replicated, CMYK converted). */
onnxq_status jpeg_read_rgb(const char *path, uint8_t **rgb, int *width, int *height,
                           onnxq_error *err);

/* The reference resize and crop of an RGB image. */
void resize_crop(const uint8_t *rgb, int width, int height, int resize, int crop, uint8_t *out);

#endif
