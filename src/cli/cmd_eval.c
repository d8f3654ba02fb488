/* cmd_eval.c: `onnxq eval MODEL`: top-1 and top-5 on a labelled image set. */
#include "config.h"
#include "cli.h"
#include "data.h"
#include "json.h"
#include "report.h"
#include "onnxq/eval.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void eval_usage(FILE *out)
{
    fputs("Usage: onnxq eval [OPTIONS] MODEL --images DIR --preset NAME\n"
          "       onnxq eval [OPTIONS] MODEL --idx IMAGES LABELS\n"
          "Score a model (plain or compressed) with the bundled engine: top-1 and top-5\n"
          "accuracy, and with --reference the agreement and KL divergence against\n"
          "another model on the same images.\n",
          out);
    fputs(cli_data_help, out);
    fputs("\nOutput:\n"
          "      --reference MODEL  also report agreement and KL divergence against MODEL\n"
          "      --json             the result as JSON\n"
          "      --csv              the result as a CSV header and row\n"
          "      --predictions FILE each image's label and five best classes, as CSV\n"
          "  -f, --force            replace an existing predictions FILE\n"
          "  -q, --quiet            no progress display\n"
          "  -h, --help             show this help\n",
          out);
}

typedef struct eval_args {
    cli_data data;
    const char *reference;
    const char *predictions;
    int json, csv, force;
} eval_args;

enum { OPT_REFERENCE = 256, OPT_JSON, OPT_CSV, OPT_PREDICTIONS };

static int parse_args(int argc, char **argv, eval_args *a)
{
    static const struct option options[] = {
        CLI_DATA_OPTIONS,
        {"reference", required_argument, 0, OPT_REFERENCE}, {"json", no_argument, 0, OPT_JSON},
        {"csv", no_argument, 0, OPT_CSV}, {"quiet", no_argument, 0, 'q'},
        {"predictions", required_argument, 0, OPT_PREDICTIONS}, {"force", no_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    cli_data_init(&a->data);
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "qfh", options, NULL)) != -1) {
        if (c >= CLI_OPT_IMAGES && c < CLI_OPT_LAST) {
            rc = cli_data_parse(&a->data, "eval", c, optarg, argc, argv);
            continue;
        }
        switch (c) {
        case OPT_REFERENCE: a->reference = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_CSV: a->csv = 1; break;
        case OPT_PREDICTIONS: a->predictions = optarg; break;
        case 'f': a->force = 1; break;
        case 'q': a->data.quiet = 1; break;
        case 'h': eval_usage(stdout); return -1;
        default: return cli_usage_error("eval", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error("eval", "expects exactly one MODEL");
    if (a->json && a->csv)
        return cli_usage_error("eval", "--json and --csv exclude each other");
    return cli_data_check(&a->data, "eval", 1);
}

static void print_result(const eval_args *a, const char *model, const onnxq_eval_result *r)
{
    const char *source = a->data.images ? a->data.images : a->data.idx_images;
    if (a->json) {
        json_writer w;
        json_init(&w, stdout);
        json_object_begin(&w, NULL);
        json_string(&w, "model", model);
        json_string(&w, "images_source", source);
        json_string(&w, "preset", a->data.preset ? a->data.preset : "");
        json_uint(&w, "images", r->images);
        json_uint(&w, "failed", r->failed);
        json_number(&w, "top1", r->top1);
        json_number(&w, "top5", r->top5);
        if (a->reference) {
            json_string(&w, "reference", a->reference);
            report_json_comparison(&w, r);
        }
        json_number(&w, "decode_seconds", r->decode_seconds);
        json_number(&w, "run_seconds", r->run_seconds);
        json_bool(&w, "cache_hit", r->cache_hit);
        json_object_end(&w);
        json_finish(&w);
        return;
    }
    if (a->csv) {
        printf("model,images,failed,top1,top5,%s,decode_seconds,run_seconds\n",
               report_csv_comparison_header);
        cli_csv_field(stdout, model);
        printf(",%zu,%zu,%.4f,%.4f", r->images, r->failed, r->top1, r->top5);
        report_csv_comparison(stdout, r);
        printf(",%.3f,%.3f\n", r->decode_seconds, r->run_seconds);
        return;
    }
    printf("%s on %s: %zu images\n", model, source, r->images);
    printf("  top-1 %6.2f %%   top-5 %6.2f %%\n", r->top1, r->top5);
    if (a->reference) {
        printf("  reference %s: top-1 %6.2f %%   top-5 %6.2f %%\n", a->reference, r->ref_top1,
               r->ref_top5);
        printf("  top-1 agreement %6.2f %%   mean KL(reference || model) %.6g nats\n",
               r->agreement, r->kl);
        report_print_drops(stdout, "  ", r);
        printf("  (reference minus model; top-1 right only in the reference %zu, only in the "
               "model %zu)\n", r->top1_lost, r->top1_gained);
    }
    printf("  images %.2f s%s, inference %.2f s (%.2f ms/image)\n", r->decode_seconds,
           r->cache_hit ? " (from the cache)" : "", r->run_seconds,
           r->images ? 1000 * r->run_seconds / (double)r->images : 0.0);
}

static void write_prediction(void *ctx, size_t index, const char *name, int label,
                             const int top5[5])
{
    FILE *f = ctx;
    (void)index;
    cli_csv_field(f, name);
    fprintf(f, ",%d,%d,%d,%d,%d,%d\n", label, top5[0], top5[1], top5[2], top5[3], top5[4]);
}

int cmd_eval(int argc, char **argv)
{
    eval_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    const char *path = argv[optind];
    onnxq_error err;
    onnxq_model *m = NULL, *ref = NULL;
    onnxq_dataset *ds = NULL;
    onnxq_eval_options o;
    if (onnxq_model_open(path, &m, &err) != ONNXQ_OK ||
        (a.reference && onnxq_model_open(a.reference, &ref, &err) != ONNXQ_OK))
        rc = cli_fail(&err);
    else
        rc = cli_data_open(&a.data, "eval", &ds, &o);
    cli_output predictions = {0};
    if (!rc && a.predictions && !(rc = cli_create(&predictions, a.predictions, a.force))) {
        fputs("image,label,top1,top2,top3,top4,top5\n", predictions.fp);
        o.on_image = write_prediction;
        o.on_image_ctx = predictions.fp;
    }
    if (!rc) {
        o.reference = ref;
        onnxq_eval_result r;
        if (onnxq_evaluate(m, ds, &o, &r, &err) != ONNXQ_OK) {
            cli_progress(NULL, 1, 1, "");
            rc = cli_fail(&err);
        } else if (a.predictions && (rc = cli_commit(&predictions)) != 0) {
            /* cli_commit said why */
        } else {
            if (r.failed)
                fprintf(stderr, "onnxq: skipped %zu unreadable images (first: %s)\n", r.failed,
                        r.first_failure);
            print_result(&a, path, &r);
            cli_warn_near_chance(path, r.top1, r.top5, r.images);
        }
    }
    cli_abort(&predictions); /* nothing left to do after a commit */
    cli_data_close(&a.data, ds);
    onnxq_model_free(ref);
    onnxq_model_free(m);
    return rc;
}
