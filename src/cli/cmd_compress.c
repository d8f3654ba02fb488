/* cmd_compress.c: `onnxq compress` and `onnxq decompress`. */
#include "config.h"
#include "cli.h"
#include "data.h"
#include "json.h"
#include "report.h"
#include "onnxq/search.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void compress_usage(FILE *out)
{
    fputs("Usage: onnxq compress [OPTIONS] MODEL\n"
          "Quantize the float weight tensors of an ONNX model, entropy-code them, and write\n"
          "a valid ONNX file in which each compressed tensor is a uint8 initializer decoded\n"
          "by an ai.onnxq Decode node.  Other tensors are stored losslessly when that saves\n"
          "space.  The report gives sizes, the ratio and bits per weight.\n"
          "\nOutput:\n"
          "  -o, --output FILE      where to write (default: MODEL with .onnxq.onnx; -: standard\n"
          "                         output, the report then on standard error); MODEL - reads\n"
          "                         standard input\n"
          "  -f, --force            replace an existing output\n"
          "  -q, --quiet            print nothing but errors\n"
          "      --external-data    write tensors of 1 KiB and more to OUTPUT.data\n"
          "  -v, --verbose          a line per tensor\n"
          "      --json             the report as JSON on standard output\n"
          "\nQuantizer:\n"
          "      --quantizer NAME   midrise, midtread, deadzone (default), mulaw, float, int;\n"
          "                         deadzone:SIGMA, mulaw:MU and float:E:M set the parameter\n"
          "      --sigma S          deadzone: zero-bin half-width in steps (default 0.25;\n"
          "                         0 is midrise, 0.5 midtread)\n"
          "      --mu MU            mulaw: compression parameter (default 255)\n"
          "      --exp-bits E       float: exponent bits (default from --bits: E4M3 at 8)\n"
          "      --man-bits M       float: mantissa bits\n"
          "      --symmetric        int: symmetric range, no zero point (default)\n"
          "      --asymmetric       int: min-max range with a zero point\n"
          "      --per-channel      int: one scale per output channel; midrise, midtread,\n"
          "                         deadzone: one step per output channel\n"
          "      --recon RULE       deadzone, midtread: mid (bin middle, default) or laplace\n"
          "                         (the centroid under the tensor's Laplacian fit)\n"
          "      --lossless         no quantization: every tensor coded exactly\n"
          "      --no-fold          keep BatchNormalization, and Mul and Add by per-channel\n"
          "                         constants, as nodes (default: folded into the Conv or\n"
          "                         Gemm before them, exactly up to float rounding)\n"
          "\nStep (one for every quantized tensor; without any of these nor --max-drop,\n"
          "a step per tensor from its effect on synthetic images, meant to be safe\n"
          "without images; --preset then names the model's convention, if known):\n"
          "  -b, --bits B           step 2^(1-B): 2^B levels over [-1, 1];\n"
          "                         for float and int, the width in bits\n"
          "      --step D           the step itself\n"
          "      --entropy H        the step whose indices have H bits/weight of entropy\n"
          "      --laplace-step R   per tensor: R times the scale b of its Laplacian fit\n"
          "\nWhich tensors:\n"
          "      --min-size N       quantize float tensors of N elements or more (default 1024)\n"
          "      --all              quantize every float tensor, biases included\n"
          "                         (the same as --min-size 0 --include-1d)\n"
          "      --include-1d       quantize rank-1 tensors too\n"
          "      --exclude REGEX    leave tensors whose names match (POSIX extended) lossless\n"
          "                         --max-drop quantizes float tensors of rank 2 or more\n"
          "                         of any size unless one of these is given (it measures\n"
          "                         each one's effect); tensors too small for their coded\n"
          "                         form to pay for its Decode pair stay exact in every mode\n"
          "\nSearch (instead of one step):\n"
          "      --max-drop P       the smallest file whose top-1 and top-5 stay within P\n"
          "                         percent points of the original's on the images given\n"
          "                         (--images/--idx below); a step per tensor, allocated by\n"
          "                         each tensor's measured effect on the output\n"
          "                         The images are split (spread over the classes, see\n"
          "                         --seed): a quarter calibrate (the layers' input\n"
          "                         statistics, each tensor's effect), 45 % decide,\n"
          "                         and the rest, never seen by the search, verify:\n"
          "                         the figures reported come from them\n"
          "      --validate DIR     verify on these images instead (any layout --images\n"
          "                         reads; --validate-labels FILE names their labels),\n"
          "                         and split --images into calibration and decision only\n"
          "      --validate-idx IMAGES LABELS  the same for an IDX pair\n"
          "      --rounding R       feedback (default): round each layer's weights with\n"
          "                         error feedback over its inputs (GPTQ); nearest: each\n"
          "                         weight to its nearest level\n"
          "  -h, --help             show this help\n",
          out);
    fputs(cli_data_help, out);
}

int cli_parse_quantizer(const char *text, onnxq_compress_options *o)
{
    static const struct { const char *name; onnxq_quantizer q; } names[] = {
        {"midrise", ONNXQ_QUANT_MIDRISE}, {"midtread", ONNXQ_QUANT_MIDTREAD},
        {"deadzone", ONNXQ_QUANT_DEADZONE}, {"mulaw", ONNXQ_QUANT_MULAW},
        {"float", ONNXQ_QUANT_FLOAT}, {"int", ONNXQ_QUANT_INT},
    };
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) != len || strncmp(names[i].name, text, len))
            continue;
        o->quantizer = names[i].q;
        if (!colon)
            return 0;
        char *end;
        double v = strtod(colon + 1, &end);
        if (end == colon + 1)
            return -1;
        if (o->quantizer == ONNXQ_QUANT_DEADZONE && !*end)
            o->sigma = v;
        else if (o->quantizer == ONNXQ_QUANT_MULAW && !*end)
            o->mu = v;
        else if (o->quantizer == ONNXQ_QUANT_FLOAT && *end == ':') {
            char *end2;
            long m = strtol(end + 1, &end2, 10);
            if (*end2 || end2 == end + 1)
                return -1;
            o->exp_bits = (int)v;
            o->man_bits = (int)m;
        } else
            return -1;
        return 0;
    }
    return -1;
}

static double ratio(uint64_t before, uint64_t after)
{
    return after ? (double)before / (double)after : 0;
}

/* The three measures of rate every mode reports. */
static double quantized_bits(const onnxq_compress_report *r);
static double per_parameter(uint64_t bytes, const onnxq_compress_report *r);

/* The file but its initializers' data: nodes, names, shapes, the Decode node. */
static uint64_t graph_bytes(const onnxq_compress_report *r, uint64_t file_bytes)
{
    return file_bytes > r->coded_bytes ? file_bytes - r->coded_bytes : 0;
}

static void print_rates(FILE *out_fp, const onnxq_compress_report *r, uint64_t file_bytes)
{
    fprintf(out_fp, "rate         %.3f bits per quantized weight, %.3f bits per parameter in all "
                    "initializers, %.3f in the whole file\n",
            quantized_bits(r), per_parameter(r->coded_bytes, r), per_parameter(file_bytes, r));
    uint64_t graph = graph_bytes(r, file_bytes);
    char a[32];
    fprintf(out_fp, "graph        %s bytes (%.3f bits per parameter): the file but its initializers' "
                    "data\n", cli_group_digits(graph, a, sizeof a), per_parameter(graph, r));
}

static void print_report(FILE *out_fp, const char *in, const char *out, const onnxq_compress_options *o,
                         const onnxq_compress_report *r, uint64_t file_before, uint64_t file_after,
                         int verbose)
{
    char a[32], b[32];
    size_t nq = 0, nl = 0, np = 0;
    for (size_t i = 0; i < r->n_tensors; i++) {
        const char *m = r->tensors[i].method;
        nq += !strcmp(m, "quantized");
        np += !strcmp(m, "plain");
    }
    nl = r->n_tensors - nq - np;
    fprintf(out_fp, "%s -> %s\n", in, out);
    if (o->quantizer == ONNXQ_QUANT_NONE)
        fprintf(out_fp, "quantizer    none (lossless)\n");
    else if (r->step > 0)
        fprintf(out_fp, "quantizer    %s, step %.6g\n", onnxq_quantizer_name(o->quantizer), r->step);
    else if (o->step_mode == ONNXQ_STEP_LAPLACE)
        fprintf(out_fp, "quantizer    %s, step %g b per tensor (b: its Laplacian scale)\n",
               onnxq_quantizer_name(o->quantizer), o->step);
    else if (o->quantizer != ONNXQ_QUANT_FLOAT && o->quantizer != ONNXQ_QUANT_INT)
        fprintf(out_fp, "quantizer    %s, a step per tensor\n", onnxq_quantizer_name(o->quantizer));
    else
        fprintf(out_fp, "quantizer    %s, %g bits\n", onnxq_quantizer_name(o->quantizer), o->bits);
    fprintf(out_fp, "tensors      %zu quantized (%s weights), %zu lossless, %zu left plain\n", nq,
           cli_group_digits(r->quantized_parameters, a, sizeof a), nl, np);
    fprintf(out_fp, "weights      %s -> %s bytes (%.2fx)\n", cli_group_digits(r->original_bytes, a, sizeof a),
           cli_group_digits(r->coded_bytes, b, sizeof b), ratio(r->original_bytes, r->coded_bytes));
    if (r->quantized_parameters)
        fprintf(out_fp, "bits/weight  %.3f coded, %.3f entropy (quantized tensors)\n",
               8.0 * (double)r->quantized_payload_bytes / (double)r->quantized_parameters,
               r->quantized_entropy_bits / (double)r->quantized_parameters);
    fprintf(out_fp, "file         %s -> %s bytes (%.2fx), %.3f bits per parameter\n",
           cli_group_digits(file_before, a, sizeof a), cli_group_digits(file_after, b, sizeof b),
           ratio(file_before, file_after),
           r->original_parameters ? 8.0 * (double)file_after / (double)r->original_parameters : 0);
    print_rates(out_fp, r, file_after);
    if (!verbose)
        return;
    fprintf(out_fp, "\n%-40s %-9s %10s %10s %10s %7s %7s %10s %10s\n", "tensor", "method", "elements",
           "bytes", "coded", "b/w", "H", "step", "rms error");
    for (size_t i = 0; i < r->n_tensors; i++) {
        const onnxq_tensor_report *t = &r->tensors[i];
        fprintf(out_fp, "%-40.40s %-9s %10llu %10llu %10llu %7.3f", t->name, t->method,
               (unsigned long long)t->elements, (unsigned long long)t->original_bytes,
               (unsigned long long)t->coded_bytes,
               t->elements ? 8.0 * (double)t->coded_bytes / (double)t->elements : 0);
        if (isnan(t->entropy))
            fprintf(out_fp, " %7s", "-");
        else
            fprintf(out_fp, " %7.3f", t->entropy);
        if (t->step > 0)
            fprintf(out_fp, " %10.4g %10.4g\n", t->step, t->rms_error);
        else if (!strcmp(t->method, "quantized"))
            fprintf(out_fp, " %10s %10.4g\n", "-", t->rms_error);
        else
            fprintf(out_fp, " %10s %10s\n", "-", "-");
    }
}

/* Bits per weight of the quantized tensors' whole bitstreams (headers too). */
static double quantized_bits(const onnxq_compress_report *r)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < r->n_tensors; i++)
        if (!strcmp(r->tensors[i].method, "quantized"))
            bytes += r->tensors[i].coded_bytes;
    return r->quantized_parameters ? 8.0 * (double)bytes / (double)r->quantized_parameters : NAN;
}

static double per_parameter(uint64_t bytes, const onnxq_compress_report *r)
{
    return r->original_parameters ? 8.0 * (double)bytes / (double)r->original_parameters : NAN;
}

/* How a file was made, for the JSON report. */
typedef struct report_context {
    const char *mode;                /* "fixed", "data-free" or "max-drop" */
    const onnxq_search_result *search; /* data-free and max-drop; else NULL */
    double max_drop;                 /* max-drop */
} report_context;

static void json_search(json_writer *w, const report_context *c)
{
    const onnxq_search_result *s = c->search;
    json_string(w, "steps", s->allocation_exponent > 0 ? "per-tensor" : "one");
    json_object_begin(w, "images");
    json_string(w, "calibration", s->calibration_images);
    if (strcmp(c->mode, "max-drop")) {
        json_object_end(w);
        return;
    }
    json_string(w, "decision", s->decision_images);
    json_string(w, "verification", s->verification_images);
    json_object_end(w);
    const onnxq_eval_result *e = &s->best.eval, *de = &s->decision.eval;
    json_number(w, "max_drop", c->max_drop);
    json_number(w, "expected_drop_allowed", s->target);
    json_uint(w, "trials", s->trials);
    json_uint(w, "rounded_with_feedback", s->rounded);
    json_object_begin(w, "decision");
    json_uint(w, "images", de->images);
    report_json_comparison(w, de);
    json_object_end(w);
    json_object_begin(w, "verification");
    json_uint(w, "images", e->images);
    json_number(w, "top1", e->top1);
    json_number(w, "top5", e->top5);
    report_json_comparison(w, e);
    json_object_end(w);
}

/* One schema in every mode; the search's keys are added by it. */
static void print_json(FILE *out_fp, const char *in, const char *out, const onnxq_compress_options *o,
                       const onnxq_compress_report *r, uint64_t file_before, uint64_t file_after,
                       const report_context *c)
{
    json_writer w;
    json_init(&w, out_fp);
    json_object_begin(&w, NULL);
    json_string(&w, "input", in);
    json_string(&w, "output", out);
    json_string(&w, "mode", c->mode);
    json_string(&w, "quantizer", onnxq_quantizer_name(o->quantizer));
    json_number(&w, "step", r->step);
    json_number(&w, "bits", o->bits);
    json_uint(&w, "parameters", r->original_parameters);
    json_uint(&w, "folded_nodes", r->folded_nodes);
    json_uint(&w, "quantized_parameters", r->quantized_parameters);
    json_uint(&w, "weight_bytes_before", r->original_bytes);
    json_uint(&w, "weight_bytes_after", r->coded_bytes);
    json_uint(&w, "file_bytes_before", file_before);
    json_uint(&w, "file_bytes_after", file_after);
    json_number(&w, "ratio", ratio(file_before, file_after));
    double q = (double)r->quantized_parameters;
    json_number(&w, "coded_bits_per_weight", q ? 8.0 * (double)r->quantized_payload_bytes / q : NAN);
    json_number(&w, "entropy_bits_per_weight", q ? r->quantized_entropy_bits / q : NAN);
    json_number(&w, "quantized_bits_per_weight", quantized_bits(r));
    json_number(&w, "initializer_bits_per_parameter", per_parameter(r->coded_bytes, r));
    json_number(&w, "file_bits_per_parameter", per_parameter(file_after, r));
    json_uint(&w, "graph_bytes", graph_bytes(r, file_after));
    if (c->search)
        json_search(&w, c);
    json_array_begin(&w, "tensors");
    for (size_t i = 0; i < r->n_tensors; i++) {
        const onnxq_tensor_report *t = &r->tensors[i];
        json_object_begin(&w, NULL);
        json_string(&w, "name", t->name);
        json_string(&w, "dtype", onnxq_dtype_name(t->dtype));
        json_string(&w, "method", t->method);
        json_uint(&w, "elements", t->elements);
        json_uint(&w, "original_bytes", t->original_bytes);
        json_uint(&w, "coded_bytes", t->coded_bytes);
        json_uint(&w, "payload_bytes", t->payload_bytes);
        json_number(&w, "entropy", t->entropy);
        json_bool(&w, "grid", t->grid);
        if (!strcmp(t->method, "quantized")) {
            json_string(&w, "quantizer", onnxq_quantizer_name(t->quantizer));
            json_number(&w, "step", t->step);
            json_number(&w, "rms_error", t->rms_error);
        }
        if (c->search && i < c->search->n_tensors)
            json_number(&w, "sensitivity", c->search->sensitivity[i]);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_object_end(&w);
    json_finish(&w);
}

static void search_log(void *ctx, const char *line)
{
    (void)ctx;
    cli_progress(NULL, 1, 1, "");
    fprintf(stderr, "%s\n", line);
}

static void print_search(FILE *out_fp, const char *in, const char *out, const onnxq_compress_report *r,
                         const onnxq_search_result *s, double max_drop, uint64_t file_bytes)
{
    const onnxq_point *p = &s->best, *d = &s->decision;
    const onnxq_eval_result *e = &p->eval, *de = &d->eval;
    char a[32], b[32];
    fprintf(out_fp, "%s -> %s\n", in, out);
    fprintf(out_fp, "\n%-40s %-9s %10s %10s %7s %10s %12s\n", "tensor", "method", "elements", "coded",
           "b/w", "step", "sensitivity");
    for (size_t i = 0; i < r->n_tensors; i++) {
        const onnxq_tensor_report *t = &r->tensors[i];
        double sens = i < s->n_tensors ? s->sensitivity[i] : 0;
        fprintf(out_fp, "%-40.40s %-9s %10llu %10llu %7.3f", t->name, t->method,
               (unsigned long long)t->elements, (unsigned long long)t->coded_bytes,
               t->elements ? 8.0 * (double)t->coded_bytes / (double)t->elements : 0);
        if (t->step > 0)
            fprintf(out_fp, " %10.4g %12.4g\n", t->step, sens);
        else
            fprintf(out_fp, " %10s %12s\n", "-", "-");
    }
    fprintf(out_fp, "\nweights      %s -> %s bytes (%.2fx)\n", cli_group_digits(r->original_bytes, a, sizeof a),
           cli_group_digits(r->coded_bytes, b, sizeof b), ratio(r->original_bytes, r->coded_bytes));
    fprintf(out_fp, "bits/weight  %.3f coded, %.3f entropy (%s quantized weights)\n", p->coded_bpw,
           p->entropy_bpw, cli_group_digits(p->quantized, a, sizeof a));
    fprintf(out_fp, "file         %s bytes, %.3f bits per parameter\n", cli_group_digits(file_bytes, a, sizeof a),
           r->original_parameters ? 8.0 * (double)file_bytes / (double)r->original_parameters : 0);
    print_rates(out_fp, r, file_bytes);
    fprintf(out_fp, "images       calibration: %s\n             decision: %s\n             verification: %s\n",
           s->calibration_images, s->decision_images, s->verification_images);
    fprintf(out_fp, "decision     expected drop top-1 %.2f +- %.2f, top-5 %.2f +- %.2f points (bound %.2f "
           "allowed for --max-drop %g); %zu models tried\n",
           de->expected_top1_drop, de->expected_top1_drop_se, de->expected_top5_drop,
           de->expected_top5_drop_se, s->target, max_drop, s->trials);
    fprintf(out_fp, "verified     top-1 %.2f %% (original %.2f), top-5 %.2f %% (original %.2f) on %zu images "
           "the search did not use:\n", e->top1, e->ref_top1, e->top5, e->ref_top5, e->images);
    report_print_drops(out_fp, "             ", e);
    fprintf(out_fp, "rounding     %zu tensors with error feedback\n", s->rounded);
    fprintf(out_fp, "steps        %s\n",
            s->allocation_exponent > 0 ? "one per tensor, from its sensitivity"
                                       : "one for every tensor (a lower decision KL here "
                                         "than one per tensor)");
}

/* The bytes written to path, with its external data file when there is one. */
static uint64_t saved_bytes(const char *path, int external_data)
{
    uint64_t total = cli_file_size(path);
    size_t n = strlen(path) + 6;
    char *data_path = external_data ? malloc(n) : NULL;
    if (data_path) {
        snprintf(data_path, n, "%s.data", path);
        total += cli_file_size(data_path); /* 0 when every tensor stayed inline */
        free(data_path);
    }
    return total;
}

/* A model read with external data is written with external data: it may
 * be too large for one protobuf (2 GB), and is written a tensor at a time. */
static int uses_external_data(const onnxq_model *m)
{
    onnxq_model_meta meta;
    onnxq_model_get_meta(m, &meta);
    return meta.external_data;
}

/* The verification set of --validate, if any. */
typedef struct validate_set {
    const char *images, *labels, *idx_images, *idx_labels;
} validate_set;

static int open_validate(const validate_set *v, onnxq_dataset **ds)
{
    onnxq_error err;
    *ds = NULL;
    if (!v->images && !v->idx_images)
        return 0;
    if ((v->images ? onnxq_dataset_open_images(v->images, v->labels, ds, &err)
                   : onnxq_dataset_open_idx(v->idx_images, v->idx_labels, ds, &err)) != ONNXQ_OK)
        return cli_fail(&err);
    return 0;
}

/* Where the result goes and how it is reported. */
typedef struct output_settings {
    const char *in, *out;
    onnxq_save_options save;
    int json, verbose, quiet;
} output_settings;

/* The report's stream: standard error when the model goes to standard output. */
static FILE *report_stream(const output_settings *w)
{
    return strcmp(w->out, "-") ? stdout : stderr;
}

/* Save the model as w says; its bytes in *bytes. 0, or an exit code. */
static int write_model(onnxq_model *m, const output_settings *w, uint64_t *bytes)
{
    int rc = cli_save_model(m, w->out, &w->save, bytes);
    if (!rc && strcmp(w->out, "-"))
        *bytes = saved_bytes(w->out, w->save.external_data);
    return rc;
}

/* What the search measured, on which images, in the file's metadata. */
static onnxq_status record_search(onnxq_model *m, const onnxq_search_result *s, double max_drop,
                                  onnxq_error *err)
{
    const onnxq_eval_result *e = &s->best.eval;
    char mode[64], accuracy[1200], images[1900];
    snprintf(mode, sizeof mode, "max-drop %g", max_drop);
    snprintf(images, sizeof images, "calibration: %s; decision: %s; verification: %s",
             s->calibration_images, s->decision_images, s->verification_images);
    snprintf(accuracy, sizeof accuracy,
             "top-1 %.2f %% (original %.2f), top-5 %.2f %% (original %.2f); drops top-1 %.2f "
             "[%.2f, %.2f], top-5 %.2f [%.2f, %.2f] points (95 %% intervals) on %s",
             e->top1, e->ref_top1, e->top5, e->ref_top5, e->top1_diff, e->top1_diff_lo,
             e->top1_diff_hi, e->top5_diff, e->top5_diff_lo, e->top5_diff_hi,
             s->verification_images);
    onnxq_status st = onnxq_model_set_metadata(m, "onnxq.mode", mode, err);
    if (st == ONNXQ_OK)
        st = onnxq_model_set_metadata(m, "onnxq.images", images, err);
    if (st == ONNXQ_OK)
        st = onnxq_model_set_metadata(m, "onnxq.accuracy", accuracy, err);
    return st;
}

static onnxq_status record_data_free(onnxq_model *m, const onnxq_search_result *s,
                                     onnxq_error *err)
{
    onnxq_status st = onnxq_model_set_metadata(m, "onnxq.mode", "data-free", err);
    if (st == ONNXQ_OK)
        st = onnxq_model_set_metadata(m, "onnxq.images", s->calibration_images, err);
    if (st == ONNXQ_OK)
        st = onnxq_model_set_metadata(m, "onnxq.accuracy", "not measured", err);
    return st;
}

/* compress --max-drop: search, then write the chosen model. */
static int compress_search(const output_settings *w, const onnxq_compress_options *o,
                           cli_data *data, const validate_set *validate, double max_drop,
                           int feedback)
{
    onnxq_error err;
    onnxq_model *m = NULL, *best = NULL;
    onnxq_dataset *ds = NULL, *vds = NULL;
    onnxq_compress_report *r = NULL;
    onnxq_search_result res = {0};
    onnxq_eval_options eo;
    int rc = 0;
    data->quiet = 1;
    if (cli_open_model(w->in, &m, &err) != ONNXQ_OK)
        return cli_fail(&err);
    rc = cli_data_open(data, "compress", &ds, &eo);
    if (!rc)
        rc = open_validate(validate, &vds);
    if (!rc) {
        onnxq_search_options so = {.base = *o, .max_drop = max_drop, .error_feedback = feedback,
                                   .seed = data->seed, .log = w->quiet ? NULL : search_log};
        so.base.progress = NULL;
        uint64_t bytes = 0;
        if (onnxq_search_max_drop(m, ds, vds, &eo, &so, &best, &r, &res, &err) != ONNXQ_OK ||
            record_search(best, &res, max_drop, &err) != ONNXQ_OK)
            rc = cli_fail(&err);
        else
            rc = write_model(best, w, &bytes);
        onnxq_model_meta meta;
        onnxq_model_get_meta(m, &meta);
        report_context c = {"max-drop", &res, max_drop};
        if (!rc && !w->quiet && w->json)
            print_json(report_stream(w), w->in, w->out, o, r, meta.file_bytes, bytes, &c);
        else if (!rc && !w->quiet)
            print_search(report_stream(w), w->in, w->out, r, &res, max_drop, bytes);
    }
    onnxq_search_result_free(&res);
    onnxq_compress_report_free(r);
    onnxq_model_free(best);
    onnxq_dataset_free(vds);
    cli_data_close(data, ds);
    onnxq_model_free(m);
    return rc;
}

/* Plain compress without a step: steps from synthetic images (safe
 * without data), then write the model. */
static int compress_default(const output_settings *w, const onnxq_compress_options *o,
                            const cli_data *data)
{
    onnxq_error err;
    onnxq_model *m = NULL, *best = NULL;
    onnxq_compress_report *r = NULL;
    onnxq_search_result res = {0};
    onnxq_eval_options eo;
    memset(&eo, 0, sizeof eo);
    eo.threads = data->threads;
    if (data->preset && onnxq_preset(data->preset, &eo.pre, &err) != ONNXQ_OK)
        return cli_fail(&err);
    if (cli_open_model(w->in, &m, &err) != ONNXQ_OK)
        return cli_fail(&err);
    onnxq_search_options so = {.base = *o, .seed = data->seed,
                               .log = w->verbose && !w->quiet ? search_log : NULL};
    so.base.progress = NULL;
    output_settings ws = *w;
    ws.save.external_data |= uses_external_data(m);
    uint64_t after = 0;
    int rc = 0;
    if (onnxq_search_data_free(m, &eo, &so, &best, &r, &res, &err) != ONNXQ_OK ||
        record_data_free(best, &res, &err) != ONNXQ_OK)
        rc = cli_fail(&err);
    else
        rc = write_model(best, &ws, &after);
    if (!rc && !w->quiet) {
        onnxq_model_meta meta;
        onnxq_model_get_meta(m, &meta);
        if (w->json)
            print_json(report_stream(w), w->in, w->out, o, r, meta.file_bytes, after,
                       &(report_context){"data-free", &res, 0});
        else
            print_report(report_stream(w), w->in, w->out, o, r, meta.file_bytes, after, w->verbose);
        fprintf(stderr, "onnxq: no accuracy was measured: steps chosen on %s; to measure it, "
                        "run onnxq eval %s --reference %s --images DIR --preset NAME\n",
                res.calibration_images, strcmp(w->out, "-") ? w->out : "FILE",
                strcmp(w->in, "-") ? w->in : "MODEL");
    }
    onnxq_search_result_free(&res);
    onnxq_compress_report_free(r);
    onnxq_model_free(best);
    onnxq_model_free(m);
    return rc;
}

/* Plain compress with the step rule given. */
static int compress_fixed(const output_settings *w, const onnxq_compress_options *o)
{
    onnxq_error err;
    onnxq_model *m = NULL;
    onnxq_compress_report *r = NULL;
    output_settings ws = *w;
    uint64_t after = 0;
    int rc = 0;
    if (cli_open_model(w->in, &m, &err) != ONNXQ_OK)
        return cli_fail(&err);
    ws.save.external_data |= uses_external_data(m);
    onnxq_model_meta meta;
    onnxq_model_get_meta(m, &meta);
    uint64_t before = meta.file_bytes;
    if (onnxq_compress(m, o, &r, &err) != ONNXQ_OK ||
        onnxq_model_set_metadata(m, "onnxq.mode", "fixed", &err) != ONNXQ_OK)
        rc = cli_fail(&err);
    else
        rc = write_model(m, &ws, &after);
    if (!rc && !w->quiet) {
        if (w->json)
            print_json(report_stream(w), w->in, w->out, o, r, before, after,
                       &(report_context){"fixed", NULL, 0});
        else
            print_report(report_stream(w), w->in, w->out, o, r, before, after, w->verbose);
    }
    onnxq_compress_report_free(r);
    onnxq_model_free(m);
    return rc;
}

int cmd_compress(int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_SIGMA, OPT_MU, OPT_EXP, OPT_MAN, OPT_SYM, OPT_ASYM, OPT_PERCH,
           OPT_RECON, OPT_LOSSLESS, OPT_NO_FOLD, OPT_STEP, OPT_ENTROPY, OPT_MINSIZE, OPT_ALL, OPT_1D,
           OPT_EXCLUDE, OPT_EXTERNAL, OPT_LAPLACE, OPT_MAXDROP, OPT_ROUNDING, OPT_VALIDATE,
           OPT_VALIDATE_LABELS, OPT_VALIDATE_IDX, OPT_QUANTIZER };
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'}, {"force", no_argument, NULL, 'f'},
        {"verbose", no_argument, NULL, 'v'}, {"json", no_argument, NULL, OPT_JSON},
        {"quantizer", required_argument, NULL, OPT_QUANTIZER}, {"quiet", no_argument, NULL, 'q'},
        {"sigma", required_argument, NULL, OPT_SIGMA},
        {"mu", required_argument, NULL, OPT_MU}, {"exp-bits", required_argument, NULL, OPT_EXP},
        {"man-bits", required_argument, NULL, OPT_MAN}, {"symmetric", no_argument, NULL, OPT_SYM},
        {"asymmetric", no_argument, NULL, OPT_ASYM}, {"per-channel", no_argument, NULL, OPT_PERCH},
        {"recon", required_argument, NULL, OPT_RECON}, {"lossless", no_argument, NULL, OPT_LOSSLESS},
        {"no-fold", no_argument, NULL, OPT_NO_FOLD},
        {"bits", required_argument, NULL, 'b'}, {"step", required_argument, NULL, OPT_STEP},
        {"entropy", required_argument, NULL, OPT_ENTROPY},
        {"laplace-step", required_argument, NULL, OPT_LAPLACE},
        {"min-size", required_argument, NULL, OPT_MINSIZE}, {"all", no_argument, NULL, OPT_ALL},
        {"include-1d", no_argument, NULL, OPT_1D}, {"exclude", required_argument, NULL, OPT_EXCLUDE},
        {"external-data", no_argument, NULL, OPT_EXTERNAL}, {"help", no_argument, NULL, 'h'},
        {"max-drop", required_argument, NULL, OPT_MAXDROP},
        {"validate", required_argument, NULL, OPT_VALIDATE},
        {"validate-labels", required_argument, NULL, OPT_VALIDATE_LABELS},
        {"validate-idx", required_argument, NULL, OPT_VALIDATE_IDX},
        {"rounding", required_argument, NULL, OPT_ROUNDING}, CLI_DATA_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    cli_data data;
    cli_data_init(&data);
    double max_drop = NAN;
    validate_set validate = {0};
    int feedback = -1;
    onnxq_compress_options o;
    onnxq_compress_defaults(&o);
    const char *out_path = NULL;
    int force = 0, verbose = 0, json = 0, external = 0, quiet = 0, c, steps = 0, which = 0;
    uint64_t u;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:fvqb:h", options, NULL)) != -1) {
        if (c >= CLI_OPT_IMAGES && c < CLI_OPT_LAST) {
            int rc = cli_data_parse(&data, "compress", c, optarg, argc, argv);
            if (rc)
                return rc;
            continue;
        }
        switch (c) {
        case OPT_MAXDROP: if (cli_parse_double("compress", "--max-drop", optarg, &max_drop)) return 2; break;
        case OPT_VALIDATE: validate.images = optarg; break;
        case OPT_VALIDATE_LABELS: validate.labels = optarg; break;
        case OPT_VALIDATE_IDX:
            validate.idx_images = optarg;
            if (optind >= argc || argv[optind][0] == '-')
                return cli_usage_error("compress", "--validate-idx expects IMAGES and LABELS");
            validate.idx_labels = argv[optind++];
            break;
        case OPT_ROUNDING:
            if (strcmp(optarg, "feedback") && strcmp(optarg, "nearest"))
                return cli_usage_error("compress", "--rounding takes feedback or nearest, not '%s'",
                                       optarg);
            feedback = !strcmp(optarg, "feedback");
            break;
        case 'o': out_path = optarg; break;
        case 'f': force = 1; break;
        case 'v': verbose = 1; break;
        case OPT_JSON: json = 1; break;
        case 'q': quiet = 1; break;
        case OPT_QUANTIZER:
            if (cli_parse_quantizer(optarg, &o) != 0)
                return cli_usage_error("compress", "unknown quantizer '%s'", optarg);
            break;
        case OPT_SIGMA: if (cli_parse_double("compress", "--sigma", optarg, &o.sigma)) return 2; break;
        case OPT_MU: if (cli_parse_double("compress", "--mu", optarg, &o.mu)) return 2; break;
        case OPT_EXP: if (cli_parse_u64("compress", "--exp-bits", optarg, &u)) return 2; o.exp_bits = (int)(u > 64 ? 64 : u); break;
        case OPT_MAN: if (cli_parse_u64("compress", "--man-bits", optarg, &u)) return 2; o.man_bits = (int)(u > 64 ? 64 : u); break;
        case OPT_SYM: o.symmetric = 1; break;
        case OPT_ASYM: o.symmetric = 0; break;
        case OPT_PERCH: o.per_channel = 1; break;
        case OPT_RECON:
            if (!strcmp(optarg, "mid"))
                o.laplace_recon = 0;
            else if (!strcmp(optarg, "laplace"))
                o.laplace_recon = 1;
            else
                return cli_usage_error("compress", "--recon takes mid or laplace, not '%s'", optarg);
            break;
        case OPT_LOSSLESS: o.quantizer = ONNXQ_QUANT_NONE; break;
        case OPT_NO_FOLD: o.fold = 0; break;
        case 'b': if (cli_parse_double("compress", "--bits", optarg, &o.bits)) return 2; o.step_mode = ONNXQ_STEP_BITS; steps++; break;
        case OPT_STEP: if (cli_parse_double("compress", "--step", optarg, &o.step)) return 2; o.step_mode = ONNXQ_STEP_FIXED; steps++; break;
        case OPT_ENTROPY: if (cli_parse_double("compress", "--entropy", optarg, &o.entropy)) return 2; o.step_mode = ONNXQ_STEP_ENTROPY; steps++; break;
        case OPT_LAPLACE: if (cli_parse_double("compress", "--laplace-step", optarg, &o.step)) return 2; o.step_mode = ONNXQ_STEP_LAPLACE; steps++; break;
        case OPT_MINSIZE: if (cli_parse_u64("compress", "--min-size", optarg, &o.min_size)) return 2; which = 1; break;
        case OPT_ALL: o.min_size = 0; o.include_1d = 1; which = 1; break;
        case OPT_1D: o.include_1d = 1; which = 1; break;
        case OPT_EXCLUDE: o.exclude = optarg; break;
        case OPT_EXTERNAL: external = 1; break;
        case 'h': compress_usage(stdout); return 0;
        default:
            return cli_usage_error("compress", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (steps > 1)
        return cli_usage_error("compress", "--bits, --step, --entropy and --laplace-step exclude each other");
    if (optind != argc - 1)
        return cli_usage_error("compress", "expects exactly one MODEL");
    int whole_bits = o.quantizer == ONNXQ_QUANT_INT || o.quantizer == ONNXQ_QUANT_FLOAT;
    if (whole_bits && o.bits != floor(o.bits))
        return cli_usage_error("compress", "--bits for the %s quantizer is a whole number of bits, "
                               "not %g", onnxq_quantizer_name(o.quantizer), o.bits);
    if (o.quantizer == ONNXQ_QUANT_INT && (o.bits < 2 || o.bits > 16))
        return cli_usage_error("compress", "--bits for the int quantizer is 2 to 16");
    if (steps && !whole_bits && o.step_mode == ONNXQ_STEP_BITS && o.bits > 16 && !quiet)
        fprintf(stderr, "onnxq: warning: --bits %g is a step of 2^%g, finer than float weights "
                        "need: --lossless is exact and smaller\n", o.bits, 1 - o.bits);
    int searching = !isnan(max_drop);
    if (searching && (steps || o.quantizer == ONNXQ_QUANT_NONE))
        return cli_usage_error("compress", "--max-drop chooses the steps: no --bits, --step, "
                                           "--entropy, --laplace-step or --lossless with it");
    if (searching && !which)
        o.min_size = 0; /* the search measures each tensor's effect, small ones too */
    if (searching && (max_drop < 0 || max_drop > 100))
        return cli_usage_error("compress", "--max-drop takes 0 to 100 percent points");
    if (searching && (o.quantizer == ONNXQ_QUANT_FLOAT || o.quantizer == ONNXQ_QUANT_INT))
        return cli_usage_error("compress", "--max-drop works with step quantizers, not %s",
                               onnxq_quantizer_name(o.quantizer));
    if (!searching && feedback >= 0)
        return cli_usage_error("compress", "--rounding is for --max-drop");
    if (!searching && (validate.images || validate.idx_images))
        return cli_usage_error("compress", "--validate is for --max-drop");
    if (validate.images && validate.idx_images)
        return cli_usage_error("compress", "--validate and --validate-idx exclude each other");
    int data_rc = cli_data_check(&data, "compress", searching);
    if (data_rc)
        return data_rc;
    if (!searching && (data.images || data.idx_images))
        return cli_usage_error("compress", "--images and --idx are for --max-drop");
    const char *in = argv[optind];
    if (!strcmp(in, "-") && !out_path)
        return cli_usage_error("compress", "a model read from standard input needs -o FILE (or -o -)");
    if (external && out_path && !strcmp(out_path, "-"))
        return cli_usage_error("compress", "--external-data needs -o FILE, not standard output");
    char *default_out = out_path ? NULL : cli_default_output(in, ".onnxq.onnx");
    if (!out_path)
        out_path = default_out;
    const char *inputs[1] = { in };
    int rc = cli_check_output(out_path, force, inputs, 1);
    if (rc) {
        free(default_out);
        return rc;
    }
    output_settings w = {.in = in, .out = out_path, .json = json, .verbose = verbose,
                         .quiet = quiet,
                         .save = {.overwrite = force, .external_data = external,
                                  .external_threshold = 1024}};
    o.progress = quiet ? NULL : cli_progress;
    int stepped = o.quantizer == ONNXQ_QUANT_MIDRISE || o.quantizer == ONNXQ_QUANT_MIDTREAD ||
                  o.quantizer == ONNXQ_QUANT_DEADZONE;
    if (searching)
        rc = compress_search(&w, &o, &data, &validate, max_drop, feedback != 0);
    else if (!steps && stepped)
        rc = compress_default(&w, &o, &data);
    else
        rc = compress_fixed(&w, &o);
    free(default_out);
    return rc;
}

static void decompress_usage(FILE *out)
{
    fputs("Usage: onnxq decompress [OPTIONS] MODEL\n"
          "Decode every ai.onnxq tensor of a compressed model and write a standard ONNX\n"
          "file whose initializers hold the reconstructed values, runnable by any ONNX\n"
          "runtime.\n"
          "\nOptions:\n"
          "  -o, --output FILE   where to write (default: MODEL with .decompressed.onnx;\n"
          "                      -: standard output); MODEL - reads standard input\n"
          "  -f, --force         replace an existing output\n"
          "      --external-data write tensors of 1 KiB and more to OUTPUT.data\n"
          "  -q, --quiet         print nothing but errors\n"
          "  -h, --help          show this help\n"
          "      --version       show the version\n",
          out);
}

int cmd_decompress(int argc, char **argv)
{
    enum { OPT_EXTERNAL = 256 };
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'}, {"force", no_argument, NULL, 'f'},
        {"external-data", no_argument, NULL, OPT_EXTERNAL}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *out_path = NULL;
    int force = 0, external = 0, quiet = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:fqh", options, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'f': force = 1; break;
        case 'q': quiet = 1; break;
        case OPT_EXTERNAL: external = 1; break;
        case 'h': decompress_usage(stdout); return 0;
        default:
            return cli_usage_error("decompress", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("decompress", "expects exactly one MODEL");
    const char *in = argv[optind];
    if (!strcmp(in, "-") && !out_path)
        return cli_usage_error("decompress", "a model read from standard input needs -o FILE (or -o -)");
    if (external && out_path && !strcmp(out_path, "-"))
        return cli_usage_error("decompress", "--external-data needs -o FILE, not standard output");
    char *default_out = out_path ? NULL : cli_default_output(in, ".decompressed.onnx");
    if (!out_path)
        out_path = default_out;
    const char *inputs[1] = { in };
    int rc = cli_check_output(out_path, force, inputs, 1);
    if (rc) {
        free(default_out);
        return rc;
    }
    output_settings w = {.in = in, .out = out_path, .quiet = quiet,
                         .save = {.overwrite = force, .external_data = external,
                                  .external_threshold = 1024}};
    onnxq_error err;
    onnxq_model *m = NULL;
    uint64_t bytes = 0;
    if (cli_open_model(in, &m, &err) != ONNXQ_OK) {
        rc = cli_fail(&err);
    } else {
        w.save.external_data |= uses_external_data(m);
        if (onnxq_decompress(m, &err) != ONNXQ_OK)
            rc = cli_fail(&err);
        else
            rc = write_model(m, &w, &bytes);
    }
    if (!rc && !quiet)
        fprintf(report_stream(&w), "%s -> %s (%llu bytes)\n", in, out_path,
                (unsigned long long)bytes);
    onnxq_model_free(m);
    free(default_out);
    return rc;
}
