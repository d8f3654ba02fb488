/* check_rounding.c: error-feedback rounding stays on the quantizer's grid
 * and beats rounding to nearest where it should: on correlated inputs. */
#include "config.h"
#include "encode/quantize.h"
#include "tune/rounding.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 16
#define COLS 24
#define SAMPLES 400
#define SOURCES 6 /* the inputs mix this many independent signals */

static double urand(uint64_t *s)
{
    return ((double)(test_rand(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double normal(uint64_t *s)
{
    return sqrt(-2 * log(urand(s))) * cos(2 * M_PI * urand(s));
}

/* Inputs x (COLS x SAMPLES): a few signals mixed, plus a little noise;
 * column `dead` (when >= 0) always 0. */
static void make_inputs(uint64_t *seed, int dead, double *x)
{
    double mix[COLS][SOURCES];
    for (int i = 0; i < COLS; i++)
        for (int k = 0; k < SOURCES; k++)
            mix[i][k] = normal(seed);
    for (int n = 0; n < SAMPLES; n++) {
        double z[SOURCES];
        for (int k = 0; k < SOURCES; k++)
            z[k] = normal(seed);
        for (int i = 0; i < COLS; i++) {
            double v = 0.05 * normal(seed);
            for (int k = 0; k < SOURCES; k++)
                v += mix[i][k] * z[k];
            x[i * SAMPLES + n] = i == dead ? 0 : v;
        }
    }
}

static void make_weights(uint64_t *seed, float *w)
{
    for (int i = 0; i < ROWS * COLS; i++) {
        double u = urand(seed) - 0.5;
        w[i] = (float)(-0.1 * copysign(1, u) * log(1 - 2 * fabs(u)));
    }
}

static void gram_of(const double *x, double *h)
{
    for (int i = 0; i < COLS; i++)
        for (int j = 0; j < COLS; j++) {
            double s = 0;
            for (int n = 0; n < SAMPLES; n++)
                s += x[i * SAMPLES + n] * x[j * SAMPLES + n];
            h[i * COLS + j] = s;
        }
}

/* Sum over samples of the squared output error of q against w. */
static double output_error(const float *w, const float *q, const double *x)
{
    double e = 0;
    for (int r = 0; r < ROWS; r++)
        for (int n = 0; n < SAMPLES; n++) {
            double d = 0;
            for (int i = 0; i < COLS; i++)
                d += ((double)w[r * COLS + i] - q[r * COLS + i]) * x[i * SAMPLES + n];
            e += d * d;
        }
    return e;
}

static quant_params deadzone(double step)
{
    quant_params qp;
    memset(&qp, 0, sizeof qp);
    qp.kind = ONNXQ_QUANT_DEADZONE;
    qp.step = step;
    qp.sigma = 0.25;
    qp.recon = 0.5;
    return qp;
}

START_TEST(on_grid_and_better_than_nearest)
{
    uint64_t seed = 0x5eedULL + (uint64_t)_i;
    static double x[COLS * SAMPLES], h[COLS * COLS];
    float w[ROWS * COLS], nearest[ROWS * COLS], fed[ROWS * COLS];
    make_inputs(&seed, -1, x);
    make_weights(&seed, w);
    gram_of(x, h);
    quant_params qp = deadzone(0.08);
    ck_assert_int_eq(quant_prepare(&qp, w, ROWS * COLS), 0);
    int32_t idx[ROWS * COLS];
    ck_assert_int_eq(quant_encode(&qp, w, ROWS * COLS, idx), 0);
    quant_decode(&qp, idx, ROWS * COLS, nearest);
    memcpy(fed, w, sizeof w);
    ck_assert_int_eq(rounding_round_matrix(fed, ROWS, COLS, h, &qp), 0);

    /* Every value is a level: quantizing it again gives it back exactly. */
    float again[ROWS * COLS];
    ck_assert_int_eq(quant_encode(&qp, fed, ROWS * COLS, idx), 0);
    quant_decode(&qp, idx, ROWS * COLS, again);
    ck_assert_int_eq(memcmp(again, fed, sizeof fed), 0);

    double e_nearest = output_error(w, nearest, x), e_fed = output_error(w, fed, x);
    ck_assert_msg(e_fed < 0.5 * e_nearest, "output error %g with feedback, %g to nearest", e_fed,
                  e_nearest);
    quant_free(&qp);
}
END_TEST

START_TEST(dead_input_weights_become_zero)
{
    uint64_t seed = 0xdeadULL;
    static double x[COLS * SAMPLES], h[COLS * COLS];
    float w[ROWS * COLS];
    make_inputs(&seed, 3, x);
    make_weights(&seed, w);
    for (int r = 0; r < ROWS; r++)
        w[r * COLS + 3] = 0.5f; /* far from 0, yet it never meets an input */
    gram_of(x, h);
    quant_params qp = deadzone(0.08);
    ck_assert_int_eq(quant_prepare(&qp, w, ROWS * COLS), 0);
    ck_assert_int_eq(rounding_round_matrix(w, ROWS, COLS, h, &qp), 0);
    for (int r = 0; r < ROWS; r++)
        ck_assert_float_eq(w[r * COLS + 3], 0.0f);
    quant_free(&qp);
}
END_TEST

START_TEST(no_level_is_an_error)
{
    static double h[COLS * COLS];
    float w[ROWS * COLS];
    for (int i = 0; i < COLS; i++)
        h[i * COLS + i] = 1;
    for (int i = 0; i < ROWS * COLS; i++)
        w[i] = 1e6f;
    quant_params qp = deadzone(1e-6); /* indices beyond QUANT_MAX_INDEX */
    ck_assert_int_eq(quant_prepare(&qp, w, ROWS * COLS), 0);
    ck_assert_int_eq(rounding_round_matrix(w, ROWS, COLS, h, &qp), -1);
    quant_free(&qp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rounding");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, on_grid_and_better_than_nearest, 0, 4);
    tcase_add_test(tc, dead_input_weights_become_zero);
    tcase_add_test(tc, no_level_is_an_error);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
