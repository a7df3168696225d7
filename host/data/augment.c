/* Batch preparation as in the tutorial's training pipeline (torchvision RandomCrop(32, padding=4),
 * RandomHorizontalFlip, Normalize): padding is zero in pixel space, so padded pixels become
 * (0 - mean) / std after normalisation. */
#include "data/augment.h"

#include <math.h>

const double rn_cifar_mean[3] = {0.4914, 0.4822, 0.4465};
const double rn_cifar_std[3] = {0.2023, 0.1994, 0.2010};

float rn_normalize_pixel(uint8_t v, int c)
{
    /* Computed in double and rounded once, so the result does not depend on evaluation order. */
    return (float)(((double)v / 255.0 - rn_cifar_mean[c]) / rn_cifar_std[c]);
}

uint8_t rn_denormalize_pixel(float v, int c)
{
    double x = ((double)v * rn_cifar_std[c] + rn_cifar_mean[c]) * 255.0;
    if (!(x > 0.0)) return 0; /* also catches NaN */
    if (x >= 255.0) return 255;
    return (uint8_t)lround(x);
}

/* One channel plane of one image: crop at (oy, ox) in the padded image, optionally mirrored. */
static void write_plane(float *dst, const uint8_t *src, const float *lut, int oy, int ox, int flip)
{
    for (int y = 0; y < RN_CIFAR_SIDE; y++) {
        int sy = y + oy - RN_AUG_PAD;
        for (int x = 0; x < RN_CIFAR_SIDE; x++) {
            int sx = (flip ? RN_CIFAR_SIDE - 1 - x : x) + ox - RN_AUG_PAD;
            int inside = sy >= 0 && sy < RN_CIFAR_SIDE && sx >= 0 && sx < RN_CIFAR_SIDE;
            dst[y * RN_CIFAR_SIDE + x] = lut[inside ? src[sy * RN_CIFAR_SIDE + sx] : 0];
        }
    }
}

void rn_prepare_batch(float *out, int32_t *labels, const rn_cifar *d, const uint32_t *idx, size_t B,
                      int augment, rn_rng *rng)
{
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = rn_normalize_pixel((uint8_t)v, c);

    for (size_t b = 0; b < B; b++) {
        const uint8_t *img = d->pixels + (size_t)idx[b] * RN_CIFAR_IMAGE;
        int oy = RN_AUG_PAD, ox = RN_AUG_PAD, flip = 0;
        if (augment) {
            oy = (int)rn_rng_below(rng, 2 * RN_AUG_PAD + 1);
            ox = (int)rn_rng_below(rng, 2 * RN_AUG_PAD + 1);
            flip = (int)rn_rng_below(rng, 2);
        }
        labels[b] = d->labels[idx[b]];
        for (int c = 0; c < 3; c++)
            write_plane(out + ((size_t)c * B + b) * RN_CIFAR_PLANE, img + c * RN_CIFAR_PLANE,
                        lut[c], oy, ox, flip);
    }
}
