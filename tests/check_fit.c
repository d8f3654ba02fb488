/* check_fit.c: distribution fitting recovers known parameters and families. */
#include "config.h"
#include "encode/fit.h"
#include "onnxq/onnxq.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N_SAMPLES 1000000

static double urand(uint64_t *s)
{
    return ((double)(test_rand(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double normal(uint64_t *s)
{
    return sqrt(-2 * log(urand(s))) * cos(2 * M_PI * urand(s));
}

typedef struct truth {
    onnxq_family family;
    double loc, scale, shape;
} truth;

static const truth truths[ONNXQ_FAMILY_COUNT] = {
    {ONNXQ_FAMILY_LAPLACE, 0.1, 0.5, 0},
    {ONNXQ_FAMILY_GAUSS, -0.2, 1.5, 0},
    {ONNXQ_FAMILY_CAUCHY, 1.0, 0.3, 0},
    {ONNXQ_FAMILY_LOGISTIC, 0.5, 0.2, 0},
    {ONNXQ_FAMILY_UNIFORM, 2.0, 3.0, 0},
    {ONNXQ_FAMILY_EXPONENTIAL, -1.0, 2.0, 0},
    {ONNXQ_FAMILY_GAMMA, 0.2, 0.5, 3},
    {ONNXQ_FAMILY_ALPHA, 0.0, 1.0, 3},
};

static double sample(const truth *t, uint64_t *s)
{
    double u = urand(s);
    switch (t->family) {
    case ONNXQ_FAMILY_LAPLACE:
        return t->loc - t->scale * copysign(1, u - 0.5) * log(1 - 2 * fabs(u - 0.5));
    case ONNXQ_FAMILY_GAUSS: return t->loc + t->scale * normal(s);
    case ONNXQ_FAMILY_CAUCHY: return t->loc + t->scale * tan(M_PI * (u - 0.5));
    case ONNXQ_FAMILY_LOGISTIC: return t->loc + t->scale * log(u / (1 - u));
    case ONNXQ_FAMILY_UNIFORM: return t->loc + t->scale * (2 * u - 1);
    case ONNXQ_FAMILY_EXPONENTIAL: return t->loc - t->scale * log(u);
    case ONNXQ_FAMILY_GAMMA: { /* integer shape: a sum of exponentials */
        double g = -log(u);
        for (int k = 1; k < (int)t->shape; k++)
            g -= log(urand(s));
        return t->loc + t->scale * g;
    }
    case ONNXQ_FAMILY_ALPHA: { /* 1/Y with Y normal(a, 1) truncated to Y > 0 */
        double y;
        do
            y = t->shape + normal(s);
        while (y <= 0);
        return t->loc + t->scale / y;
    }
    }
    return 0;
}

START_TEST(recovers_each_family)
{
    const truth *t = &truths[_i];
    float *x = malloc(N_SAMPLES * sizeof *x);
    uint64_t seed = 0x5eed + (uint64_t)_i;
    for (size_t i = 0; i < N_SAMPLES; i++)
        x[i] = (float)sample(t, &seed);
    onnxq_fit fit;
    onnxq_error err;
    ck_assert_msg(onnxq_fit_values(x, N_SAMPLES, &fit, &err) == ONNXQ_OK, "%s", err.message);
    const onnxq_family_fit *f = &fit.fits[t->family];
    const char *name = onnxq_family_name(t->family);
    fprintf(stderr, "%-12s loc %.5g (%.5g) scale %.5g (%.5g) shape %.5g (%.5g); first by SSE %s, by KLD %s\n",
            name, f->loc, t->loc, f->scale, t->scale, f->shape, t->shape,
            onnxq_family_name(fit.by_sse[0]), onnxq_family_name(fit.by_kld[0]));
    ck_assert(f->ok);
    ck_assert_msg(fabs(f->loc - t->loc) <= 0.02 * t->scale, "%s: loc %g, true %g", name, f->loc, t->loc);
    ck_assert_msg(fabs(f->scale / t->scale - 1) <= 0.02, "%s: scale %g, true %g", name, f->scale, t->scale);
    if (t->shape > 0)
        ck_assert_msg(fabs(f->shape / t->shape - 1) <= 0.02, "%s: shape %g, true %g", name, f->shape,
                      t->shape);
    ck_assert_msg(fit.by_sse[0] == t->family, "%s data: %s ranked first by SSE", name,
                  onnxq_family_name(fit.by_sse[0]));
    ck_assert_msg(fit.by_kld[0] == t->family, "%s data: %s ranked first by KLD", name,
                  onnxq_family_name(fit.by_kld[0]));
    ck_assert_int_eq(f->rank_sse, 1);
    ck_assert_int_eq(f->rank_kld, 1);
    /* The histogram is a distribution, and densities integrate to one. */
    double total = 0;
    for (int b = 0; b < fit.bins; b++)
        total += fit.probability[b];
    ck_assert_double_eq_tol(total, 1, 1e-9);
    onnxq_fit_free(&fit);
    free(x);
}
END_TEST

START_TEST(mirrored_one_sided)
{
    float *x = malloc(200000 * sizeof *x);
    uint64_t seed = 77;
    truth t = {ONNXQ_FAMILY_EXPONENTIAL, 0, 1, 0};
    for (size_t i = 0; i < 200000; i++)
        x[i] = (float)-sample(&t, &seed); /* skews left */
    onnxq_fit fit;
    onnxq_error err;
    ck_assert_int_eq(onnxq_fit_values(x, 200000, &fit, &err), ONNXQ_OK);
    const onnxq_family_fit *f = &fit.fits[ONNXQ_FAMILY_EXPONENTIAL];
    ck_assert(f->mirrored);
    ck_assert_double_eq_tol(f->scale, 1, 0.02);
    ck_assert_int_eq(fit.by_kld[0], ONNXQ_FAMILY_EXPONENTIAL);
    ck_assert(onnxq_family_pdf(f, 0.5) == 0 && onnxq_family_pdf(f, -0.5) > 0);
    onnxq_fit_free(&fit);
    free(x);
}
END_TEST

START_TEST(degenerate_input)
{
    float same[100], one = 1, bad[3] = {1, NAN, 2};
    for (int i = 0; i < 100; i++)
        same[i] = 0.5f;
    onnxq_fit fit;
    onnxq_error err;
    ck_assert_int_eq(onnxq_fit_values(same, 100, &fit, &err), ONNXQ_ERR_ARGUMENT);
    ck_assert_int_eq(onnxq_fit_values(&one, 1, &fit, &err), ONNXQ_ERR_ARGUMENT);
    ck_assert_int_eq(onnxq_fit_values(bad, 3, &fit, &err), ONNXQ_ERR_UNSUPPORTED);
    /* Mostly zeros (IQR 0) still fits. */
    float sparse[1000];
    uint64_t seed = 1;
    for (int i = 0; i < 1000; i++)
        sparse[i] = i % 10 ? 0.0f : (float)normal(&seed);
    ck_assert_int_eq(onnxq_fit_values(sparse, 1000, &fit, &err), ONNXQ_OK);
    onnxq_fit_free(&fit);
    double loc, scale;
    ck_assert_int_eq(fit_laplace(sparse, 1000, &loc, &scale), 0);
    ck_assert(loc == 0 && scale > 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fit");
    TCase *tc = tcase_create("families");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, recovers_each_family, 0, ONNXQ_FAMILY_COUNT);
    tcase_add_test(tc, mirrored_one_sided);
    tcase_add_test(tc, degenerate_input);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
