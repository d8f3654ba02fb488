/* decode_stream.c: decode one tensor's bitstream on a device, with the
 * decoder alone (libonnxq-decode: libc and libm, zstd optional).
 *
 *   decode_stream STREAM.bin OUT.bin
 *
 * STREAM.bin holds the bytes of one initializer NAME::onnxq of a model
 * written by `onnxq compress` (`onnxq inspect --extract NAME` writes it on
 * the host).  The decoder allocates nothing: the output and the workspace
 * are sized from the stream's header, here with malloc, on a device from a
 * static arena.  Build with
 *   cc decode_stream.c $(pkg-config --cflags --libs onnxq-decode)
 */
#include <onnxq/decode.h>

#include <stdio.h>
#include <stdlib.h>

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long len;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)len + 1)) && fread(data, 1, (size_t)len, f) == (size_t)len) {
        *size = (size_t)len;
        fclose(f);
        return data;
    }
    if (f)
        fclose(f);
    free(data);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: decode_stream STREAM.bin OUT.bin\n");
        return 2;
    }
    size_t size;
    unsigned char *stream = read_all(argv[1], &size);
    if (!stream) {
        fprintf(stderr, "decode_stream: %s: cannot read\n", argv[1]);
        return 1;
    }
    onnxq_error err;
    onnxq_stream_info info;
    if (onnxq_stream_inspect(stream, size, &info, &err) != ONNXQ_OK) {
        fprintf(stderr, "decode_stream: %s: %s\n", argv[1], err.message);
        return 1;
    }
    void *out = malloc(info.bytes + 1), *workspace = malloc(info.workspace + 1);
    if (!out || !workspace ||
        onnxq_stream_decode(stream, size, out, info.bytes, workspace, info.workspace, &err) !=
            ONNXQ_OK) {
        fprintf(stderr, "decode_stream: %s: %s\n", argv[1], out && workspace ? err.message : "out of memory");
        return 1;
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(out, 1, info.bytes, f) != info.bytes || fclose(f) != 0) {
        fprintf(stderr, "decode_stream: %s: cannot write\n", argv[2]);
        return 1;
    }
    printf("%s: %s, %llu elements, %llu bytes from a %zu-byte bitstream (workspace %zu)\n", argv[1],
           onnxq_dtype_name(info.dtype), (unsigned long long)info.elements,
           (unsigned long long)info.bytes, size, info.workspace);
    free(stream);
    free(out);
    free(workspace);
    return 0;
}
