/* cmd_sweep.c: `onnxq sweep MODEL`: rate against accuracy over quantizers and bits. */
#include "config.h"
#include "cli.h"
#include "data.h"
#include "onnxq/search.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void sweep_usage(FILE *out)
{
    fputs("Usage: onnxq sweep [OPTIONS] MODEL --images DIR --preset NAME\n"
          "       onnxq sweep --merge PART.csv... [-o ALL.csv] [--svg PLOT.svg]\n"
          "Compress the model at every quantizer and bit depth given, score each file\n"
          "against the original on the images, and write one CSV row per point: the\n"
          "paper's rate-distortion experiment, in real coded bytes.\n"
          "\nPoints:\n"
          "      --quantizers LIST  comma-separated: midrise, midtread, deadzone:SIGMA,\n"
          "                         mulaw[:MU], float, int (default: midrise,midtread,\n"
          "                         deadzone:0.1,deadzone:0.25,deadzone:0.4,deadzone:0.7,\n"
          "                         mulaw,float)\n"
          "      --bits A..B        bit depths (default 2..16): step 2^(1-B), or the\n"
          "                         width for float\n"
          "      --all              quantize every float tensor, biases included (the\n"
          "                         paper's setting); default: the compress defaults\n"
          "      --shard I/N        compute only points I, I+N, I+2N... (1-based), for\n"
          "                         splitting a sweep over processes or machines\n"
          "\nOutput:\n"
          "  -o, --output FILE      the CSV (default: standard output)\n"
          "      --svg FILE         plot top-1 against coded bits per weight, a curve per\n"
          "                         quantizer\n"
          "  -f, --force            replace existing output files\n"
          "      --max-drop P       the drop, in points, for the best point reported (default 1)\n"
          "      --merge            join the CSVs of --shard runs (given instead of MODEL):\n"
          "                         one CSV, the plot, and the best point\n"
          "  -q, --quiet            no progress lines\n"
          "  -h, --help             show this help\n",
          out);
    fputs(cli_data_help, out);
}

typedef struct point_row {
    char quantizer[32];
    double param;
    int bits;
    onnxq_point p;
} point_row;

static double quantizer_param(const onnxq_compress_options *o)
{
    switch (o->quantizer) {
    case ONNXQ_QUANT_DEADZONE: return o->sigma;
    case ONNXQ_QUANT_MULAW: return o->mu;
    case ONNXQ_QUANT_FLOAT: return o->exp_bits;
    default: return NAN;
    }
}

static void csv_header(FILE *f)
{
    fprintf(f, "quantizer,param,bits,entropy_bpw,coded_bpw,file_bytes,ratio,top1,top5,"
               "top1_drop,top5_drop,agreement,kl,images,top1_drop_lo,top1_drop_hi,top5_drop_lo,"
               "top5_drop_hi,reference_top1,reference_top5\n");
}

static void csv_row(FILE *f, const point_row *r)
{
    const onnxq_eval_result *e = &r->p.eval;
    fprintf(f, "%s,", r->quantizer);
    if (!isnan(r->param))
        fprintf(f, "%g", r->param);
    fprintf(f, ",%d,%.4f,%.4f,%llu,%.4f,%.2f,%.2f,%.2f,%.2f,%.2f,%.6g,%zu,%.2f,%.2f,%.2f,%.2f,"
               "%.2f,%.2f\n", r->bits, r->p.entropy_bpw, r->p.coded_bpw,
            (unsigned long long)r->p.file_bytes, r->p.ratio, e->top1, e->top5, e->top1_diff,
            e->top5_diff, e->agreement, e->kl, e->images, e->top1_diff_lo, e->top1_diff_hi,
            e->top5_diff_lo, e->top5_diff_hi, e->ref_top1, e->ref_top5);
    fflush(f);
}

/* The plot: top-1 against coded bits per weight, a polyline per quantizer,
 * the original's top-1 and the allowed drop as dashed lines. */
static void write_svg(FILE *f, const point_row *rows, size_t n, double ref_top1, double drop,
                      const char *title)
{
    const double W = 720, H = 460, L = 70, R = 170, T = 30, B = 50;
    double xmax = 1, ymin = 100, ymax = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].p.coded_bpw > xmax)
            xmax = rows[i].p.coded_bpw;
        ymin = fmin(ymin, rows[i].p.eval.top1);
        ymax = fmax(ymax, rows[i].p.eval.top1);
    }
    xmax = ceil(xmax);
    ymin = floor(fmin(ymin, ref_top1 - drop - 1) / 10) * 10;
    ymax = ceil(fmax(ymax, ref_top1) / 10) * 10;
    if (ymax <= ymin)
        ymax = ymin + 10;
#define PX(x) (L + (x) / xmax * (W - L - R))
#define PY(y) (T + (ymax - (y)) / (ymax - ymin) * (H - T - B))
    static const char *colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    for (int k = 0; k <= (int)xmax; k++)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n",
                PX(k), PY(ymax), PX(k), PY(ymin), PX(k), PY(ymin) + 16, k);
    for (double y = ymin; y <= ymax + 1e-9; y += 10)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                PX(0), PY(y), PX(xmax), PY(y), PX(0) - 6, PY(y) + 4, y);
    fprintf(f, "<text x=\"%.1f\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">",
            (PX(0) + PX(xmax)) / 2);
    for (const char *c = title; *c; c++) /* the model's name, escaped */
        fputs(*c == '<' ? "&lt;" : *c == '>' ? "&gt;" : *c == '&' ? "&amp;" : (char[2]){*c, 0}, f);
    fprintf(f, ": top-1 against rate (%zu points)</text>\n", n);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">coded bits per weight</text>\n",
            (PX(0) + PX(xmax)) / 2, H - 10);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-dasharray=\"4 3\"/>"
               "<text x=\"%.1f\" y=\"%.1f\">original (%.2f)</text>\n",
            W - R + 15, H - B - 22, W - R + 35, H - B - 22, W - R + 40, H - B - 18, ref_top1);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-dasharray=\"2 3\"/>"
               "<text x=\"%.1f\" y=\"%.1f\">%g points below</text>\n",
            W - R + 15, H - B - 4, W - R + 35, H - B - 4, W - R + 40, H - B, drop);
    fprintf(f, "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" text-anchor=\"middle\">top-1 (%%)</text>\n",
            (PY(ymin) + PY(ymax)) / 2, (PY(ymin) + PY(ymax)) / 2);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n",
            PX(0), PY(ref_top1), PX(xmax), PY(ref_top1));
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-dasharray=\"2 3\"/>\n",
            PX(0), PY(ref_top1 - drop), PX(xmax), PY(ref_top1 - drop));
    int curve = 0;
    for (size_t i = 0; i < n; curve++) {
        size_t j = i;
        while (j < n && !strcmp(rows[j].quantizer, rows[i].quantizer) &&
               (isnan(rows[i].param) ? isnan(rows[j].param) : rows[j].param == rows[i].param))
            j++;
        const char *color = colors[curve % 10];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
        for (size_t k = i; k < j; k++)
            fprintf(f, "%.1f,%.1f ", PX(rows[k].p.coded_bpw), PY(fmax(rows[k].p.eval.top1, ymin)));
        fprintf(f, "\"/>\n");
        for (size_t k = i; k < j; k++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>%s %d bits: %.3f b/w, top-1 %.2f</title></circle>\n",
                    PX(rows[k].p.coded_bpw), PY(fmax(rows[k].p.eval.top1, ymin)), color,
                    rows[k].quantizer, rows[k].bits, rows[k].p.coded_bpw, rows[k].p.eval.top1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                W - R + 15, T + 18.0 * curve, W - R + 35, T + 18.0 * curve, color, W - R + 40,
                T + 18.0 * curve + 4, rows[i].quantizer);
        i = j;
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
}

static const char *path_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The smallest point whose top-1 and top-5 drops are within max_drop, on
 * stderr. */
static void report_best(const point_row *rows, size_t n, double max_drop)
{
    const point_row *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const onnxq_eval_result *e = &rows[i].p.eval;
        if (e->top1_diff <= max_drop + 1e-9 && e->top5_diff <= max_drop + 1e-9 &&
            (!best || rows[i].p.coded_bpw < best->p.coded_bpw))
            best = &rows[i];
    }
    if (!best) {
        fprintf(stderr, "no point within %.2f points of the original\n", max_drop);
        return;
    }
    const onnxq_eval_result *e = &best->p.eval;
    fprintf(stderr, "best within %.2f points: %s %d bits, %.3f b/w coded (%.3f entropy), "
                    "top-1 %.2f (drop %.2f [%.2f, %.2f]), top-5 %.2f (drop %.2f [%.2f, %.2f]) "
                    "on %zu images\n",
            max_drop, best->quantizer, best->bits, best->p.coded_bpw, best->p.entropy_bpw, e->top1,
            e->top1_diff, e->top1_diff_lo, e->top1_diff_hi, e->top5, e->top5_diff, e->top5_diff_lo,
            e->top5_diff_hi, e->images);
}

/* One row of a sweep CSV back into a point: 0, or -1 when it is not one. */
static int parse_row(char *line, point_row *r)
{
    char *field[20];
    int n = 0;
    for (char *p = line; n < 20;) {
        field[n++] = p;
        p = strchr(p, ',');
        if (!p)
            break;
        *p++ = 0;
    }
    if (n != 20)
        return -1;
    memset(r, 0, sizeof *r);
    snprintf(r->quantizer, sizeof r->quantizer, "%s", field[0]);
    r->param = *field[1] ? atof(field[1]) : NAN;
    r->bits = atoi(field[2]);
    r->p.entropy_bpw = atof(field[3]);
    r->p.coded_bpw = atof(field[4]);
    r->p.file_bytes = strtoull(field[5], NULL, 10);
    r->p.ratio = atof(field[6]);
    onnxq_eval_result *e = &r->p.eval;
    e->top1 = atof(field[7]);
    e->top5 = atof(field[8]);
    e->top1_diff = atof(field[9]);
    e->top5_diff = atof(field[10]);
    e->agreement = atof(field[11]);
    e->kl = atof(field[12]);
    e->images = (size_t)strtoull(field[13], NULL, 10);
    e->top1_diff_lo = atof(field[14]);
    e->top1_diff_hi = atof(field[15]);
    e->top5_diff_lo = atof(field[16]);
    e->top5_diff_hi = atof(field[17]);
    e->ref_top1 = atof(field[18]);
    e->ref_top5 = atof(field[19]);
    return 0;
}

static int by_curve_then_bits(const void *a, const void *b)
{
    const point_row *x = a, *y = b;
    int c = strcmp(x->quantizer, y->quantizer);
    if (c)
        return c;
    if (x->param != y->param && !(isnan(x->param) && isnan(y->param)))
        return isnan(x->param) ? -1 : isnan(y->param) ? 1 : x->param < y->param ? -1 : 1;
    return x->bits - y->bits;
}

/* sweep --merge: the rows of shard CSVs as one sweep. */
static int merge(char **files, int n_files, const char *out_path, const char *svg, int force,
                 double max_drop)
{
    point_row *rows = NULL;
    size_t n = 0, cap = 0;
    char header[1024], line[1024], expect[1024];
    FILE *probe = tmpfile();
    if (!probe) {
        fprintf(stderr, "onnxq: cannot create a temporary file\n");
        return (int)ONNXQ_ERR_IO;
    }
    csv_header(probe);
    rewind(probe);
    if (!fgets(expect, sizeof expect, probe))
        expect[0] = 0;
    fclose(probe);
    for (int i = 0; i < n_files; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            fprintf(stderr, "onnxq: %s: cannot open\n", files[i]);
            free(rows);
            return (int)ONNXQ_ERR_IO;
        }
        if (!fgets(header, sizeof header, f) || strcmp(header, expect)) {
            fprintf(stderr, "onnxq: %s: not a sweep CSV of this version (its header differs)\n",
                    files[i]);
            fclose(f);
            free(rows);
            return (int)ONNXQ_ERR_ARGUMENT;
        }
        for (int ln = 2; fgets(line, sizeof line, f); ln++) {
            line[strcspn(line, "\r\n")] = 0;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                point_row *more = realloc(rows, cap * sizeof *rows);
                if (!more) {
                    fclose(f);
                    free(rows);
                    fprintf(stderr, "onnxq: out of memory\n");
                    return (int)ONNXQ_ERR_NOMEM;
                }
                rows = more;
            }
            if (parse_row(line, &rows[n]) != 0) {
                fprintf(stderr, "onnxq: %s: line %d is not a sweep row\n", files[i], ln);
                fclose(f);
                free(rows);
                return (int)ONNXQ_ERR_ARGUMENT;
            }
            n++;
        }
        fclose(f);
    }
    if (!n) {
        fprintf(stderr, "onnxq: %s: no points to merge\n", files[0]);
        free(rows);
        return (int)ONNXQ_ERR_ARGUMENT;
    }
    qsort(rows, n, sizeof *rows, by_curve_then_bits);
    cli_output csv = {0}, plot = {0};
    int rc = 0;
    if (out_path && (rc = cli_create(&csv, out_path, force)) != 0) {
        free(rows);
        return rc;
    }
    if (svg && (rc = cli_create(&plot, svg, force)) != 0) {
        cli_abort(&csv);
        free(rows);
        return rc;
    }
    FILE *f = out_path ? csv.fp : stdout;
    csv_header(f);
    for (size_t i = 0; i < n; i++)
        csv_row(f, &rows[i]);
    fprintf(stderr, "merged %zu points from %d files; original: top-1 %.2f %%, top-5 %.2f %%\n", n,
            n_files, rows[0].p.eval.ref_top1, rows[0].p.eval.ref_top5);
    report_best(rows, n, max_drop);
    if (svg) {
        write_svg(plot.fp, rows, n, rows[0].p.eval.ref_top1, max_drop, path_name(files[0]));
        rc = cli_commit(&plot);
    }
    if (out_path && !rc)
        rc = cli_commit(&csv);
    else if (out_path)
        cli_abort(&csv);
    free(rows);
    return rc;
}

static int parse_bits(const char *text, int *lo, int *hi)
{
    char *end;
    long a = strtol(text, &end, 10), b = a;
    if (end == text)
        return -1;
    if (!strncmp(end, "..", 2)) {
        char *end2;
        b = strtol(end + 2, &end2, 10);
        if (end2 == end + 2 || *end2)
            return -1;
    } else if (*end) {
        return -1;
    }
    if (a < 1 || b > 32 || a > b)
        return -1;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

int cmd_sweep(int argc, char **argv)
{
    enum { OPT_QUANTIZERS = 256, OPT_BITS, OPT_ALL, OPT_SHARD, OPT_SVG, OPT_MAXDROP, OPT_MERGE };
    static const struct option options[] = {
        {"quantizers", required_argument, 0, OPT_QUANTIZERS}, {"bits", required_argument, 0, OPT_BITS},
        {"all", no_argument, 0, OPT_ALL}, {"shard", required_argument, 0, OPT_SHARD},
        {"output", required_argument, 0, 'o'}, {"svg", required_argument, 0, OPT_SVG},
        {"force", no_argument, 0, 'f'}, {"max-drop", required_argument, 0, OPT_MAXDROP},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {"merge", no_argument, 0, OPT_MERGE}, CLI_DATA_OPTIONS,
        {0, 0, 0, 0}};
    cli_data data;
    cli_data_init(&data);
    const char *quantizers = "midrise,midtread,deadzone:0.1,deadzone:0.25,deadzone:0.4,"
                             "deadzone:0.7,mulaw,float";
    const char *out_path = NULL, *svg = NULL;
    int lo = 2, hi = 16, all = 0, force = 0, quiet = 0, merging = 0, c;
    unsigned shard = 1, shards = 1;
    double max_drop = 1;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:fqh", options, NULL)) != -1) {
        if (c >= CLI_OPT_IMAGES && c < CLI_OPT_LAST) {
            int rc = cli_data_parse(&data, "sweep", c, optarg, argc, argv);
            if (rc)
                return rc;
            continue;
        }
        switch (c) {
        case OPT_QUANTIZERS: quantizers = optarg; break;
        case OPT_BITS:
            if (parse_bits(optarg, &lo, &hi))
                return cli_usage_error("sweep", "--bits takes B or A..B (1 to 32), not '%s'", optarg);
            break;
        case OPT_ALL: all = 1; break;
        case OPT_SHARD:
            if (sscanf(optarg, "%u/%u", &shard, &shards) != 2 || shard < 1 || shard > shards)
                return cli_usage_error("sweep", "--shard takes I/N with 1 <= I <= N, not '%s'", optarg);
            break;
        case 'o': out_path = optarg; break;
        case OPT_SVG: svg = optarg; break;
        case 'f': force = 1; break;
        case OPT_MAXDROP: if (cli_parse_double("sweep", "--max-drop", optarg, &max_drop)) return 2; break;
        case 'q': quiet = 1; break;
        case OPT_MERGE: merging = 1; break;
        case 'h': sweep_usage(stdout); return 0;
        default: return cli_usage_error("sweep", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (merging) {
        if (optind >= argc)
            return cli_usage_error("sweep", "--merge expects the CSV files of the shards");
        return merge(argv + optind, argc - optind, out_path, svg, force, max_drop);
    }
    if (optind != argc - 1)
        return cli_usage_error("sweep", "expects exactly one MODEL");
    int rc = cli_data_check(&data, "sweep", 1);
    if (rc)
        return rc;
    /* The grid, checked before any work. */
    char *list = strdup(quantizers);
    size_t nq = 0;
    onnxq_compress_options qopts[32];
    char qnames[32][32];
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (nq == 32) {
            free(list);
            return cli_usage_error("sweep", "at most 32 quantizers");
        }
        onnxq_compress_defaults(&qopts[nq]);
        if (cli_parse_quantizer(tok, &qopts[nq]) != 0) {
            rc = cli_usage_error("sweep", "unknown quantizer '%s'", tok);
            free(list);
            return rc;
        }
        snprintf(qnames[nq], sizeof qnames[nq], "%s", tok);
        if (all) {
            qopts[nq].min_size = 0;
            qopts[nq].include_1d = 1;
        }
        nq++;
    }
    free(list);
    const char *path = argv[optind];
    cli_output csv = {0}, plot = {0};
    if (out_path && (rc = cli_create(&csv, out_path, force)) != 0)
        return rc;
    if (svg && (rc = cli_create(&plot, svg, force)) != 0) {
        cli_abort(&csv);
        return rc;
    }
    FILE *f = out_path ? csv.fp : stdout;
    onnxq_error err;
    onnxq_model *m = NULL;
    onnxq_dataset *ds = NULL;
    onnxq_scorer *scorer = NULL;
    onnxq_eval_options eo;
    void *bytes = NULL;
    size_t size = 0;
    data.quiet = 1;
    if (onnxq_model_open(path, &m, &err) != ONNXQ_OK ||
        onnxq_model_serialize(m, &bytes, &size, &err) != ONNXQ_OK)
        rc = cli_fail(&err);
    else
        rc = cli_data_open(&data, "sweep", &ds, &eo);
    if (!rc) {
        eo.reference = m;
        if (onnxq_scorer_create(m, ds, &eo, &scorer, &err) != ONNXQ_OK)
            rc = cli_fail(&err);
    }
    size_t total = nq * (size_t)(hi - lo + 1), nrows = 0;
    point_row *rows = calloc(total + 1, sizeof *rows);
    if (!rc && !rows) {
        fprintf(stderr, "onnxq: out of memory\n");
        rc = (int)ONNXQ_ERR_NOMEM;
    }
    if (!rc)
        csv_header(f);
    for (size_t k = 0; !rc && k < total; k++) {
        if (k % shards != shard - 1)
            continue;
        onnxq_compress_options o = qopts[k / (size_t)(hi - lo + 1)];
        int bits = lo + (int)(k % (size_t)(hi - lo + 1));
        o.bits = bits;
        o.step_mode = ONNXQ_STEP_BITS;
        if (o.quantizer == ONNXQ_QUANT_FLOAT) {
            o.exp_bits = o.man_bits = 0; /* from the width */
            if (bits < 3)
                continue;
        }
        if (o.quantizer == ONNXQ_QUANT_INT && (bits < 2 || bits > 16))
            continue; /* widths the int quantizer has */
        point_row *row = &rows[nrows];
        snprintf(row->quantizer, sizeof row->quantizer, "%s", qnames[k / (size_t)(hi - lo + 1)]);
        row->bits = bits;
        row->param = quantizer_param(&o);
        if (onnxq_score_compressed(bytes, size, path, &o, scorer, &row->p, NULL, NULL, &err) !=
            ONNXQ_OK) {
            rc = cli_fail(&err);
            break;
        }
        csv_row(f, row);
        if (!quiet && !nrows)
            fprintf(stderr, "original: top-1 %.2f %%, top-5 %.2f %% on %zu images\n",
                    row->p.eval.ref_top1, row->p.eval.ref_top5, row->p.eval.images);
        if (!quiet)
            fprintf(stderr, "[%zu/%zu] %s %d bits: %.3f b/w coded, top-1 %.2f, top-5 %.2f\n", k + 1,
                    total, row->quantizer, bits, row->p.coded_bpw, row->p.eval.top1,
                    row->p.eval.top5);
        nrows++;
    }
    if (!rc && nrows) {
        report_best(rows, nrows, max_drop);
        if (svg)
            write_svg(plot.fp, rows, nrows, rows[0].p.eval.ref_top1, max_drop, path_name(path));
    }
    if (svg && !rc)
        rc = cli_commit(&plot);
    else if (svg)
        cli_abort(&plot);
    if (out_path && !rc)
        rc = cli_commit(&csv);
    else if (out_path)
        cli_abort(&csv);
    free(rows);
    free(bytes);
    onnxq_scorer_free(scorer);
    cli_data_close(&data, ds);
    onnxq_model_free(m);
    return rc;
}
