/* fuzz_codec.c: the bitstream decoder.  Each input is decoded as it is,
 * which the CRC almost always stops, and again with its last four bytes
 * replaced by the CRC of the rest, which lets the parser see it. */
#include "config.h"
#include "common/crc32.h"
#include "decode/codec.h"

#include <stdlib.h>
#include <string.h>

#define MAX_OUTPUT (64u << 20)

static void decode(const uint8_t *in, size_t size)
{
    onnxq_error err;
    codec_info info;
    if (codec_inspect(in, size, &info, "fuzz", &err) != ONNXQ_OK || info.bytes > MAX_OUTPUT ||
        info.workspace > MAX_OUTPUT)
        return;
    void *out = malloc(info.bytes + 1), *ws = malloc(info.workspace + 1);
    if (out && ws)
        codec_decode(in, size, out, info.bytes, ws, info.workspace, "fuzz", &err);
    free(out);
    free(ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size);
    if (size < 4)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint32_t crc = crc32_update(0, copy, size - 4);
    for (int i = 0; i < 4; i++)
        copy[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    decode(copy, size);
    free(copy);
    return 0;
}
