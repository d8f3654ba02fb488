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
onnxq_status onnxq_preset(const char *name, onnxq_preprocess *p, onnxq_error *err);

typedef struct onnxq_dataset onnxq_dataset;

/* JPEG images in one of three layouts, found by looking:
 *   DIR/<synset>_*.JPEG with `labels` a synset list in class order;
 *   DIR/<synset>/ folders of JPEG files (synset list optional, else the
 *     sorted folder names are the classes);
 *   DIR/FILE with `labels` a file of "FILE INDEX" lines (ILSVRC2012 val).
 * `labels` NULL: DIR/synset_words.txt when present.  Files are taken in
 * sorted order, so runs are deterministic. */
onnxq_status onnxq_dataset_open_images(const char *dir, const char *labels,
                                       onnxq_dataset **ds, onnxq_error *err);

/* An IDX image file and its label file, gzip'd or plain. */
onnxq_status onnxq_dataset_open_idx(const char *images, const char *labels,
                                    onnxq_dataset **ds, onnxq_error *err);

void onnxq_dataset_free(onnxq_dataset *ds);
size_t onnxq_dataset_count(const onnxq_dataset *ds);
/* Keep only the first n images. */
void onnxq_dataset_limit(onnxq_dataset *ds, size_t n);

typedef struct onnxq_eval_options {
    onnxq_preprocess pre;
    int threads;                 /* engine and decoding threads; 0: all cores */
    const char *cache_dir;       /* preprocessed-image cache; NULL: none */
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
    double agreement;      /* percent whose top-1 equals the reference's (NaN without one) */
    double kl;             /* mean KL(reference || model) in nats (NaN without one) */
    double ref_top1, ref_top5; /* the reference's own scores (NaN without one) */
    double decode_seconds; /* reading and preprocessing the images (or the cache) */
    double run_seconds;    /* inference */
    int cache_hit;         /* the images came from the cache */
    char first_failure[512]; /* the first skipped image's message, or "" */
} onnxq_eval_result;

/* Score the model on the dataset. */
onnxq_status onnxq_evaluate(onnxq_model *model, onnxq_dataset *ds, const onnxq_eval_options *o,
                            onnxq_eval_result *result, onnxq_error *err);

/* For scoring many models on the same images (sweeps, searches): the
 * images are prepared and o->reference (when set) is run once, at
 * creation; each onnxq_scorer_run then runs only the candidate.  `model`
 * gives the input layout; candidates must take the same input.  The
 * dataset must outlive the scorer. */
typedef struct onnxq_scorer onnxq_scorer;
onnxq_status onnxq_scorer_create(onnxq_model *model, onnxq_dataset *ds,
                                 const onnxq_eval_options *o, onnxq_scorer **scorer,
                                 onnxq_error *err);
onnxq_status onnxq_scorer_run(onnxq_scorer *scorer, onnxq_model *model, onnxq_eval_result *result,
                              onnxq_error *err);
/* The same on the first max_images readable images only (0: all). */
onnxq_status onnxq_scorer_run_some(onnxq_scorer *scorer, onnxq_model *model, size_t max_images,
                                   onnxq_eval_result *result, onnxq_error *err);
void onnxq_scorer_free(onnxq_scorer *scorer);

#ifdef __cplusplus
}
#endif
#endif /* ONNXQ_EVAL_H */
