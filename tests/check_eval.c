/* check_eval.c: choosing images (samples and splits spread over the
 * classes), the image cache shared by every selection of a listing, and
 * the paired differences' intervals. */
#include "config.h"
#include "tune/cache.h"
#include "tune/dataset.h"
#include "tune/scorer.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CLASSES 10
#define PER_CLASS 20
#define SIDE 4

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An IDX set of CLASSES x PER_CLASS images, image i of class i % CLASSES,
 * its first pixel i (so an image says which one it is). */
static onnxq_dataset *idx_set(const char *dir)
{
    size_t n = CLASSES * PER_CLASS;
    uint8_t *img = calloc(16 + n * SIDE * SIDE, 1), *lab = calloc(8 + n, 1);
    put_be32(img, 0x803), put_be32(img + 4, (uint32_t)n), put_be32(img + 8, SIDE), put_be32(img + 12, SIDE);
    put_be32(lab, 0x801), put_be32(lab + 4, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        img[16 + i * SIDE * SIDE] = (uint8_t)i;
        lab[8 + i] = (uint8_t)(i % CLASSES);
    }
    char *ip = test_path(dir, "images-idx3-ubyte"), *lp = test_path(dir, "labels-idx1-ubyte");
    test_write_file(ip, img, 16 + n * SIDE * SIDE);
    test_write_file(lp, lab, 8 + n);
    onnxq_dataset *ds;
    onnxq_error err;
    ck_assert_int_eq(onnxq_dataset_open_idx(ip, lp, &ds, &err), ONNXQ_OK);
    free(ip), free(lp), free(img), free(lab);
    return ds;
}

static void count_classes(const onnxq_dataset *ds, size_t *count)
{
    memset(count, 0, CLASSES * sizeof *count);
    for (size_t i = 0; i < ds->n; i++) {
        count[ds->items[i].label]++;
        /* the pixels travel with their item */
        ck_assert_uint_eq(ds->pixels[i * SIDE * SIDE], ds->items[i].origin);
    }
}

START_TEST(sample_spreads_over_classes)
{
    char *dir = test_tmpdir();
    onnxq_error err;
    size_t count[CLASSES];
    for (size_t want = 1; want <= CLASSES * PER_CLASS; want += 17) {
        onnxq_dataset *a = idx_set(dir), *b = idx_set(dir), *c = idx_set(dir);
        ck_assert_int_eq(onnxq_dataset_sample(a, want, 7, &err), ONNXQ_OK);
        ck_assert_int_eq(onnxq_dataset_sample(b, want, 7, &err), ONNXQ_OK);
        ck_assert_int_eq(onnxq_dataset_sample(c, want, 8, &err), ONNXQ_OK);
        ck_assert_uint_eq(a->n, want);
        ck_assert_uint_eq(c->n, want);
        count_classes(a, count);
        for (int k = 0; k < CLASSES; k++) /* one of each class in turn */
            ck_assert(count[k] == want / CLASSES || count[k] == want / CLASSES + 1);
        int same = 1;
        for (size_t i = 0; i < want; i++) {
            ck_assert_uint_eq(a->items[i].origin, b->items[i].origin); /* the seed decides */
            if (i)
                ck_assert_uint_lt(a->items[i - 1].origin, a->items[i].origin); /* sorted again */
            same &= a->items[i].origin == c->items[i].origin;
        }
        if (want > 1 && want < CLASSES * PER_CLASS - 1)
            ck_assert_msg(!same, "another seed takes other images (%zu)", want);
        ck_assert_uint_eq(a->listing_n, CLASSES * PER_CLASS);
        onnxq_dataset_free(a), onnxq_dataset_free(b), onnxq_dataset_free(c);
    }
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(split_parts_are_disjoint_and_spread)
{
    char *dir = test_tmpdir();
    onnxq_dataset *ds = idx_set(dir), *parts[3], *again[3];
    onnxq_error err;
    const double shares[3] = { 0.25, 0.45, 0.30 };
    ck_assert_int_eq(onnxq_dataset_split(ds, 3, shares, 3, parts, &err), ONNXQ_OK);
    ck_assert_int_eq(onnxq_dataset_split(ds, 3, shares, 3, again, &err), ONNXQ_OK);
    unsigned char seen[CLASSES * PER_CLASS] = { 0 };
    size_t total = 0, count[CLASSES];
    for (int p = 0; p < 3; p++) {
        double want = shares[p] * CLASSES * PER_CLASS;
        ck_assert(fabs((double)parts[p]->n - want) <= 1);
        count_classes(parts[p], count);
        for (int k = 0; k < CLASSES; k++)
            ck_assert_msg(fabs((double)count[k] - shares[p] * PER_CLASS) <= 1.5,
                          "part %d has %zu of class %d", p, count[k], k);
        for (size_t i = 0; i < parts[p]->n; i++) {
            ck_assert(!seen[parts[p]->items[i].origin]++);
            ck_assert_uint_eq(parts[p]->items[i].origin, again[p]->items[i].origin);
        }
        total += parts[p]->n;
        ck_assert_uint_eq(parts[p]->listing_key, ds->listing_key);
    }
    ck_assert_uint_eq(total, CLASSES * PER_CLASS);
    /* Shares below the whole leave the rest out. */
    onnxq_dataset *half;
    const double one = 0.5;
    ck_assert_int_eq(onnxq_dataset_split(ds, 1, &one, 3, &half, &err), ONNXQ_OK);
    ck_assert_uint_eq(half->n, CLASSES * PER_CLASS / 2);
    const double too_much[2] = { 0.7, 0.4 };
    onnxq_dataset *refused[2];
    ck_assert_int_eq(onnxq_dataset_split(ds, 2, too_much, 3, refused, &err), ONNXQ_ERR_ARGUMENT);
    ck_assert(!refused[0] && !refused[1]);
    for (int p = 0; p < 3; p++)
        onnxq_dataset_free(parts[p]), onnxq_dataset_free(again[p]);
    onnxq_dataset_free(half);
    onnxq_dataset_free(ds);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* A JPEG-kind listing of n made-up files, for the cache (which reads only
 * its items' origins and the listing's key). */
static onnxq_dataset *fake_listing(size_t n, uint64_t key)
{
    onnxq_dataset *ds = calloc(1, sizeof *ds);
    ds->kind = DATASET_JPEG;
    ds->source = strdup("fake");
    ds->items = calloc(n, sizeof *ds->items);
    for (size_t i = 0; i < n; i++) {
        ds->items[i].origin = i;
        ds->items[i].path = strdup("fake.JPEG");
    }
    ds->n = ds->listing_n = n;
    ds->listing_key = key;
    return ds;
}

START_TEST(cache_serves_every_selection_of_a_listing)
{
    char *dir = test_tmpdir();
    const size_t n = 40, bytes = 1000;
    onnxq_dataset *all = fake_listing(n, 42);
    uint8_t *data = malloc(n * bytes), *back = malloc(n * bytes);
    unsigned char state[40], fresh[40];
    for (size_t i = 0; i < n; i++) {
        memset(data + i * bytes, (int)i, bytes);
        state[i] = i == 6 ? CACHE_FAILED : CACHE_DECODED;
    }
    /* A selection of every third image stores only those. */
    onnxq_dataset *third = fake_listing(n, 42);
    unsigned char keep[40];
    for (size_t i = 0; i < n; i++)
        keep[i] = i % 3 == 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) {
            memcpy(data + k * bytes, data + i * bytes, bytes); /* in the selection's item order */
            state[k] = state[i];
            third->items[k++] = third->items[i];
        } else {
            free(third->items[i].path);
        }
    third->n = k;
    memset(fresh, 1, sizeof fresh);
    cache_store(dir, third, 256, 10, bytes, data, state, fresh, 0);
    /* The whole listing finds them, and only them. */
    unsigned char got[40] = { 0 };
    ck_assert_uint_eq(cache_fetch(dir, all, 256, 10, bytes, back, got), k);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(got[i], i % 3 ? CACHE_MISSING : i == 6 ? CACHE_FAILED : CACHE_DECODED);
        if (got[i] == CACHE_DECODED)
            ck_assert_int_eq(back[i * bytes + bytes - 1], (int)i);
    }
    /* Another crop, another listing: nothing. */
    memset(got, 0, sizeof got);
    ck_assert_uint_eq(cache_fetch(dir, all, 256, 12, bytes, back, got), 0);
    onnxq_dataset *other = fake_listing(n, 43);
    ck_assert_uint_eq(cache_fetch(dir, other, 256, 10, bytes, back, got), 0);
    size_t files;
    uint64_t used;
    onnxq_error err;
    ck_assert_int_eq(onnxq_cache_usage(dir, &files, &used, &err), ONNXQ_OK);
    ck_assert_uint_eq(files, 1);
    ck_assert_uint_eq(used, 32 + k * (9 + bytes));
    /* A limit of about two files' worth keeps the most recent. */
    uint64_t limit = 2 * (32 + k * (9 + bytes)) + 100;
    cache_store(dir, other, 256, 10, bytes, data, state, fresh, limit);
    cache_store(dir, all, 256, 12, bytes, data, state, fresh, limit);
    ck_assert_int_eq(onnxq_cache_usage(dir, &files, &used, &err), ONNXQ_OK);
    ck_assert_uint_le(used, limit);
    memset(got, 0, sizeof got);
    ck_assert_uint_gt(cache_fetch(dir, all, 256, 12, bytes, back, got), 0);
    ck_assert_int_eq(onnxq_cache_clear(dir, &err), ONNXQ_OK);
    ck_assert_int_eq(onnxq_cache_usage(dir, &files, &used, &err), ONNXQ_OK);
    ck_assert_uint_eq(files, 0);
    onnxq_dataset_free(all), onnxq_dataset_free(third), onnxq_dataset_free(other);
    free(data), free(back);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(paired_interval)
{
    double d, lo, hi;
    /* 30 lost, 10 gained of 1000: 2 points, about +-1.2 */
    paired_difference(30, 10, 1000, &d, &lo, &hi);
    ck_assert(fabs(d - 2.0) < 1e-12);
    ck_assert(lo < d && d < hi);
    ck_assert(fabs((hi - lo) / 2 - 1.96 * 100 * sqrt(40.0 - 400.0 / 1000) / 1000) < 0.05);
    /* Nothing changed: the interval is narrow but not empty. */
    paired_difference(0, 0, 1000, &d, &lo, &hi);
    ck_assert(d == 0 && lo < 0 && hi > 0 && hi < 0.25);
    /* Symmetric counts, symmetric interval. */
    double d2, lo2, hi2;
    paired_difference(10, 30, 1000, &d2, &lo2, &hi2);
    paired_difference(30, 10, 1000, &d, &lo, &hi);
    ck_assert(fabs(d + d2) < 1e-12 && fabs(lo + hi2) < 1e-9 && fabs(hi + lo2) < 1e-9);
    paired_difference(0, 0, 0, &d, &lo, &hi);
    ck_assert(isnan(d) && isnan(lo) && isnan(hi));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sample_spreads_over_classes);
    tcase_add_test(tc, split_parts_are_disjoint_and_spread);
    tcase_add_test(tc, cache_serves_every_selection_of_a_listing);
    tcase_add_test(tc, paired_interval);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
