/* crc32.h: CRC-32 (the zlib/PNG polynomial), with no dependency so the
 * device decoder can check bitstreams on its own. */
#ifndef ONNXQ_CRC32_H
#define ONNXQ_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Start with crc = 0; feed data in pieces by passing the previous result. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t size);

#endif
