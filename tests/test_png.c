/* PNG writer and bitmap font: the file decodes back (signature, IHDR, valid CRCs, zlib data with
 * filter-0 rows) to the exact pixels; glyphs are drawn where expected, clipped at the edges, and
 * every letter and digit has its own non-empty shape. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "format/png.h"
#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "testutil.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decodes our own PNG subset; returns the pixels (malloc'd) or NULL, recording checks. */
static uint8_t *decode(const uint8_t *f, size_t size, int w, int h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    TU_CHECK(size > 8 && memcmp(f, sig, 8) == 0, "PNG signature");
    uint8_t *idat = malloc(size);
    size_t idat_len = 0, pos = 8;
    int crcs_ok = 1, ihdr_ok = 0, saw_iend = 0;
    while (pos + 12 <= size && !saw_iend) {
        uint32_t len = be32(f + pos);
        if (pos + 12 + len > size) break;
        const uint8_t *type = f + pos + 4, *data = f + pos + 8;
        crcs_ok &= crc32(0L, type, len + 4) == be32(data + len);
        if (memcmp(type, "IHDR", 4) == 0)
            ihdr_ok = pos == 8 && len == 13 && be32(data) == (uint32_t)w &&
                      be32(data + 4) == (uint32_t)h && data[8] == 8 && data[9] == 2 &&
                      data[12] == 0;
        if (memcmp(type, "IDAT", 4) == 0) {
            memcpy(idat + idat_len, data, len);
            idat_len += len;
        }
        saw_iend = memcmp(type, "IEND", 4) == 0;
        pos += 12 + len;
    }
    TU_CHECK(ihdr_ok, "IHDR first: %dx%d, 8-bit RGB, no interlace", w, h);
    TU_CHECK(crcs_ok, "every chunk CRC is valid");
    TU_CHECK(saw_iend && pos == size, "IEND ends the file");
    uLongf raw_len = (uLongf)(w * 3 + 1) * h;
    uint8_t *raw = malloc(raw_len);
    int zrc = uncompress(raw, &raw_len, idat, idat_len);
    free(idat);
    TU_CHECK(zrc == Z_OK && raw_len == (uLongf)(w * 3 + 1) * h, "IDAT inflates to h rows");
    uint8_t *rgb = malloc((size_t)w * h * 3);
    int filters_ok = 1;
    for (int y = 0; y < h; y++) {
        filters_ok &= raw[(size_t)y * (w * 3 + 1)] == 0;
        memcpy(rgb + (size_t)y * w * 3, raw + (size_t)y * (w * 3 + 1) + 1, (size_t)w * 3);
    }
    TU_CHECK(filters_ok, "every row uses filter 0");
    free(raw);
    return rgb;
}

static void check_roundtrip(const char *dir)
{
    int w = 37, h = 13;
    uint8_t *img = malloc((size_t)w * h * 3);
    for (size_t k = 0; k < (size_t)w * h * 3; k++) img[k] = (uint8_t)tu_uniform(0, 255.99);
    char path[1200];
    snprintf(path, sizeof path, "%s/a.png", dir);
    TU_CHECK(rn_png_write(path, w, h, img) == RN_OK, "PNG written");
    size_t size = 0;
    uint8_t *file = rn_read_file(path, &size);
    uint8_t *back = file ? decode(file, size, w, h) : NULL;
    TU_CHECK(back && memcmp(back, img, (size_t)w * h * 3) == 0, "pixels round-trip exactly");
    free(back);
    free(file);
    free(img);

    char bad[1200];
    snprintf(bad, sizeof bad, "%s/no/such/dir/b.png", dir);
    fflush(stderr);
    int saved = dup(2), fd = open("/dev/null", O_WRONLY);
    dup2(fd, 2);
    close(fd);
    int rc = rn_png_write(bad, 4, 4,
                          (const uint8_t *)"0123456789abcdef0123456789abcdef0123456789abcdef");
    dup2(saved, 2);
    close(saved);
    TU_CHECK(rc == RN_ERR_INPUT, "unwritable path refused with RN_ERR_INPUT");
}

/* Renders one character alone into a 5x7 image; returns the 35 on/off cells as a bitmask. */
static uint64_t glyph_bits(char ch)
{
    uint8_t img[5 * 7 * 3] = {0};
    char s[2] = {ch, 0};
    rn_draw_text(img, 5, 7, 0, 0, s, 1, 255, 255, 255);
    uint64_t bits = 0;
    for (int k = 0; k < 35; k++)
        if (img[k * 3]) bits |= 1ull << k;
    return bits;
}

static void check_font(void)
{
    /* 'A' is .###. / #...# / #...# / ##### / #...# / #...# / #...# */
    uint64_t a = glyph_bits('A');
    TU_CHECK((a & 0x1f) == 0x0e && ((a >> 15) & 0x1f) == 0x1f && ((a >> 30) & 0x1f) == 0x11,
             "A has its apex row, crossbar and legs (bits %llx)", (unsigned long long)a);
    TU_CHECK(glyph_bits('a') == a, "lowercase draws as uppercase");
    TU_CHECK(glyph_bits(' ') == 0, "space draws nothing");
    TU_CHECK(glyph_bits('~') == glyph_bits('?') && glyph_bits('?') != 0, "unknown draws as '?'");

    const char *set = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-%()/";
    uint64_t bits[64];
    int ok = 1;
    for (size_t i = 0; set[i]; i++) {
        bits[i] = glyph_bits(set[i]);
        ok &= bits[i] != 0;
        for (size_t j = 0; j < i; j++) ok &= bits[j] != bits[i];
    }
    TU_CHECK(ok, "every letter, digit and common sign has its own non-empty glyph");

    /* Scale 2 at (3, 2): pixel (3,2) is off (A's corner), (5,2) is on (A's top bar). */
    int w = 20, h = 20;
    uint8_t img[20 * 20 * 3] = {0};
    rn_draw_text(img, w, h, 3, 2, "A", 2, 10, 20, 30);
    TU_CHECK(img[(2 * w + 3) * 3] == 0 && img[(2 * w + 5) * 3] == 10 &&
                 img[(2 * w + 5) * 3 + 2] == 30 && img[(3 * w + 6) * 3 + 1] == 20,
             "scaled glyph lands at (x, y) in the given colour");
    TU_CHECK(rn_text_width("AB", 2) == 22 && rn_text_width("", 3) == 0, "text width");

    /* Drawing partly outside must clip, not scribble outside the buffer. */
    uint8_t guard[(4 * 4 + 2) * 3];
    memset(guard, 0x5a, sizeof guard);
    rn_draw_text(guard + 3, 4, 4, -3, -2, "W8", 3, 1, 2, 3);
    TU_CHECK(guard[0] == 0x5a && guard[sizeof guard - 1] == 0x5a && guard[sizeof guard - 3] == 0x5a,
             "text clipped to the image");
}

int main(void)
{
    tu_seed(3);
    check_roundtrip(tu_tmpdir("png"));
    check_font();
    return tu_finish("test_png");
}
