/* dataset.c: finding labelled images, and decoding them to pixels. */
#include "config.h"
#include "dataset.h"
#include "common/error.h"

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

onnxq_dataset *dataset_new(dataset_kind kind, const char *source)
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
    p[ds->n].origin = ds->n;
    p[ds->n++].label = label;
    return ONNXQ_OK;
}

uint64_t dataset_hash(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The listing is complete: name it by its files, their sizes and times. */
void dataset_seal(onnxq_dataset *ds)
{
    uint64_t h = dataset_hash(DATASET_HASH_SEED, "onnxq listing 1", 15);
    h = dataset_hash(h, &ds->kind, sizeof ds->kind);
    h = dataset_hash(h, ds->source, strlen(ds->source));
    h = dataset_hash(h, &ds->n, sizeof ds->n);
    for (size_t i = 0; i < ds->n; i++) {
        h = dataset_hash(h, &ds->items[i].label, sizeof ds->items[i].label);
        struct stat st;
        if (ds->kind != DATASET_JPEG)
            continue;
        h = dataset_hash(h, ds->items[i].path, strlen(ds->items[i].path) + 1);
        if (stat(ds->items[i].path, &st) == 0) {
            h = dataset_hash(h, &st.st_size, sizeof st.st_size);
            h = dataset_hash(h, &st.st_mtime, sizeof st.st_mtime);
        }
    }
    ds->listing_n = ds->n;
    ds->listing_key = h;
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
    if (s == ONNXQ_OK)
        dataset_seal(ds);
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
    ds->channels = 1;
    ds->pixels = pix;
    for (size_t i = 0; i < ds->n; i++) {
        ds->items[i].label = lab[i];
        ds->items[i].origin = i;
        if (lab[i] + 1 > ds->classes)
            ds->classes = lab[i] + 1;
    }
    free(lab);
    dataset_seal(ds);
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

/* ---- Choosing images ------------------------------------------------------------------------ */

/* Keep the items whose keep[i] is set, in their order. */
static void keep_items(onnxq_dataset *ds, const unsigned char *keep)
{
    size_t k = 0, size = dataset_image_bytes(ds);
    for (size_t i = 0; i < ds->n; i++) {
        if (!keep[i]) {
            free(ds->items[i].path);
            continue;
        }
        if (dataset_in_memory(ds) && k != i)
            memmove(ds->pixels + k * size, ds->pixels + i * size, size);
        ds->items[k++] = ds->items[i];
    }
    ds->n = k;
}

void onnxq_dataset_limit(onnxq_dataset *ds, size_t n)
{
    if (n >= ds->n)
        return;
    for (size_t i = n; i < ds->n; i++)
        free(ds->items[i].path);
    ds->n = n;
}

/* splitmix64: a well-mixed 64-bit value of x. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct spread_key {
    size_t item;
    int label;
    uint64_t class_key, item_key;
    size_t turn; /* the item's place within its class */
} spread_key;

static int by_class_then_key(const void *a, const void *b)
{
    const spread_key *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    if (x->item_key != y->item_key)
        return x->item_key < y->item_key ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static int by_turn_then_class(const void *a, const void *b)
{
    const spread_key *x = a, *y = b;
    if (x->turn != y->turn)
        return x->turn < y->turn ? -1 : 1;
    if (x->class_key != y->class_key)
        return x->class_key < y->class_key ? -1 : 1;
    return (x->label > y->label) - (x->label < y->label);
}

/* Each item's draws for a seed, sorted by class, a class's items in the
 * order of their draws, with their turn (their place within the class).
 * An item's draw depends on the seed and its place in the whole listing
 * only, so a part of a split is ordered as it was in the whole.  NULL
 * when out of memory. */
static spread_key *spread_keys(const onnxq_dataset *ds, uint64_t seed)
{
    spread_key *k = malloc((ds->n + 1) * sizeof *k);
    if (!k)
        return NULL;
    uint64_t s = mix64(seed ^ 0x6f6e6e7871ull);
    for (size_t i = 0; i < ds->n; i++) {
        k[i].item = i;
        k[i].label = ds->items[i].label;
        k[i].class_key = mix64(s ^ mix64((uint64_t)(int64_t)k[i].label));
        k[i].item_key = mix64(s + mix64(ds->items[i].origin + 1));
    }
    qsort(k, ds->n, sizeof *k, by_class_then_key);
    for (size_t i = 0; i < ds->n; i++)
        k[i].turn = i > 0 && k[i - 1].label == k[i].label ? k[i - 1].turn + 1 : 0;
    return k;
}

/* The items in an order spread over the classes: each class's first item
 * (the classes in an order drawn from the seed), then each class's second,
 * and so on.  NULL when out of memory. */
static size_t *spread_order(const onnxq_dataset *ds, uint64_t seed)
{
    spread_key *k = spread_keys(ds, seed);
    size_t *order = malloc((ds->n + 1) * sizeof *order);
    if (!k || !order) {
        free(k);
        free(order);
        return NULL;
    }
    qsort(k, ds->n, sizeof *k, by_turn_then_class);
    for (size_t i = 0; i < ds->n; i++)
        order[i] = k[i].item;
    free(k);
    return order;
}

onnxq_status onnxq_dataset_sample(onnxq_dataset *ds, size_t n, uint64_t seed, onnxq_error *err)
{
    if (n >= ds->n)
        return onnxq_ok(err);
    size_t *order = spread_order(ds, seed);
    unsigned char *keep = calloc(ds->n + 1, 1);
    if (!order || !keep) {
        free(order);
        free(keep);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", ds->source);
    }
    for (size_t j = 0; j < n; j++)
        keep[order[j]] = 1;
    keep_items(ds, keep);
    free(order);
    free(keep);
    return onnxq_ok(err);
}

/* A copy of ds holding the items whose part[i] is p. */
static onnxq_dataset *part_of(const onnxq_dataset *ds, const size_t *part, size_t p)
{
    onnxq_dataset *out = dataset_new(ds->kind, ds->source);
    size_t size = dataset_image_bytes(ds), k = 0;
    if (!out)
        return NULL;
    out->rows = ds->rows;
    out->cols = ds->cols;
    out->channels = ds->channels;
    out->classes = ds->classes;
    out->listing_n = ds->listing_n;
    out->listing_key = ds->listing_key;
    out->items = calloc(ds->n + 1, sizeof *out->items);
    if (dataset_in_memory(ds))
        out->pixels = malloc(ds->n * size + 1);
    if (!out->items || (dataset_in_memory(ds) && !out->pixels)) {
        onnxq_dataset_free(out);
        return NULL;
    }
    for (size_t i = 0; i < ds->n; i++) {
        if (part[i] != p)
            continue;
        out->items[k] = ds->items[i];
        out->items[k].path = NULL;
        out->n = k + 1;
        if (ds->items[i].path && !(out->items[k].path = strdup(ds->items[i].path))) {
            onnxq_dataset_free(out);
            return NULL;
        }
        if (dataset_in_memory(ds))
            memcpy(out->pixels + k * size, ds->pixels + i * size, size);
        k++;
    }
    out->n = k;
    return out;
}

static int by_class_order(const void *a, const void *b)
{
    const spread_key *x = a, *y = b;
    if (x->class_key != y->class_key)
        return x->class_key < y->class_key ? -1 : 1;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    return (x->turn > y->turn) - (x->turn < y->turn);
}

/* Give the m images of one class to the parts (and the rest, the last
 * share): each part gets what keeps its total nearest its share of all
 * the images so far, by largest remainders, so every class is split in
 * proportion (give or take one) and the totals stay on their shares. */
static void split_class(const spread_key *k, size_t m, size_t seen, const double *share,
                        size_t parts, size_t *count, size_t *part)
{
    double want[ONNXQ_MAX_DIMS + 1];
    size_t give[ONNXQ_MAX_DIMS + 1], given = 0;
    for (size_t p = 0; p <= parts; p++) {
        want[p] = share[p] * (double)(seen + m) - (double)count[p];
        give[p] = want[p] > 0 ? (size_t)floor(want[p]) : 0;
        given += give[p];
    }
    while (given > m) { /* a part already past its share gave up less than its floor */
        size_t best = 0;
        for (size_t p = 1; p <= parts; p++)
            if (give[p] && (!give[best] || (double)give[p] - want[p] > (double)give[best] - want[best]))
                best = p;
        give[best]--, given--;
    }
    while (given < m) {
        size_t best = 0;
        for (size_t p = 1; p <= parts; p++)
            if (want[p] - (double)give[p] > want[best] - (double)give[best])
                best = p;
        give[best]++, given++;
    }
    size_t j = 0;
    for (size_t p = 0; p <= parts; p++)
        for (size_t g = 0; g < give[p]; g++, j++) {
            part[k[j].item] = p;
            count[p]++;
        }
}

onnxq_status onnxq_dataset_split(const onnxq_dataset *ds, size_t parts, const double *shares,
                                 uint64_t seed, onnxq_dataset **out, onnxq_error *err)
{
    double share[ONNXQ_MAX_DIMS + 1], total = 0;
    for (size_t p = 0; p < parts && p < ONNXQ_MAX_DIMS; p++) {
        out[p] = NULL;
        if (!(shares[p] >= 0))
            return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: a share of a split is negative",
                              ds->source);
        share[p] = shares[p];
        total += shares[p];
    }
    if (parts < 1 || parts > ONNXQ_MAX_DIMS || total > 1 + 1e-9)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: the shares of a split exceed the whole",
                          ds->source);
    share[parts] = total < 1 ? 1 - total : 0; /* the rest, which goes nowhere */
    spread_key *k = spread_keys(ds, seed);
    size_t *part = malloc((ds->n + 1) * sizeof *part);
    size_t count[ONNXQ_MAX_DIMS + 1] = { 0 };
    onnxq_status st = k && part ? ONNXQ_OK
                                : onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", ds->source);
    if (st == ONNXQ_OK) {
        qsort(k, ds->n, sizeof *k, by_class_order);
        for (size_t i = 0, seen = 0; i < ds->n;) {
            size_t m = 1;
            while (i + m < ds->n && k[i + m].label == k[i].label)
                m++;
            split_class(k + i, m, seen, share, parts, count, part);
            seen += m;
            i += m;
        }
    }
    for (size_t p = 0; st == ONNXQ_OK && p < parts; p++)
        if (!(out[p] = part_of(ds, part, p)))
            st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", ds->source);
    for (size_t p = 0; st != ONNXQ_OK && p < parts; p++) {
        onnxq_dataset_free(out[p]);
        out[p] = NULL;
    }
    free(k);
    free(part);
    return st == ONNXQ_OK ? onnxq_ok(err) : st;
}

void onnxq_dataset_describe(const onnxq_dataset *ds, char *buf, size_t size)
{
    if (ds->n == ds->listing_n)
        snprintf(buf, size, "%zu images of %s", ds->n, ds->source);
    else
        snprintf(buf, size, "%zu of the %zu images of %s", ds->n, ds->listing_n, ds->source);
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
    if (dataset_in_memory(ds)) {
        size_t size = dataset_image_bytes(ds);
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
