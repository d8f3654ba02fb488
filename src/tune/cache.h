/* cache.h: the preprocessed-image cache.
 *
 * Decoding and resizing JPEG files takes longer than running a small
 * model, so the 8-bit crops are kept.  There is one file per listing (the
 * folder's complete list of images, see dataset.h) and crop: records of
 * (image, decoded or not, pixels), appended as images get decoded.  Every
 * sample or part of a split of a listing reads and fills the same file,
 * and the files together stay under a limit, the least recently used
 * going first. */
#ifndef ONNXQ_CACHE_H
#define ONNXQ_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "dataset.h"

#define CACHE_DEFAULT_LIMIT (1ull << 30)

/* Image states, per item of the dataset. */
enum { CACHE_MISSING = 0, CACHE_DECODED = 1, CACHE_FAILED = 2 };

/* Read the images of ds the cache holds into data (image_bytes each, in
 * item order) and set their state; the others stay CACHE_MISSING.
 * Returns how many were found. */
size_t cache_fetch(const char *dir, const onnxq_dataset *ds, int resize, int crop,
                   size_t image_bytes, uint8_t *data, unsigned char *state);

/* Append the images marked in `fresh` (decoded, or failed, now), as far as
 * the limit allows, then evict other files, least recently used first,
 * until the cache is within `limit` bytes (0: CACHE_DEFAULT_LIMIT).  A
 * cache that cannot be written is left alone: it is only a cache. */
void cache_store(const char *dir, const onnxq_dataset *ds, int resize, int crop,
                 size_t image_bytes, const uint8_t *data, const unsigned char *state,
                 const unsigned char *fresh, uint64_t limit);

#endif
