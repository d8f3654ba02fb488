/* check_dtype.c: element types and the half-precision conversions. */
#include "config.h"
#include "common/dtype.h"

#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

START_TEST(half_round_trip_every_pattern)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = half_to_float((uint16_t)h);
        if (isnan(f)) {
            ck_assert(isnan(half_to_float(float_to_half(f))));
            continue;
        }
        ck_assert_uint_eq(float_to_half(f), h);
    }
}
END_TEST

START_TEST(half_known_values)
{
    ck_assert(half_to_float(0x3c00) == 1.0f);
    ck_assert(half_to_float(0xc000) == -2.0f);
    ck_assert(half_to_float(0x7bff) == 65504.0f);
    ck_assert(half_to_float(0x0001) == ldexpf(1.0f, -24));
    ck_assert(half_to_float(0x0400) == ldexpf(1.0f, -14));
    ck_assert(isinf(half_to_float(0x7c00)));
    ck_assert(signbit(half_to_float(0x8000)));
    ck_assert_uint_eq(float_to_half(65520.0f), 0x7c00);   /* rounds up to infinity */
    ck_assert_uint_eq(float_to_half(65519.0f), 0x7bff);
    ck_assert_uint_eq(float_to_half(1e-10f), 0);
    ck_assert_uint_eq(float_to_half(-1e-10f), 0x8000);
}
END_TEST

/* Between two neighbouring halves: below the midpoint rounds down, above it
 * up, and the midpoint itself to the even pattern. */
START_TEST(half_rounds_to_nearest_even)
{
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float lo = half_to_float((uint16_t)h), hi = half_to_float((uint16_t)(h + 1));
        float mid = lo + (hi - lo) / 2; /* exact: needs one more bit than a half has */
        ck_assert_uint_eq(float_to_half(nextafterf(mid, 0.0f)), h);
        ck_assert_uint_eq(float_to_half(nextafterf(mid, INFINITY)), h + 1);
        ck_assert_uint_eq(float_to_half(mid), (h & 1) ? h + 1 : h);
        ck_assert_uint_eq(float_to_half(-mid), 0x8000 | ((h & 1) ? h + 1 : h));
    }
}
END_TEST

START_TEST(bfloat16_conversions)
{
    for (uint32_t b = 0; b < 0x10000; b++) {
        float f = bfloat16_to_float((uint16_t)b);
        if (!isnan(f))
            ck_assert_uint_eq(float_to_bfloat16(f), b);
    }
    ck_assert(bfloat16_to_float(0x3f80) == 1.0f);
    ck_assert_uint_eq(float_to_bfloat16(1.00390625f), 0x3f80); /* tie, to even */
    ck_assert_uint_eq(float_to_bfloat16(1.01171875f), 0x3f82); /* tie, to even */
}
END_TEST

START_TEST(dtype_table)
{
    ck_assert_str_eq(onnxq_dtype_name(ONNXQ_DTYPE_FLOAT), "float32");
    ck_assert_str_eq(onnxq_dtype_name(ONNXQ_DTYPE_BFLOAT16), "bfloat16");
    ck_assert_str_eq(onnxq_dtype_name(999), "unknown");
    ck_assert_str_eq(onnxq_dtype_name(-1), "unknown");
    ck_assert_uint_eq(onnxq_dtype_bits(ONNXQ_DTYPE_COMPLEX128), 128);
    ck_assert_uint_eq(dtype_data_bytes(ONNXQ_DTYPE_INT4, 5), 3);
    ck_assert_uint_eq(dtype_data_bytes(ONNXQ_DTYPE_DOUBLE, 5), 40);
    ck_assert_uint_eq(dtype_data_bytes(ONNXQ_DTYPE_STRING, 5), UINT64_MAX);
    ck_assert_uint_eq(dtype_data_bytes(ONNXQ_DTYPE_INT64, UINT64_MAX / 4), UINT64_MAX);
    ck_assert(onnxq_dtype_is_float(ONNXQ_DTYPE_FLOAT16));
    ck_assert(!onnxq_dtype_is_float(ONNXQ_DTYPE_INT8));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dtype");
    TCase *tc = tcase_create("conversions");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, half_round_trip_every_pattern);
    tcase_add_test(tc, half_known_values);
    tcase_add_test(tc, half_rounds_to_nearest_even);
    tcase_add_test(tc, bfloat16_conversions);
    tcase_add_test(tc, dtype_table);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
