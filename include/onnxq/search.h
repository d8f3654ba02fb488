/*
 * onnxq/search.h: rate against accuracy.
 *
 * onnxq_score_compressed compresses a model with given options and scores
 * the result (one point of a sweep).  onnxq_search_max_drop finds per-tensor
 * steps that give a small file whose top-1 and top-5 stay within a drop of
 * the original's on the scorer's images.
 */
#ifndef ONNXQ_SEARCH_H
#define ONNXQ_SEARCH_H

#include "onnxq/eval.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct onnxq_point {
    double entropy_bpw;      /* symbol entropy of the quantized tensors, bits per weight */
    double coded_bpw;        /* their coded payload, bits per weight */
    uint64_t weight_bytes;   /* all initializer data after compression */
    uint64_t file_bytes;     /* the serialized compressed model */
    double ratio;            /* original weight bytes / weight_bytes */
    uint64_t quantized;      /* weights quantized */
    onnxq_eval_result eval;  /* on the scorer's images, against its reference */
} onnxq_point;

/* Compress a copy of the model held in `bytes` (a serialized ModelProto)
 * with `o` and score it.  When `keep` is not NULL it receives the
 * compressed model (and `report` its report, when not NULL). */
onnxq_status onnxq_score_compressed(const void *bytes, size_t size, const char *name,
                                    const onnxq_compress_options *o, onnxq_scorer *scorer,
                                    size_t max_images, onnxq_point *point, onnxq_model **keep,
                                    onnxq_compress_report **report, onnxq_error *err);

typedef struct onnxq_search_options {
    /* Quantizer, sigma, reconstruction and tensor selection; the step
     * fields are ignored (the search sets a step per tensor). */
    onnxq_compress_options base;
    double max_drop;             /* top-1 and top-5 drop allowed, in percent points */
    size_t calibration_images;   /* images for the sensitivity pass and the
                                    layers' input statistics (0: 100) */
    /* Round each layer's weights with error feedback over its inputs
     * (GPTQ) instead of to nearest; the steps quantizers only. */
    int error_feedback;
    /* A line of progress or of the log; may be NULL. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} onnxq_search_options;

typedef struct onnxq_search_result {
    size_t n_tensors;          /* initializers of the model */
    double *steps;             /* per initializer: the step, or 0 when not quantized */
    double *sensitivity;       /* per initializer: KL per squared step, 0 when not measured */
    size_t trials;             /* compressed models scored */
    size_t rounded;            /* tensors rounded with error feedback */
    /* The trend fitted over the trials: drop = per_kl x KL, in percent
     * points, for top-1 and top-5, and the KL it allows (infinite when
     * the trend is flat). */
    double top1_per_kl, top5_per_kl, kl_allowed;
    onnxq_point best;          /* the chosen file's figures */
} onnxq_search_result;

/* The scorer must have been created with o->reference = the original
 * model.  On success *best holds the chosen compressed model and *report
 * its compression report. */
onnxq_status onnxq_search_max_drop(onnxq_model *original, onnxq_scorer *scorer,
                                   const onnxq_search_options *o, onnxq_model **best,
                                   onnxq_compress_report **report, onnxq_search_result *result,
                                   onnxq_error *err);
void onnxq_search_result_free(onnxq_search_result *result);

#ifdef __cplusplus
}
#endif
#endif /* ONNXQ_SEARCH_H */
