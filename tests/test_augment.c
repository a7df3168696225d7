/* Batch preparation: normalisation equals a double-precision reference exactly, the CNHW layout is
 * right, and every augmented image is exactly one of the 81 crops x 2 flips of its zero-padded
 * source (found by brute force), with the crops actually varying. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "base/rng.h"
#include "testutil.h"

#define N_IMG 9
#define B 64

static const double mean_ref[3] = {0.4914, 0.4822, 0.4465};
static const double std_ref[3] = {0.2023, 0.1994, 0.2010};

static float ref_norm(int v, int c)
{
    return (float)((v / 255.0 - mean_ref[c]) / std_ref[c]);
}

static void make_data(rn_cifar *d)
{
    d->n = N_IMG;
    d->labels = malloc(N_IMG);
    d->pixels = malloc((size_t)N_IMG * RN_CIFAR_IMAGE);
    for (int i = 0; i < N_IMG; i++) d->labels[i] = (uint8_t)((i * 3) % 10);
    /* Random bytes but never 0, so a padded (zero) pixel cannot pass for an image pixel. */
    for (size_t k = 0; k < (size_t)N_IMG * RN_CIFAR_IMAGE; k++)
        d->pixels[k] = (uint8_t)(1 + (int)tu_uniform(0, 254.999));
}

static void check_normalise(void)
{
    int exact = 1, roundtrip = 1;
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            exact &= rn_normalize_pixel((uint8_t)v, c) == ref_norm(v, c);
            roundtrip &= rn_denormalize_pixel(rn_normalize_pixel((uint8_t)v, c), c) == v;
        }
    TU_CHECK(exact, "normalised values equal (float)((v/255 - mean)/std) in double, bit for bit");
    TU_CHECK(roundtrip, "denormalize inverts normalize for every byte and channel");
    TU_CHECK(rn_denormalize_pixel(100.0f, 0) == 255 && rn_denormalize_pixel(-100.0f, 1) == 0 &&
                 rn_denormalize_pixel(NAN, 2) == 0,
             "denormalize clamps out-of-range values and NaN");
}

/* Pixel (c, y, x) of the source zero-padded by 4, cropped at (oy, ox) and optionally mirrored. */
static int aug_pixel(const uint8_t *img, int c, int y, int x, int oy, int ox, int flip)
{
    int sy = y + oy - 4, sx = (flip ? 31 - x : x) + ox - 4;
    if (sy < 0 || sy > 31 || sx < 0 || sx > 31) return 0;
    return img[c * 1024 + sy * 32 + sx];
}

static int matches(const float *out, size_t b, const uint8_t *img, int oy, int ox, int flip)
{
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                if (out[(size_t)c * B * 1024 + b * 1024 + (size_t)y * 32 + x] !=
                    ref_norm(aug_pixel(img, c, y, x, oy, ox, flip), c))
                    return 0;
    return 1;
}

static void check_plain(const rn_cifar *d, const uint32_t *idx)
{
    float *out = malloc(sizeof(float) * 3 * B * 1024);
    int32_t labels[B];
    for (size_t k = 0; k < (size_t)3 * B * 1024; k++) out[k] = NAN;
    rn_prepare_batch(out, labels, d, idx, B, 0, NULL);
    int ok = 1, lab = 1;
    for (size_t b = 0; b < B; b++) {
        const uint8_t *img = d->pixels + (size_t)idx[b] * RN_CIFAR_IMAGE;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++)
                ok &= out[(size_t)c * B * 1024 + b * 1024 + p] == ref_norm(img[c * 1024 + p], c);
        lab &= labels[b] == d->labels[idx[b]];
    }
    TU_CHECK(ok, "without augment: out[c*B*1024 + b*1024 + y*32 + x] is the normalised source");
    TU_CHECK(lab, "labels follow idx");
    free(out);
}

static void check_augmented(const rn_cifar *d, const uint32_t *idx)
{
    float *out = malloc(sizeof(float) * 3 * B * 1024);
    float *again = malloc(sizeof(float) * 3 * B * 1024);
    int32_t labels[B];
    rn_rng r;
    rn_rng_seed(&r, 42, 7);
    rn_prepare_batch(out, labels, d, idx, B, 1, &r);
    int all_found = 1, seen[9][9][2] = {{{0}}}, distinct = 0;
    for (size_t b = 0; b < B; b++) {
        const uint8_t *img = d->pixels + (size_t)idx[b] * RN_CIFAR_IMAGE;
        int found = 0;
        for (int oy = 0; oy < 9 && !found; oy++)
            for (int ox = 0; ox < 9 && !found; ox++)
                for (int flip = 0; flip < 2 && !found; flip++)
                    if (matches(out, b, img, oy, ox, flip)) {
                        found = 1;
                        distinct += !seen[oy][ox][flip]++;
                    }
        all_found &= found;
    }
    TU_CHECK(all_found, "every augmented image is one crop/flip of its zero-padded source");
    TU_CHECK(distinct >= 20, "64 images use many different crops/flips (got %d)", distinct);

    rn_rng_seed(&r, 42, 7);
    rn_prepare_batch(again, labels, d, idx, B, 1, &r);
    TU_CHECK(memcmp(out, again, sizeof(float) * 3 * B * 1024) == 0,
             "same rng stream gives the same batch");
    rn_rng_seed(&r, 42, 8);
    rn_prepare_batch(again, labels, d, idx, B, 1, &r);
    TU_CHECK(memcmp(out, again, sizeof(float) * 3 * B * 1024) != 0,
             "another rng stream gives another batch");
    free(out);
    free(again);
}

static void check_rng(void)
{
    rn_rng r;
    rn_rng_seed(&r, 1, 2);
    int counts[7] = {0};
    double sum = 0, sq = 0, umin = 1, umax = 0;
    for (int i = 0; i < 70000; i++) {
        counts[rn_rng_below(&r, 7)]++;
        float u = rn_rng_uniform(&r);
        umin = u < umin ? u : umin;
        umax = u > umax ? u : umax;
        double z = rn_rng_normal(&r);
        sum += z;
        sq += z * z;
    }
    int flat = 1;
    for (int k = 0; k < 7; k++) flat &= counts[k] > 9400 && counts[k] < 10600;
    TU_CHECK(flat, "rn_rng_below(7) is roughly uniform");
    TU_CHECK(umin >= 0 && umax < 1 && umax > 0.99, "uniform floats lie in [0, 1)");
    TU_CHECK(fabs(sum / 70000) < 0.03 && fabs(sq / 70000 - 1) < 0.03,
             "normal draws have mean ~0 and variance ~1");
    rn_rng a, b;
    rn_rng_seed(&a, 5, 1);
    rn_rng_seed(&b, 5, 2);
    TU_CHECK(rn_rng_u64(&a) != rn_rng_u64(&b), "different streams differ");
}

int main(void)
{
    tu_seed(11);
    rn_cifar d;
    make_data(&d);
    uint32_t idx[B];
    for (int b = 0; b < B; b++) idx[b] = (uint32_t)((b * 5 + 2) % N_IMG);
    check_normalise();
    check_plain(&d, idx);
    check_augmented(&d, idx);
    check_rng();
    rn_cifar_free(&d);
    return tu_finish("test_augment");
}
