/* decode_tensor.c: decode one tensor of a compressed model, as a device would.
 *
 *   decode_tensor MODEL.onnx NAME OUT.bin
 *
 * Finds the bitstream NAME::onnxq in a model written by `onnxq compress`,
 * decodes it with the allocation-free API of onnxq/decode.h into buffers
 * sized from its header, and writes the decoded element bytes to OUT.bin.
 * (On a device the bitstream would come from flash; here libonnxq reads it
 * out of the ONNX file.)  Build against an installed libonnxq with
 *   cc decode_tensor.c $(pkg-config --cflags --libs onnxq)
 */
#include <onnxq/decode.h>
#include <onnxq/onnxq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: decode_tensor MODEL.onnx NAME OUT.bin\n");
        return 2;
    }
    onnxq_error err;
    onnxq_model *model;
    if (onnxq_model_open(argv[1], &model, &err) != ONNXQ_OK) {
        fprintf(stderr, "decode_tensor: %s\n", err.message);
        return 1;
    }
    char packed[1024];
    snprintf(packed, sizeof packed, "%s::onnxq", argv[2]);
    size_t index = onnxq_model_find_tensor(model, packed);
    if (index == (size_t)-1) {
        fprintf(stderr, "decode_tensor: %s: no compressed tensor '%s'\n", argv[1], argv[2]);
        onnxq_model_free(model);
        return 1;
    }
    onnxq_tensor_info tinfo;
    onnxq_model_tensor_info(model, index, &tinfo);
    unsigned char *stream = malloc(tinfo.bytes);
    if (!stream || onnxq_tensor_read_raw(model, index, stream, tinfo.bytes, &err) != ONNXQ_OK) {
        fprintf(stderr, "decode_tensor: %s\n", stream ? err.message : "out of memory");
        return 1;
    }
    onnxq_model_free(model);

    /* From here on: no protobuf, and the decoder allocates nothing. */
    onnxq_stream_info info;
    if (onnxq_stream_inspect(stream, tinfo.bytes, &info, &err) != ONNXQ_OK) {
        fprintf(stderr, "decode_tensor: %s\n", err.message);
        return 1;
    }
    void *out = malloc(info.bytes + 1), *workspace = malloc(info.workspace + 1);
    if (!out || !workspace ||
        onnxq_stream_decode(stream, tinfo.bytes, out, info.bytes, workspace, info.workspace,
                            &err) != ONNXQ_OK) {
        fprintf(stderr, "decode_tensor: %s\n", out && workspace ? err.message : "out of memory");
        return 1;
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(out, 1, info.bytes, f) != info.bytes || fclose(f) != 0) {
        fprintf(stderr, "decode_tensor: %s: cannot write\n", argv[3]);
        return 1;
    }
    printf("%s: %s, %llu elements, %llu bytes from a %llu-byte bitstream (workspace %zu)\n",
           argv[2], onnxq_dtype_name(info.dtype), (unsigned long long)info.elements,
           (unsigned long long)info.bytes, (unsigned long long)tinfo.bytes, info.workspace);
    free(stream);
    free(out);
    free(workspace);
    return 0;
}
