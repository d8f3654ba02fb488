/* limit.c: the memory limit decoding honours (onnxq/common.h). */
#include "config.h"
#include "limit.h"
#include "onnxq/common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* UINT64_MAX: not yet read from the environment. */
static _Atomic uint64_t limit_bytes = UINT64_MAX;

int limit_parse_size(const char *text, uint64_t *bytes)
{
    char *end;
    double v = strtod(text, &end);
    double unit = !strcmp(end, "") ? 1 : !strcmp(end, "K") ? 1024.0 : !strcmp(end, "M") ? 1048576.0
                : !strcmp(end, "G") ? 1073741824.0 : 0;
    if (end == text || !(v >= 0) || !unit || v * unit >= 1.8e19)
        return -1;
    *bytes = (uint64_t)(v * unit);
    return 0;
}

void onnxq_set_memory_limit(uint64_t bytes) { limit_bytes = bytes; }

uint64_t onnxq_memory_limit(void)
{
    uint64_t v = limit_bytes;
    if (v == UINT64_MAX) {
        const char *env = getenv("ONNXQ_MEMORY_LIMIT");
        uint64_t parsed = 0;
        v = env && limit_parse_size(env, &parsed) == 0 ? parsed : 0;
        limit_bytes = v;
    }
    return v;
}
