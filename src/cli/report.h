/* report.h: how every command reports an accuracy comparison, so that a
 * drop always comes with its interval and the same names everywhere. */
#ifndef ONNXQ_CLI_REPORT_H
#define ONNXQ_CLI_REPORT_H

#include <stdio.h>
#include "json.h"
#include "onnxq/eval.h"

/* The comparison members of a JSON object: reference_top1/5, agreement, kl,
 * top1_diff, top1_diff_ci95 [lo, hi], top5_diff, top5_diff_ci95, the lost and
 * gained counts and the expected drops. */
void report_json_comparison(json_writer *w, const onnxq_eval_result *r);

/* The CSV columns of a comparison: the header names, and a row's fields
 * (each with a leading comma). */
extern const char report_csv_comparison_header[];
void report_csv_comparison(FILE *out, const onnxq_eval_result *r);

/* "top-1 drop 0.40 points (95 % CI -0.52 to 1.32)" and top-5's, on one line. */
void report_print_drops(FILE *out, const char *indent, const onnxq_eval_result *r);

#endif
