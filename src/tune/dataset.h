/* dataset.h: labelled images, decoded to 8-bit pixels.
 *
 * JPEG images are decoded with libjpeg, resized so the shorter side is
 * `resize` with an antialiased triangle filter and centre-cropped, exactly
 * as ../shared/models/README.md describes the reference pipeline.  IDX
 * images are used as they are (one gray channel). */
#ifndef ONNXQ_DATASET_H
#define ONNXQ_DATASET_H

#include "onnxq/eval.h"

typedef enum { DATASET_JPEG, DATASET_IDX } dataset_kind;

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
    uint8_t *pixels;       /* IDX: n * rows * cols, in item order */
    int rows, cols;
    int classes;           /* number of classes named by the labels (0: unknown) */
    /* The whole listing the items were chosen from (a sample or a part of
     * a split keeps its parent's): its size, and a key naming its files,
     * their sizes and times, so that every selection shares one cache. */
    size_t listing_n;
    uint64_t listing_key;
};

/* 64-bit FNV-1a, for cache keys. */
uint64_t dataset_hash(uint64_t h, const void *data, size_t n);
#define DATASET_HASH_SEED 0xcbf29ce484222325ull

/* Image i: JPEG as crop x crop x 3 RGB bytes, IDX as rows x cols gray bytes. */
onnxq_status dataset_load_pixels(const onnxq_dataset *ds, size_t i, int resize, int crop,
                                 uint8_t *out, onnxq_error *err);

/* Decode a JPEG file to RGB (grayscale replicated, CMYK converted). */
onnxq_status jpeg_read_rgb(const char *path, uint8_t **rgb, int *width, int *height,
                           onnxq_error *err);

/* The reference resize and crop of an RGB image. */
void resize_crop(const uint8_t *rgb, int width, int height, int resize, int crop, uint8_t *out);

#endif
