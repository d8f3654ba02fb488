/* limit.h: sizes as users write them (500M, 2G), for the memory limit. */
#ifndef ONNXQ_LIMIT_H
#define ONNXQ_LIMIT_H

#include <stdint.h>

/* Bytes, with an optional K, M or G (powers of 1024); 0, or -1. */
int limit_parse_size(const char *text, uint64_t *bytes);

#endif
