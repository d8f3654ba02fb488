/* fileio.h: whole-file reads and atomic writes. */
#ifndef ONNXQ_FILEIO_H
#define ONNXQ_FILEIO_H

#include <stdint.h>
#include <stdio.h>
#include "onnxq/onnxq.h"

/* Read all of `path` into a malloc'd buffer (NUL-terminated for convenience,
 * the terminator not counted in *size). */
onnxq_status file_read_all(const char *path, uint8_t **data, size_t *size, onnxq_error *err);

/* Read `size` bytes at `offset` of `path` into `out`. */
onnxq_status file_read_range(const char *path, uint64_t offset, uint64_t size, void *out,
                             onnxq_error *err);

/* Size of a regular file; an error for a missing file or a directory. */
onnxq_status file_size(const char *path, uint64_t *size, onnxq_error *err);

/* Nonzero when the two paths name the same existing file. */
int file_same(const char *a, const char *b);

/* An output written to a temporary file beside its destination and renamed
 * into place by atomic_commit, so readers never see a partial file. */
typedef struct atomic_file {
    FILE *fp;
    char *path;     /* the destination */
    char *tmp_path; /* the temporary beside it */
} atomic_file;

onnxq_status atomic_open(atomic_file *af, const char *path, int overwrite, onnxq_error *err);
onnxq_status atomic_write(atomic_file *af, const void *data, size_t size, onnxq_error *err);
/* Flush, sync and rename; on failure the temporary is removed. */
onnxq_status atomic_commit(atomic_file *af, onnxq_error *err);
/* Drop the temporary (safe after a failed commit and on a closed file). */
void atomic_abort(atomic_file *af);

/* A temporary file in $TMPDIR (or /tmp), created by the first append,
 * that data too large to keep in memory is appended to and read back from
 * by path (file_read_range); scratch_close removes it.  Zeroed: none yet. */
typedef struct scratch_file {
    char *path;
    int fd;
    uint64_t size;
} scratch_file;

/* Append size bytes; *offset gets where they start. */
onnxq_status scratch_append(scratch_file *s, const void *data, uint64_t size, uint64_t *offset,
                            onnxq_error *err);
void scratch_close(scratch_file *s);

/* The folder part of a path ("." when it has none); malloc'd. */
char *path_dirname(const char *path);
/* The last component of a path (points into `path`). */
const char *path_basename(const char *path);
/* dir + "/" + name; malloc'd. */
char *path_join(const char *dir, const char *name);

#endif
