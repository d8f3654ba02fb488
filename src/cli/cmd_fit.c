/* cmd_fit.c: `onnxq fit MODEL`: which standard density the weights follow. */
#include "config.h"
#include "cli.h"
#include "json.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fit_usage(FILE *out)
{
    fputs("Usage: onnxq fit [OPTIONS] MODEL\n"
          "Fit Laplacian, Gaussian, Cauchy, logistic, uniform, exponential, gamma and\n"
          "alpha densities to the model's weights, pooled and per tensor, score each\n"
          "against the histogram by SSE and Kullback-Leibler divergence, and rank them.\n"
          "\nOptions:\n"
          "      --per-tensor    also a line per tensor (best three by SSE and by KLD)\n"
          "      --json          everything as JSON (the model and every tensor)\n"
          "      --csv           one row per scope and family\n"
          "      --svg FILE      plot the histogram with the best three densities\n"
          "      --log           log-scale the plot's density axis\n"
          "      --tensor NAME   plot (and print) this tensor instead of the pooled model\n"
          "      --all           include rank-1 tensors (biases, norms) too\n"
          "  -f, --force         replace an existing SVG file\n"
          "  -h, --help          show this help\n"
          "\nBy default the float tensors of rank 2 or more (the weights) are fitted.\n",
          out);
}

typedef struct scope {
    const char *name;
    onnxq_fit fit;
} scope;

static void print_fit_table(const char *title, const onnxq_fit *f)
{
    char a[32];
    printf("%s: %s values, histogram of %d bins over [%.5g, %.5g]\n\n", title,
           cli_group_digits(f->n, a, sizeof a), f->bins, f->lo, f->hi);
    printf("%-12s %12s %12s %10s %12s %12s %9s %9s\n", "family", "loc", "scale", "shape", "SSE",
           "KLD", "rank SSE", "rank KLD");
    for (int k = 0; k < ONNXQ_FAMILY_COUNT; k++) {
        const onnxq_family_fit *ff = &f->fits[f->by_sse[k]];
        char name[32];
        snprintf(name, sizeof name, "%s%s", onnxq_family_name(ff->family), ff->mirrored ? " (-x)" : "");
        if (!ff->ok) {
            printf("%-12s %12s %12s %10s %12s %12s %9d %9d\n", name, "-", "-", "-", "-", "-",
                   ff->rank_sse, ff->rank_kld);
            continue;
        }
        printf("%-12s %12.5g %12.5g %10.4g %12.4g %12.4g %9d %9d\n", name, ff->loc, ff->scale,
               ff->shape, ff->sse, ff->kld, ff->rank_sse, ff->rank_kld);
    }
    printf("\nbest by SSE: %s, %s, %s\nbest by KLD: %s, %s, %s\n", onnxq_family_name(f->by_sse[0]),
           onnxq_family_name(f->by_sse[1]), onnxq_family_name(f->by_sse[2]),
           onnxq_family_name(f->by_kld[0]), onnxq_family_name(f->by_kld[1]),
           onnxq_family_name(f->by_kld[2]));
}

static void json_fit(json_writer *w, const onnxq_fit *f)
{
    json_uint(w, "n", f->n);
    json_int(w, "bins", f->bins);
    json_number(w, "lo", f->lo);
    json_number(w, "hi", f->hi);
    json_array_begin(w, "rank_sse");
    for (int k = 0; k < ONNXQ_FAMILY_COUNT; k++)
        json_string(w, NULL, onnxq_family_name(f->by_sse[k]));
    json_array_end(w);
    json_array_begin(w, "rank_kld");
    for (int k = 0; k < ONNXQ_FAMILY_COUNT; k++)
        json_string(w, NULL, onnxq_family_name(f->by_kld[k]));
    json_array_end(w);
    json_object_begin(w, "families");
    for (int k = 0; k < ONNXQ_FAMILY_COUNT; k++) {
        const onnxq_family_fit *ff = &f->fits[k];
        json_object_begin(w, onnxq_family_name(ff->family));
        json_bool(w, "ok", ff->ok);
        json_number(w, "loc", ff->loc);
        json_number(w, "scale", ff->scale);
        json_number(w, "shape", ff->shape);
        json_bool(w, "mirrored", ff->mirrored);
        json_number(w, "sse", ff->sse);
        json_number(w, "kld", ff->kld);
        json_int(w, "rank_sse", ff->rank_sse);
        json_int(w, "rank_kld", ff->rank_kld);
        json_object_end(w);
    }
    json_object_end(w);
}

static void csv_fit(const char *scope_name, const onnxq_fit *f)
{
    for (int k = 0; k < ONNXQ_FAMILY_COUNT; k++) {
        const onnxq_family_fit *ff = &f->fits[k];
        cli_csv_field(stdout, scope_name);
        printf(",%s,%.9g,%.9g,%.9g,%d,%.9g,%.9g,%d,%d\n", onnxq_family_name(ff->family), ff->loc,
               ff->scale, ff->shape, ff->mirrored, ff->sse, ff->kld, ff->rank_sse, ff->rank_kld);
    }
}

/* ---- SVG ---------------------------------------------------------------------- */

static void svg_escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", out);
        else if (*s == '>')
            fputs("&gt;", out);
        else if (*s == '&')
            fputs("&amp;", out);
        else
            fputc(*s, out);
    }
}

static void write_svg(FILE *out, const char *title, const onnxq_fit *f, int log_y)
{
    const double W = 800, H = 500, L = 70, R = 20, T = 40, B = 50;
    double width = (f->hi - f->lo) / f->bins, ymax = 0, ymin = INFINITY;
    for (int b = 0; b < f->bins; b++) {
        double d = f->probability[b] / width;
        ymax = fmax(ymax, d);
        if (d > 0)
            ymin = fmin(ymin, d);
    }
    const onnxq_family_fit *best[3];
    for (int k = 0; k < 3; k++) {
        best[k] = &f->fits[f->by_sse[k]];
        for (int i = 0; i <= 200; i++)
            if (best[k]->ok)
                ymax = fmax(ymax, onnxq_family_pdf(best[k], f->lo + (f->hi - f->lo) * i / 200));
    }
    ymax *= 1.05;
    double lo_y = log_y ? log10(ymin / 10) : 0, hi_y = log_y ? log10(ymax) : ymax;
#define SX(x) (L + ((x) - f->lo) / (f->hi - f->lo) * (W - L - R))
#define SY(y) (H - B - ((log_y ? log10(fmax((y), pow(10, lo_y))) : (y)) - lo_y) / (hi_y - lo_y) * (H - T - B))
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
                 "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(out, "<rect width=\"%g\" height=\"%g\" fill=\"white\"/>\n", W, H);
    fprintf(out, "<text x=\"%g\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    svg_escape(out, title);
    fprintf(out, " (%llu values)</text>\n", (unsigned long long)f->n);
    for (int b = 0; b < f->bins; b++) {
        double d = f->probability[b] / width;
        if (d <= 0)
            continue;
        double x0 = SX(f->lo + b * width), x1 = SX(f->lo + (b + 1) * width), y = SY(d);
        fprintf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#b8c7d9\"/>\n",
                x0, y, x1 - x0, H - B - y);
    }
    static const char *colors[3] = {"#d62728", "#2ca02c", "#9467bd"};
    for (int k = 0; k < 3; k++) {
        if (!best[k]->ok)
            continue;
        fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[k]);
        for (int i = 0; i <= 400; i++) {
            double x = f->lo + (f->hi - f->lo) * i / 400;
            fprintf(out, "%.2f,%.2f ", SX(x), SY(onnxq_family_pdf(best[k], x)));
        }
        fputs("\"/>\n", out);
        fprintf(out, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"/>"
                     "<text x=\"%g\" y=\"%g\">%s (SSE rank %d, KLD rank %d)</text>\n",
                W - R - 250, T + 10 + 18.0 * k, W - R - 220, T + 10 + 18.0 * k, colors[k],
                W - R - 212, T + 14 + 18.0 * k, onnxq_family_name(best[k]->family),
                best[k]->rank_sse, best[k]->rank_kld);
    }
    /* Axes with five ticks each. */
    fprintf(out, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
    fprintf(out, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, T, L, H - B);
    for (int i = 0; i <= 4; i++) {
        double x = f->lo + (f->hi - f->lo) * i / 4, sx = SX(x);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%g\" x2=\"%.2f\" y2=\"%g\" stroke=\"black\"/>"
                     "<text x=\"%.2f\" y=\"%g\" text-anchor=\"middle\">%.3g</text>\n",
                sx, H - B, sx, H - B + 5, sx, H - B + 18, x);
        double yv = lo_y + (hi_y - lo_y) * i / 4, sy = H - B - (H - T - B) * i / 4.0;
        fprintf(out, "<line x1=\"%g\" y1=\"%.2f\" x2=\"%g\" y2=\"%.2f\" stroke=\"black\"/>"
                     "<text x=\"%g\" y=\"%.2f\" text-anchor=\"end\">%.3g</text>\n",
                L - 5, sy, L, sy, L - 8, sy + 4, log_y ? pow(10, yv) : yv);
    }
    fprintf(out, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">weight value</text>\n", (L + W - R) / 2, H - 12);
    fprintf(out, "<text x=\"16\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 16 %g)\">"
                 "density%s</text>\n</svg>\n", (T + H - B) / 2, (T + H - B) / 2, log_y ? " (log)" : "");
#undef SX
#undef SY
}

/* ---- The command ---------------------------------------------------------------- */

static int read_floats(onnxq_model *m, size_t i, float **out, uint64_t *n, onnxq_error *err)
{
    onnxq_tensor_info info;
    onnxq_model_tensor_info(m, i, &info);
    *n = info.elements;
    *out = malloc((info.elements + 1) * sizeof **out);
    if (!*out) {
        err->status = ONNXQ_ERR_NOMEM;
        snprintf(err->message, sizeof err->message, "out of memory");
        return -1;
    }
    return onnxq_tensor_read_float(m, i, *out, info.elements, err) == ONNXQ_OK ? 0 : -1;
}

int cmd_fit(int argc, char **argv)
{
    enum { OPT_PER = 256, OPT_JSON, OPT_CSV, OPT_SVG, OPT_LOG, OPT_TENSOR, OPT_ALL };
    static const struct option options[] = {
        {"per-tensor", no_argument, NULL, OPT_PER}, {"json", no_argument, NULL, OPT_JSON},
        {"csv", no_argument, NULL, OPT_CSV}, {"svg", required_argument, NULL, OPT_SVG},
        {"log", no_argument, NULL, OPT_LOG}, {"tensor", required_argument, NULL, OPT_TENSOR},
        {"all", no_argument, NULL, OPT_ALL}, {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int per = 0, json = 0, csv = 0, log_y = 0, all = 0, force = 0, c;
    const char *svg = NULL, *only = NULL;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "fh", options, NULL)) != -1) {
        switch (c) {
        case OPT_PER: per = 1; break;
        case OPT_JSON: json = 1; break;
        case OPT_CSV: csv = 1; break;
        case OPT_SVG: svg = optarg; break;
        case OPT_LOG: log_y = 1; break;
        case OPT_TENSOR: only = optarg; break;
        case OPT_ALL: all = 1; break;
        case 'f': force = 1; break;
        case 'h': fit_usage(stdout); return 0;
        default: return cli_usage_error("fit", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (json && csv)
        return cli_usage_error("fit", "--json and --csv exclude each other");
    if (optind != argc - 1)
        return cli_usage_error("fit", "expects exactly one MODEL");
    const char *path = argv[optind];
    /* Refuse an existing SVG before any work or output. */
    cli_output plot = {0};
    if (svg) {
        int refused = cli_create(&plot, svg, force);
        if (refused)
            return refused;
    }
    onnxq_error err;
    onnxq_model *m;
    if (onnxq_model_open(path, &m, &err) != ONNXQ_OK) {
        cli_abort(&plot);
        return cli_fail(&err);
    }

    size_t nt = onnxq_model_tensor_count(m), ns = 0;
    scope *tensors = calloc(nt + 1, sizeof *tensors);
    float *pool = NULL;
    uint64_t pooled = 0;
    int rc = 0;
    if (!tensors) {
        fprintf(stderr, "onnxq: out of memory\n");
        cli_abort(&plot);
        onnxq_model_free(m);
        return (int)ONNXQ_ERR_NOMEM;
    }
    if (only && onnxq_model_find_tensor(m, only) == (size_t)-1) {
        fprintf(stderr, "onnxq: %s: no tensor named '%s'\n", path, only);
        cli_abort(&plot);
        free(tensors);
        onnxq_model_free(m);
        return (int)ONNXQ_ERR_ARGUMENT;
    }
    for (size_t i = 0; i < nt && !rc; i++) {
        onnxq_tensor_info info;
        onnxq_model_tensor_info(m, i, &info);
        int chosen = only ? !strcmp(info.name, only)
                          : onnxq_dtype_is_float(info.dtype) && (all || info.rank >= 2) && info.elements >= 2;
        if (!chosen)
            continue;
        if (only && !onnxq_dtype_is_float(info.dtype)) {
            fprintf(stderr, "onnxq: %s: tensor '%s' is %s, not floating point\n", path, only,
                    onnxq_dtype_name(info.dtype));
            rc = (int)ONNXQ_ERR_UNSUPPORTED;
            break;
        }
        cli_progress(NULL, i, nt, info.name);
        float *x;
        uint64_t n;
        if (read_floats(m, i, &x, &n, &err) != 0) {
            rc = cli_fail(&err);
            free(x);
            break;
        }
        float *grown = realloc(pool, (pooled + n + 1) * sizeof *pool);
        if (!grown) {
            free(x);
            fprintf(stderr, "onnxq: out of memory\n");
            rc = (int)ONNXQ_ERR_NOMEM;
            break;
        }
        pool = grown;
        memcpy(pool + pooled, x, n * sizeof *x);
        pooled += n;
        tensors[ns].name = info.name;
        onnxq_error sub;
        /* A tensor with no spread (all one value) has nothing to fit: skip it. */
        if (onnxq_fit_values(x, n, &tensors[ns].fit, &sub) == ONNXQ_OK)
            ns++;
        else if (sub.status != ONNXQ_ERR_ARGUMENT) {
            fprintf(stderr, "onnxq: %s: tensor '%s': %s\n", path, info.name, sub.message);
            rc = (int)sub.status;
        }
        free(x);
    }
    cli_progress(NULL, nt, nt, "");
    onnxq_fit model_fit = {0};
    if (!rc && onnxq_fit_values(pool, pooled, &model_fit, &err) != ONNXQ_OK) {
        fprintf(stderr, "onnxq: %s: %s\n", path, pooled ? err.message : "no float weight tensors to fit");
        rc = pooled ? (int)err.status : (int)ONNXQ_ERR_ARGUMENT;
    }
    const char *title = only ? only : path;
    if (!rc && json) {
        json_writer w;
        json_init(&w, stdout);
        json_object_begin(&w, NULL);
        json_string(&w, "file", path);
        json_uint(&w, "tensors_fitted", ns);
        json_object_begin(&w, "model");
        json_fit(&w, &model_fit);
        json_object_end(&w);
        json_array_begin(&w, "tensors");
        for (size_t k = 0; k < ns; k++) {
            json_object_begin(&w, NULL);
            json_string(&w, "name", tensors[k].name);
            json_fit(&w, &tensors[k].fit);
            json_object_end(&w);
        }
        json_array_end(&w);
        json_object_end(&w);
        json_finish(&w);
    } else if (!rc && csv) {
        printf("scope,family,loc,scale,shape,mirrored,sse,kld,rank_sse,rank_kld\n");
        csv_fit("model", &model_fit);
        for (size_t k = 0; k < ns; k++)
            csv_fit(tensors[k].name, &tensors[k].fit);
    } else if (!rc) {
        char heading[600];
        snprintf(heading, sizeof heading, "%s (%zu tensor%s pooled)", title, ns, ns == 1 ? "" : "s");
        print_fit_table(heading, &model_fit);
        if (per) {
            printf("\n%-40s %10s %-32s %-32s %10s\n", "tensor", "elements", "best by SSE", "best by KLD",
                   "laplace b");
            for (size_t k = 0; k < ns; k++) {
                const onnxq_fit *f = &tensors[k].fit;
                char sse[64], kld[64];
                snprintf(sse, sizeof sse, "%s, %s, %s", onnxq_family_name(f->by_sse[0]),
                         onnxq_family_name(f->by_sse[1]), onnxq_family_name(f->by_sse[2]));
                snprintf(kld, sizeof kld, "%s, %s, %s", onnxq_family_name(f->by_kld[0]),
                         onnxq_family_name(f->by_kld[1]), onnxq_family_name(f->by_kld[2]));
                printf("%-40.40s %10llu %-32s %-32s %10.4g\n", tensors[k].name,
                       (unsigned long long)f->n, sse, kld, f->fits[ONNXQ_FAMILY_LAPLACE].scale);
            }
        }
    }
    if (!rc && svg) {
        write_svg(plot.fp, title, &model_fit, log_y);
        rc = cli_commit(&plot);
    } else {
        cli_abort(&plot);
    }
    onnxq_fit_free(&model_fit);
    for (size_t k = 0; k < ns; k++)
        onnxq_fit_free(&tensors[k].fit);
    free(tensors);
    free(pool);
    onnxq_model_free(m);
    return rc;
}
