/* report.c: accuracy comparisons in text, JSON and CSV (report.h). */
#include "config.h"
#include "report.h"

static void json_interval(json_writer *w, const char *key, double lo, double hi)
{
    json_array_begin(w, key);
    json_number(w, NULL, lo);
    json_number(w, NULL, hi);
    json_array_end(w);
}

void report_json_comparison(json_writer *w, const onnxq_eval_result *r)
{
    json_number(w, "reference_top1", r->ref_top1);
    json_number(w, "reference_top5", r->ref_top5);
    json_number(w, "agreement", r->agreement);
    json_number(w, "kl", r->kl);
    json_number(w, "top1_diff", r->top1_diff);
    json_interval(w, "top1_diff_ci95", r->top1_diff_lo, r->top1_diff_hi);
    json_number(w, "top5_diff", r->top5_diff);
    json_interval(w, "top5_diff_ci95", r->top5_diff_lo, r->top5_diff_hi);
    json_uint(w, "top1_lost", r->top1_lost);
    json_uint(w, "top1_gained", r->top1_gained);
    json_uint(w, "top5_lost", r->top5_lost);
    json_uint(w, "top5_gained", r->top5_gained);
    json_number(w, "expected_top1_drop", r->expected_top1_drop);
    json_number(w, "expected_top1_drop_se", r->expected_top1_drop_se);
    json_number(w, "expected_top5_drop", r->expected_top5_drop);
    json_number(w, "expected_top5_drop_se", r->expected_top5_drop_se);
}

const char report_csv_comparison_header[] =
    "reference_top1,reference_top5,agreement,kl,top1_diff,top1_diff_lo,top1_diff_hi,"
    "top5_diff,top5_diff_lo,top5_diff_hi,top1_lost,top1_gained,top5_lost,top5_gained,"
    "expected_top1_drop,expected_top1_drop_se,expected_top5_drop,expected_top5_drop_se";

void report_csv_comparison(FILE *out, const onnxq_eval_result *r)
{
    fprintf(out, ",%.4f,%.4f,%.4f,%.6g,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%zu,%zu,%zu,%zu,%.4f,%.4f,%.4f,%.4f",
            r->ref_top1, r->ref_top5, r->agreement, r->kl, r->top1_diff, r->top1_diff_lo,
            r->top1_diff_hi, r->top5_diff, r->top5_diff_lo, r->top5_diff_hi, r->top1_lost,
            r->top1_gained, r->top5_lost, r->top5_gained, r->expected_top1_drop,
            r->expected_top1_drop_se, r->expected_top5_drop, r->expected_top5_drop_se);
}

void report_print_drops(FILE *out, const char *indent, const onnxq_eval_result *r)
{
    fprintf(out, "%stop-1 drop %.2f points (95 %% CI %.2f to %.2f), top-5 drop %.2f points "
                 "(95 %% CI %.2f to %.2f)\n",
            indent, r->top1_diff, r->top1_diff_lo, r->top1_diff_hi, r->top5_diff,
            r->top5_diff_lo, r->top5_diff_hi);
}
