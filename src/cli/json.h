/* json.h: a small streaming JSON writer for the command's --json output. */
#ifndef ONNXQ_CLI_JSON_H
#define ONNXQ_CLI_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct json_writer {
    FILE *out;
    int depth;
    int count[JSON_MAX_DEPTH]; /* members written so far at each level */
} json_writer;

void json_init(json_writer *w, FILE *out);
/* `key` names the member inside an object; NULL inside an array or at the top. */
void json_object_begin(json_writer *w, const char *key);
void json_object_end(json_writer *w);
void json_array_begin(json_writer *w, const char *key);
void json_array_end(json_writer *w);
void json_string(json_writer *w, const char *key, const char *value);
void json_int(json_writer *w, const char *key, int64_t value);
void json_uint(json_writer *w, const char *key, uint64_t value);
/* NaN and infinities, which JSON lacks, are written as null. */
void json_number(json_writer *w, const char *key, double value);
void json_bool(json_writer *w, const char *key, int value);
void json_null(json_writer *w, const char *key);
/* Ends the document with a newline. */
void json_finish(json_writer *w);

#endif
