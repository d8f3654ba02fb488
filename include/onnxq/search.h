/*
 * onnxq/search.h: rate against accuracy.
 *
 * onnxq_score_compressed compresses a model with given options and scores
 * the result (one point of a sweep).  onnxq_search_max_drop finds per-tensor
 * steps that give a small file whose top-1 and top-5 stay within a drop of
 * the original's, deciding on some images and verifying on others.
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
    double file_bpp;         /* file bytes x 8 / all parameters */
    double ratio;            /* original weight bytes / weight_bytes */
    uint64_t quantized;      /* weights quantized */
    onnxq_eval_result eval;  /* on the scorer's images, against its reference */
} onnxq_point;

/* Compress a copy of the model held in `bytes` (a serialized ModelProto)
 * with `o` and score it.  When `keep` is not NULL it receives the
 * compressed model (and `report` its report, when not NULL). */
ONNXQ_API onnxq_status onnxq_score_compressed(const void *bytes, size_t size, const char *name,
                                    const onnxq_compress_options *o, onnxq_scorer *scorer,
                                    onnxq_point *point, onnxq_model **keep,
                                    onnxq_compress_report **report, onnxq_error *err);

typedef struct onnxq_search_options {
    /* Quantizer, sigma, reconstruction and tensor selection; the step
     * fields are ignored (the search sets a step per tensor). */
    onnxq_compress_options base;
    double max_drop;             /* top-1 and top-5 drop allowed, in percent points */
    /* Round each layer's weights with error feedback over its inputs
     * (GPTQ) instead of to nearest; the steps quantizers only. */
    int error_feedback;
    /* The shares of the images that calibrate and that decide (0: 0.25
     * and 0.45, the rest verifies; with a separate verification set 0.35
     * and 0.65), and the seed of the split. */
    double calibration_share, decision_share;
    uint64_t seed;
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
    double target;             /* the bound on the expected drop the decision allowed */
    /* The steps chosen: 1 the per-tensor allocation (a step per tensor
     * from its sensitivity), 0 one step for every tensor. */
    double allocation_exponent;
    /* Which images did what ("250 of the 1000 images of DIR"). */
    char calibration_images[600], decision_images[600], verification_images[600];
    onnxq_point decision;      /* the chosen file on the decision images */
    onnxq_point best;          /* the chosen file on the verification images: the figures to report */
} onnxq_search_result;

/* Find per-tensor steps for the smallest file whose expected top-1 and
 * top-5 drops stay within the target, keeping apart the images that
 * calibrate, decide and verify: `images` is split into the three (or,
 * with `validate`, into the first two, and `validate` verifies).  `eval`
 * gives the preprocessing, threads and cache.  On success *best holds the
 * chosen compressed model and *report its compression report. */
ONNXQ_API onnxq_status onnxq_search_max_drop(onnxq_model *original, onnxq_dataset *images,
                                   onnxq_dataset *validate, const onnxq_eval_options *eval,
                                   const onnxq_search_options *o, onnxq_model **best,
                                   onnxq_compress_report **report, onnxq_search_result *result,
                                   onnxq_error *err);

/* Without images: per-tensor steps from each tensor's effect on the
 * output for synthetic images (dead leaves and 1/f noise) in the model's
 * convention (eval->pre; scale 0 when unknown: the largest effect over
 * the caffe, torch and tf conventions), at a total effect small enough
 * to leave photographs' top-1 and top-5 as they were.  Tensors already
 * on an integer grid keep it exactly.  ONNXQ_ERR_UNSUPPORTED when the
 * input is not an image.  result->calibration_images names the images;
 * result->best holds the file's sizes (its accuracy is not measured). */
ONNXQ_API onnxq_status onnxq_search_data_free(onnxq_model *original, const onnxq_eval_options *eval,
                                    const onnxq_search_options *o, onnxq_model **best,
                                    onnxq_compress_report **report, onnxq_search_result *result,
                                    onnxq_error *err);
ONNXQ_API void onnxq_search_result_free(onnxq_search_result *result);

#ifdef __cplusplus
}
#endif
#endif /* ONNXQ_SEARCH_H */
