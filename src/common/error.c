/* error.c: status names and the one-line error messages. */
#include "config.h"
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *onnxq_version(void) { return ONNXQ_VERSION_STRING; }

const char *onnxq_status_name(onnxq_status status)
{
    switch (status) {
    case ONNXQ_OK: return "ok";
    case ONNXQ_ERR_ARGUMENT: return "argument";
    case ONNXQ_ERR_IO: return "io";
    case ONNXQ_ERR_NOT_ONNX: return "not-onnx";
    case ONNXQ_ERR_BAD_TENSOR: return "bad-tensor";
    case ONNXQ_ERR_UNSUPPORTED: return "unsupported";
    case ONNXQ_ERR_CORRUPT: return "corrupt";
    case ONNXQ_ERR_EXISTS: return "exists";
    case ONNXQ_ERR_NOMEM: return "nomem";
    }
    return "unknown";
}

onnxq_status onnxq_fail(onnxq_error *err, onnxq_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        /* A message is one line: a newline from a file name or a system
         * string would break callers that print it as such. */
        for (char *p = err->message; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        err->status = status;
    }
    return status;
}

onnxq_status onnxq_ok(onnxq_error *err)
{
    if (err) {
        err->status = ONNXQ_OK;
        err->message[0] = '\0';
    }
    return ONNXQ_OK;
}
