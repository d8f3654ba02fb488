/*
 * onnxq/common.h: what every part of libonnxq shares (the decoder alone
 * included): version, status codes and errors, element types, quantizers.
 *
 * Every call that can fail returns an onnxq_status and, when the caller
 * passes an onnxq_error, fills it with a one-line message that names the
 * file and the problem, ready to print as is.  Passing NULL for the error
 * is allowed everywhere.
 */
#ifndef ONNXQ_COMMON_H
#define ONNXQ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions libonnxq exports; everything else stays inside. */
#if defined(ONNXQ_BUILDING) && defined(__GNUC__)
#define ONNXQ_API __attribute__((visibility("default")))
#else
#define ONNXQ_API
#endif

#define ONNXQ_VERSION_MAJOR 0
#define ONNXQ_VERSION_MINOR 1
#define ONNXQ_VERSION_PATCH 0
#define ONNXQ_VERSION_STRING "0.1.0"

ONNXQ_API const char *onnxq_version(void);

/* ---- Errors ----------------------------------------------------------- */

/* Stable numbers: the onnxq command uses them as its exit codes. */
typedef enum onnxq_status {
    ONNXQ_OK = 0,
    ONNXQ_ERR_ARGUMENT = 2,    /* the caller asked for something invalid */
    ONNXQ_ERR_IO = 3,          /* a file could not be opened, read or written */
    ONNXQ_ERR_NOT_ONNX = 4,    /* the bytes are not a well-formed ONNX model */
    ONNXQ_ERR_BAD_TENSOR = 5,  /* a tensor's data disagrees with its type or shape */
    ONNXQ_ERR_UNSUPPORTED = 6, /* valid, but beyond what onnxq handles */
    ONNXQ_ERR_CORRUPT = 7,     /* an onnxq bitstream failed its checks */
    ONNXQ_ERR_EXISTS = 8,      /* the output exists (or is an input) */
    ONNXQ_ERR_NOMEM = 9        /* out of memory */
} onnxq_status;

typedef struct onnxq_error {
    onnxq_status status;
    char message[512]; /* one line, no trailing newline */
} onnxq_error;

/* A short stable name for a status, e.g. "not-onnx". */
ONNXQ_API const char *onnxq_status_name(onnxq_status status);

/* ---- Data types ------------------------------------------------------- */

/* The ONNX TensorProto.DataType numbers. */
typedef enum onnxq_dtype {
    ONNXQ_DTYPE_UNDEFINED = 0,
    ONNXQ_DTYPE_FLOAT = 1,
    ONNXQ_DTYPE_UINT8 = 2,
    ONNXQ_DTYPE_INT8 = 3,
    ONNXQ_DTYPE_UINT16 = 4,
    ONNXQ_DTYPE_INT16 = 5,
    ONNXQ_DTYPE_INT32 = 6,
    ONNXQ_DTYPE_INT64 = 7,
    ONNXQ_DTYPE_STRING = 8,
    ONNXQ_DTYPE_BOOL = 9,
    ONNXQ_DTYPE_FLOAT16 = 10,
    ONNXQ_DTYPE_DOUBLE = 11,
    ONNXQ_DTYPE_UINT32 = 12,
    ONNXQ_DTYPE_UINT64 = 13,
    ONNXQ_DTYPE_COMPLEX64 = 14,
    ONNXQ_DTYPE_COMPLEX128 = 15,
    ONNXQ_DTYPE_BFLOAT16 = 16,
    ONNXQ_DTYPE_FLOAT8E4M3FN = 17,
    ONNXQ_DTYPE_FLOAT8E4M3FNUZ = 18,
    ONNXQ_DTYPE_FLOAT8E5M2 = 19,
    ONNXQ_DTYPE_FLOAT8E5M2FNUZ = 20,
    ONNXQ_DTYPE_UINT4 = 21,
    ONNXQ_DTYPE_INT4 = 22
} onnxq_dtype;

/* "float32", "float16", "int8", ...; "unknown" for numbers outside the table. */
ONNXQ_API const char *onnxq_dtype_name(int dtype);
/* Bits per element (4 for the packed 4-bit types); 0 for STRING and unknown types. */
ONNXQ_API unsigned onnxq_dtype_bits(int dtype);
/* Nonzero for FLOAT, FLOAT16, BFLOAT16 and DOUBLE: the types read as float32. */
ONNXQ_API int onnxq_dtype_is_float(int dtype);

/* ---- Quantizers -------------------------------------------------------- */

typedef enum onnxq_quantizer {
    ONNXQ_QUANT_NONE = 0,     /* lossless */
    ONNXQ_QUANT_MIDRISE = 1,  /* q = floor(w/step), value (q + 1/2) step */
    ONNXQ_QUANT_MIDTREAD = 2, /* q = round(w/step), value q step */
    ONNXQ_QUANT_DEADZONE = 3, /* zero bin of half-width sigma steps, then steps */
    ONNXQ_QUANT_MULAW = 4,    /* uniform on ln(1 + mu |w|/peak) / ln(1 + mu) */
    ONNXQ_QUANT_FLOAT = 5,    /* minifloat with exp_bits and man_bits, scaled */
    ONNXQ_QUANT_INT = 6       /* linear min-max integers, per tensor or channel */
} onnxq_quantizer;

/* "midrise", "midtread", "deadzone", "mulaw", "float", "int", "none". */
ONNXQ_API const char *onnxq_quantizer_name(onnxq_quantizer q);
/* How a compressed tensor's bitstream holds it: "stored", "zstd",
 * "planes", "quantized" or "integer" (methods 0 to 4). */
ONNXQ_API const char *onnxq_method_name(int method);

/* ---- Limits ------------------------------------------------------------ */

/* The most one decode may be asked to fill and use: a tensor's declared
 * size plus its workspace.  A bitstream that declares more is refused
 * (ONNXQ_ERR_UNSUPPORTED) before anything is allocated: a few bytes can
 * claim terabytes.  0: no limit (the default).  Process-wide; until it is
 * set, the environment variable ONNXQ_MEMORY_LIMIT (bytes, or with K, M
 * or G) gives it. */
ONNXQ_API void onnxq_set_memory_limit(uint64_t bytes);
ONNXQ_API uint64_t onnxq_memory_limit(void);

#define ONNXQ_MAX_DIMS 16

#ifdef __cplusplus
}
#endif
#endif /* ONNXQ_COMMON_H */
