/* fuzz_idx.c: the IDX readers.  An input is a 2-byte little-endian length
 * L, then L bytes of label file, then the image file. */
#include "config.h"
#include "tune/dataset.h"
#include "tempfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n_labels = (size_t)data[0] | (size_t)data[1] << 8;
    if (n_labels > size - 2)
        return 0;
    char labels[] = "/tmp/onnxq-fuzz-labels-XXXXXX", images[] = "/tmp/onnxq-fuzz-images-XXXXXX";
    if (write_temp(labels, data + 2, n_labels) == 0 &&
        write_temp(images, data + 2 + n_labels, size - 2 - n_labels) == 0) {
        onnxq_error err;
        onnxq_dataset *ds;
        if (onnxq_dataset_open_idx(images, labels, &ds, &err) == ONNXQ_OK) {
            uint8_t *px = malloc((size_t)ds->rows * (size_t)ds->cols + 1);
            for (size_t i = 0; px && i < ds->n; i++)
                dataset_load_pixels(ds, i, 0, 0, px, &err);
            free(px);
            onnxq_dataset_free(ds);
        }
    }
    unlink(labels);
    unlink(images);
    return 0;
}
