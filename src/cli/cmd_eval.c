/* cmd_eval.c: `onnxq eval MODEL`: top-1 and top-5 on a labelled image set. */
#include "config.h"
#include "cli.h"
#include "json.h"
#include "onnxq/eval.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void eval_usage(FILE *out)
{
    fputs("Usage: onnxq eval [OPTIONS] MODEL --images DIR --preset NAME\n"
          "       onnxq eval [OPTIONS] MODEL --idx IMAGES LABELS\n"
          "Score a model (plain or compressed) with the bundled engine: top-1 and top-5\n"
          "accuracy, and with --reference the agreement and KL divergence against\n"
          "another model on the same images.\n"
          "\nImages:\n"
          "      --images DIR       JPEG images: DIR/<synset>_*.JPEG with a synset list,\n"
          "                         DIR/<synset>/*.JPEG class folders, or DIR/FILE with a\n"
          "                         label file of 'FILE INDEX' lines\n"
          "      --labels FILE      the synset list (class order) or 'FILE INDEX' lines;\n"
          "                         default DIR/synset_words.txt\n"
          "      --idx IMAGES LABELS  an IDX image file and its label file (gzip'd or not)\n"
          "      --limit N          score only the first N images (sorted order)\n"
          "\nPreprocessing:\n"
          "      --preset NAME      caffe, torch, tf, unit or raw (IDX default: unit)\n"
          "      --mean R,G,B       subtract per channel (after --scale)\n"
          "      --std R,G,B        then divide per channel\n"
          "      --scale S          multiply the 0-255 pixels first\n"
          "      --bgr, --rgb       channel order fed to the model\n"
          "      --resize N         shorter side before the centre crop (default 256)\n"
          "      --crop N           crop size (default: the model input's)\n"
          "\nOutput and running:\n"
          "      --reference MODEL  also report agreement and KL divergence against MODEL\n"
          "      --threads N        threads for decoding and inference (default: all cores)\n"
          "      --cache DIR        keep decoded images here (default ~/.cache/onnxq)\n"
          "      --no-cache         decode the JPEG files every time\n"
          "      --json             the result as JSON\n"
          "      --csv              the result as a CSV header and row\n"
          "  -q, --quiet            no progress display\n"
          "  -h, --help             show this help\n",
          out);
}

static int parse_triple(const char *opt, const char *text, float *v)
{
    char *end;
    const char *p = text;
    for (int i = 0; i < 3; i++) {
        v[i] = strtof(p, &end);
        if (end == p || (i < 2 && *end != ',') || (i == 2 && *end))
            return cli_usage_error("eval", "%s expects three numbers R,G,B, not '%s'", opt, text);
        p = end + 1;
    }
    return 0;
}

static void eval_progress(void *ctx, size_t done, size_t total)
{
    static char label[64];
    snprintf(label, sizeof label, "%s", (const char *)ctx);
    cli_progress(NULL, done < total ? done - 1 : done, total, label);
}

static char *default_cache(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char buf[4096];
    if (xdg && *xdg)
        snprintf(buf, sizeof buf, "%s/onnxq", xdg);
    else if (home && *home)
        snprintf(buf, sizeof buf, "%s/.cache/onnxq", home);
    else
        return NULL;
    return strdup(buf);
}

typedef struct eval_args {
    const char *images, *labels, *idx_images, *idx_labels, *preset, *reference, *cache;
    const char *mean, *std;
    double scale;
    int bgr, rgb, no_cache, json, csv, quiet, threads;
    uint64_t limit, resize, crop;
} eval_args;

enum { OPT_IMAGES = 256, OPT_LABELS, OPT_IDX, OPT_LIMIT, OPT_PRESET, OPT_MEAN, OPT_STD, OPT_SCALE,
       OPT_BGR, OPT_RGB, OPT_RESIZE, OPT_CROP, OPT_REFERENCE, OPT_THREADS, OPT_CACHE,
       OPT_NO_CACHE, OPT_JSON, OPT_CSV };

static int parse_args(int argc, char **argv, eval_args *a)
{
    static const struct option options[] = {
        {"images", required_argument, 0, OPT_IMAGES}, {"labels", required_argument, 0, OPT_LABELS},
        {"idx", required_argument, 0, OPT_IDX}, {"limit", required_argument, 0, OPT_LIMIT},
        {"preset", required_argument, 0, OPT_PRESET}, {"mean", required_argument, 0, OPT_MEAN},
        {"std", required_argument, 0, OPT_STD}, {"scale", required_argument, 0, OPT_SCALE},
        {"bgr", no_argument, 0, OPT_BGR}, {"rgb", no_argument, 0, OPT_RGB},
        {"resize", required_argument, 0, OPT_RESIZE}, {"crop", required_argument, 0, OPT_CROP},
        {"reference", required_argument, 0, OPT_REFERENCE},
        {"threads", required_argument, 0, OPT_THREADS}, {"cache", required_argument, 0, OPT_CACHE},
        {"no-cache", no_argument, 0, OPT_NO_CACHE}, {"json", no_argument, 0, OPT_JSON},
        {"csv", no_argument, 0, OPT_CSV}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->scale = NAN;
    a->resize = 256;
    int c, rc = 0;
    uint64_t u;
    opterr = 0;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
        switch (c) {
        case OPT_IMAGES: a->images = optarg; break;
        case OPT_LABELS: a->labels = optarg; break;
        case OPT_IDX:
            a->idx_images = optarg;
            if (optind >= argc || argv[optind][0] == '-')
                return cli_usage_error("eval", "--idx expects IMAGES and LABELS");
            a->idx_labels = argv[optind++];
            break;
        case OPT_LIMIT: rc = cli_parse_u64("eval", "--limit", optarg, &a->limit); break;
        case OPT_PRESET: a->preset = optarg; break;
        case OPT_MEAN: a->mean = optarg; break;
        case OPT_STD: a->std = optarg; break;
        case OPT_SCALE: rc = cli_parse_double("eval", "--scale", optarg, &a->scale); break;
        case OPT_BGR: a->bgr = 1; break;
        case OPT_RGB: a->rgb = 1; break;
        case OPT_RESIZE: rc = cli_parse_u64("eval", "--resize", optarg, &a->resize); break;
        case OPT_CROP: rc = cli_parse_u64("eval", "--crop", optarg, &a->crop); break;
        case OPT_REFERENCE: a->reference = optarg; break;
        case OPT_THREADS:
            rc = cli_parse_u64("eval", "--threads", optarg, &u);
            a->threads = (int)(u > 256 ? 256 : u);
            break;
        case OPT_CACHE: a->cache = optarg; break;
        case OPT_NO_CACHE: a->no_cache = 1; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_CSV: a->csv = 1; break;
        case 'q': a->quiet = 1; break;
        case 'h': eval_usage(stdout); return -1;
        default: return cli_usage_error("eval", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error("eval", "expects exactly one MODEL");
    if (!a->images == !a->idx_images)
        return cli_usage_error("eval", "give either --images DIR or --idx IMAGES LABELS");
    if (a->images && !a->preset && !a->mean && !a->std && isnan(a->scale))
        return cli_usage_error("eval", "--images needs --preset (caffe, torch, tf, unit, raw) or "
                                       "--mean/--std/--scale");
    if (a->json && a->csv)
        return cli_usage_error("eval", "--json and --csv exclude each other");
    if (a->bgr && a->rgb)
        return cli_usage_error("eval", "--bgr and --rgb exclude each other");
    if (a->resize < 1 || a->resize > 4096 || a->crop > 4096)
        return cli_usage_error("eval", "--resize and --crop must be 1 to 4096");
    return 0;
}

static int build_preprocess(const eval_args *a, onnxq_preprocess *p)
{
    onnxq_error err;
    if (onnxq_preset(a->preset ? a->preset : a->idx_images ? "unit" : "raw", p, &err) != ONNXQ_OK)
        return cli_usage_error("eval", "%s", err.message);
    if (a->mean && parse_triple("--mean", a->mean, p->mean))
        return CLI_EXIT_USAGE;
    if (a->std && parse_triple("--std", a->std, p->std))
        return CLI_EXIT_USAGE;
    if (!isnan(a->scale))
        p->scale = (float)a->scale;
    if (a->bgr || a->rgb)
        p->bgr = a->bgr;
    p->resize = (int)a->resize;
    p->crop = (int)a->crop;
    return 0;
}

static void print_result(const eval_args *a, const char *model, const onnxq_eval_result *r)
{
    const char *source = a->images ? a->images : a->idx_images;
    if (a->json) {
        json_writer w;
        json_init(&w, stdout);
        json_object_begin(&w, NULL);
        json_string(&w, "model", model);
        json_string(&w, "images_source", source);
        json_string(&w, "preset", a->preset ? a->preset : "");
        json_uint(&w, "images", r->images);
        json_uint(&w, "failed", r->failed);
        json_number(&w, "top1", r->top1);
        json_number(&w, "top5", r->top5);
        if (a->reference) {
            json_string(&w, "reference", a->reference);
            json_number(&w, "reference_top1", r->ref_top1);
            json_number(&w, "reference_top5", r->ref_top5);
            json_number(&w, "agreement", r->agreement);
            json_number(&w, "kl", r->kl);
        }
        json_number(&w, "decode_seconds", r->decode_seconds);
        json_number(&w, "run_seconds", r->run_seconds);
        json_bool(&w, "cache_hit", r->cache_hit);
        json_object_end(&w);
        json_finish(&w);
        return;
    }
    if (a->csv) {
        printf("model,images,failed,top1,top5,reference_top1,reference_top5,agreement,kl,"
               "decode_seconds,run_seconds\n");
        cli_csv_field(stdout, model);
        printf(",%zu,%zu,%.4f,%.4f,%.4f,%.4f,%.4f,%.6g,%.3f,%.3f\n", r->images, r->failed, r->top1,
               r->top5, r->ref_top1, r->ref_top5, r->agreement, r->kl, r->decode_seconds,
               r->run_seconds);
        return;
    }
    printf("%s on %s: %zu images\n", model, source, r->images);
    printf("  top-1 %6.2f %%   top-5 %6.2f %%\n", r->top1, r->top5);
    if (a->reference) {
        printf("  reference %s: top-1 %6.2f %%   top-5 %6.2f %%\n", a->reference, r->ref_top1,
               r->ref_top5);
        printf("  top-1 agreement %6.2f %%   mean KL(reference || model) %.6g nats\n",
               r->agreement, r->kl);
    }
    printf("  images %.2f s%s, inference %.2f s (%.2f ms/image)\n", r->decode_seconds,
           r->cache_hit ? " (from the cache)" : "", r->run_seconds,
           r->images ? 1000 * r->run_seconds / (double)r->images : 0.0);
}

int cmd_eval(int argc, char **argv)
{
    eval_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    onnxq_eval_options o = { .threads = a.threads };
    if ((rc = build_preprocess(&a, &o.pre)) != 0)
        return rc;
    const char *path = argv[optind];
    onnxq_error err;
    onnxq_model *m = NULL, *ref = NULL;
    onnxq_dataset *ds = NULL;
    char *cache = NULL;
    if (onnxq_model_open(path, &m, &err) != ONNXQ_OK ||
        (a.reference && onnxq_model_open(a.reference, &ref, &err) != ONNXQ_OK))
        rc = cli_fail(&err);
    else if ((a.images ? onnxq_dataset_open_images(a.images, a.labels, &ds, &err)
                       : onnxq_dataset_open_idx(a.idx_images, a.idx_labels, &ds, &err)) != ONNXQ_OK)
        rc = cli_fail(&err);
    if (!rc) {
        if (a.limit)
            onnxq_dataset_limit(ds, (size_t)a.limit);
        cache = a.no_cache ? NULL : a.cache ? strdup(a.cache) : default_cache();
        o.cache_dir = cache;
        o.reference = ref;
        if (!a.quiet) {
            o.progress = eval_progress;
            o.progress_ctx = (void *)"scoring";
        }
        onnxq_eval_result r;
        if (onnxq_evaluate(m, ds, &o, &r, &err) != ONNXQ_OK) {
            cli_progress(NULL, 1, 1, "");
            rc = cli_fail(&err);
        } else {
            if (r.failed)
                fprintf(stderr, "onnxq: skipped %zu unreadable images (first: %s)\n", r.failed,
                        r.first_failure);
            print_result(&a, path, &r);
        }
    }
    free(cache);
    onnxq_dataset_free(ds);
    onnxq_model_free(ref);
    onnxq_model_free(m);
    return rc;
}
