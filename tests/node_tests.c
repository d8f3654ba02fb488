/* node_tests.c: the ONNX backend node tests, run through the engine.
 *
 * Each test folder holds model.onnx and test_data_set_N/{input,output}_K.pb.
 * A test passes when every output matches with the tolerances of onnx's
 * own backend runner (rtol 1e-3, atol 1e-7; integers exactly).  A test the
 * engine cannot run (operator, element type or attribute it does not
 * support) is skipped with the engine's reason; any other error fails.
 *
 *   node_tests [-v] [-a ATOL] [DIR]   (default /usr/include/onnx/backend/test/data/node)
 *
 * -a sets the absolute tolerance (whole models whose outputs cancel large
 * terms need more than 1e-7 near zero).
 *
 * Exit 0 when nothing failed, 1 otherwise, 77 (skip) when DIR is absent. */
#include "config.h"
#include "engine/engine.h"
#include "model/onnx_io.h"
#include "onnxq/engine.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DIR "/usr/include/onnx/backend/test/data/node"

typedef enum { PASSED, FAILED, SKIPPED } outcome;

static int verbose;
static double abs_tolerance = 1e-7;

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return buf;
}

/* A test data file as a tensor: its proto and element bytes. */
typedef struct pb_tensor {
    Onnx__TensorProto *proto;
    uint8_t *data;
    uint64_t elements, bytes;
} pb_tensor;

static int load_pb(const char *path, pb_tensor *t, char *why, size_t why_size)
{
    size_t size;
    uint8_t *buf = read_file(path, &size);
    memset(t, 0, sizeof *t);
    if (!buf)
        return snprintf(why, why_size, "cannot read %s", path), -1;
    t->proto = onnx__tensor_proto__unpack(NULL, size, buf);
    free(buf);
    if (!t->proto)
        return snprintf(why, why_size, "%s is not a TensorProto", path), -1;
    onnxq_error err;
    if (tensor_proto_read(path, t->proto, &t->data, &t->elements, &t->bytes, &err) != ONNXQ_OK)
        return snprintf(why, why_size, "%s", err.message), -1;
    return 0;
}

static void free_pb(pb_tensor *t)
{
    if (t->proto)
        onnx__tensor_proto__free_unpacked(t->proto, NULL);
    free(t->data);
}

static int match(const pb_tensor *want, const onnxq_tensor_view *got, char *why, size_t why_size)
{
    const Onnx__TensorProto *p = want->proto;
    if (got->dtype != p->data_type)
        return snprintf(why, why_size, "output is %s, expected %s", onnxq_dtype_name(got->dtype),
                        onnxq_dtype_name(p->data_type)), 0;
    if ((size_t)got->rank != p->n_dims)
        return snprintf(why, why_size, "output rank %d, expected %zu", got->rank, p->n_dims), 0;
    for (int d = 0; d < got->rank; d++)
        if (got->dims[d] != p->dims[d])
            return snprintf(why, why_size, "output dimension %d is %lld, expected %lld", d,
                            (long long)got->dims[d], (long long)p->dims[d]), 0;
    if (got->dtype == ONNXQ_DTYPE_FLOAT) {
        const float *g = got->data, *w = (const float *)(void *)want->data;
        for (uint64_t i = 0; i < want->elements; i++) {
            if (isnan(w[i]) && isnan(g[i]))
                continue;
            if (isinf(w[i]) && g[i] == w[i])
                continue;
            if (!(fabs((double)g[i] - w[i]) <= abs_tolerance + 1e-3 * fabs((double)w[i])))
                return snprintf(why, why_size, "element %llu is %.9g, expected %.9g",
                                (unsigned long long)i, g[i], w[i]), 0;
        }
        return 1;
    }
    const uint8_t *g = got->data, *w = want->data;
    size_t es = want->elements ? want->bytes / want->elements : 1;
    for (uint64_t i = 0; i < want->elements; i++)
        if (memcmp(g + i * es, w + i * es, es)) {
            int64_t gv = 0, wv = 0;
            memcpy(&gv, g + i * es, es < 8 ? es : 8);
            memcpy(&wv, w + i * es, es < 8 ? es : 8);
            return snprintf(why, why_size, "element %llu is %lld, expected %lld (raw bits)",
                            (unsigned long long)i, (long long)gv, (long long)wv), 0;
        }
    return 1;
}

static outcome run_data_set(onnxq_engine *e, const char *dir, char *why, size_t why_size)
{
    size_t n_in = onnxq_engine_input_count(e), n_out = onnxq_engine_output_count(e);
    pb_tensor ins[64], outs[64];
    onnxq_tensor_view views[64];
    outcome result = PASSED;
    size_t loaded_in = 0, loaded_out = 0;
    char path[4096];
    if (n_in > 64 || n_out > 64)
        return snprintf(why, why_size, "too many inputs or outputs"), SKIPPED;
    for (; loaded_in < n_in; loaded_in++) {
        snprintf(path, sizeof path, "%s/input_%zu.pb", dir, loaded_in);
        pb_tensor *t = &ins[loaded_in];
        if (load_pb(path, t, why, why_size)) {
            free_pb(t);
            result = SKIPPED;
            break;
        }
        onnxq_tensor_view *v = &views[loaded_in];
        v->dtype = t->proto->data_type;
        v->rank = (int)t->proto->n_dims;
        if (v->rank > ONNXQ_MAX_DIMS) {
            snprintf(why, why_size, "input rank %d", v->rank);
            free_pb(t);
            result = SKIPPED;
            break;
        }
        for (int d = 0; d < v->rank; d++)
            v->dims[d] = t->proto->dims[d];
        v->data = t->data;
    }
    for (; result == PASSED && loaded_out < n_out; loaded_out++) {
        snprintf(path, sizeof path, "%s/output_%zu.pb", dir, loaded_out);
        if (load_pb(path, &outs[loaded_out], why, why_size)) {
            free_pb(&outs[loaded_out]);
            result = SKIPPED;
            break;
        }
    }
    if (result == PASSED) {
        onnxq_error err;
        onnxq_status s = onnxq_engine_run(e, views, n_in, &err);
        if (s != ONNXQ_OK) {
            snprintf(why, why_size, "%s", err.message);
            result = s == ONNXQ_ERR_UNSUPPORTED ? SKIPPED : FAILED;
        }
        for (size_t i = 0; result == PASSED && i < n_out; i++) {
            onnxq_tensor_view got;
            if (onnxq_engine_output(e, i, &got, &err) != ONNXQ_OK) {
                snprintf(why, why_size, "%s", err.message);
                result = FAILED;
            } else if (!match(&outs[i], &got, why, why_size)) {
                result = FAILED;
            }
        }
    }
    for (size_t i = 0; i < loaded_in; i++)
        free_pb(&ins[i]);
    for (size_t i = 0; i < loaded_out; i++)
        free_pb(&outs[i]);
    return result;
}

static int has_prefix(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static outcome run_test(const char *dir, char *why, size_t why_size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    onnxq_model *m;
    onnxq_error err;
    onnxq_status s = onnxq_model_open(path, &m, &err);
    if (s != ONNXQ_OK) {
        snprintf(why, why_size, "%s", err.message);
        return s == ONNXQ_ERR_UNSUPPORTED ? SKIPPED : FAILED;
    }
    onnxq_model_meta meta;
    onnxq_model_get_meta(m, &meta);
    for (size_t i = 0; i < meta.input_count; i++) {
        onnxq_value_info info;
        onnxq_model_input(m, i, &info);
        if (!info.dtype) {
            snprintf(why, why_size, "input '%s' is not a tensor", info.name);
            onnxq_model_free(m);
            return SKIPPED;
        }
    }
    onnxq_engine *e;
    onnxq_engine_options opt = { .threads = 1 };
    s = onnxq_engine_create(m, &opt, &e, &err);
    if (s != ONNXQ_OK) {
        snprintf(why, why_size, "%s", err.message);
        onnxq_model_free(m);
        return s == ONNXQ_ERR_UNSUPPORTED ? SKIPPED : FAILED;
    }
    outcome result = SKIPPED;
    snprintf(why, why_size, "no test data sets");
    DIR *d = opendir(dir);
    struct dirent *ent;
    while (d && (ent = readdir(d))) {
        if (!has_prefix(ent->d_name, "test_data_set_"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        result = run_data_set(e, path, why, why_size);
        if (result != PASSED)
            break;
    }
    if (d)
        closedir(d);
    onnxq_engine_free(e);
    onnxq_model_free(m);
    return result;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *root = DEFAULT_DIR;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "-a") && i + 1 < argc)
            abs_tolerance = atof(argv[++i]);
        else
            root = argv[i];
    }
    DIR *d = opendir(root);
    if (!d) {
        printf("SKIP: %s is absent (install Debian's libonnx-testdata)\n", root);
        return 77;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (!has_prefix(ent->d_name, "test_"))
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    size_t count[3] = { 0 };
    for (size_t i = 0; i < n; i++) {
        char dir[4096], why[700] = "";
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        outcome o = run_test(dir, why, sizeof why);
        count[o]++;
        if (o == FAILED)
            printf("FAIL %s: %s\n", names[i], why);
        else if (o == SKIPPED)
            printf("SKIP %s: %s\n", names[i], why);
        else if (verbose)
            printf("PASS %s\n", names[i]);
        free(names[i]);
    }
    free(names);
    printf("node tests: %zu passed, %zu failed, %zu skipped\n", count[PASSED], count[FAILED],
           count[SKIPPED]);
    return count[FAILED] ? 1 : 0;
}
