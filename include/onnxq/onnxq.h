/*
 * onnxq.h: the public API of libonnxq.
 *
 * libonnxq reads ONNX models, measures and compresses their weight tensors
 * (initializers), and writes valid ONNX files back.  Errors work as
 * onnxq/common.h says.
 *
 * Nothing here is thread-safe on one model; distinct models may be used from
 * distinct threads.
 */
#ifndef ONNXQ_ONNXQ_H
#define ONNXQ_ONNXQ_H

#include "onnxq/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Models ----------------------------------------------------------- */

typedef struct onnxq_model onnxq_model;

/* Load an ONNX model.  External data is resolved against the model's folder. */
ONNXQ_API onnxq_status onnxq_model_open(const char *path, onnxq_model **model, onnxq_error *err);

/* Load a model from memory.  `name` is used in messages; `base_dir` resolves
 * external data (NULL: models with external data are refused). */
ONNXQ_API onnxq_status onnxq_model_from_memory(const void *data, size_t size, const char *name,
                                     const char *base_dir, onnxq_model **model,
                                     onnxq_error *err);

ONNXQ_API void onnxq_model_free(onnxq_model *model);

typedef struct onnxq_model_meta {
    int64_t ir_version;
    const char *producer_name;    /* "" when absent */
    const char *producer_version;
    const char *domain;
    int64_t model_version;
    const char *graph_name;
    uint64_t file_bytes;          /* the model file plus its external data files */
    /* Loaded with external data.  Such a model may not fit in memory, so
     * the tensors compress and decompress produce are kept in a scratch file
     * in $TMPDIR (or /tmp) until saved, one tensor in memory at a time, and
     * the CLI saves them with external data again. */
    int external_data;
    size_t opset_count;
    size_t input_count;           /* graph inputs that are not initializers */
    size_t output_count;
    size_t node_count;
} onnxq_model_meta;

ONNXQ_API void onnxq_model_get_meta(const onnxq_model *model, onnxq_model_meta *meta);

/* Opset i: domain ("" is the default ONNX domain) and version. */
ONNXQ_API void onnxq_model_opset(const onnxq_model *model, size_t i, const char **domain,
                       int64_t *version);

/* The model's metadata_props, key and value strings (owned by the model).
 * onnxq writes its own under keys starting with "onnxq.": how a file was
 * made and, for a searched file, what was measured on which images. */
ONNXQ_API size_t onnxq_model_metadata_count(const onnxq_model *model);
ONNXQ_API void onnxq_model_metadata(const onnxq_model *model, size_t i, const char **key,
                                    const char **value);
/* Set key to value, replacing the entry of that key if there is one. */
ONNXQ_API onnxq_status onnxq_model_set_metadata(onnxq_model *model, const char *key,
                                                const char *value, onnxq_error *err);

/* A graph input or output. */
typedef struct onnxq_value_info {
    const char *name;
    int dtype;          /* element type, 0 when not a tensor or unknown */
    int rank;           /* -1 when the shape is unknown */
    int64_t dims[ONNXQ_MAX_DIMS];            /* -1 for a symbolic or unknown dim */
    const char *dim_names[ONNXQ_MAX_DIMS];   /* the symbol, or NULL */
} onnxq_value_info;

ONNXQ_API void onnxq_model_input(const onnxq_model *model, size_t i, onnxq_value_info *info);
ONNXQ_API void onnxq_model_output(const onnxq_model *model, size_t i, onnxq_value_info *info);

/* ---- Tensors (the graph's initializers) -------------------------------- */

typedef struct onnxq_tensor_info {
    const char *name;
    int dtype;
    int rank;
    const int64_t *dims;   /* rank entries, owned by the model */
    uint64_t elements;     /* product of dims (1 for a scalar) */
    uint64_t bytes;        /* size of the element data (0 for STRING) */
    int external;          /* stored in an external data file */
} onnxq_tensor_info;

ONNXQ_API size_t onnxq_model_tensor_count(const onnxq_model *model);
ONNXQ_API void onnxq_model_tensor_info(const onnxq_model *model, size_t i, onnxq_tensor_info *info);
/* Index of the tensor with that name, or (size_t)-1. */
ONNXQ_API size_t onnxq_model_find_tensor(const onnxq_model *model, const char *name);

/* Tensor i as float32: exact for FLOAT, FLOAT16 and BFLOAT16, rounded to
 * nearest for DOUBLE.  `count` must equal the tensor's element count. */
ONNXQ_API onnxq_status onnxq_tensor_read_float(onnxq_model *model, size_t i, float *out,
                                     uint64_t count, onnxq_error *err);

/* Tensor i's element data as little-endian bytes, whatever field holds it
 * (raw_data, the typed fields, or external data).  `size` must equal the
 * tensor's `bytes`.  Not for STRING tensors. */
ONNXQ_API onnxq_status onnxq_tensor_read_raw(onnxq_model *model, size_t i, void *out, uint64_t size,
                                   onnxq_error *err);

/* Replace tensor i's type, shape and data (little-endian element bytes). */
ONNXQ_API onnxq_status onnxq_tensor_replace(onnxq_model *model, size_t i, int dtype, int rank,
                                  const int64_t *dims, const void *data, uint64_t size,
                                  onnxq_error *err);

/* Summary statistics of a numeric tensor, computed in double precision. */
typedef struct onnxq_tensor_stats {
    double min, max, mean, std; /* std is the population standard deviation */
    uint64_t zeros;             /* elements equal to zero */
    uint64_t nonfinite;         /* NaN and infinities, left out of the others */
} onnxq_tensor_stats;

ONNXQ_API onnxq_status onnxq_tensor_stats_compute(onnxq_model *model, size_t i, onnxq_tensor_stats *stats,
                                        onnxq_error *err);
/* The same for n elements of dtype in memory (little-endian), for example
 * a weight onnxq_model_weight_read decoded.  ONNXQ_ERR_UNSUPPORTED for
 * types without values (strings, complex). */
ONNXQ_API onnxq_status onnxq_values_stats(int dtype, const void *data, uint64_t n,
                                          onnxq_tensor_stats *stats, onnxq_error *err);

/* ---- Saving ------------------------------------------------------------ */

typedef struct onnxq_save_options {
    /* Replace an existing output file.  The model's own source file is never
     * replaced, whatever this says. */
    int overwrite;
    /* Write tensors of at least external_threshold bytes to an external data
     * file named after the output ("OUT.data"), others inline.  0: all inline. */
    int external_data;
    uint64_t external_threshold;
} onnxq_save_options;

/* Write the model.  Files are written to a temporary name and renamed into
 * place, so a failure leaves no partial output. NULL options: defaults. */
ONNXQ_API onnxq_status onnxq_model_save(onnxq_model *model, const char *path,
                              const onnxq_save_options *options, onnxq_error *err);

/* Serialize the model (inline data only) into a malloc'd buffer. */
ONNXQ_API onnxq_status onnxq_model_serialize(onnxq_model *model, void **data, size_t *size,
                                   onnxq_error *err);

/* ---- Distribution fitting --------------------------------------------- */

typedef enum onnxq_family {
    ONNXQ_FAMILY_LAPLACE = 0,
    ONNXQ_FAMILY_GAUSS = 1,
    ONNXQ_FAMILY_CAUCHY = 2,
    ONNXQ_FAMILY_LOGISTIC = 3,
    ONNXQ_FAMILY_UNIFORM = 4,
    ONNXQ_FAMILY_EXPONENTIAL = 5, /* one-sided: see onnxq_family_fit.mirrored */
    ONNXQ_FAMILY_GAMMA = 6,
    ONNXQ_FAMILY_ALPHA = 7
} onnxq_family;
#define ONNXQ_FAMILY_COUNT 8

/* "laplace", "gauss", "cauchy", "logistic", "uniform", "exponential",
 * "gamma", "alpha". */
ONNXQ_API const char *onnxq_family_name(onnxq_family family);

typedef struct onnxq_family_fit {
    onnxq_family family;
    int ok;          /* 0 when the family cannot describe the data */
    double loc;      /* median, mean, x0, or the lower end of the support */
    double scale;    /* b, sigma, gamma, s, half-width, or the scale; > 0 */
    double shape;    /* gamma: k; alpha: a; otherwise 0 */
    int mirrored;    /* one-sided families fitted to -x (data that skews left) */
    double sse;      /* sum of squared differences of bin probabilities */
    double kld;      /* KL(histogram || family) over the bins, in nats */
    int rank_sse, rank_kld; /* 1 is best */
} onnxq_family_fit;

typedef struct onnxq_fit {
    uint64_t n;           /* values fitted */
    int bins;
    double lo, hi;        /* the histogram's range */
    uint64_t in_range;    /* values inside it */
    double *probability;  /* bins entries: the histogram, summing to 1 */
    onnxq_family_fit fits[ONNXQ_FAMILY_COUNT];
    onnxq_family by_sse[ONNXQ_FAMILY_COUNT], by_kld[ONNXQ_FAMILY_COUNT]; /* best first */
} onnxq_fit;

/* Fit every family to x[0..n) and score it against the histogram. */
ONNXQ_API onnxq_status onnxq_fit_values(const float *x, size_t n, onnxq_fit *fit, onnxq_error *err);
ONNXQ_API void onnxq_fit_free(onnxq_fit *fit);
/* Density and distribution function of a fitted family. */
ONNXQ_API double onnxq_family_pdf(const onnxq_family_fit *f, double x);
ONNXQ_API double onnxq_family_cdf(const onnxq_family_fit *f, double x);

/* ---- Compression ------------------------------------------------------- */

/* The custom ONNX domain of the Decode nodes compressed models carry. */
#define ONNXQ_DOMAIN "ai.onnxq"
#define ONNXQ_DOMAIN_VERSION 1

typedef enum onnxq_step_mode {
    ONNXQ_STEP_BITS = 0,    /* step 2^(1 - bits): 2^bits levels over [-1, 1] */
    ONNXQ_STEP_FIXED = 1,   /* the given step */
    ONNXQ_STEP_ENTROPY = 2, /* one step for all, found so the indices' pooled
                               entropy is `entropy` bits per weight */
    ONNXQ_STEP_LAPLACE = 3  /* per tensor: `step` times the scale b of the
                               tensor's Laplacian fit */
} onnxq_step_mode;

typedef struct onnxq_compress_options {
    onnxq_quantizer quantizer; /* NONE: every tensor lossless */
    onnxq_step_mode step_mode;
    double bits;               /* STEP_BITS; also the width for float and int */
    double step;               /* STEP_FIXED; STEP_LAPLACE: the multiple of b */
    double entropy;            /* STEP_ENTROPY, bits per weight */
    double sigma;              /* deadzone: zero-bin half-width in steps (default 0.25) */
    double mu;                 /* mulaw (default 255) */
    int exp_bits, man_bits;    /* float: 0 picks them from bits */
    int symmetric;             /* int: symmetric (default) or with a zero point */
    int per_channel;           /* int: one scale per output channel; midrise, midtread,
                                  dead-zone: one step per output channel, the tensor's
                                  step times the channel's RMS over the tensor's (to a
                                  quarter octave; weights of rank 2 and more) */
    int laplace_recon;         /* deadzone/midtread: rebuild at the Laplacian centroid */
    uint64_t min_size;         /* quantize float tensors of at least this many elements */
    int include_1d;            /* quantize rank-1 tensors (biases, norms) too */
    const char *exclude;       /* POSIX extended regex: matching tensors stay lossless */
    /* Fold BatchNormalization (and Mul or Add by a per-channel constant)
     * into the Conv or Gemm before it, first (default 1).  Not done when
     * tensor_steps are given: those index the model as it is. */
    int fold;
    /* Float tensors whose values already lie on an integer grid (int8
     * weights stored dequantized) keep it exactly, coded as its integers
     * and scales, when asked for a step at most 1.5 times the grid's and
     * when coded lossless (default 1). */
    int keep_grids;
    /* Per-tensor steps by initializer index (n_tensor_steps entries, or
     * NULL): a positive entry quantizes that float tensor with this step
     * whatever the selection rules say; a negative entry leaves the tensor
     * as it is (not even lossless coding); 0 applies the rules above. */
    const double *tensor_steps;
    size_t n_tensor_steps;
    /* Called before each tensor, for progress displays; may be NULL. */
    void (*progress)(void *ctx, size_t done, size_t total, const char *name);
    void *progress_ctx;
} onnxq_compress_options;

ONNXQ_API void onnxq_compress_defaults(onnxq_compress_options *options);

typedef struct onnxq_tensor_report {
    const char *name;          /* owned by the report */
    int dtype;
    uint64_t elements;
    uint64_t original_bytes;
    uint64_t coded_bytes;      /* the whole bitstream, or the original bytes when left plain */
    uint64_t payload_bytes;    /* the entropy-coded part */
    const char *method;        /* "quantized", "grid" (exact, on the grid the values
                                  had), "integer", "planes", "zstd", "plain" */
    onnxq_quantizer quantizer;
    double step;               /* quantized with a step: the step; else 0 */
    double entropy;            /* bits per element of the coded symbols; NaN when none */
    double rms_error;          /* quantized: root mean square error; else 0 */
    int grid;                  /* the values lay on an integer grid, kept exactly */
} onnxq_tensor_report;

typedef struct onnxq_compress_report {
    size_t n_tensors;
    onnxq_tensor_report *tensors;
    uint64_t parameters;            /* all initializer elements, after folding */
    uint64_t original_parameters;   /* before: the model's own count, which bits per
                                       parameter divide by */
    size_t folded_nodes;            /* BatchNormalization, Mul and Add nodes folded */
    uint64_t quantized_parameters;
    uint64_t original_bytes;        /* all initializer data before */
    uint64_t coded_bytes;           /* and after */
    uint64_t quantized_payload_bytes;
    double quantized_entropy_bits;  /* sum over quantized tensors of elements x entropy */
    double step;                    /* the global step used (0 when none) */
} onnxq_compress_report;

/* Compress the model's initializers in place: each one compressed becomes a
 * UINT8 initializer holding its bitstream and an ai.onnxq Decode node whose
 * output is the original name.  The model's metadata_props record the
 * settings: onnxq.version, onnxq.settings, onnxq.original_parameters (the
 * count before folding).  `report` may be NULL. */
ONNXQ_API onnxq_status onnxq_compress(onnxq_model *model, const onnxq_compress_options *options,
                            onnxq_compress_report **report, onnxq_error *err);
ONNXQ_API void onnxq_compress_report_free(onnxq_compress_report *report);

/* Nonzero when the model holds ai.onnxq Decode nodes. */
ONNXQ_API int onnxq_model_is_compressed(const onnxq_model *model);

/* Decode every ai.onnxq tensor back into a plain initializer of its
 * original type and shape, and drop the Decode nodes and the metadata
 * compress recorded (keys onnxq.*). */
ONNXQ_API onnxq_status onnxq_decompress(onnxq_model *model, onnxq_error *err);

/* Compressed ONNX bytes to plain ONNX bytes that any runtime loads (for
 * onnxruntime's CreateSessionFromArray and its peers): malloc'd, freed
 * with free(), and byte for byte what `onnxq decompress` writes.  Models
 * with external data are refused (their data is not in memory). */
ONNXQ_API onnxq_status onnxq_decompress_memory(const void *in, size_t in_size, void **out,
                                               size_t *out_size, onnxq_error *err);

/* ---- Weights as the graph sees them ----------------------------------
 *
 * Weight i is initializer i, but described and read as the graph sees it:
 * a compressed tensor under its original name, type and shape, decoded
 * into the caller's buffer; a plain one as it is.  For a device that
 * loads a compressed model's weights into its own runtime. */

typedef struct onnxq_weight_info {
    const char *name;      /* owned by the model */
    int dtype;
    int rank;
    const int64_t *dims;   /* rank entries, owned by the model */
    uint64_t elements;
    uint64_t bytes;        /* decoded size in dtype: what onnxq_model_weight_read writes */
    int compressed;        /* held as an ai.onnxq bitstream */
    uint64_t stored_bytes; /* its bytes in the file (the bitstream's when compressed) */
    /* For a compressed weight, what its bitstream's header says: */
    int method;            /* 0 stored, 1 zstd, 2 planes, 3 quantized, 4 integer */
    onnxq_quantizer quantizer; /* method 3 */
    double step;           /* midrise, midtread, dead-zone, mu-law: the step (the base
                              step when per channel); else 0 */
    int bits;              /* int and float quantizers: bits per value; else 0 */
    int per_channel;       /* a step or scale per output channel */
} onnxq_weight_info;


ONNXQ_API size_t onnxq_model_weight_count(const onnxq_model *model);
ONNXQ_API onnxq_status onnxq_model_weight_info(onnxq_model *model, size_t i,
                                               onnxq_weight_info *info, onnxq_error *err);
/* The weight the graph calls `name`, or (size_t)-1. */
ONNXQ_API size_t onnxq_model_find_weight(onnxq_model *model, const char *name);
/* Weight i's elements (little-endian, its dtype) into out, of exactly
 * info.bytes bytes. */
ONNXQ_API onnxq_status onnxq_model_weight_read(onnxq_model *model, size_t i, void *out,
                                               uint64_t size, onnxq_error *err);

#ifdef __cplusplus
}
#endif
#endif /* ONNXQ_ONNXQ_H */
