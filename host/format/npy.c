/* .npy v1.0 writer: magic, version, 2-byte header length, a Python-dict header padded with spaces
 * and a newline so the data starts on a 64-byte boundary, then little-endian float32 data. */
#include "format/npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"

/* Fills hdr with the complete preamble (magic .. newline); returns its length, a multiple of 64. */
static size_t make_header(char *hdr, size_t cap, size_t rows, size_t cols)
{
    char dict[160];
    int dlen =
        snprintf(dict, sizeof dict,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows, cols);
    size_t total = (10 + (size_t)dlen + 1 + 63) / 64 * 64;
    if (total > cap) return 0;
    size_t hlen = total - 10;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    memcpy(hdr + 10, dict, (size_t)dlen);
    memset(hdr + 10 + dlen, ' ', total - 10 - (size_t)dlen - 1);
    hdr[total - 1] = '\n';
    return total;
}

/* Floats as little-endian bytes, whatever the host order. */
static int write_f32_le(FILE *f, const float *x, size_t n)
{
    uint8_t buf[4096];
    size_t fill = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int k = 0; k < 4; k++) buf[fill++] = (uint8_t)(u >> (8 * k));
        if (fill == sizeof buf || i + 1 == n) {
            if (fwrite(buf, 1, fill, f) != fill) return -1;
            fill = 0;
        }
    }
    return 0;
}

int rn_npy_write_f32(const char *path, size_t rows, size_t cols, const float *data)
{
    char hdr[256];
    size_t hlen = make_header(hdr, sizeof hdr, rows, cols);
    rn_atomic_file af;
    int ok = rn_atomic_open(&af, path) == 0;
    if (ok && (fwrite(hdr, 1, hlen, af.f) != hlen || write_f32_le(af.f, data, rows * cols) != 0)) {
        rn_atomic_abort(&af);
        ok = 0;
    }
    if (ok && rn_atomic_commit(&af) == 0) return RN_OK;
    fprintf(stderr,
            "rn50cl: error: cannot write %s (%s); check that its folder exists and is "
            "writable.\n",
            path, strerror(errno));
    return RN_ERR_INPUT;
}
