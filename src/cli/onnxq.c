/* onnxq.c: the onnxq command, a thin layer over libonnxq. */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"inspect", cmd_inspect, "list a model's weight tensors, their statistics and totals"},
    {"compress", cmd_compress, "quantize and entropy-code a model's weights into a valid ONNX file"},
    {"decompress", cmd_decompress, "turn a compressed model back into a plain ONNX file"},
    {"fit", cmd_fit, "fit standard densities to the weights and rank them"},
    {"eval", cmd_eval, "score a model's top-1/top-5 on JPEG or IDX images"},
    {"sweep", cmd_sweep, "rate against accuracy over quantizers and bit depths (CSV, SVG)"},
    {"test", cmd_test, "check that every bitstream of compressed models decodes, writing nothing"},
    {"cache", cmd_cache, "show the size of the decoded-image cache, or clear it"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: onnxq COMMAND [OPTIONS] ...\n"
            "Compress the weights of ONNX neural networks, and measure what it costs.\n"
            "\nCommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nOptions:\n"
                 "  -h, --help     show this help\n"
                 "  -V, --version  show the version\n"
                 "\n'onnxq COMMAND --help' describes a command; 'man onnxq' all of them.\n");
}

int cli_fail(const onnxq_error *err)
{
    fprintf(stderr, "onnxq: %s\n", err->message);
    return err->status == ONNXQ_OK ? 1 : (int)err->status;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "onnxq %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'onnxq %s --help')\n", cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

const char *cli_group_digits(uint64_t value, char *buf, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    size_t out = 0;
    for (int i = 0; i < n && out + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

void cli_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void cli_progress(void *ctx, size_t done, size_t total, const char *name)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO))
        return;
    if (done >= total)
        fprintf(stderr, "\r\033[K");
    else
        fprintf(stderr, "\r\033[K[%zu/%zu] %.60s", done + 1, total, name);
    fflush(stderr);
}

int cli_parse_double(const char *cmd, const char *opt, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno)
        return cli_usage_error(cmd, "%s expects a number, not '%s'", opt, text);
    *out = v;
    return 0;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *end || errno || text[0] == '-')
        return cli_usage_error(cmd, "%s expects a whole number, not '%s'", opt, text);
    *out = v;
    return 0;
}

int cli_parse_size(const char *cmd, const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    double unit = !strcmp(end, "") ? 1 : !strcmp(end, "K") ? 1024.0 : !strcmp(end, "M") ? 1048576.0
                : !strcmp(end, "G") ? 1073741824.0 : 0;
    if (!*text || errno || !(v > 0) || !unit || v * unit >= 1.8e19)
        return cli_usage_error(cmd, "%s expects a size such as 500M or 2G, not '%s'", opt, text);
    *out = (uint64_t)(v * unit);
    return 0;
}

char *cli_default_output(const char *in, const char *suffix)
{
    size_t n = strlen(in);
    const char *slash = strrchr(in, '/');
    const char *dot = strrchr(in, '.');
    if (dot && (!slash || dot > slash + 1) && !strcmp(dot, ".onnx"))
        n = (size_t)(dot - in);
    char *out = malloc(n + strlen(suffix) + 1);
    if (out) {
        memcpy(out, in, n);
        strcpy(out + n, suffix);
    }
    return out;
}

uint64_t cli_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static onnxq_status stdin_failure(onnxq_error *err, onnxq_status status, const char *what)
{
    err->status = status;
    snprintf(err->message, sizeof err->message, "standard input: %s", what);
    return status;
}

int cli_open_model(const char *path, onnxq_model **m, onnxq_error *err)
{
    if (strcmp(path, "-"))
        return onnxq_model_open(path, m, err);
    size_t size = 0, cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + size, 1, cap - size, stdin);
        size += got;
        if (size < cap)
            break;
        uint8_t *more = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
        if (!more) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more;
        cap *= 2;
    }
    if (!buf)
        return stdin_failure(err, ONNXQ_ERR_NOMEM, "out of memory");
    if (ferror(stdin)) {
        free(buf);
        return stdin_failure(err, ONNXQ_ERR_IO, "read error");
    }
    onnxq_status st = onnxq_model_from_memory(buf, size, "standard input", NULL, m, err);
    free(buf);
    return st;
}

int cli_save_model(onnxq_model *m, const char *path, const onnxq_save_options *save,
                   uint64_t *written)
{
    onnxq_error err;
    *written = 0;
    if (strcmp(path, "-"))
        return onnxq_model_save(m, path, save, &err) == ONNXQ_OK ? 0 : cli_fail(&err);
    void *bytes;
    size_t size;
    if (onnxq_model_serialize(m, &bytes, &size, &err) != ONNXQ_OK)
        return cli_fail(&err);
    int rc = 0;
    if (fwrite(bytes, 1, size, stdout) != size || fflush(stdout) != 0) {
        fprintf(stderr, "onnxq: standard output: write error: %s\n", strerror(errno));
        rc = (int)ONNXQ_ERR_IO;
    }
    *written = size;
    free(bytes);
    return rc;
}

int cli_check_output(const char *path, int force, const char *const *inputs, size_t n_inputs)
{
    struct stat st, in;
    if (!strcmp(path, "-")) {
        if (isatty(STDOUT_FILENO)) {
            fprintf(stderr, "onnxq: will not write a model to a terminal; redirect it or give "
                            "-o FILE\n");
            return CLI_EXIT_USAGE;
        }
        return 0;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "onnxq: %s: is a folder; give a file name\n", path);
            return (int)ONNXQ_ERR_IO;
        }
        for (size_t i = 0; i < n_inputs; i++)
            if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == st.st_dev &&
                in.st_ino == st.st_ino) {
                fprintf(stderr, "onnxq: %s: is an input; choose another output\n", path);
                return (int)ONNXQ_ERR_EXISTS;
            }
        if (!force) {
            fprintf(stderr, "onnxq: %s: already exists (use -f to replace it)\n", path);
            return (int)ONNXQ_ERR_EXISTS;
        }
    }
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "onnxq: %s: cannot create: folder %s does not exist\n", path, dir);
        return (int)ONNXQ_ERR_IO;
    }
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "onnxq: %s: cannot create: folder %s is not writable\n", path, dir);
        return (int)ONNXQ_ERR_IO;
    }
    return 0;
}

int cli_create(cli_output *o, const char *path, int force)
{
    memset(o, 0, sizeof *o);
    int rc = cli_check_output(path, force, NULL, 0);
    if (rc)
        return rc;
    size_t n = strlen(path) + 16;
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        fprintf(stderr, "onnxq: %s: out of memory\n", path);
        return (int)ONNXQ_ERR_NOMEM;
    }
    snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0 || !(o->fp = fdopen(fd, "w"))) {
        fprintf(stderr, "onnxq: %s: cannot create: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp);
        }
        return (int)ONNXQ_ERR_IO;
    }
    fchmod(fd, 0644);
    return 0;
}

int cli_commit(cli_output *o)
{
    int rc = 0;
    if (fflush(o->fp) != 0 || ferror(o->fp)) {
        fprintf(stderr, "onnxq: %s: write error: %s\n", o->path, strerror(errno));
        rc = (int)ONNXQ_ERR_IO;
    }
    if (fclose(o->fp) != 0 && !rc) {
        fprintf(stderr, "onnxq: %s: write error: %s\n", o->path, strerror(errno));
        rc = (int)ONNXQ_ERR_IO;
    }
    if (!rc && rename(o->tmp, o->path) != 0) {
        fprintf(stderr, "onnxq: %s: cannot rename into place: %s\n", o->path, strerror(errno));
        rc = (int)ONNXQ_ERR_IO;
    }
    if (rc)
        unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o); /* a later cli_abort does nothing */
    return rc;
}

void cli_abort(cli_output *o)
{
    if (o->fp)
        fclose(o->fp);
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
        printf("onnxq %s\n", onnxq_version());
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(name, commands[i].name))
            continue;
        /* --version means the same in every command. */
        for (int a = 2; a < argc && strcmp(argv[a], "--"); a++)
            if (!strcmp(argv[a], "--version")) {
                printf("onnxq %s\n", onnxq_version());
                return 0;
            }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "onnxq: unknown command '%s' (see 'onnxq --help')\n", name);
    return CLI_EXIT_USAGE;
}
