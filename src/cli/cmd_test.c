/* cmd_test.c: `onnxq test`, decoding every bitstream and writing nothing
 * (as `zstd -t` does). */
#include "config.h"
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void test_usage(FILE *out)
{
    fputs("Usage: onnxq test [OPTIONS] FILE...\n"
          "Decode every ai.onnxq bitstream of compressed models, checking each one's CRC\n"
          "and declared sizes, and write nothing.  Exits 0 when every file decodes, or\n"
          "with the error of the first damaged tensor (its file and name).\n"
          "\nOptions:\n"
          "  -q, --quiet    print nothing but errors\n"
          "  -h, --help     show this help\n"
          "      --version  show the version\n",
          out);
}

/* Decode each compressed weight of one file: 0, or an exit code. */
static int test_file(const char *path, int quiet)
{
    onnxq_error err;
    onnxq_model *m;
    if (cli_open_model(path, &m, &err) != ONNXQ_OK)
        return cli_fail(&err);
    int rc = 0;
    if (!onnxq_model_is_compressed(m)) {
        fprintf(stderr, "onnxq: %s: not compressed by onnxq (no ai.onnxq tensors)\n", path);
        rc = (int)ONNXQ_ERR_ARGUMENT;
    }
    size_t n = onnxq_model_weight_count(m), coded = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        onnxq_weight_info info;
        if (onnxq_model_weight_info(m, i, &info, &err) != ONNXQ_OK) {
            rc = cli_fail(&err);
            break;
        }
        if (!info.compressed)
            continue;
        void *buf = malloc(info.bytes + 1);
        if (!buf) {
            fprintf(stderr, "onnxq: %s: out of memory for tensor '%s'\n", path, info.name);
            rc = (int)ONNXQ_ERR_NOMEM;
        } else if (onnxq_model_weight_read(m, i, buf, info.bytes, &err) != ONNXQ_OK) {
            rc = cli_fail(&err);
        }
        free(buf);
        coded++;
        bytes += info.bytes;
    }
    if (!rc && !quiet) {
        char a[32];
        printf("%s: OK, %zu tensors decoded (%s bytes)\n", path, coded,
               cli_group_digits(bytes, a, sizeof a));
    }
    onnxq_model_free(m);
    return rc;
}

int cmd_test(int argc, char **argv)
{
    static const struct option options[] = {
        {"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int quiet = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
        switch (c) {
        case 'q': quiet = 1; break;
        case 'h': test_usage(stdout); return 0;
        default:
            return cli_usage_error("test", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("test", "expects one or more FILEs");
    for (int i = optind; i < argc; i++) {
        int rc = test_file(argv[i], quiet);
        if (rc)
            return rc;
    }
    return 0;
}
