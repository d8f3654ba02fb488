/* fuzz_jpeg.c: JPEG decoding and the reference resize on arbitrary files. */
#include "config.h"
#include "tune/dataset.h"
#include "tempfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/onnxq-fuzz-jpeg-XXXXXX";
    if (write_temp(path, data, size) != 0) {
        unlink(path);
        return 0;
    }
    onnxq_error err;
    uint8_t *rgb;
    int w, h;
    if (jpeg_read_rgb(path, &rgb, &w, &h, &err) == ONNXQ_OK) {
        /* Small crops keep each run fast; the resize still sees every pixel. */
        if ((size_t)w * (size_t)h <= (size_t)4096 * 4096) {
            uint8_t out[32 * 32 * 3];
            resize_crop(rgb, w, h, 36, 32, out);
        }
        free(rgb);
    }
    unlink(path);
    return 0;
}
