/* .npy writer: magic, version 1.0, a header that parses (descr '<f4', fortran_order False, shape)
 * padded to 64 bytes, exact little-endian float bytes; and, when numpy is installed, numpy.load
 * reads the same shape and values. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/npy.h"
#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "testutil.h"

static void check_file(const char *path, size_t rows, size_t cols, const float *data)
{
    size_t size = 0;
    uint8_t *f = rn_read_file(path, &size);
    TU_CHECK(f && size >= 10 && memcmp(f, "\x93NUMPY\x01\x00", 8) == 0, "magic and version 1.0");
    if (!f || size < 10) return;
    size_t hlen = f[8] | (size_t)f[9] << 8;
    TU_CHECK((10 + hlen) % 64 == 0 && 10 + hlen <= size, "header padded to a multiple of 64");
    char *hdr = strndup((const char *)f + 10, hlen);
    char shape[64];
    snprintf(shape, sizeof shape, "'shape': (%zu, %zu)", rows, cols);
    TU_CHECK(hdr[0] == '{' && strstr(hdr, "'descr': '<f4'") &&
                 strstr(hdr, "'fortran_order': False") && strstr(hdr, shape) &&
                 hdr[hlen - 1] == '\n',
             "header dict has descr, fortran_order, %s and ends in a newline: %s", shape, hdr);
    TU_CHECK(size == 10 + hlen + rows * cols * 4 &&
                 memcmp(f + 10 + hlen, data, rows * cols * 4) == 0,
             "data bytes follow the header exactly");
    free(hdr);
    free(f);
}

static void check_numpy(const char *path, size_t rows, size_t cols, const float *data)
{
    const char *py = getenv("RN50CL_PYTHON") ? getenv("RN50CL_PYTHON") : "python3";
    char probe[512];
    snprintf(probe, sizeof probe, "%s -c 'import numpy' 2>/dev/null", py);
    if (tu_run(probe, NULL) != 0) {
        printf("SKIP (not counted as a pass): numpy is not installed, so numpy.load of the file "
               "was not checked\n");
        return;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import numpy as n; a = n.load(\"%s\"); "
             "print(a.dtype, a.shape, repr(float(a[%zu, %zu])), a.flags.c_contiguous)'",
             py, path, rows - 1, cols - 1);
    char *out = NULL;
    int rc = tu_run(cmd, &out);
    char want[256];
    snprintf(want, sizeof want, "float32 (%zu, %zu) %s True\n", rows, cols, "0.25");
    TU_CHECK(rc == 0 && out && strcmp(out, want) == 0 && data[rows * cols - 1] == 0.25f,
             "numpy.load gives dtype, shape and the last value (got: %s)", out ? out : "");
    free(out);
}

int main(void)
{
    const char *dir = tu_tmpdir("npy");
    size_t rows = 3, cols = 70;
    float *x = malloc(rows * cols * sizeof(float));
    tu_seed(1);
    tu_fill_uniform(x, rows * cols, -5, 5);
    x[rows * cols - 1] = 0.25f;
    char path[1200];
    snprintf(path, sizeof path, "%s/m.npy", dir);
    TU_CHECK(rn_npy_write_f32(path, rows, cols, x) == RN_OK, "npy written");
    check_file(path, rows, cols, x);
    check_numpy(path, rows, cols, x);

    snprintf(path, sizeof path, "%s/big.npy", dir);
    TU_CHECK(rn_npy_write_f32(path, 123456789, 0, x) == RN_OK, "empty (123456789, 0) written");
    check_file(path, 123456789, 0, x);

    snprintf(path, sizeof path, "%s/no/such/dir/m.npy", dir);
    fflush(stderr);
    int saved = dup(2), fd = open("/dev/null", O_WRONLY);
    dup2(fd, 2);
    close(fd);
    int rc = rn_npy_write_f32(path, rows, cols, x);
    dup2(saved, 2);
    close(saved);
    TU_CHECK(rc == RN_ERR_INPUT, "unwritable path refused with RN_ERR_INPUT");
    free(x);
    return tu_finish("test_npy");
}
