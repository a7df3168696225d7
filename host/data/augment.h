/* Turns CIFAR-10 records into a network input batch: optional random crop (zero-padded by 4) and
 * horizontal flip, then per-channel normalisation, written in the CNHW layout the model uses. */
#ifndef RN_DATA_AUGMENT_H
#define RN_DATA_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "data/cifar.h"
#include "base/rng.h"

#define RN_AUG_PAD 4

/* Per-channel mean and std of the training set (RGB), as in the tutorial's Normalize. */
extern const double rn_cifar_mean[3];
extern const double rn_cifar_std[3];

/* out: [3][B][32][32] (CNHW, out[c*B*1024 + b*1024 + y*32 + x]); labels: [B].
 * Image b is d's image idx[b]. With augment, each image gets a crop offset (0..8 in y and x, in
 * that order) and a flip bit drawn from rng; without it rng is unused and may be NULL. */
void rn_prepare_batch(float *out, int32_t *labels, const rn_cifar *d, const uint32_t *idx, size_t B,
                      int augment, rn_rng *rng);

/* The normalised value of pixel byte v in channel c (what rn_prepare_batch writes). */
float rn_normalize_pixel(uint8_t v, int c);

/* Inverse of the normalisation, rounded and clamped to a byte (for drawing inputs). */
uint8_t rn_denormalize_pixel(float v, int c);

#endif
