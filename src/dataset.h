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
} dataset_item;

struct onnxq_dataset {
    dataset_kind kind;
    char *source;          /* the folder or IDX file, for messages and the cache key */
    size_t n;
    dataset_item *items;   /* JPEG */
    uint8_t *pixels;       /* IDX: n * rows * cols */
    int rows, cols;
    int classes;           /* number of classes named by the labels (0: unknown) */
};

/* Image i: JPEG as crop x crop x 3 RGB bytes, IDX as rows x cols gray bytes. */
onnxq_status dataset_load_pixels(const onnxq_dataset *ds, size_t i, int resize, int crop,
                                 uint8_t *out, onnxq_error *err);

/* Decode a JPEG file to RGB (grayscale replicated, CMYK converted). */
onnxq_status jpeg_read_rgb(const char *path, uint8_t **rgb, int *width, int *height,
                           onnxq_error *err);

/* The reference resize and crop of an RGB image. */
void resize_crop(const uint8_t *rgb, int width, int height, int resize, int crop, uint8_t *out);

#endif
