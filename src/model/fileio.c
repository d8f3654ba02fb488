/* fileio.c: file reads and atomic writes with one-line error messages. */
#include "config.h"
#include "fileio.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static onnxq_status io_fail(onnxq_error *err, const char *path, const char *what)
{
    return onnxq_fail(err, ONNXQ_ERR_IO, "%s: %s: %s", path, what, strerror(errno));
}

onnxq_status file_size(const char *path, uint64_t *size, onnxq_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return io_fail(err, path, "cannot open");
    if (S_ISDIR(st.st_mode))
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: is a directory, not a file", path);
    if (!S_ISREG(st.st_mode))
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: not a regular file", path);
    *size = (uint64_t)st.st_size;
    return ONNXQ_OK;
}

onnxq_status file_read_all(const char *path, uint8_t **data, size_t *size, onnxq_error *err)
{
    uint64_t n;
    onnxq_status s = file_size(path, &n, err);
    if (s != ONNXQ_OK)
        return s;
    if (n >= SIZE_MAX)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: too large to read", path);
    uint8_t *buf = malloc((size_t)n + 1);
    if (!buf)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory reading %llu bytes", path,
                          (unsigned long long)n);
    s = file_read_range(path, 0, n, buf, err);
    if (s != ONNXQ_OK) {
        free(buf);
        return s;
    }
    buf[n] = 0;
    *data = buf;
    *size = (size_t)n;
    return ONNXQ_OK;
}

onnxq_status file_read_range(const char *path, uint64_t offset, uint64_t size, void *out,
                             onnxq_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, path, "cannot open");
    uint8_t *p = out;
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done > (1u << 30) ? (1u << 30) : (size_t)(size - done);
        ssize_t got = pread(fd, p + done, want, (off_t)(offset + done));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            errno = e;
            return io_fail(err, path, "read error");
        }
        if (got == 0) {
            close(fd);
            return onnxq_fail(err, ONNXQ_ERR_IO,
                              "%s: file ends at %llu bytes, expected %llu at offset %llu", path,
                              (unsigned long long)(offset + done), (unsigned long long)size,
                              (unsigned long long)offset);
        }
        done += (uint64_t)got;
    }
    close(fd);
    return ONNXQ_OK;
}

int file_same(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

onnxq_status atomic_open(atomic_file *af, const char *path, int overwrite, onnxq_error *err)
{
    memset(af, 0, sizeof *af);
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return onnxq_fail(err, ONNXQ_ERR_IO, "%s: is a directory, not a file", path);
        if (!overwrite)
            return onnxq_fail(err, ONNXQ_ERR_EXISTS,
                              "%s: already exists (use -f to replace it)", path);
    }
    af->path = strdup(path);
    size_t n = strlen(path) + 16;
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        atomic_abort(af);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        onnxq_status s = io_fail(err, path, "cannot create");
        free(af->tmp_path);
        af->tmp_path = NULL;
        atomic_abort(af);
        return s;
    }
    /* mkstemp makes 0600; outputs get the usual permissions. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        onnxq_status s = io_fail(err, path, "cannot create");
        atomic_abort(af);
        return s;
    }
    return ONNXQ_OK;
}

onnxq_status atomic_write(atomic_file *af, const void *data, size_t size, onnxq_error *err)
{
    if (size && fwrite(data, 1, size, af->fp) != size)
        return io_fail(err, af->path, "write error");
    return ONNXQ_OK;
}

onnxq_status atomic_commit(atomic_file *af, onnxq_error *err)
{
    onnxq_status s = ONNXQ_OK;
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0)
        s = io_fail(err, af->path, "write error");
    if (fclose(af->fp) != 0 && s == ONNXQ_OK)
        s = io_fail(err, af->path, "write error");
    af->fp = NULL;
    if (s == ONNXQ_OK && rename(af->tmp_path, af->path) != 0)
        s = io_fail(err, af->path, "cannot rename into place");
    if (s != ONNXQ_OK) {
        atomic_abort(af);
        return s;
    }
    free(af->tmp_path);
    af->tmp_path = NULL;
    free(af->path);
    af->path = NULL;
    return ONNXQ_OK;
}

void atomic_abort(atomic_file *af)
{
    if (af->fp)
        fclose(af->fp);
    af->fp = NULL;
    if (af->tmp_path)
        unlink(af->tmp_path);
    free(af->tmp_path);
    free(af->path);
    af->tmp_path = af->path = NULL;
}

char *path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

const char *path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- Scratch files ------------------------------------------------------- */

onnxq_status scratch_append(scratch_file *s, const void *data, uint64_t size, uint64_t *offset,
                            onnxq_error *err)
{
    if (!s->path) {
        const char *dir = getenv("TMPDIR");
        char *path = path_join(dir && *dir ? dir : "/tmp", "onnxq-scratch-XXXXXX");
        if (!path)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory");
        int fd = mkstemp(path);
        if (fd < 0) {
            onnxq_status st = io_fail(err, path, "cannot create a scratch file");
            free(path);
            return st;
        }
        s->path = path;
        s->fd = fd;
        s->size = 0;
    }
    const uint8_t *p = data;
    uint64_t done = 0;
    while (done < size) {
        size_t chunk = size - done > (1u << 30) ? (1u << 30) : (size_t)(size - done);
        ssize_t w = pwrite(s->fd, p + done, chunk, (off_t)(s->size + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return io_fail(err, s->path, "cannot write the scratch file");
        }
        done += (uint64_t)w;
    }
    *offset = s->size;
    s->size += size;
    return ONNXQ_OK;
}

void scratch_close(scratch_file *s)
{
    if (!s->path)
        return;
    close(s->fd);
    unlink(s->path);
    free(s->path);
    s->path = NULL;
}
