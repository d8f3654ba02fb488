/* data.h: the image-set options shared by eval, sweep and compress --max-drop. */
#ifndef ONNXQ_CLI_DATA_H
#define ONNXQ_CLI_DATA_H

#include <getopt.h>
#include <stdint.h>
#include "onnxq/eval.h"

enum {
    CLI_OPT_IMAGES = 1000, CLI_OPT_LABELS, CLI_OPT_IDX, CLI_OPT_LIMIT, CLI_OPT_PRESET,
    CLI_OPT_MEAN, CLI_OPT_STD, CLI_OPT_SCALE, CLI_OPT_BGR, CLI_OPT_RGB, CLI_OPT_RESIZE,
    CLI_OPT_CROP, CLI_OPT_THREADS, CLI_OPT_CACHE, CLI_OPT_NO_CACHE, CLI_OPT_SEED,
    CLI_OPT_CACHE_LIMIT, CLI_OPT_LAST
};

/* The getopt_long entries, to put in a command's option table. */
#define CLI_DATA_OPTIONS                                                                   \
    {"images", required_argument, 0, CLI_OPT_IMAGES},                                      \
    {"labels", required_argument, 0, CLI_OPT_LABELS},                                      \
    {"idx", required_argument, 0, CLI_OPT_IDX}, {"limit", required_argument, 0, CLI_OPT_LIMIT}, \
    {"preset", required_argument, 0, CLI_OPT_PRESET},                                      \
    {"mean", required_argument, 0, CLI_OPT_MEAN}, {"std", required_argument, 0, CLI_OPT_STD}, \
    {"scale", required_argument, 0, CLI_OPT_SCALE}, {"bgr", no_argument, 0, CLI_OPT_BGR},  \
    {"rgb", no_argument, 0, CLI_OPT_RGB}, {"resize", required_argument, 0, CLI_OPT_RESIZE}, \
    {"crop", required_argument, 0, CLI_OPT_CROP},                                          \
    {"threads", required_argument, 0, CLI_OPT_THREADS},                                    \
    {"cache", required_argument, 0, CLI_OPT_CACHE},                                        \
    {"no-cache", no_argument, 0, CLI_OPT_NO_CACHE},                                        \
    {"seed", required_argument, 0, CLI_OPT_SEED},                                          \
    {"cache-limit", required_argument, 0, CLI_OPT_CACHE_LIMIT}

typedef struct cli_data {
    const char *images, *labels, *idx_images, *idx_labels, *preset, *cache, *mean, *std;
    double scale;
    int bgr, rgb, no_cache, threads, quiet;
    uint64_t limit, resize, crop, seed, cache_limit;
    int have_limit;
    char *cache_dir;
} cli_data;

/* Help text for these options. */
extern const char cli_data_help[];

void cli_data_init(cli_data *d);
/* Handle option c (CLI_OPT_IMAGES .. CLI_OPT_LAST - 1): 0, or an exit code. */
int cli_data_parse(cli_data *d, const char *cmd, int c, const char *arg, int argc, char **argv);
/* After parsing: 0, or a usage error.  `required`: an image set must be given. */
int cli_data_check(const cli_data *d, const char *cmd, int required);
/* Open the dataset and fill the scoring options: 0, or an exit code. */
int cli_data_open(cli_data *d, const char *cmd, onnxq_dataset **ds, onnxq_eval_options *o);
void cli_data_close(cli_data *d, onnxq_dataset *ds);
/* A warning on stderr when a model scores near chance on 100 images or
 * more: most often a preprocessing that does not match the model. */
void cli_warn_near_chance(const char *model, double top1, double top5, size_t images);

/* The image cache's folder when --cache is not given ($XDG_CACHE_HOME/onnxq
 * or ~/.cache/onnxq), malloc'd; NULL without a home. */
char *cli_default_cache(void);

#endif
