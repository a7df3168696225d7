/* Data-parallel training over MPI: one process (rank) per device, each with a full model replica,
 * training on its shard of every global batch and averaging gradients before each SGD step. Built
 * without MPI, or run without a launcher, every call here is the single-process case. */
#ifndef RN_TRAIN_DIST_H
#define RN_TRAIN_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "model/resnet50.h"
#include "train/train.h"

typedef struct rn_dist_grad rn_dist_grad;

typedef struct rn_dist {
    int rank, size;             /* in the world communicator; 0 and 1 without MPI */
    int local_rank, local_size; /* among the ranks on this node */
    int mpi;                    /* MPI_Init was called (finalise or abort at the end) */
    char device[32];            /* the selection this rank chose by default (see rn_dist_device) */
    rn_dist_grad *grad;         /* gradient exchange state, from rn_dist_attach */
} rn_dist;

/* "MPI (Open MPI v4.1.4)"-style description of the build's MPI, or NULL when built without. */
const char *rn_dist_build_info(void);

/* Starts MPI when this process was started by an MPI launcher (mpirun, srun), else fills in the
 * single-process case. Ranks other than 0 then print nothing on stdout (errors stay on stderr). */
void rn_dist_init(rn_dist *d);

/* Picks this rank's device into *o: a comma-separated selection ("0,1") gives each node-local
 * rank its own entry; no selection gives the node-local rank's GPU (round robin over the node's
 * GPUs) when there are several ranks and any GPU, else the usual default. RN_OK, or RN_ERR_INPUT
 * after one sentence (a list shorter than the node's ranks). */
int rn_dist_device(rn_dist *d, rn_ctx_options *o);

/* Rank 0 prints one line per rank: host and device. Collective. */
void rn_dist_announce(const rn_dist *d, const rn_ctx *ctx);

/* RN_OK when every rank gets at least two images of each global batch and one test image, else
 * RN_ERR_INPUT after one sentence. */
int rn_dist_check_sizes(const rn_dist *d, int batch, size_t test_images);

/* Images per rank for a global batch: ceil(batch / size), what each replica allocates. */
int rn_dist_local_batch(const rn_dist *d, int batch);

/* Keeps this rank's contiguous shard of a global batch of n images packed [3][n][32][32] in x,
 * labels in lab, moving it to the front ([3][k][32][32]); returns k. Shards are as even as
 * possible (the first n % size ranks get one more) and in rank order, so together they are the
 * global batch in order. Also sets the weight (k / n) the rank's gradients get in the average. */
size_t rn_dist_take_shard(rn_dist *d, float *x, int32_t *lab, size_t n);

/* Makes m's backward exchange gradients in buckets of at least bucket_bytes, each all-reduced
 * (non-blocking) while backward goes on, before the SGD step. m must have keep_gradients. */
void rn_dist_attach(rn_dist *d, rn_model *m, size_t bucket_bytes);

/* Sums v[0..n) over all ranks, in place. Collective. */
void rn_dist_sum(const rn_dist *d, double *v, int n);

/* Averages the batch-norm running statistics over the ranks (each rank's follow its own shards;
 * the average equals what averaging every step would give, as the update is linear). */
void rn_dist_average_buffers(const rn_dist *d, rn_model *m);

/* Checks that weights, momentum, running statistics and counters are bit-for-bit the same on every
 * rank. RN_OK, or RN_ERR_INTERNAL after one sentence (printed by rank 0) naming `when`. */
int rn_dist_check_replicas(const rn_dist *d, rn_model *m, const char *when);

/* This rank's shard of the first `count` images of d (0 = all) for evaluation. */
rn_cifar rn_dist_eval_shard(const rn_dist *d, const rn_cifar *full, size_t count);

/* Adds every rank's evaluation of its shard into one result (on every rank). */
void rn_dist_reduce_eval(const rn_dist *d, rn_eval_result *r);

/* Rank 0 prints the gradient exchange's bytes and time per step. */
void rn_dist_report(const rn_dist *d);

/* Ends MPI and returns rc. An error that only this rank may have met (any rc but RN_OK,
 * RN_ERR_DIVERGED and RN_ERR_INTERRUPTED, which every rank reaches together) aborts every rank,
 * so none waits for it in a collective; the job then ends with that status. */
int rn_dist_end(rn_dist *d, int rc);

#endif
