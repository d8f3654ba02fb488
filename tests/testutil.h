/* testutil.h: helpers shared by the unit tests. */
#ifndef ONNXQ_TESTUTIL_H
#define ONNXQ_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include "onnx.pb-c.h"
#include "onnxq/onnxq.h"

/* ../shared beside the checkout (or $ONNXQ_SHARED), or NULL when absent:
 * tests that need it skip with a message then. */
const char *test_shared_dir(void);
/* A path under the shared folder, malloc'd; NULL when shared is absent. */
char *test_shared_path(const char *relative);

/* ../shared/models/NAME opened (the test fails if it does not load), or
 * NULL when the shared folder is absent. */
onnxq_model *test_open_shared_model(const char *name);

/* A fresh temporary folder, and its recursive removal. */
char *test_tmpdir(void);
void test_rmtree(const char *dir);
char *test_path(const char *dir, const char *name);

void test_write_file(const char *path, const void *data, size_t size);
uint8_t *test_read_file(const char *path, size_t *size);

/* Building models by hand, all malloc'd so onnx__model_proto__free_unpacked
 * releases them. */
Onnx__ModelProto *tb_model_new(void);
Onnx__TensorProto *tb_add_tensor(Onnx__ModelProto *m, const char *name, int dtype, int rank,
                                 const int64_t *dims);
/* A node of one output, with at most one int attribute (int_attr NULL: none). */
void tb_add_node(Onnx__ModelProto *m, const char *op, const char *const *inputs, size_t n_in,
                 const char *output, const char *int_attr, int64_t value);
/* An int list attribute on the last node added. */
void tb_add_ints(Onnx__ModelProto *m, const char *name, const int64_t *values, size_t n);
/* A float graph input or output of the given rank, every dimension symbolic. */
void tb_add_value(Onnx__ModelProto *m, int is_output, const char *name, int rank);
void tb_set_raw(Onnx__TensorProto *t, const void *data, size_t size);
void tb_add_external(Onnx__TensorProto *t, const char *key, const char *value);
uint8_t *tb_pack(const Onnx__ModelProto *m, size_t *size);
/* m packed and loaded as a model called `name` (the test fails if it does
 * not load); m is freed. */
onnxq_model *tb_load(Onnx__ModelProto *m, const char *name);

/* Run a suite with Check's normal output; the exit status for main(). */
struct Suite;
int test_run_suite(struct Suite *suite);

/* A deterministic pseudo-random generator (xorshift64*). */
uint64_t test_rand(uint64_t *state);

#endif
