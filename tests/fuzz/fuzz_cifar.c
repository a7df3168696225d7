/* libFuzzer harness: the CIFAR-10 binary reader (rn_cifar_load_files) on one arbitrary file.
 * Whatever it accepts must be whole records with labels below 10. */
#include <stdlib.h>

#include "data/cifar.h"
#include "fuzz_util.h"
#include "rn50cl/rn50cl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_file(".bin", data, size);
    rn_cifar d;
    if (rn_cifar_load_files(&d, &path, 1) == RN_OK) {
        if (d.n * RN_CIFAR_RECORD != size) abort();
        for (size_t i = 0; i < d.n; i++)
            if (d.labels[i] >= RN_CIFAR_CLASSES ||
                d.pixels[i * RN_CIFAR_IMAGE] != data[i * RN_CIFAR_RECORD + 1])
                abort();
        rn_cifar_free(&d);
    }
    return 0;
}
