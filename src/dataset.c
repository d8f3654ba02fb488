/* dataset.c: finding labelled images, and decoding them to pixels. */
#include "config.h"
#include "dataset.h"
#include "error.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <jerror.h>
#include <zlib.h>

/* ---- Label files ------------------------------------------------------------------ */

typedef struct strlist {
    char **s;
    size_t n;
} strlist;

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    l->s = NULL;
    l->n = 0;
}

static int strlist_add(strlist *l, const char *s, size_t len)
{
    char **p = realloc(l->s, (l->n + 1) * sizeof *p);
    if (!p)
        return -1;
    l->s = p;
    if (!(p[l->n] = strndup(s, len)))
        return -1;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first word of every non-empty line. */
static onnxq_status read_first_words(const char *path, strlist *words, strlist *seconds,
                                     onnxq_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: cannot open the label file", path);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            continue;
        size_t len = strcspn(p, " \t\r\n");
        char *q = p + len;
        while (*q == ' ' || *q == '\t')
            q++;
        size_t len2 = strcspn(q, " \t\r\n");
        if (strlist_add(words, p, len) || strlist_add(seconds, q, len2)) {
            fclose(f);
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    fclose(f);
    if (!words->n)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no labels in the file", path);
    return ONNXQ_OK;
}

/* "FILE INDEX" lines: every second word is a number, and only one word follows. */
static int is_index_file(const strlist *seconds)
{
    for (size_t i = 0; i < seconds->n; i++) {
        const char *s = seconds->s[i];
        if (!*s)
            return 0;
        for (; *s; s++)
            if (!isdigit((unsigned char)*s))
                return 0;
    }
    return 1;
}

static int find_word(const strlist *l, const char *w, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->s[i]) == len && !strncmp(l->s[i], w, len))
            return (int)i;
    return -1;
}

/* ---- Image folders ------------------------------------------------------------------ */

static int is_jpeg_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".jpg"));
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (p) {
        memcpy(p, a, la);
        p[la] = '/';
        memcpy(p + la + 1, b, lb + 1);
    }
    return p;
}

/* Sorted names in dir: JPEG files, or subfolders. */
static onnxq_status list_dir(const char *dir, int folders, strlist *out, onnxq_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: cannot open the image folder", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int keep;
        if (folders) {
            char *p = join(dir, e->d_name);
            keep = p && is_dir(p);
            free(p);
        } else {
            keep = is_jpeg_name(e->d_name);
        }
        if (keep && strlist_add(out, e->d_name, strlen(e->d_name))) {
            closedir(d);
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", dir);
        }
    }
    closedir(d);
    if (out->n)
        qsort(out->s, out->n, sizeof *out->s, cmp_str);
    return ONNXQ_OK;
}

static onnxq_dataset *dataset_new(dataset_kind kind, const char *source)
{
    onnxq_dataset *ds = calloc(1, sizeof *ds);
    if (ds && !(ds->source = strdup(source))) {
        free(ds);
        return NULL;
    }
    if (ds)
        ds->kind = kind;
    return ds;
}

static onnxq_status add_item(onnxq_dataset *ds, const char *dir, const char *name, int label,
                             onnxq_error *err)
{
    dataset_item *p = realloc(ds->items, (ds->n + 1) * sizeof *p);
    if (!p)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", ds->source);
    ds->items = p;
    if (!(p[ds->n].path = join(dir, name)))
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", ds->source);
    p[ds->n++].label = label;
    return ONNXQ_OK;
}

/* Layout (a) and (c): files directly in dir. */
static onnxq_status scan_files(onnxq_dataset *ds, const char *dir, const strlist *words,
                               const strlist *seconds, int index_file, onnxq_error *err)
{
    strlist files = { 0 };
    onnxq_status s = list_dir(dir, 0, &files, err);
    for (size_t i = 0; s == ONNXQ_OK && i < files.n; i++) {
        const char *name = files.s[i];
        int label;
        if (index_file) {
            int at = find_word(words, name, strlen(name));
            if (at < 0)
                continue; /* not in the label file: not part of the set */
            label = atoi(seconds->s[at]);
        } else {
            size_t len = strcspn(name, "_");
            label = find_word(words, name, len);
            if (label < 0) {
                s = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: '%.*s' is not in the synset list",
                               name, (int)len, name);
                break;
            }
        }
        s = add_item(ds, dir, name, label, err);
    }
    strlist_free(&files);
    return s;
}

/* Layout (b): one folder per class. */
static onnxq_status scan_folders(onnxq_dataset *ds, const char *dir, const strlist *folders,
                                 const strlist *words, onnxq_error *err)
{
    onnxq_status s = ONNXQ_OK;
    for (size_t k = 0; s == ONNXQ_OK && k < folders->n; k++) {
        const char *cls = folders->s[k];
        int label = words->n ? find_word(words, cls, strlen(cls)) : (int)k;
        if (label < 0)
            return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: class folder '%s' is not in the synset list",
                              dir, cls);
        char *sub = join(dir, cls);
        strlist files = { 0 };
        if (!sub)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", dir);
        s = list_dir(sub, 0, &files, err);
        for (size_t i = 0; s == ONNXQ_OK && i < files.n; i++)
            s = add_item(ds, sub, files.s[i], label, err);
        strlist_free(&files);
        free(sub);
    }
    return s;
}

onnxq_status onnxq_dataset_open_images(const char *dir, const char *labels, onnxq_dataset **out,
                                       onnxq_error *err)
{
    *out = NULL;
    if (!is_dir(dir))
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: not a folder", dir);
    char *default_labels = NULL;
    if (!labels) {
        default_labels = join(dir, "synset_words.txt");
        struct stat st;
        if (default_labels && stat(default_labels, &st) == 0)
            labels = default_labels;
    }
    strlist words = { 0 }, seconds = { 0 }, folders = { 0 };
    onnxq_dataset *ds = dataset_new(DATASET_JPEG, dir);
    onnxq_status s = ds ? ONNXQ_OK : onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", dir);
    if (s == ONNXQ_OK && labels)
        s = read_first_words(labels, &words, &seconds, err);
    int index_file = labels && s == ONNXQ_OK && is_index_file(&seconds);
    if (s == ONNXQ_OK && !index_file)
        s = list_dir(dir, 1, &folders, err);
    if (s == ONNXQ_OK) {
        if (folders.n) {
            s = scan_folders(ds, dir, &folders, &words, err);
            ds->classes = (int)(words.n ? words.n : folders.n);
        } else if (!labels) {
            s = onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                           "%s: no class folders and no label file (give --labels)", dir);
        } else {
            s = scan_files(ds, dir, &words, &seconds, index_file, err);
            ds->classes = index_file ? 0 : (int)words.n;
        }
    }
    if (s == ONNXQ_OK && ds->n == 0)
        s = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no labelled JPEG images found", dir);
    strlist_free(&words);
    strlist_free(&seconds);
    strlist_free(&folders);
    free(default_labels);
    if (s != ONNXQ_OK) {
        onnxq_dataset_free(ds);
        return s;
    }
    *out = ds;
    return onnxq_ok(err);
}

/* ---- IDX ------------------------------------------------------------------------------ */

/* A whole IDX file through zlib, which reads gzip'd and plain files alike. */
static onnxq_status read_idx(const char *path, uint32_t magic, uint8_t **data, uint32_t *dims,
                             int ndims, onnxq_error *err)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: cannot open", path);
    uint8_t head[16];
    size_t want = 4 + 4 * (size_t)ndims;
    if (gzread(f, head, (unsigned)want) != (int)want) {
        gzclose(f);
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: truncated IDX header", path);
    }
    uint32_t m = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    if (m != magic) {
        gzclose(f);
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: not an IDX %s file (magic 0x%08x)", path,
                          ndims == 1 ? "label" : "image", m);
    }
    uint64_t total = 1;
    for (int d = 0; d < ndims; d++) {
        const uint8_t *p = head + 4 + 4 * d;
        dims[d] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        total *= dims[d];
    }
    if (total > (1ull << 32)) {
        gzclose(f);
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: IDX dimensions too large", path);
    }
    /* The header's size is a claim: the buffer grows with the data that
     * actually arrives, so a forged header costs no more than the file. */
    uint64_t cap = total < (1u << 20) ? total : 1u << 20, got = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    while (buf && got < total) {
        if (got == cap) {
            uint64_t next = 2 * cap < total ? 2 * cap : total;
            uint8_t *grown = realloc(buf, next);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap = next;
        }
        uint64_t room = cap - got;
        int r = gzread(f, buf + got, (unsigned)(room > (1u << 30) ? (1u << 30) : room));
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    gzclose(f);
    if (!buf)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", path);
    if (got != total) {
        free(buf);
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: truncated IDX data (%llu of %llu bytes)",
                          path, (unsigned long long)got, (unsigned long long)total);
    }
    *data = buf;
    return ONNXQ_OK;
}

onnxq_status onnxq_dataset_open_idx(const char *images, const char *labels, onnxq_dataset **out,
                                    onnxq_error *err)
{
    *out = NULL;
    uint32_t idims[3] = { 0 }, ldims[1] = { 0 };
    uint8_t *pix = NULL, *lab = NULL;
    onnxq_status s = read_idx(images, 0x00000803, &pix, idims, 3, err);
    /* A forged header of 0 images may still claim any image size. */
    if (s == ONNXQ_OK && (!idims[1] || !idims[2] || (uint64_t)idims[1] * idims[2] > (1u << 24)))
        s = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: images of %ux%u pixels (1 to 2^24 supported)",
                       images, idims[1], idims[2]);
    if (s == ONNXQ_OK)
        s = read_idx(labels, 0x00000801, &lab, ldims, 1, err);
    if (s == ONNXQ_OK && ldims[0] != idims[0])
        s = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: %u labels for %u images", labels, ldims[0],
                       idims[0]);
    onnxq_dataset *ds = NULL;
    if (s == ONNXQ_OK && !(ds = dataset_new(DATASET_IDX, images)))
        s = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", images);
    if (s == ONNXQ_OK && !(ds->items = calloc(idims[0] + 1, sizeof *ds->items)))
        s = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", images);
    if (s != ONNXQ_OK) {
        free(pix);
        free(lab);
        onnxq_dataset_free(ds);
        return s;
    }
    ds->n = idims[0];
    ds->rows = (int)idims[1];
    ds->cols = (int)idims[2];
    ds->pixels = pix;
    for (size_t i = 0; i < ds->n; i++) {
        ds->items[i].label = lab[i];
        if (lab[i] + 1 > ds->classes)
            ds->classes = lab[i] + 1;
    }
    free(lab);
    *out = ds;
    return onnxq_ok(err);
}

void onnxq_dataset_free(onnxq_dataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; ds->items && i < ds->n; i++)
        free(ds->items[i].path);
    free(ds->items);
    free(ds->pixels);
    free(ds->source);
    free(ds);
}

size_t onnxq_dataset_count(const onnxq_dataset *ds) { return ds->n; }

void onnxq_dataset_limit(onnxq_dataset *ds, size_t n)
{
    if (n >= ds->n)
        return;
    for (size_t i = n; ds->kind == DATASET_JPEG && i < ds->n; i++)
        free(ds->items[i].path);
    ds->n = n;
}

/* ---- JPEG ---------------------------------------------------------------------------------- */

typedef struct jpeg_failure {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    cinfo->err->format_message(cinfo, f->message);
    longjmp(f->jump, 1);
}

/* Warnings are recoverable damage and stay quiet, except a premature end
 * of file: libjpeg would fill the rest with grey, an image no longer. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        jpeg_on_error(cinfo);
}

/* libjpeg's CMYK from Adobe files is inverted: R = C * K / 255. */
static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, int n)
{
    for (int i = 0; i < n; i++) {
        unsigned k = in[4 * i + 3];
        for (int c = 0; c < 3; c++)
            out[3 * i + c] = (uint8_t)((in[4 * i + c] * k + 127) / 255);
    }
}

onnxq_status jpeg_read_rgb(const char *path, uint8_t **rgb, int *width, int *height,
                           onnxq_error *err)
{
    *rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: cannot open", path);
    struct jpeg_decompress_struct cinfo;
    jpeg_failure fail;
    /* volatile: these are changed between setjmp and a possible longjmp. */
    uint8_t *volatile row = NULL;
    uint8_t *volatile image = NULL;
    cinfo.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_on_error;
    fail.mgr.emit_message = jpeg_on_message;
    if (setjmp(fail.jump)) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        free(row);
        free(image);
        return onnxq_fail(err, ONNXQ_ERR_CORRUPT, "%s: bad JPEG: %s", path, fail.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    if (w < 1 || h < 1 || (uint64_t)w * (uint64_t)h > (1ull << 28)) {
        snprintf(fail.message, sizeof fail.message, "size %dx%d", w, h);
        longjmp(fail.jump, 1);
    }
    image = malloc((size_t)w * (size_t)h * 3);
    row = malloc((size_t)w * 4);
    if (!image || !row) {
        snprintf(fail.message, sizeof fail.message, "out of memory");
        longjmp(fail.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW r = row;
        size_t y = cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &r, 1);
        if (cmyk)
            cmyk_to_rgb(row, image + y * (size_t)w * 3, w);
        else
            memcpy(image + y * (size_t)w * 3, row, (size_t)w * 3);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    free(row);
    *rgb = image;
    *width = w;
    *height = h;
    return ONNXQ_OK;
}

/* ---- The reference resize --------------------------------------------------------------- */

/* Triangle-filter weights for output positions [first, first + count) of a
 * resize from `in` to `out` samples: for each, the first input index, how
 * many inputs, and their normalized weights in fixed point.  Each pass
 * rounds to 8 bits with integer arithmetic, as Pillow's resampler (which
 * the reference figures were made with) does, so the pixels are the same
 * on every machine. */
#define FILTER_BITS 22

typedef struct filter {
    int *start, *len, span;
    int32_t *w;
} filter;

static int filter_make(filter *f, int in, int out, int first, int count)
{
    double scale = (double)in / out, support = scale > 1 ? scale : 1;
    f->span = (int)ceil(support) * 2 + 4;
    f->start = malloc((size_t)count * sizeof *f->start);
    f->len = malloc((size_t)count * sizeof *f->len);
    f->w = malloc((size_t)count * (size_t)f->span * sizeof *f->w);
    if (!f->start || !f->len || !f->w)
        return -1;
    for (int i = 0; i < count; i++) {
        double center = (first + i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        double sum = 0, ws[f->span];
        int n = 0;
        for (int j = lo; j < hi && n < f->span; j++) {
            double w = 1 - fabs(j + 0.5 - center) / support;
            ws[n++] = w > 0 ? w : 0;
            sum += w > 0 ? w : 0;
        }
        f->start[i] = lo;
        f->len[i] = n;
        for (int k = 0; k < n; k++) {
            double w = sum > 0 ? ws[k] / sum : 0;
            f->w[i * f->span + k] = (int32_t)(w * (1 << FILTER_BITS) + (w < 0 ? -0.5 : 0.5));
        }
    }
    return 0;
}

static void filter_free(filter *f)
{
    free(f->start);
    free(f->len);
    free(f->w);
}

static inline uint8_t clip8(int64_t acc)
{
    int64_t v = (acc + (1 << (FILTER_BITS - 1))) >> FILTER_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void resize_crop(const uint8_t *rgb, int width, int height, int resize, int crop, uint8_t *out)
{
    int shorter = width < height ? width : height;
    int nw = (int)lround((double)width * resize / shorter);
    int nh = (int)lround((double)height * resize / shorter);
    if (nw < crop)
        nw = crop;
    if (nh < crop)
        nh = crop;
    int x0 = (nw - crop) / 2, y0 = (nh - crop) / 2;
    filter fx = { 0 }, fy = { 0 };
    uint8_t *mid = malloc((size_t)height * (size_t)crop * 3);
    if (!mid || filter_make(&fx, width, nw, x0, crop) || filter_make(&fy, height, nh, y0, crop)) {
        memset(out, 0, (size_t)crop * crop * 3);
        filter_free(&fx);
        filter_free(&fy);
        free(mid);
        return;
    }
    /* Horizontal pass over every input row, for the cropped columns only. */
    for (int y = 0; y < height; y++) {
        const uint8_t *src = rgb + (size_t)y * width * 3;
        uint8_t *dst = mid + (size_t)y * crop * 3;
        for (int i = 0; i < crop; i++) {
            int64_t acc[3] = { 0, 0, 0 };
            const int32_t *w = fx.w + i * fx.span;
            for (int k = 0; k < fx.len[i]; k++) {
                const uint8_t *p = src + (size_t)(fx.start[i] + k) * 3;
                acc[0] += (int64_t)w[k] * p[0];
                acc[1] += (int64_t)w[k] * p[1];
                acc[2] += (int64_t)w[k] * p[2];
            }
            dst[3 * i] = clip8(acc[0]), dst[3 * i + 1] = clip8(acc[1]), dst[3 * i + 2] = clip8(acc[2]);
        }
    }
    /* Vertical pass for the cropped rows. */
    for (int j = 0; j < crop; j++) {
        const int32_t *w = fy.w + j * fy.span;
        uint8_t *dst = out + (size_t)j * crop * 3;
        for (int i = 0; i < crop * 3; i++) {
            int64_t acc = 0;
            for (int k = 0; k < fy.len[j]; k++)
                acc += (int64_t)w[k] * mid[(size_t)(fy.start[j] + k) * crop * 3 + i];
            dst[i] = clip8(acc);
        }
    }
    filter_free(&fx);
    filter_free(&fy);
    free(mid);
}

onnxq_status dataset_load_pixels(const onnxq_dataset *ds, size_t i, int resize, int crop,
                                 uint8_t *out, onnxq_error *err)
{
    if (ds->kind == DATASET_IDX) {
        size_t size = (size_t)ds->rows * ds->cols;
        memcpy(out, ds->pixels + i * size, size);
        return ONNXQ_OK;
    }
    uint8_t *rgb;
    int w, h;
    onnxq_status s = jpeg_read_rgb(ds->items[i].path, &rgb, &w, &h, err);
    if (s != ONNXQ_OK)
        return s;
    resize_crop(rgb, w, h, resize, crop, out);
    free(rgb);
    return ONNXQ_OK;
}
