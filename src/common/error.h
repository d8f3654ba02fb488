/* error.h: filling an onnxq_error. */
#ifndef ONNXQ_ERROR_H
#define ONNXQ_ERROR_H

#include "onnxq/onnxq.h"

/* Set err (when not NULL) to status and a printf-formatted one-line message;
 * return status so callers can write `return onnxq_fail(err, ...)`. */
onnxq_status onnxq_fail(onnxq_error *err, onnxq_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear err to ONNXQ_OK and return ONNXQ_OK. */
onnxq_status onnxq_ok(onnxq_error *err);

#endif
