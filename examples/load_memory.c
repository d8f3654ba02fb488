/* load_memory.c: a compressed model from memory, two ways.
 *
 *   load_memory MODEL.onnxq.onnx PLAIN.onnx
 *
 * 1. onnxq_decompress_memory turns the compressed bytes into plain ONNX
 *    bytes, which any runtime that loads models from memory takes (for
 *    onnxruntime, CreateSessionFromArray); here they are written to
 *    PLAIN.onnx, byte for byte what `onnxq decompress` writes.
 * 2. The bundled engine runs the compressed model as it is, its weights
 *    decoded at load, on an input of zeros.
 * Build with
 *   cc load_memory.c $(pkg-config --cflags --libs onnxq)
 * or, against the static library,
 *   cc -static load_memory.c $(pkg-config --static --cflags --libs onnxq)
 */
#include <onnxq/engine.h>
#include <onnxq/onnxq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: load_memory MODEL.onnxq.onnx PLAIN.onnx\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    long len = -1;
    unsigned char *bytes = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0)
        bytes = malloc((size_t)len);
    if (!bytes || fread(bytes, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "load_memory: %s: cannot read\n", argv[1]);
        return 1;
    }
    fclose(f);

    onnxq_error err;
    void *plain;
    size_t plain_size;
    if (onnxq_decompress_memory(bytes, (size_t)len, &plain, &plain_size, &err) != ONNXQ_OK) {
        fprintf(stderr, "load_memory: %s\n", err.message);
        return 1;
    }
    f = fopen(argv[2], "wb");
    if (!f || fwrite(plain, 1, plain_size, f) != plain_size || fclose(f) != 0) {
        fprintf(stderr, "load_memory: %s: cannot write\n", argv[2]);
        return 1;
    }
    free(plain);

    onnxq_model *model;
    onnxq_engine *engine;
    if (onnxq_model_from_memory(bytes, (size_t)len, argv[1], NULL, &model, &err) != ONNXQ_OK ||
        onnxq_engine_create(model, NULL, &engine, &err) != ONNXQ_OK) {
        fprintf(stderr, "load_memory: %s\n", err.message);
        return 1;
    }
    onnxq_value_info in;
    onnxq_model_input(model, 0, &in);
    onnxq_tensor_view input = { ONNXQ_DTYPE_FLOAT, in.rank, {0}, NULL };
    size_t count = 1;
    for (int d = 0; d < in.rank; d++) {
        input.dims[d] = in.dims[d] > 0 ? in.dims[d] : 1;
        count *= (size_t)input.dims[d];
    }
    input.data = calloc(count, sizeof(float));
    onnxq_tensor_view out;
    if (!input.data || onnxq_engine_run(engine, &input, 1, &err) != ONNXQ_OK ||
        onnxq_engine_output(engine, 0, &out, &err) != ONNXQ_OK) {
        fprintf(stderr, "load_memory: %s\n", input.data ? err.message : "out of memory");
        return 1;
    }
    size_t outputs = 1;
    for (int d = 0; d < out.rank; d++)
        outputs *= (size_t)out.dims[d];
    printf("%s: %zu plain ONNX bytes; the engine ran it: %zu outputs, the first %g\n", argv[1],
           plain_size, outputs, out.dtype == ONNXQ_DTYPE_FLOAT ? ((const float *)out.data)[0] : 0.0);
    free(input.data);
    onnxq_engine_free(engine);
    onnxq_model_free(model);
    free(bytes);
    return 0;
}
