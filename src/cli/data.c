/* data.c: the image-set options shared by eval, sweep and compress --max-drop. */
#include "config.h"
#include "cli.h"
#include "data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char cli_data_help[] =
    "\nImages:\n"
    "      --images DIR       JPEG images: DIR/<synset>_*.JPEG with a synset list,\n"
    "                         DIR/<synset>/*.JPEG class folders, or DIR/FILE with a\n"
    "                         label file of 'FILE INDEX' lines\n"
    "      --labels FILE      the synset list (class order) or 'FILE INDEX' lines;\n"
    "                         default DIR/synset_words.txt\n"
    "      --idx IMAGES LABELS  an IDX image file and its label file (gzip'd or not)\n"
    "      --limit N          use N images spread over the classes (see --seed)\n"
    "      --seed S           which images --limit takes, and how --max-drop splits\n"
    "                         them (default 0); the same seed, the same images\n"
    "\nPreprocessing:\n"
    "      --preset NAME      caffe, torch, tf, unit or raw (IDX default: unit)\n"
    "      --mean R,G,B       subtract per channel (after --scale)\n"
    "      --std R,G,B        then divide per channel\n"
    "      --scale S          multiply the 0-255 pixels first\n"
    "      --bgr, --rgb       channel order fed to the model\n"
    "      --resize N         shorter side before the centre crop (default 256)\n"
    "      --crop N           crop size (default: the model input's)\n"
    "\nRunning:\n"
    "      --threads N        threads for decoding and inference (default: all cores)\n"
    "      --cache DIR        keep decoded images here (default ~/.cache/onnxq)\n"
    "      --no-cache         decode the JPEG files every time\n"
    "      --cache-limit SIZE the cache's size at most, least recently used files\n"
    "                         going first: bytes, or with K, M or G (default 1G)\n";

void cli_data_init(cli_data *d)
{
    memset(d, 0, sizeof *d);
    d->scale = NAN;
    d->resize = 256;
}

static int parse_triple(const char *cmd, const char *opt, const char *text, float *v)
{
    char *end;
    const char *p = text;
    for (int i = 0; i < 3; i++) {
        v[i] = strtof(p, &end);
        if (end == p || (i < 2 && *end != ',') || (i == 2 && *end))
            return cli_usage_error(cmd, "%s expects three numbers R,G,B, not '%s'", opt, text);
        p = end + 1;
    }
    return 0;
}

int cli_data_parse(cli_data *d, const char *cmd, int c, const char *arg, int argc, char **argv)
{
    uint64_t u;
    switch (c) {
    case CLI_OPT_IMAGES: d->images = arg; return 0;
    case CLI_OPT_LABELS: d->labels = arg; return 0;
    case CLI_OPT_IDX:
        d->idx_images = arg;
        if (optind >= argc || argv[optind][0] == '-')
            return cli_usage_error(cmd, "--idx expects IMAGES and LABELS");
        d->idx_labels = argv[optind++];
        return 0;
    case CLI_OPT_LIMIT:
        if (cli_parse_u64(cmd, "--limit", arg, &d->limit))
            return CLI_EXIT_USAGE;
        if (!d->limit)
            return cli_usage_error(cmd, "--limit takes 1 image or more");
        d->have_limit = 1;
        return 0;
    case CLI_OPT_SEED: return cli_parse_u64(cmd, "--seed", arg, &d->seed);
    case CLI_OPT_CACHE_LIMIT: return cli_parse_size(cmd, "--cache-limit", arg, &d->cache_limit);
    case CLI_OPT_PRESET: d->preset = arg; return 0;
    case CLI_OPT_MEAN: d->mean = arg; return 0;
    case CLI_OPT_STD: d->std = arg; return 0;
    case CLI_OPT_SCALE: return cli_parse_double(cmd, "--scale", arg, &d->scale);
    case CLI_OPT_BGR: d->bgr = 1; return 0;
    case CLI_OPT_RGB: d->rgb = 1; return 0;
    case CLI_OPT_RESIZE: return cli_parse_u64(cmd, "--resize", arg, &d->resize);
    case CLI_OPT_CROP: return cli_parse_u64(cmd, "--crop", arg, &d->crop);
    case CLI_OPT_THREADS:
        if (cli_parse_u64(cmd, "--threads", arg, &u))
            return CLI_EXIT_USAGE;
        if (u < 1 || u > 256)
            return cli_usage_error(cmd, "--threads takes 1 to 256");
        d->threads = (int)u;
        return 0;
    case CLI_OPT_CACHE: d->cache = arg; return 0;
    case CLI_OPT_NO_CACHE: d->no_cache = 1; return 0;
    default: return cli_usage_error(cmd, "unknown option");
    }
}

int cli_data_check(const cli_data *d, const char *cmd, int required)
{
    if (!required && !d->images && !d->idx_images)
        return 0;
    if (!d->images == !d->idx_images)
        return cli_usage_error(cmd, "give either --images DIR or --idx IMAGES LABELS");
    if (d->images && !d->preset && !d->mean && !d->std && isnan(d->scale))
        return cli_usage_error(cmd, "--images needs --preset (caffe, torch, tf, unit, raw) or "
                                    "--mean/--std/--scale");
    if (d->bgr && d->rgb)
        return cli_usage_error(cmd, "--bgr and --rgb exclude each other");
    if (d->resize < 1 || d->resize > 4096 || d->crop > 4096)
        return cli_usage_error(cmd, "--resize and --crop must be 1 to 4096");
    return 0;
}

char *cli_default_cache(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char buf[4096];
    if (xdg && *xdg)
        snprintf(buf, sizeof buf, "%s/onnxq", xdg);
    else if (home && *home)
        snprintf(buf, sizeof buf, "%s/.cache/onnxq", home);
    else
        return NULL;
    return strdup(buf);
}

static void data_progress(void *ctx, size_t done, size_t total)
{
    cli_progress(NULL, done < total ? done - 1 : done, total, (const char *)ctx);
}

int cli_data_open(cli_data *d, const char *cmd, onnxq_dataset **ds, onnxq_eval_options *o)
{
    onnxq_error err;
    memset(o, 0, sizeof *o);
    *ds = NULL;
    if (onnxq_preset(d->preset ? d->preset : d->idx_images ? "unit" : "raw", &o->pre, &err) !=
        ONNXQ_OK)
        return cli_usage_error(cmd, "%s", err.message);
    if (d->mean && parse_triple(cmd, "--mean", d->mean, o->pre.mean))
        return CLI_EXIT_USAGE;
    if (d->std && parse_triple(cmd, "--std", d->std, o->pre.std))
        return CLI_EXIT_USAGE;
    if (!isnan(d->scale))
        o->pre.scale = (float)d->scale;
    if (d->bgr || d->rgb)
        o->pre.bgr = d->bgr;
    o->pre.resize = (int)d->resize;
    o->pre.crop = (int)d->crop;
    o->threads = d->threads;
    if ((d->images ? onnxq_dataset_open_images(d->images, d->labels, ds, &err)
                   : onnxq_dataset_open_idx(d->idx_images, d->idx_labels, ds, &err)) != ONNXQ_OK)
        return cli_fail(&err);
    if (d->have_limit && onnxq_dataset_sample(*ds, (size_t)d->limit, d->seed, &err) != ONNXQ_OK)
        return cli_fail(&err);
    d->cache_dir = d->no_cache ? NULL : d->cache ? strdup(d->cache) : cli_default_cache();
    o->cache_dir = d->cache_dir;
    o->cache_limit = d->cache_limit;
    if (!d->quiet) {
        o->progress = data_progress;
        o->progress_ctx = (void *)"scoring";
    }
    return 0;
}

void cli_data_close(cli_data *d, onnxq_dataset *ds)
{
    free(d->cache_dir);
    d->cache_dir = NULL;
    onnxq_dataset_free(ds);
}

void cli_warn_near_chance(const char *model, double top1, double top5, size_t images)
{
    if (images >= 100 && top1 <= 2 && top5 <= 5)
        fprintf(stderr, "onnxq: warning: %s scores near chance (top-1 %.2f %%, top-5 %.2f %%): "
                        "the preprocessing (--preset, --mean, --std, --bgr) probably does not "
                        "match the model's\n", model, top1, top5);
}
