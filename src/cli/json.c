/* json.c: a small streaming JSON writer (two-space indentation). */
#include "config.h"
#include "json.h"

#include <math.h>
#include <stdlib.h>

void json_init(json_writer *w, FILE *out)
{
    w->out = out;
    w->depth = 0;
    w->count[0] = 0;
}

static void write_escaped(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* Separator, newline, indentation and key before a value. */
static void member(json_writer *w, const char *key)
{
    if (w->depth > 0) {
        fputs(w->count[w->depth] ? ",\n" : "\n", w->out);
        for (int i = 0; i < w->depth; i++)
            fputs("  ", w->out);
    }
    w->count[w->depth]++;
    if (key) {
        write_escaped(w->out, key);
        fputs(": ", w->out);
    }
}

static void open_level(json_writer *w, const char *key, char bracket)
{
    member(w, key);
    fputc(bracket, w->out);
    if (w->depth + 1 < JSON_MAX_DEPTH)
        w->depth++;
    w->count[w->depth] = 0;
}

static void close_level(json_writer *w, char bracket)
{
    int had_members = w->count[w->depth] > 0;
    if (w->depth > 0)
        w->depth--;
    if (had_members) {
        fputc('\n', w->out);
        for (int i = 0; i < w->depth; i++)
            fputs("  ", w->out);
    }
    fputc(bracket, w->out);
}

void json_object_begin(json_writer *w, const char *key) { open_level(w, key, '{'); }
void json_object_end(json_writer *w) { close_level(w, '}'); }
void json_array_begin(json_writer *w, const char *key) { open_level(w, key, '['); }
void json_array_end(json_writer *w) { close_level(w, ']'); }

void json_string(json_writer *w, const char *key, const char *value)
{
    member(w, key);
    write_escaped(w->out, value ? value : "");
}

void json_int(json_writer *w, const char *key, int64_t value)
{
    member(w, key);
    fprintf(w->out, "%lld", (long long)value);
}

void json_uint(json_writer *w, const char *key, uint64_t value)
{
    member(w, key);
    fprintf(w->out, "%llu", (unsigned long long)value);
}

void json_number(json_writer *w, const char *key, double value)
{
    member(w, key);
    if (isfinite(value)) {
        /* The shortest of 15 or 17 digits that reads back as the same double. */
        char buf[32];
        snprintf(buf, sizeof buf, "%.15g", value);
        if (strtod(buf, NULL) != value)
            snprintf(buf, sizeof buf, "%.17g", value);
        fputs(buf, w->out);
    } else
        fputs("null", w->out);
}

void json_bool(json_writer *w, const char *key, int value)
{
    member(w, key);
    fputs(value ? "true" : "false", w->out);
}

void json_null(json_writer *w, const char *key)
{
    member(w, key);
    fputs("null", w->out);
}

void json_finish(json_writer *w) { fputc('\n', w->out); }
