/* synthetic.c: images with the statistics of photographs, made from a seed.
 *
 * Without a single real image, a model's sensitivity to each weight
 * tensor can still be measured on inputs that excite it as photographs
 * do.  Two kinds of picture are known to come close:
 *   - dead leaves: opaque discs of sizes distributed as r^-3, laid over
 *     each other, which gives the 1/f spectrum, the edges and the flat
 *     regions of natural scenes;
 *   - 1/f noise: octaves of smooth random fields of equal energy.
 * Every other image is of each kind, with colours drawn around a common
 * luminance (natural colours are mostly brightness), a fine texture on
 * top and the mean and contrast of typical photographs.  Only integer
 * and basic float arithmetic is used, so a seed gives the same pixels on
 * every machine. */
#include "config.h"
#include "dataset.h"
#include "common/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct rng {
    uint64_t s;
} rng;

/* splitmix64 */
static uint64_t rng_next(rng *r)
{
    uint64_t x = (r->s += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Uniform in [0, 1). */
static float rng_unit(rng *r) { return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f); }

/* Uniform in [-1, 1). */
static float rng_signed(rng *r) { return 2 * rng_unit(r) - 1; }

/* A colour: a luminance with a smaller chroma around it. */
static void random_colour(rng *r, int channels, float lum_spread, float *c)
{
    float lum = rng_signed(r) * lum_spread;
    for (int k = 0; k < channels; k++)
        c[k] = lum + (channels > 1 ? 0.35f * lum_spread * rng_signed(r) : 0);
}

/* Add a smooth random field of `cells` cells a side to img (rows x cols
 * x channels floats), bilinear between random values at the corners. */
static int add_octave(float *img, int rows, int cols, int channels, int cells, float amp, rng *r)
{
    int g = cells + 1;
    float *node = malloc((size_t)g * g * (size_t)channels * sizeof *node);
    if (!node)
        return -1;
    for (int i = 0; i < g * g; i++)
        random_colour(r, channels, amp, node + (size_t)i * channels);
    for (int y = 0; y < rows; y++) {
        float fy = (float)y * (float)cells / (float)rows;
        int y0 = (int)fy;
        float ty = fy - (float)y0;
        for (int x = 0; x < cols; x++) {
            float fx = (float)x * (float)cells / (float)cols;
            int x0 = (int)fx;
            float tx = fx - (float)x0;
            const float *a = node + ((size_t)y0 * g + x0) * channels;
            const float *b = a + channels, *c = a + (size_t)g * channels, *d = c + channels;
            float *p = img + ((size_t)y * cols + x) * channels;
            for (int k = 0; k < channels; k++) {
                float top = a[k] + (b[k] - a[k]) * tx, bottom = c[k] + (d[k] - c[k]) * tx;
                p[k] += top + (bottom - top) * ty;
            }
        }
    }
    free(node);
    return 0;
}

static int pink_noise(float *img, int rows, int cols, int channels, rng *r)
{
    int side = rows > cols ? rows : cols;
    for (int cells = 1; cells <= side / 2; cells *= 2)
        if (add_octave(img, rows, cols, channels, cells, 1.0f, r) != 0)
            return -1;
    return 0;
}

/* Discs of radius rmin / sqrt(u) (so that the number of discs larger than
 * r falls as r^-2, the dead-leaves law), each painted over the ones
 * before, with a gentle shading across it. */
static void dead_leaves(float *img, int rows, int cols, int channels, rng *r)
{
    int side = rows < cols ? rows : cols;
    float rmin = (float)side / 100 + 0.5f, rmax = (float)side / 2;
    size_t discs = (size_t)(4.0f * (float)rows * (float)cols / (rmin * rmin * 40));
    random_colour(r, channels, 1.0f, img); /* the background */
    for (size_t i = 1; i < (size_t)rows * cols; i++)
        memcpy(img + i * channels, img, (size_t)channels * sizeof *img);
    for (size_t d = 0; d < discs; d++) {
        float u = rng_unit(r) + 1e-4f;
        float radius = rmin / sqrtf(u);
        if (radius > rmax)
            radius = rmax;
        float cx = rng_unit(r) * (float)cols, cy = rng_unit(r) * (float)rows;
        float colour[3], shade = 0.3f * rng_signed(r) / radius;
        random_colour(r, channels, 1.0f, colour);
        int y0 = (int)(cy - radius), y1 = (int)(cy + radius) + 1;
        int x0 = (int)(cx - radius), x1 = (int)(cx + radius) + 1;
        y0 = y0 < 0 ? 0 : y0, x0 = x0 < 0 ? 0 : x0;
        y1 = y1 > rows ? rows : y1, x1 = x1 > cols ? cols : x1;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) {
                float dx = (float)x + 0.5f - cx, dy = (float)y + 0.5f - cy;
                if (dx * dx + dy * dy > radius * radius)
                    continue;
                float *p = img + ((size_t)y * cols + x) * channels;
                for (int k = 0; k < channels; k++)
                    p[k] = colour[k] + shade * dx;
            }
    }
}

/* Scale to a photograph's mean and contrast, varied a little, and round. */
static void to_pixels(const float *img, size_t values, rng *r, uint8_t *out)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < values; i++)
        sum += img[i], sq += (double)img[i] * img[i];
    double mean = sum / (double)values, var = sq / (double)values - mean * mean;
    float sd = var > 1e-12 ? (float)sqrt(var) : 1;
    float want_mean = 115 + 25 * rng_signed(r), want_sd = 60 + 15 * rng_signed(r);
    for (size_t i = 0; i < values; i++) {
        float v = (img[i] - (float)mean) / sd * want_sd + want_mean;
        out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)(v + 0.5f));
    }
}

static int make_image(int kind, int rows, int cols, int channels, rng *r, float *img, uint8_t *out)
{
    size_t values = (size_t)rows * cols * channels;
    memset(img, 0, values * sizeof *img);
    if (kind == 0)
        dead_leaves(img, rows, cols, channels, r);
    else if (pink_noise(img, rows, cols, channels, r) != 0)
        return -1;
    /* A fine texture, as surfaces have. */
    int side = rows > cols ? rows : cols;
    if (add_octave(img, rows, cols, channels, side / 4 > 1 ? side / 4 : 1, 0.15f, r) != 0)
        return -1;
    to_pixels(img, values, r, out);
    return 0;
}

onnxq_status dataset_synthetic(int channels, int rows, int cols, size_t n, uint64_t seed,
                               onnxq_dataset **out, onnxq_error *err)
{
    *out = NULL;
    if ((channels != 1 && channels != 3) || rows < 4 || cols < 4 || rows > 4096 || cols > 4096 ||
        n < 1 || n > 4096)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "synthetic images of %dx%dx%d (up to 4096 of 4x4 to 4096x4096, 1 or 3 "
                          "channels)", rows, cols, channels);
    onnxq_dataset *ds = dataset_new(DATASET_SYNTHETIC, "synthetic images");
    size_t size = (size_t)rows * cols * channels;
    float *img = malloc(size * sizeof *img);
    if (ds) {
        ds->items = calloc(n + 1, sizeof *ds->items);
        ds->pixels = malloc(n * size + 1);
    }
    if (!ds || !img || !ds->items || !ds->pixels) {
        free(img);
        onnxq_dataset_free(ds);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory for %zu synthetic images", n);
    }
    ds->rows = rows, ds->cols = cols, ds->channels = channels;
    rng r = { seed ^ 0x5ca1ab1e0ddba11ull };
    for (size_t i = 0; i < n; i++) {
        if (make_image((int)(i % 2), rows, cols, channels, &r, img, ds->pixels + i * size) != 0) {
            free(img);
            onnxq_dataset_free(ds);
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory for synthetic images");
        }
        ds->items[i].origin = i;
    }
    ds->n = n;
    free(img);
    dataset_seal(ds);
    *out = ds;
    return onnxq_ok(err);
}
