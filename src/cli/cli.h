/* cli.h: what the onnxq command's subcommands share. */
#ifndef ONNXQ_CLI_H
#define ONNXQ_CLI_H

#include <stdint.h>
#include <stdio.h>
#include "onnxq/onnxq.h"

/* Exit codes: 0 success, 1 an internal failure, 2 a usage error, and for
 * library failures the onnxq_status number (3 io, 4 not-onnx, ...). */
#define CLI_EXIT_USAGE 2

/* Print "onnxq: MESSAGE" on stderr and return the status as an exit code. */
int cli_fail(const onnxq_error *err);
/* Print "onnxq CMD: MESSAGE (see 'onnxq CMD --help')" and return CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1234567 -> "1,234,567" into buf. */
const char *cli_group_digits(uint64_t value, char *buf, size_t size);
/* Write a CSV field, quoted when it needs to be. */
void cli_csv_field(FILE *out, const char *s);

/* A progress line on stderr when it is a terminal (for onnxq_compress). */
void cli_progress(void *ctx, size_t done, size_t total, const char *name);
/* Parse a number, or fail with a usage error naming the option. */
int cli_parse_double(const char *cmd, const char *opt, const char *text, double *out);
int cli_parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out);
/* A positive size in bytes, with an optional K, M or G (powers of 1024). */
int cli_parse_size(const char *cmd, const char *opt, const char *text, uint64_t *out);
/* OUT from IN: the folder and stem of IN with `suffix` (".onnxq.onnx") appended. */
char *cli_default_output(const char *in, const char *suffix);
/* Before any work: can `path` be written?  Not an existing file without
 * `force`, not a folder, not one of the inputs (n_inputs paths), in a
 * folder that exists and is writable.  0, or an exit code after a
 * one-line error. */
int cli_check_output(const char *path, int force, const char *const *inputs, size_t n_inputs);
/* Open a model from a file, or from standard input for "-". */
int cli_open_model(const char *path, onnxq_model **m, onnxq_error *err);
/* Save a model to a file, or to standard output for "-" (*written: the
 * bytes written there): 0, or an exit code after the error. */
int cli_save_model(onnxq_model *m, const char *path, const onnxq_save_options *save,
                   uint64_t *written);
/* Size of a file (0 when it cannot be read). */
uint64_t cli_file_size(const char *path);

int cmd_inspect(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_decompress(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_cache(int argc, char **argv);

/* "deadzone:0.25", "mulaw:255", "float:4:3", "midtread"... into o: 0 or -1. */
struct onnxq_compress_options;
int cli_parse_quantizer(const char *text, struct onnxq_compress_options *o);

/* A file written through a temporary beside it and renamed into place by
 * cli_commit; cli_create refuses an existing file unless `force`. */
typedef struct cli_output {
    FILE *fp;
    char *path, *tmp;
} cli_output;
int cli_create(cli_output *o, const char *path, int force);
int cli_commit(cli_output *o); /* 0, or an exit code after printing the error */
void cli_abort(cli_output *o);    /* drop the temporary */

#endif
