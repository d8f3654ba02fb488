/* bench_codec.c: encode and decode throughput of onnxq bitstreams.
 *
 *   bench_codec [--quantizer NAME] [--bits B] [--all] MODEL...
 *
 * For each model: the time onnxq_compress takes (one core), and the time to
 * decode every ai.onnxq tensor from memory into preallocated buffers, as MB/s
 * of decoded fp32 weights (quantized tensors, and all coded tensors).
 * Prints a table, then the same as CSV lines prefixed "csv,". */
#include "config.h"
#include "decode/codec.h"
#include "model/onnx_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct stream {
    uint8_t *data;
    size_t size;
    codec_info info;
    void *out, *ws;
} stream;

static int bench_model(const char *path, const onnxq_compress_options *o, FILE *csv)
{
    onnxq_error err;
    onnxq_model *m;
    if (onnxq_model_open(path, &m, &err) != ONNXQ_OK) {
        fprintf(stderr, "bench_codec: %s\n", err.message);
        return 1;
    }
    uint64_t weight_bytes = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        weight_bytes += m->tensors[i].bytes;
    onnxq_compress_report *r;
    double t0 = now();
    if (onnxq_compress(m, o, &r, &err) != ONNXQ_OK) {
        fprintf(stderr, "bench_codec: %s\n", err.message);
        onnxq_model_free(m);
        return 1;
    }
    double encode_s = now() - t0;

    stream *s = calloc(m->n_tensors + 1, sizeof *s);
    size_t ns = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *name = m->tensors[i].proto->name;
        size_t len = name ? strlen(name) : 0;
        if (len < 7 || strcmp(name + len - 7, "::onnxq"))
            continue;
        stream *st = &s[ns++];
        st->size = m->tensors[i].bytes;
        st->data = malloc(st->size);
        onnxq_tensor_read_raw(m, i, st->data, st->size, &err);
        codec_inspect(st->data, st->size, &st->info, name, &err);
        st->out = malloc(st->info.bytes + 1);
        st->ws = malloc(st->info.workspace + 1);
    }
    /* Decode everything repeatedly for at least a second. */
    double quant_s = 0, all_s = 0;
    uint64_t quant_bytes = 0, all_bytes = 0;
    int rounds = 0;
    double start = now();
    while (now() - start < 1.0 || rounds < 3) {
        for (size_t k = 0; k < ns; k++) {
            stream *st = &s[k];
            double a = now();
            if (codec_decode(st->data, st->size, st->out, st->info.bytes, st->ws,
                             st->info.workspace, "bench", &err) != ONNXQ_OK) {
                fprintf(stderr, "bench_codec: %s\n", err.message);
                return 1;
            }
            double dt = now() - a;
            uint64_t fp32 = st->info.elements * 4;
            all_s += dt;
            all_bytes += fp32;
            if (st->info.method == CODEC_QUANTIZED) {
                quant_s += dt;
                quant_bytes += fp32;
            }
        }
        rounds++;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    double enc = weight_bytes / encode_s / 1e6;
    double dq = quant_s > 0 ? quant_bytes / quant_s / 1e6 : 0;
    double da = all_s > 0 ? all_bytes / all_s / 1e6 : 0;
    double bpw = r->quantized_parameters ? 8.0 * r->quantized_payload_bytes / r->quantized_parameters : 0;
    printf("%-42s %10.1f %12.1f %12.1f %8.3f %8.2f\n", base, enc, dq, da, bpw,
           r->coded_bytes ? (double)r->original_bytes / r->coded_bytes : 0);
    fprintf(csv, "csv,%s,%s,%g,%.1f,%.1f,%.1f,%.4f,%.4f\n", base, onnxq_quantizer_name(o->quantizer),
            o->bits, enc, dq, da, bpw, r->coded_bytes ? (double)r->original_bytes / r->coded_bytes : 0);
    for (size_t k = 0; k < ns; k++) {
        free(s[k].data);
        free(s[k].out);
        free(s[k].ws);
    }
    free(s);
    onnxq_compress_report_free(r);
    onnxq_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    onnxq_compress_options o;
    onnxq_compress_defaults(&o);
    int first = 1;
    while (first < argc && argv[first][0] == '-') {
        if (!strcmp(argv[first], "--all")) {
            o.min_size = 0;
            o.include_1d = 1;
            first++;
        } else if (!strcmp(argv[first], "--bits") && first + 1 < argc) {
            o.bits = atof(argv[first + 1]);
            first += 2;
        } else if (!strcmp(argv[first], "--quantizer") && first + 1 < argc) {
            const char *q = argv[first + 1];
            o.quantizer = !strcmp(q, "midrise") ? ONNXQ_QUANT_MIDRISE
                          : !strcmp(q, "midtread") ? ONNXQ_QUANT_MIDTREAD
                          : !strcmp(q, "mulaw") ? ONNXQ_QUANT_MULAW
                          : !strcmp(q, "float") ? ONNXQ_QUANT_FLOAT
                          : !strcmp(q, "int") ? ONNXQ_QUANT_INT
                          : !strcmp(q, "none") ? ONNXQ_QUANT_NONE : ONNXQ_QUANT_DEADZONE;
            first += 2;
        } else {
            fprintf(stderr, "usage: bench_codec [--quantizer NAME] [--bits B] [--all] MODEL...\n");
            return 2;
        }
    }
    printf("%-42s %10s %12s %12s %8s %8s\n", "model", "enc MB/s", "dec MB/s (q)", "dec MB/s (all)",
           "b/w", "ratio");
    int rc = 0;
    for (int i = first; i < argc; i++)
        rc |= bench_model(argv[i], &o, stdout);
    return rc;
}
