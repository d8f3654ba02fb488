/* cache.c: the preprocessed-image cache (cache.h).
 *
 * A file is a header (magic, listing size, image bytes, key) and records
 * of a fixed size: u64 origin (the image's place in the listing), u8
 * state, image bytes.  Writers append whole records under an exclusive
 * lock, so processes sharing a cache (sweep shards) do not interleave;
 * readers take a shared lock and ignore a record cut short. */
#include "config.h"
#include "cache.h"
#include "common/error.h"
#include "model/fileio.h"
#include "onnxq/eval.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "ONXQPIX2"
#define CACHE_PREFIX "pixels2-"
#define OLD_PREFIX "pixels-" /* the single-file cache of before: evicted and cleared too */
#define HEADER_BYTES 32

typedef struct header {
    char magic[8];
    uint64_t listing_n, image_bytes, key;
} header;

static uint64_t file_key(const onnxq_dataset *ds, int resize, int crop)
{
    uint64_t h = dataset_hash(DATASET_HASH_SEED, "onnxq pixel cache 2", 19);
    h = dataset_hash(h, &ds->listing_key, sizeof ds->listing_key);
    h = dataset_hash(h, &resize, sizeof resize);
    return dataset_hash(h, &crop, sizeof crop);
}

static char *file_path(const char *dir, uint64_t key)
{
    char name[64];
    snprintf(name, sizeof name, CACHE_PREFIX "%016llx.bin", (unsigned long long)key);
    return path_join(dir, name);
}

static void header_of(const onnxq_dataset *ds, size_t image_bytes, uint64_t key, header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CACHE_MAGIC, 8);
    h->listing_n = ds->listing_n;
    h->image_bytes = image_bytes;
    h->key = key;
}

static int header_matches(int fd, const header *want)
{
    header got;
    return pread(fd, &got, HEADER_BYTES, 0) == HEADER_BYTES && !memcmp(&got, want, HEADER_BYTES);
}

/* Item index for each origin in the listing, or (size_t)-1. */
static size_t *slots_of(const onnxq_dataset *ds)
{
    size_t *slot = malloc((ds->listing_n + 1) * sizeof *slot);
    if (!slot)
        return NULL;
    for (size_t o = 0; o < ds->listing_n; o++)
        slot[o] = (size_t)-1;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->items[i].origin < ds->listing_n)
            slot[ds->items[i].origin] = i;
    return slot;
}

size_t cache_fetch(const char *dir, const onnxq_dataset *ds, int resize, int crop,
                   size_t image_bytes, uint8_t *data, unsigned char *state)
{
    uint64_t key = file_key(ds, resize, crop);
    char *path = file_path(dir, key);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    free(path);
    if (fd < 0)
        return 0;
    header want;
    header_of(ds, image_bytes, key, &want);
    size_t *slot = NULL, found = 0;
    FILE *f = NULL;
    /* A hit counts as a use: the least recently used files go first. */
    futimens(fd, NULL);
    if (flock(fd, LOCK_SH) == 0 && header_matches(fd, &want) && (slot = slots_of(ds)) &&
        (f = fdopen(fd, "rb")) && fseek(f, HEADER_BYTES, SEEK_SET) == 0) {
        uint8_t head[9];
        while (fread(head, 1, 9, f) == 9) {
            uint64_t origin;
            memcpy(&origin, head, 8);
            size_t i = origin < ds->listing_n ? slot[origin] : (size_t)-1;
            if (i == (size_t)-1 || state[i] != CACHE_MISSING ||
                (head[8] != CACHE_DECODED && head[8] != CACHE_FAILED)) {
                if (fseek(f, (long)image_bytes, SEEK_CUR) != 0)
                    break;
                continue;
            }
            if (fread(data + i * image_bytes, 1, image_bytes, f) != image_bytes)
                break; /* cut short: a writer died mid-record */
            state[i] = head[8];
            found++;
        }
    }
    free(slot);
    if (f)
        fclose(f);
    else
        close(fd);
    return found;
}

typedef struct entry {
    char *path;
    uint64_t bytes;
    time_t used;
} entry;

static int by_use(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->used > y->used) - (x->used < y->used);
}

/* The cache's files (ours, by name), NULL when the folder cannot be read. */
static entry *list_entries(const char *dir, size_t *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    entry *list = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        int ours = (!strncmp(de->d_name, CACHE_PREFIX, strlen(CACHE_PREFIX)) ||
                    !strncmp(de->d_name, OLD_PREFIX, strlen(OLD_PREFIX))) &&
                   len > 4 && !strcmp(de->d_name + len - 4, ".bin");
        struct stat st;
        char *path = ours ? path_join(dir, de->d_name) : NULL;
        if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (*count == cap) {
            entry *grown = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof *grown);
            if (!grown) {
                free(path);
                break;
            }
            list = grown;
        }
        list[(*count)++] = (entry){ path, (uint64_t)st.st_size, st.st_mtime };
    }
    closedir(d);
    return list;
}

static void free_entries(entry *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i].path);
    free(list);
}

/* Delete the least recently used files but `keep` while the cache holds
 * more than limit bytes. */
static void evict(const char *dir, const char *keep, uint64_t limit)
{
    size_t count;
    entry *list = list_entries(dir, &count);
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += list[i].bytes;
    if (count) /* list is NULL for an empty folder */
        qsort(list, count, sizeof *list, by_use);
    for (size_t i = 0; i < count && total > limit; i++) {
        if (keep && !strcmp(list[i].path, keep))
            continue;
        if (unlink(list[i].path) == 0)
            total -= list[i].bytes;
    }
    free_entries(list, count);
}

/* Bytes the cache's other files take. */
static uint64_t others_bytes(const char *dir, const char *self)
{
    size_t count;
    entry *list = list_entries(dir, &count);
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i].path, self))
            total += list[i].bytes;
    free_entries(list, count);
    return total;
}

void cache_store(const char *dir, const onnxq_dataset *ds, int resize, int crop,
                 size_t image_bytes, const uint8_t *data, const unsigned char *state,
                 const unsigned char *fresh, uint64_t limit)
{
    if (!limit)
        limit = CACHE_DEFAULT_LIMIT;
    uint64_t key = file_key(ds, resize, crop);
    char *path = file_path(dir, key);
    if (!path)
        return;
    mkdir(dir, 0777); /* one level is enough; a failure shows at open */
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    header want;
    header_of(ds, image_bytes, key, &want);
    struct stat st;
    if (fd >= 0 && flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0) {
        int fine = st.st_size == 0 ? write(fd, &want, HEADER_BYTES) == HEADER_BYTES
                                   : header_matches(fd, &want);
        uint64_t record = 9 + image_bytes, size = fine ? (uint64_t)(st.st_size ? st.st_size
                                                                               : HEADER_BYTES)
                                                       : 0;
        /* Room for this file: what the others leave of the limit. */
        uint64_t others = fine ? others_bytes(dir, path) : 0;
        uint8_t *rec = fine ? malloc(record) : NULL;
        for (size_t i = 0; rec && i < ds->n; i++) {
            if (!fresh[i])
                continue;
            if (others + size + record > limit) {
                if (size + record > limit)
                    break; /* this listing alone fills the cache */
                evict(dir, path, limit - size - record);
                others = others_bytes(dir, path);
                if (others + size + record > limit)
                    break;
            }
            uint64_t origin = ds->items[i].origin;
            memcpy(rec, &origin, 8);
            rec[8] = state[i];
            memcpy(rec + 9, data + i * image_bytes, image_bytes);
            if (write(fd, rec, record) != (ssize_t)record)
                break;
            size += record;
        }
        free(rec);
    }
    if (fd >= 0)
        close(fd);
    evict(dir, path, limit);
    free(path);
}

/* ---- The public calls -------------------------------------------------------------- */

onnxq_status onnxq_cache_usage(const char *dir, size_t *files, uint64_t *bytes,
                               onnxq_error *err)
{
    struct stat st;
    *files = 0;
    *bytes = 0;
    if (stat(dir, &st) != 0)
        return onnxq_ok(err); /* no cache yet */
    if (!S_ISDIR(st.st_mode))
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: not a folder", dir);
    entry *list = list_entries(dir, files);
    for (size_t i = 0; i < *files; i++)
        *bytes += list[i].bytes;
    free_entries(list, *files);
    return onnxq_ok(err);
}

onnxq_status onnxq_cache_clear(const char *dir, onnxq_error *err)
{
    size_t count, failed = 0;
    struct stat st;
    if (stat(dir, &st) != 0)
        return onnxq_ok(err);
    if (!S_ISDIR(st.st_mode))
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: not a folder", dir);
    entry *list = list_entries(dir, &count);
    for (size_t i = 0; i < count; i++)
        failed += unlink(list[i].path) != 0;
    free_entries(list, count);
    if (failed)
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: %zu cache files could not be removed", dir,
                          failed);
    return onnxq_ok(err);
}
