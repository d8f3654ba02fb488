/* fuzz_onnx.c: the ONNX loader, the tensor readers and the engine's binding
 * (which also decodes ai.onnxq tensors) on arbitrary bytes. */
#include "config.h"
#include "onnxq/engine.h"
#include "onnxq/onnxq.h"

#include <stdlib.h>

#define MAX_TENSOR_BYTES (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    onnxq_error err;
    onnxq_model *m;
    if (onnxq_model_from_memory(data, size, "fuzz", NULL, &m, &err) != ONNXQ_OK)
        return 0;
    for (size_t i = 0; i < onnxq_model_tensor_count(m); i++) {
        onnxq_tensor_info info;
        onnxq_model_tensor_info(m, i, &info);
        if (info.bytes > MAX_TENSOR_BYTES || info.external)
            continue;
        void *raw = malloc(info.bytes + 1);
        if (raw && info.bytes)
            onnxq_tensor_read_raw(m, i, raw, info.bytes, &err);
        free(raw);
    }
    onnxq_engine_options eo = { .threads = 1 };
    onnxq_engine *e;
    if (onnxq_engine_create(m, &eo, &e, &err) == ONNXQ_OK)
        onnxq_engine_free(e);
    onnxq_model_free(m);
    return 0;
}
