/* cmd_inspect.c: `onnxq inspect MODEL`: the weight tensors of a model. */
#include "config.h"
#include "cli.h"
#include "json.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void inspect_usage(FILE *out)
{
    fputs("Usage: onnxq inspect [OPTIONS] MODEL\n"
          "List the initializers (weight tensors) of an ONNX model: name, type, shape,\n"
          "elements, bytes, min, max, mean, standard deviation and share of zeros;\n"
          "then totals and the model's metadata, inputs and outputs.  Of a file onnxq\n"
          "compressed, each weight as the graph sees it (its original type and shape,\n"
          "decoded for the statistics) with how it is stored: method, quantizer, step\n"
          "or bits, coded bytes and bits per weight; and the original parameter count\n"
          "and settings the file records (metadata_props, keys onnxq.*).\n"
          "\nOptions:\n"
          "      --json   print everything as one JSON document\n"
          "      --csv    print one CSV row per initializer (with a header row)\n"
          "  -h, --help   show this help\n",
          out);
}

typedef struct tensor_row {
    onnxq_tensor_info info;   /* of a compressed model: the weight as the graph sees it */
    onnxq_weight_info weight; /* how it is stored */
    onnxq_tensor_stats stats;
    int has_stats;
} tensor_row;

typedef struct report {
    const char *path;
    onnxq_model_meta meta;
    size_t n;
    tensor_row *rows;
    uint64_t parameters;
    uint64_t weight_bytes;
    int compressed;
    uint64_t original_parameters; /* before folding, as the file records it */
} report;

/* Row i of a compressed model: the weight the graph sees, decoded. */
static int gather_weight(onnxq_model *m, size_t i, tensor_row *row, onnxq_error *err)
{
    onnxq_tensor_info stored;
    onnxq_model_tensor_info(m, i, &stored);
    if (onnxq_model_weight_info(m, i, &row->weight, err) != ONNXQ_OK)
        return -1;
    const onnxq_weight_info *w = &row->weight;
    row->info = (onnxq_tensor_info){ w->name, w->dtype, w->rank, w->dims, w->elements,
                                     w->stored_bytes, stored.external };
    if (!w->compressed) {
        onnxq_status s = onnxq_tensor_stats_compute(m, i, &row->stats, err);
        row->has_stats = s == ONNXQ_OK;
        return s == ONNXQ_OK || s == ONNXQ_ERR_UNSUPPORTED ? 0 : -1;
    }
    void *x = malloc(w->bytes + 1);
    if (!x) {
        err->status = ONNXQ_ERR_NOMEM;
        snprintf(err->message, sizeof err->message, "%s: out of memory", w->name);
        return -1;
    }
    int rc = onnxq_model_weight_read(m, i, x, w->bytes, err) == ONNXQ_OK ? 0 : -1;
    if (!rc) {
        onnxq_status s = onnxq_values_stats(w->dtype, x, w->elements, &row->stats, err);
        row->has_stats = s == ONNXQ_OK;
        rc = s == ONNXQ_OK || s == ONNXQ_ERR_UNSUPPORTED ? 0 : -1;
    }
    free(x);
    return rc;
}

/* The count metadata_props records, or `otherwise`. */
static uint64_t recorded_parameters(const onnxq_model *m, uint64_t otherwise)
{
    for (size_t i = 0; i < onnxq_model_metadata_count(m); i++) {
        const char *key, *value;
        onnxq_model_metadata(m, i, &key, &value);
        if (!strcmp(key, "onnxq.original_parameters"))
            return strtoull(value, NULL, 10);
    }
    return otherwise;
}

static int gather(onnxq_model *m, const char *path, report *r, onnxq_error *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    onnxq_model_get_meta(m, &r->meta);
    r->n = onnxq_model_tensor_count(m);
    r->rows = calloc(r->n + 1, sizeof *r->rows);
    if (!r->rows) {
        err->status = ONNXQ_ERR_NOMEM;
        snprintf(err->message, sizeof err->message, "%s: out of memory", path);
        return -1;
    }
    r->compressed = onnxq_model_is_compressed(m);
    for (size_t i = 0; i < r->n; i++) {
        tensor_row *row = &r->rows[i];
        if (r->compressed) {
            if (gather_weight(m, i, row, err) != 0)
                return -1;
        } else {
            onnxq_model_tensor_info(m, i, &row->info);
            onnxq_status s = onnxq_tensor_stats_compute(m, i, &row->stats, err);
            if (s != ONNXQ_OK && s != ONNXQ_ERR_UNSUPPORTED)
                return -1;
            row->has_stats = s == ONNXQ_OK;
        }
        r->parameters += row->info.elements;
        r->weight_bytes += row->info.bytes;
    }
    r->original_parameters = recorded_parameters(m, r->parameters);
    return 0;
}

static void format_shape(const onnxq_tensor_info *info, char *buf, size_t size, char sep)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < info->rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? (sep == ',' ? "," : "x") : "",
                                 (long long)info->dims[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static void format_value_info(const onnxq_value_info *v, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s %s", v->name, onnxq_dtype_name(v->dtype));
    if (v->rank < 0 || used >= size) {
        if (used < size)
            snprintf(buf + used, size - used, " [?]");
        return;
    }
    used += (size_t)snprintf(buf + used, size - used, " [");
    for (int d = 0; d < v->rank && d < ONNXQ_MAX_DIMS && used < size; d++) {
        const char *sep = d ? "," : "";
        if (v->dim_names[d])
            used += (size_t)snprintf(buf + used, size - used, "%s%s", sep, v->dim_names[d]);
        else if (v->dims[d] >= 0)
            used += (size_t)snprintf(buf + used, size - used, "%s%lld", sep, (long long)v->dims[d]);
        else
            used += (size_t)snprintf(buf + used, size - used, "%s?", sep);
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static double zero_share(const tensor_row *row)
{
    return row->info.elements ? (double)row->stats.zeros / (double)row->info.elements : 0.0;
}

/* How a weight of a compressed model is stored: "quantized", "integer",
 * "zstd"..., or "plain" when not compressed. */
static const char *storage_method(const tensor_row *row)
{
    return row->weight.compressed ? onnxq_method_name(row->weight.method) : "plain";
}

static double bits_per_weight(const tensor_row *row)
{
    return row->info.elements ? 8.0 * (double)row->weight.stored_bytes / (double)row->info.elements
                              : 0.0;
}

static void print_storage(const tensor_row *row)
{
    const onnxq_weight_info *w = &row->weight;
    char how[32] = "-";
    if (w->step > 0)
        snprintf(how, sizeof how, "%.4g%s", w->step, w->per_channel ? "/ch" : "");
    else if (w->bits > 0)
        snprintf(how, sizeof how, "%d bits%s", w->bits, w->per_channel ? "/ch" : "");
    printf("  %-9s %-8s %10s %7.3f", storage_method(row),
           w->compressed && w->method == 3 ? onnxq_quantizer_name(w->quantizer) : "-", how,
           bits_per_weight(row));
}

static void print_table(onnxq_model *m, const report *r)
{
    char a[64], b[64], line[512];
    const onnxq_model_meta *meta = &r->meta;
    printf("model        %s\n", r->path);
    printf("ir_version   %lld\n", (long long)meta->ir_version);
    printf("producer     %s %s\n", meta->producer_name[0] ? meta->producer_name : "(none)",
           meta->producer_version);
    printf("opsets      ");
    for (size_t i = 0; i < meta->opset_count; i++) {
        const char *domain;
        int64_t version;
        onnxq_model_opset(m, i, &domain, &version);
        printf(" %s %lld%s", domain[0] ? domain : "ai.onnx", (long long)version,
               i + 1 < meta->opset_count ? "," : "");
    }
    printf("\nnodes        %zu\n", meta->node_count);
    for (size_t i = 0; i < meta->input_count; i++) {
        onnxq_value_info v;
        onnxq_model_input(m, i, &v);
        format_value_info(&v, line, sizeof line);
        printf("input        %s\n", line);
    }
    for (size_t i = 0; i < meta->output_count; i++) {
        onnxq_value_info v;
        onnxq_model_output(m, i, &v);
        format_value_info(&v, line, sizeof line);
        printf("output       %s\n", line);
    }

    int name_width = 4;
    for (size_t i = 0; i < r->n; i++) {
        int len = (int)strlen(r->rows[i].info.name);
        name_width = len > name_width ? (len > 48 ? 48 : len) : name_width;
    }
    for (size_t i = 0; i < onnxq_model_metadata_count(m); i++) {
        const char *key, *value;
        onnxq_model_metadata(m, i, &key, &value);
        printf("metadata     %s = %s\n", key, value);
    }
    printf("\n%-*s  %-8s %-18s %12s %12s %10s %10s %10s %10s %6s", name_width, "name", "dtype",
           "shape", "elements", "bytes", "min", "max", "mean", "std", "zeros");
    if (r->compressed)
        printf("  %-9s %-8s %10s %7s", "method", "quantizer", "step/bits", "b/w");
    printf("\n");
    for (size_t i = 0; i < r->n; i++) {
        const tensor_row *row = &r->rows[i];
        char shape[128];
        format_shape(&row->info, shape, sizeof shape, 'x');
        printf("%-*s  %-8s %-18s %12s %12s", name_width, row->info.name,
               onnxq_dtype_name(row->info.dtype), shape,
               cli_group_digits(row->info.elements, a, sizeof a),
               cli_group_digits(row->info.bytes, b, sizeof b));
        if (row->has_stats)
            printf(" %10.4g %10.4g %10.4g %10.4g %5.1f%%", row->stats.min, row->stats.max,
                   row->stats.mean, row->stats.std, 100.0 * zero_share(row));
        else
            printf(" %10s %10s %10s %10s %6s", "-", "-", "-", "-", "-");
        if (r->compressed)
            print_storage(row);
        printf("\n");
    }
    printf("\n%zu initializers, %s parameters, %s bytes of weights", r->n,
           cli_group_digits(r->parameters, a, sizeof a),
           cli_group_digits(r->weight_bytes, b, sizeof b));
    if (r->compressed)
        printf(" (compressed; %s parameters before folding, %.3f bits per parameter in the file)",
               cli_group_digits(r->original_parameters, a, sizeof a),
               r->original_parameters ? 8.0 * (double)meta->file_bytes / (double)r->original_parameters
                                      : 0.0);
    printf(" (%.1f%% of %s file bytes)\n",
           meta->file_bytes ? 100.0 * (double)r->weight_bytes / (double)meta->file_bytes : 0.0,
           cli_group_digits(meta->file_bytes, a, sizeof a));
}

static void json_value_info(json_writer *w, const onnxq_value_info *v)
{
    json_object_begin(w, NULL);
    json_string(w, "name", v->name);
    json_string(w, "dtype", onnxq_dtype_name(v->dtype));
    if (v->rank < 0) {
        json_null(w, "shape");
    } else {
        json_array_begin(w, "shape");
        for (int d = 0; d < v->rank && d < ONNXQ_MAX_DIMS; d++) {
            if (v->dim_names[d])
                json_string(w, NULL, v->dim_names[d]);
            else if (v->dims[d] >= 0)
                json_int(w, NULL, v->dims[d]);
            else
                json_null(w, NULL);
        }
        json_array_end(w);
    }
    json_object_end(w);
}

static void print_json(onnxq_model *m, const report *r)
{
    const onnxq_model_meta *meta = &r->meta;
    json_writer w;
    json_init(&w, stdout);
    json_object_begin(&w, NULL);
    json_string(&w, "file", r->path);
    json_int(&w, "ir_version", meta->ir_version);
    json_string(&w, "producer_name", meta->producer_name);
    json_string(&w, "producer_version", meta->producer_version);
    json_string(&w, "domain", meta->domain);
    json_int(&w, "model_version", meta->model_version);
    json_string(&w, "graph_name", meta->graph_name);
    json_array_begin(&w, "opsets");
    for (size_t i = 0; i < meta->opset_count; i++) {
        const char *domain;
        int64_t version;
        onnxq_model_opset(m, i, &domain, &version);
        json_object_begin(&w, NULL);
        json_string(&w, "domain", domain);
        json_int(&w, "version", version);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_uint(&w, "nodes", meta->node_count);
    json_object_begin(&w, "metadata");
    for (size_t i = 0; i < onnxq_model_metadata_count(m); i++) {
        const char *key, *value;
        onnxq_model_metadata(m, i, &key, &value);
        json_string(&w, key, value);
    }
    json_object_end(&w);
    json_array_begin(&w, "inputs");
    for (size_t i = 0; i < meta->input_count; i++) {
        onnxq_value_info v;
        onnxq_model_input(m, i, &v);
        json_value_info(&w, &v);
    }
    json_array_end(&w);
    json_array_begin(&w, "outputs");
    for (size_t i = 0; i < meta->output_count; i++) {
        onnxq_value_info v;
        onnxq_model_output(m, i, &v);
        json_value_info(&w, &v);
    }
    json_array_end(&w);
    json_array_begin(&w, "initializers");
    for (size_t i = 0; i < r->n; i++) {
        const tensor_row *row = &r->rows[i];
        json_object_begin(&w, NULL);
        json_string(&w, "name", row->info.name);
        json_string(&w, "dtype", onnxq_dtype_name(row->info.dtype));
        json_array_begin(&w, "shape");
        for (int d = 0; d < row->info.rank; d++)
            json_int(&w, NULL, row->info.dims[d]);
        json_array_end(&w);
        json_uint(&w, "elements", row->info.elements);
        json_uint(&w, "bytes", row->info.bytes);
        json_bool(&w, "external", row->info.external);
        if (r->compressed) {
            json_string(&w, "method", storage_method(row));
            if (row->weight.compressed && row->weight.method == 3)
                json_string(&w, "quantizer", onnxq_quantizer_name(row->weight.quantizer));
            if (row->weight.step > 0)
                json_number(&w, "step", row->weight.step);
            if (row->weight.bits > 0)
                json_int(&w, "bits", row->weight.bits);
            json_bool(&w, "per_channel", row->weight.per_channel);
            json_uint(&w, "coded_bytes", row->weight.stored_bytes);
            json_number(&w, "bits_per_weight", bits_per_weight(row));
        }
        if (row->has_stats) {
            json_number(&w, "min", row->stats.min);
            json_number(&w, "max", row->stats.max);
            json_number(&w, "mean", row->stats.mean);
            json_number(&w, "std", row->stats.std);
            json_number(&w, "zero_fraction", zero_share(row));
        }
        json_object_end(&w);
    }
    json_array_end(&w);
    json_uint(&w, "tensors", r->n);
    json_uint(&w, "parameters", r->parameters);
    json_bool(&w, "compressed", r->compressed);
    json_uint(&w, "original_parameters", r->original_parameters);
    json_number(&w, "file_bits_per_parameter",
                r->original_parameters
                    ? 8.0 * (double)meta->file_bytes / (double)r->original_parameters : 0.0);
    json_uint(&w, "weight_bytes", r->weight_bytes);
    json_uint(&w, "file_bytes", meta->file_bytes);
    json_number(&w, "weight_fraction",
                meta->file_bytes ? (double)r->weight_bytes / (double)meta->file_bytes : 0.0);
    json_object_end(&w);
    json_finish(&w);
}

static void print_csv(const report *r)
{
    printf("name,dtype,shape,elements,bytes,external,min,max,mean,std,zero_fraction%s\n",
           r->compressed ? ",method,quantizer,step,bits,per_channel,bits_per_weight" : "");
    for (size_t i = 0; i < r->n; i++) {
        const tensor_row *row = &r->rows[i];
        char shape[128];
        format_shape(&row->info, shape, sizeof shape, 'x');
        cli_csv_field(stdout, row->info.name);
        printf(",%s,%s,%llu,%llu,%d", onnxq_dtype_name(row->info.dtype), shape,
               (unsigned long long)row->info.elements, (unsigned long long)row->info.bytes,
               row->info.external);
        if (row->has_stats)
            printf(",%.9g,%.9g,%.9g,%.9g,%.9g", row->stats.min, row->stats.max,
                   row->stats.mean, row->stats.std, zero_share(row));
        else
            printf(",,,,,");
        const onnxq_weight_info *w = &row->weight;
        if (r->compressed)
            printf(",%s,%s,%.9g,%d,%d,%.6f", storage_method(row),
                   w->compressed && w->method == 3 ? onnxq_quantizer_name(w->quantizer) : "",
                   w->step, w->bits, w->per_channel, bits_per_weight(row));
        printf("\n");
    }
}

int cmd_inspect(int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_CSV };
    static const struct option options[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"csv", no_argument, NULL, OPT_CSV},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, csv = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: json = 1; break;
        case OPT_CSV: csv = 1; break;
        case 'h': inspect_usage(stdout); return 0;
        default: return cli_usage_error("inspect", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (json && csv)
        return cli_usage_error("inspect", "--json and --csv exclude each other");
    if (optind != argc - 1)
        return cli_usage_error("inspect", "expects exactly one MODEL");
    const char *path = argv[optind];

    onnxq_error err;
    onnxq_model *m;
    if (onnxq_model_open(path, &m, &err) != ONNXQ_OK)
        return cli_fail(&err);
    report r;
    int rc = 0;
    if (gather(m, path, &r, &err) != 0)
        rc = cli_fail(&err);
    else if (json)
        print_json(m, &r);
    else if (csv)
        print_csv(&r);
    else
        print_table(m, &r);
    free(r.rows);
    onnxq_model_free(m);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "onnxq: error writing to standard output\n");
        return 1;
    }
    return rc;
}
