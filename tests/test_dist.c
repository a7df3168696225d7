/* Data-parallel bookkeeping that needs no MPI run: every rank's shard of a global batch (as even
 * as possible, in rank order, together the whole batch in order), evaluation shards, the batch
 * size check, and each node-local rank's entry of a --device list. */
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "testutil.h"
#include "train/dist.h"

#define P RN_CIFAR_PLANE

static rn_dist ranks(int rank, int size)
{
    rn_dist d;
    memset(&d, 0, sizeof d);
    d.rank = d.local_rank = rank;
    d.size = d.local_size = size;
    return d;
}

/* Global batch of n: value c·1e6 + i·P + p in channel c, image i, pixel p; label 100 + i. */
static void fill(float *x, int32_t *lab, size_t n)
{
    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++)
            for (size_t p = 0; p < P; p++)
                x[(c * n + i) * P + p] = (float)(c * 1000000 + i * P + p);
    for (size_t i = 0; i < n; i++) lab[i] = (int32_t)(100 + i);
}

static void check_shards(size_t n, int size)
{
    float *x = malloc(3 * n * P * sizeof *x);
    int32_t *lab = malloc(n * sizeof *lab);
    size_t next = 0, least = n, most = 0;
    for (int r = 0; r < size; r++) {
        rn_dist d = ranks(r, size);
        fill(x, lab, n);
        size_t k = rn_dist_take_shard(&d, x, lab, n), bad = 0;
        for (size_t c = 0; c < 3; c++)
            for (size_t i = 0; i < k; i++)
                for (size_t p = 0; p < P; p += 97)
                    bad += x[(c * k + i) * P + p] != (float)(c * 1000000 + (next + i) * P + p);
        for (size_t i = 0; i < k; i++) bad += lab[i] != (int32_t)(100 + next + i);
        TU_CHECK(!bad, "n=%zu size=%d rank %d: shard holds images %zu.. of the batch in order", n,
                 size, r, next);
        next += k;
        if (k < least) least = k;
        if (k > most) most = k;
    }
    TU_CHECK(next == n, "n=%zu size=%d: the shards add up to the batch (%zu)", n, size, next);
    TU_CHECK(most - least <= 1, "n=%zu size=%d: shards differ by at most one image", n, size);
    free(x);
    free(lab);
}

static void check_eval_shards(void)
{
    uint8_t labels[10], pixels[10 * RN_CIFAR_IMAGE];
    rn_cifar full = {10, labels, pixels};
    size_t next = 0;
    for (int r = 0; r < 3; r++) {
        rn_dist d = ranks(r, 3);
        rn_cifar s = rn_dist_eval_shard(&d, &full, 7);
        TU_CHECK(s.labels == labels + next && s.pixels == pixels + next * RN_CIFAR_IMAGE,
                 "eval shard of rank %d starts at image %zu", r, next);
        next += s.n;
    }
    TU_CHECK(next == 7, "eval shards of 7 of 10 images add up to 7 (%zu)", next);
}

static void check_sizes(void)
{
    rn_dist d = ranks(0, 3);
    TU_CHECK(rn_dist_check_sizes(&d, 6, 3) == RN_OK, "batch 6 on 3 ranks: 2 images each");
    TU_CHECK(rn_dist_check_sizes(&d, 5, 3) == RN_ERR_INPUT, "batch 5 on 3 ranks is refused");
    TU_CHECK(rn_dist_check_sizes(&d, 6, 2) == RN_ERR_INPUT, "2 test images on 3 ranks refused");
    TU_CHECK(rn_dist_local_batch(&d, 128) == 43, "batch 128 on 3 ranks allocates 43");
}

static void check_device_list(void)
{
    for (int r = 0; r < 3; r++) {
        rn_dist d = ranks(r, 3);
        rn_ctx_options o = {.device = "0,gpu,Intel"};
        TU_CHECK(rn_dist_device(&d, &o) == RN_OK && o.device &&
                     !strcmp(o.device, (const char *[]){"0", "gpu", "Intel"}[r]),
                 "node-local rank %d takes entry %d of --device 0,gpu,Intel (got %s)", r, r,
                 o.device ? o.device : "NULL");
    }
    rn_dist d = ranks(2, 3);
    rn_ctx_options o = {.device = "0,1"};
    TU_CHECK(rn_dist_device(&d, &o) == RN_ERR_INPUT, "a list shorter than the node's ranks");
    o.device = "0,,1";
    d = ranks(1, 3);
    TU_CHECK(rn_dist_device(&d, &o) == RN_ERR_INPUT, "an empty list entry is refused");
}

int main(void)
{
    size_t ns[] = {2, 3, 7, 8, 9, 128};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int size = 1; size <= 4; size++)
            if (ns[i] >= (size_t)size) check_shards(ns[i], size);
    check_eval_shards();
    check_sizes();
    check_device_list();
    return tu_finish("test_dist");
}
