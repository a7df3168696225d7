/* Minimal PNG output (8-bit RGB, one IDAT, zlib) and a built-in 5x7 bitmap font, so the prediction
 * picture can be written with titles and no image library. */
#ifndef RN_FORMAT_PNG_H
#define RN_FORMAT_PNG_H

#include <stdint.h>

/* rgb: h rows of w pixels, 3 bytes each. Written atomically; on failure prints one
 * "rn50cl: error:" sentence naming path and returns RN_ERR_INPUT. */
int rn_png_write(const char *path, int w, int h, const uint8_t *rgb);

/* Draws s with its top-left corner at (x, y), each font pixel a scale x scale square, clipped to
 * the image. Letters, digits, space and common punctuation; lowercase is drawn as uppercase and
 * anything else as '?'. */
void rn_draw_text(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale, uint8_t r,
                  uint8_t g, uint8_t b);

/* Width in pixels that rn_draw_text uses for s (0 for ""). */
int rn_text_width(const char *s, int scale);

#define RN_FONT_HEIGHT 7

#endif
