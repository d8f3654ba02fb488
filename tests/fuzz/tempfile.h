/* tempfile.h: the targets whose readers take a path write their input here. */
#ifndef ONNXQ_FUZZ_TEMPFILE_H
#define ONNXQ_FUZZ_TEMPFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Create a file from the mkstemp template `path` holding data; 0 on
 * success.  The caller unlinks path either way. */
static int write_temp(char *path, const uint8_t *data, size_t size)
{
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

#endif
