/* PNG writer and bitmap font. The PNG is built in memory (signature, IHDR, IDAT, IEND, each chunk
 * with zlib's CRC-32) and written with one atomic call, so a reader never sees half an image. */
#include "format/png.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes length, type, data and CRC at p; returns the bytes written. */
static size_t put_chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t len)
{
    put_be32(p, len);
    memcpy(p + 4, type, 4);
    if (len) memcpy(p + 8, data, len);
    uLong crc = crc32(0L, p + 4, len + 4);
    put_be32(p + 8 + len, (uint32_t)crc);
    return (size_t)len + 12;
}

/* Rows prefixed with filter byte 0, deflated; NULL on failure. */
static uint8_t *deflate_rows(int w, int h, const uint8_t *rgb, uLongf *out_len)
{
    size_t stride = (size_t)w * 3 + 1;
    size_t raw_len = stride * (size_t)h;
    uint8_t *raw = malloc(raw_len);
    uLongf cap = compressBound((uLong)raw_len);
    uint8_t *z = raw ? malloc(cap) : NULL;
    if (!z) {
        free(raw);
        return NULL;
    }
    for (int y = 0; y < h; y++) {
        raw[(size_t)y * stride] = 0;
        memcpy(raw + (size_t)y * stride + 1, rgb + (size_t)y * w * 3, (size_t)w * 3);
    }
    int zrc = compress2(z, &cap, raw, (uLong)raw_len, 6);
    free(raw);
    if (zrc != Z_OK) {
        free(z);
        return NULL;
    }
    *out_len = cap;
    return z;
}

int rn_png_write(const char *path, int w, int h, const uint8_t *rgb)
{
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384) {
        fprintf(stderr, "rn50cl: error: cannot write %s: image size %dx%d is out of range.\n", path,
                w, h);
        return RN_ERR_INPUT;
    }
    uLongf zlen = 0;
    uint8_t *z = deflate_rows(w, h, rgb, &zlen);
    uint8_t *png = z ? malloc(8 + 25 + 12 + zlen + 12) : NULL;
    if (!png) {
        free(z);
        fprintf(stderr, "rn50cl: error: out of memory writing %s.\n", path);
        return RN_ERR_INPUT;
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0}; /* 8-bit RGB, no interlace */
    put_be32(ihdr, (uint32_t)w);
    put_be32(ihdr + 4, (uint32_t)h);
    size_t len = 8;
    memcpy(png, sig, 8);
    len += put_chunk(png + len, "IHDR", ihdr, 13);
    len += put_chunk(png + len, "IDAT", z, (uint32_t)zlen);
    len += put_chunk(png + len, "IEND", NULL, 0);
    free(z);
    int rc = rn_write_file_atomic(path, png, len);
    int e = errno;
    free(png);
    if (rc == 0) return RN_OK;
    fprintf(stderr,
            "rn50cl: error: cannot write %s (%s); check that its folder exists and is "
            "writable.\n",
            path, strerror(e));
    return RN_ERR_INPUT;
}

/* 5x7 glyphs for ASCII 32..95, one byte per row, bit 4 = leftmost column. */
static const uint8_t font[64][7] = {
    ['!' - 32] = {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},
    ['#' - 32] = {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A},
    ['%' - 32] = {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},
    ['\'' - 32] = {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},
    ['(' - 32] = {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},
    [')' - 32] = {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},
    ['*' - 32] = {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00},
    ['+' - 32] = {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},
    [',' - 32] = {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08},
    ['-' - 32] = {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00},
    ['.' - 32] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C},
    ['/' - 32] = {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},
    ['0' - 32] = {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E},
    ['1' - 32] = {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
    ['2' - 32] = {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F},
    ['3' - 32] = {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
    ['4' - 32] = {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02},
    ['5' - 32] = {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
    ['6' - 32] = {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E},
    ['7' - 32] = {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
    ['8' - 32] = {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E},
    ['9' - 32] = {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
    [':' - 32] = {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00},
    ['=' - 32] = {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00},
    ['?' - 32] = {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},
    ['A' - 32] = {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
    ['B' - 32] = {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},
    ['C' - 32] = {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E},
    ['D' - 32] = {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E},
    ['E' - 32] = {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F},
    ['F' - 32] = {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
    ['G' - 32] = {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F},
    ['H' - 32] = {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
    ['I' - 32] = {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},
    ['J' - 32] = {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},
    ['K' - 32] = {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},
    ['L' - 32] = {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
    ['M' - 32] = {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11},
    ['N' - 32] = {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
    ['O' - 32] = {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},
    ['P' - 32] = {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
    ['Q' - 32] = {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D},
    ['R' - 32] = {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},
    ['S' - 32] = {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},
    ['T' - 32] = {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
    ['U' - 32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},
    ['V' - 32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},
    ['W' - 32] = {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A},
    ['X' - 32] = {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},
    ['Y' - 32] = {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04},
    ['Z' - 32] = {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},
    ['[' - 32] = {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E},
    [']' - 32] = {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E},
    ['_' - 32] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F},
};

static const uint8_t *glyph(char ch)
{
    int c = (unsigned char)ch;
    if (c >= 'a' && c <= 'z') c -= 'a' - 'A';
    if (c == ' ') return font[0];
    if (c < 32 || c > 95) c = '?';
    /* A character without a drawing (all rows blank) would vanish silently; show '?' instead. */
    static const uint8_t blank[7];
    if (memcmp(font[c - 32], blank, 7) == 0) c = '?';
    return font[c - 32];
}

static void fill_square(uint8_t *rgb, int w, int h, int x0, int y0, int scale, const uint8_t *col)
{
    for (int y = y0; y < y0 + scale; y++) {
        if (y < 0 || y >= h) continue;
        for (int x = x0; x < x0 + scale; x++) {
            if (x < 0 || x >= w) continue;
            memcpy(rgb + ((size_t)y * w + x) * 3, col, 3);
        }
    }
}

void rn_draw_text(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale, uint8_t r,
                  uint8_t g, uint8_t b)
{
    const uint8_t col[3] = {r, g, b};
    for (; *s; s++, x += 6 * scale) {
        const uint8_t *rows = glyph(*s);
        for (int gy = 0; gy < RN_FONT_HEIGHT; gy++)
            for (int gx = 0; gx < 5; gx++)
                if (rows[gy] & (0x10 >> gx))
                    fill_square(rgb, w, h, x + gx * scale, y + gy * scale, scale, col);
    }
}

int rn_text_width(const char *s, int scale)
{
    size_t n = strlen(s);
    return n ? (int)n * 6 * scale - scale : 0;
}
