/* cmd_cache.c: `onnxq cache`, the decoded-image cache's size, or clearing it. */
#include "config.h"
#include "cli.h"
#include "data.h"
#include "json.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void cache_usage(FILE *out)
{
    fputs("Usage: onnxq cache [OPTIONS]\n"
          "Show how many files and bytes the cache of decoded images holds (eval, sweep\n"
          "and compress --max-drop keep images there, one file per image folder and\n"
          "preprocessing, at most --cache-limit, 1 GB by default), or clear it.\n"
          "\nOptions:\n"
          "      --cache DIR  the cache's folder (default $XDG_CACHE_HOME/onnxq or ~/.cache/onnxq)\n"
          "      --clear      delete the cache's files\n"
          "      --json       print the figures as JSON\n"
          "  -q, --quiet      print nothing but errors\n"
          "  -h, --help       show this help\n"
          "      --version    show the version\n",
          out);
}

int cmd_cache(int argc, char **argv)
{
    enum { OPT_CACHE = 256, OPT_CLEAR, OPT_JSON };
    static const struct option options[] = {
        {"cache", required_argument, NULL, OPT_CACHE}, {"clear", no_argument, NULL, OPT_CLEAR},
        {"json", no_argument, NULL, OPT_JSON},         {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
    };
    const char *given = NULL;
    int clear = 0, json = 0, quiet = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
        switch (c) {
        case OPT_CACHE: given = optarg; break;
        case OPT_CLEAR: clear = 1; break;
        case OPT_JSON: json = 1; break;
        case 'q': quiet = 1; break;
        case 'h': cache_usage(stdout); return 0;
        default: return cli_usage_error("cache", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage_error("cache", "takes no operands ('%s')", argv[optind]);
    char *dir = given ? strdup(given) : cli_default_cache();
    if (!dir) {
        fprintf(stderr, "onnxq: no cache folder: set HOME or give --cache DIR\n");
        return 1;
    }
    onnxq_error err;
    size_t files = 0;
    uint64_t bytes = 0;
    int rc = 0;
    if (onnxq_cache_usage(dir, &files, &bytes, &err) != ONNXQ_OK ||
        (clear && onnxq_cache_clear(dir, &err) != ONNXQ_OK))
        rc = cli_fail(&err);
    if (!rc && json) {
        json_writer w;
        json_init(&w, stdout);
        json_object_begin(&w, NULL);
        json_string(&w, "cache", dir);
        json_uint(&w, "files", files);
        json_uint(&w, "bytes", bytes);
        json_bool(&w, "cleared", clear);
        json_object_end(&w);
        json_finish(&w);
    } else if (!rc && !quiet) {
        char a[32];
        printf("%s: %zu files, %s bytes%s\n", dir, files, cli_group_digits(bytes, a, sizeof a),
               clear ? ", cleared" : "");
    }
    free(dir);
    return rc;
}
