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

int cmd_inspect(int argc, char **argv);

#endif
