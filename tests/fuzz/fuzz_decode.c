/* fuzz_decode.c: the decoder library alone, through its public API
 * (onnxq/decode.h), as a device would call it, built from src/common and
 * src/decode only.  The memory limit, not the fuzzer, bounds what a
 * stream may claim.  Each input goes in as it is and with its CRC made
 * right, so the parser sees past the check. */
#include "config.h"
#include "common/crc32.h"
#include "onnxq/decode.h"

#include <stdlib.h>
#include <string.h>

static void decode(const uint8_t *in, size_t size)
{
    onnxq_error err;
    onnxq_stream_info info;
    if (onnxq_stream_inspect(in, size, &info, &err) != ONNXQ_OK)
        return;
    void *out = malloc(info.bytes + 1), *ws = malloc(info.workspace + 1);
    if (out && ws)
        onnxq_stream_decode(in, size, out, info.bytes, ws, info.workspace, &err);
    free(out);
    free(ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    onnxq_set_memory_limit(64u << 20);
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
