/*
 * onnxq/eval.h: datasets, preprocessing and accuracy scoring.
 *
 * A dataset is a list of labelled images: JPEG files (ImageNet layouts) or
 * the images of an IDX file pair (MNIST, Fashion-MNIST).  Scoring runs a
 * model on each through the engine and reports top-1 and top-5, and, given
 * a reference model, how often the two agree and the mean KL divergence of
 * their output distributions.
 */
#ifndef ONNXQ_EVAL_H
#define ONNXQ_EVAL_H

#include "onnxq/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* value = (pixel * scale - mean[c]) / std[c], pixel in 0..255, c in R,G,B
 * order; `bgr` feeds the channels to the model as B,G,R. */
typedef struct onnxq_preprocess {
    float scale;
    float mean[3], std[3];
    int bgr;
    int resize;      /* shorter side before the centre crop (JPEG only) */
    int crop;        /* crop size; 0: the model input's height */
} onnxq_preprocess;

/* Fill p with a named convention: caffe, torch, tf, unit or raw (resize 256,
 * crop from the model).  ONNXQ_ERR_ARGUMENT for an unknown name. */
ONNXQ_API onnxq_status onnxq_preset(const char *name, onnxq_preprocess *p, onnxq_error *err);

typedef struct onnxq_dataset onnxq_dataset;

/* JPEG images in one of three layouts, found by looking:
 *   DIR/<synset>_*.JPEG with `labels` a synset list in class order;
 *   DIR/<synset>/ folders of JPEG files (synset list optional, else the
 *     sorted folder names are the classes);
 *   DIR/FILE with `labels` a file of "FILE INDEX" lines (ILSVRC2012 val).
 * `labels` NULL: DIR/synset_words.txt when present.  Files are taken in
 * sorted order, so runs are deterministic. */
ONNXQ_API onnxq_status onnxq_dataset_open_images(const char *dir, const char *labels,
                                       onnxq_dataset **ds, onnxq_error *err);

/* An IDX image file and its label file, gzip'd or plain. */
ONNXQ_API onnxq_status onnxq_dataset_open_idx(const char *images, const char *labels,
                                    onnxq_dataset **ds, onnxq_error *err);

ONNXQ_API void onnxq_dataset_free(onnxq_dataset *ds);

/* The preprocessed-image cache in `dir` (see onnxq_eval_options): its
 * files and their bytes; and clearing it. */
ONNXQ_API onnxq_status onnxq_cache_usage(const char *dir, size_t *files, uint64_t *bytes,
                               onnxq_error *err);
ONNXQ_API onnxq_status onnxq_cache_clear(const char *dir, onnxq_error *err);
ONNXQ_API size_t onnxq_dataset_count(const onnxq_dataset *ds);
/* Keep only the first n images (in sorted order). */
ONNXQ_API void onnxq_dataset_limit(onnxq_dataset *ds, size_t n);

/* Keep n images spread over the classes: one of each class in turn, the
 * classes and each class's images in an order drawn from `seed`, then
 * taken in their sorted order again.  The same seed gives the same images. */
ONNXQ_API onnxq_status onnxq_dataset_sample(onnxq_dataset *ds, size_t n, uint64_t seed, onnxq_error *err);

/* Split the images into `parts` (at most 16) disjoint datasets holding
 * shares[p] of them each (shares sum to at most 1; what is left goes
 * nowhere).  Every class is split in the same proportions, give or take
 * an image; which images go where is drawn from the seed.  The parts are
 * freed with onnxq_dataset_free. */
ONNXQ_API onnxq_status onnxq_dataset_split(const onnxq_dataset *ds, size_t parts, const double *shares,
                                 uint64_t seed, onnxq_dataset **out, onnxq_error *err);

/* A short description of the images for reports: "300 of 1000 images of DIR". */
ONNXQ_API void onnxq_dataset_describe(const onnxq_dataset *ds, char *buf, size_t size);

typedef struct onnxq_eval_options {
    onnxq_preprocess pre;
    int threads;                 /* engine and decoding threads; 0: all cores */
    const char *cache_dir;       /* preprocessed-image cache; NULL: none */
    uint64_t cache_limit;        /* bytes the cache may hold; 0: 1 GiB */
    onnxq_model *reference;      /* NULL, or a model to compare with */
    /* Progress, called after each image; may be NULL. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
    /* Called after each scored image with its number in the dataset, its
     * name (the file, or "#N" in an IDX set), its label and the five
     * classes that scored highest, best first (ties: the lower class);
     * may be NULL. */
    void (*on_image)(void *ctx, size_t index, const char *name, int label, const int top5[5]);
    void *on_image_ctx;
} onnxq_eval_options;

typedef struct onnxq_eval_result {
    size_t images;         /* scored */
    size_t failed;         /* unreadable or corrupt images, skipped */
    double top1, top5;     /* percent of the scored images */
    double decode_seconds; /* reading and preprocessing the images (or the cache) */
    double run_seconds;    /* inference */
    int cache_hit;         /* every image came from the cache */
    char first_failure[512]; /* the first skipped image's message, or "" */

    /* Against the reference (NaN, or 0 for the counts, without one): */
    double agreement;      /* percent whose top-1 equals the reference's */
    double kl;             /* mean KL(reference || model) in nats */
    double ref_top1, ref_top5; /* the reference's own scores */
    /* The paired differences, reference minus model, in percent points,
     * with a 95 % interval [lo, hi] that comes from the images whose
     * correctness changed (lost: right only in the reference; gained:
     * right only in the model). */
    double top1_diff, top1_diff_lo, top1_diff_hi;
    double top5_diff, top5_diff_lo, top5_diff_hi;
    size_t top1_lost, top1_gained, top5_lost, top5_gained;
    /* Label-free: the drop the reference's own probabilities expect of
     * the model's answers (after temperature scaling on these images'
     * labels), in points, with its standard error; its variance is far
     * below that of the measured drop, as only near ties flip. */
    double expected_top1_drop, expected_top1_drop_se;
    double expected_top5_drop, expected_top5_drop_se;
    double temperature;
} onnxq_eval_result;

/* Score the model on the dataset. */
ONNXQ_API onnxq_status onnxq_evaluate(onnxq_model *model, onnxq_dataset *ds, const onnxq_eval_options *o,
                            onnxq_eval_result *result, onnxq_error *err);

/* For scoring many models on the same images (sweeps, searches): the
 * images are prepared and o->reference (when set) is run once, at
 * creation; each onnxq_scorer_run then runs only the candidate.  `model`
 * gives the input layout; candidates must take the same input.  The
 * dataset must outlive the scorer. */
typedef struct onnxq_scorer onnxq_scorer;
ONNXQ_API onnxq_status onnxq_scorer_create(onnxq_model *model, onnxq_dataset *ds,
                                 const onnxq_eval_options *o, onnxq_scorer **scorer,
                                 onnxq_error *err);
ONNXQ_API onnxq_status onnxq_scorer_run(onnxq_scorer *scorer, onnxq_model *model, onnxq_eval_result *result,
                              onnxq_error *err);
ONNXQ_API void onnxq_scorer_free(onnxq_scorer *scorer);

#ifdef __cplusplus
}
#endif
#endif /* ONNXQ_EVAL_H */
