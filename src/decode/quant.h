/* quant.h: the scalar quantizers' parameters, and rebuilding values from
 * their indices (encode/quantize.h computes the indices).
 *
 * Reconstruction (index to value) uses only exactly rounded IEEE double
 * operations (+, -, *, /, ldexp) in a fixed order, so it gives the same
 * float on every machine; mu-law's exponential is computed here for that
 * reason rather than by the C library. */
#ifndef ONNXQ_QUANT_H
#define ONNXQ_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include "onnxq/common.h"

#define QUANT_MAX_INDEX (1 << 30) /* |index| stays below this */

typedef struct quant_params {
    onnxq_quantizer kind;
    double step;   /* midrise, midtread, deadzone: the step; mulaw: the step of the companded value */
    double sigma;  /* deadzone: half-width of the zero bin, in steps (0.5 for midtread) */
    double recon;  /* deadzone and midtread: where in a bin values are rebuilt, in steps
                      from its inner edge (0.5: the middle) */
    double mu, log1p_mu, peak; /* mulaw */
    int exp_bits, man_bits, scale_exp; /* float: values are minifloat * 2^scale_exp */
    int int_bits, symmetric;           /* int */
    /* Per-channel scales (int) or steps: channel of element i is
     * (i / inner) % channels. */
    uint32_t channels;
    uint64_t inner;
    float *scales;
    int32_t *zero_points; /* int, asymmetric: the encoder's zero points (not stored) */
    /* Per-channel steps (midrise, midtread, dead-zone): channel c's step
     * is quant_channel_step(step, exps[c]), and a value is rebuilt in
     * float as quant_unit(q) times it.  chan_steps NULL: one step for all.
     * The stream holds the exponents as Exp-Golomb coded differences
     * (chan_code); the decoder turns them into chan_steps in its
     * workspace (quant_read_channel_steps). */
    float *chan_steps;
    int8_t *chan_exps;     /* the encoder's exponents */
    const uint8_t *chan_code;
    size_t chan_code_len;
    int first_exp;
    int want_channel_steps; /* the encoder: give each channel a step (quant_prepare) */
} quant_params;

/* Values of indices q[0..n). */
void quant_decode(const quant_params *p, const int32_t *q, size_t n, float *out);

/* The same for a slice of a tensor whose first element is element `first`
 * (it decides the channel of per-channel scales). */
void quant_decode_at(const quant_params *p, const int32_t *q, uint64_t first, size_t n,
                     float *out);

/* The value of the nonnegative index a for the sign-magnitude quantizers
 * (midtread, dead-zone, mu-law, minifloat); index -a is its negation. */
float quant_magnitude_value(const quant_params *p, uint32_t a);

/* A minifloat bit pattern's value (without the tensor's scale). */
double minifloat_value(const quant_params *p, uint32_t pattern);

/* Channel steps: step 2^(e/4), computed from exact constants in a fixed
 * order and rounded to float, so every machine gets the same. */
float quant_channel_step(double step, int e);

/* What a per-channel quantizer rebuilds index q to before its channel's
 * step multiplies it: midrise q + 1/2, midtread and dead-zone
 * sign(q) (|q| + sigma - 1 + recon), 0 for q = 0; as a float. */
float quant_unit(const quant_params *p, int32_t q);

/* Fill steps[0..channels) from the stream's coded exponents; 0, or -1
 * when they are malformed. */
int quant_read_channel_steps(const quant_params *p, float *steps);

/* out[i] *= its channel's step, for the n values of a tensor from its
 * start: the second half of per-channel reconstruction, after a decoder
 * wrote quant_unit's values. */
void quant_scale_channels(const quant_params *p, float *out, uint64_t n);

/* Free what the encoder allocated in p (the int scales and zero points). */
void quant_free(quant_params *p);

/* exp(x) for 0 <= x < 700 with a fixed sequence of IEEE operations. */
double det_exp(double x);

#endif
