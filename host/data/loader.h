/* Background batch loader: a thread prepares batch k+1 while the caller trains on batch k.
 * Everything random is derived from (seed, epoch) for the order and (seed, epoch, step) for the
 * augmentation, so starting an epoch at start_step reproduces an uninterrupted epoch exactly. */
#ifndef RN_DATA_LOADER_H
#define RN_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "data/cifar.h"

typedef struct rn_loader rn_loader;

/* d must outlive the loader. Without shuffle, images come in file order. drop_last drops the final
 * partial batch (training); otherwise it is delivered short (evaluation). NULL after an error line
 * (batch 0, out of memory, no thread). */
rn_loader *rn_loader_create(const rn_cifar *d, size_t batch, int shuffle, int augment,
                            int drop_last, uint64_t seed, uint64_t epoch, size_t start_step);

/* Batches in the whole epoch (including those before start_step). */
size_t rn_loader_steps(const rn_loader *l);

/* Copies the next batch into dst ([3][n][32][32], CNHW for the n returned) and labels ([n]);
 * returns n, the images in this batch, or 0 when the epoch is done. dst holds batch*3072 floats. */
size_t rn_loader_next(rn_loader *l, float *dst, int32_t *labels);

/* Stops the thread (also mid-epoch) and frees everything. NULL is allowed. */
void rn_loader_destroy(rn_loader *l);

#endif
