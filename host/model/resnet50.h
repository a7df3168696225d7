/* torchvision's ResNet50 (v1.5: stride in the 3×3 conv, projection shortcut on the first block of
 * each stage) for 32×32 inputs, built in code: the parameter table with torchvision state_dict
 * names, weight and momentum slabs plus a buffer slab (running statistics), a gradient slab (one
 * layer's, or every parameter's on request), the activations kept for backward (conv outputs;
 * the batch-norm+ReLU outputs are recomputed), and the forward/backward passes over CNHW tensors,
 * the backward with the SGD step fused in. */
#ifndef RN_MODEL_RESNET50_H
#define RN_MODEL_RESNET50_H

#include <stddef.h>
#include <stdint.h>

#include "ops/conv.h"
#include "ops/pool.h"
#include "runtime/rt.h"

#define RN_IMG 32 /* CIFAR images are 3×32×32 */
#define RN_MAX_ENTRIES 330
#define RN_WORKSPACE_MB 64 /* default im2col workspace (train --workspace-mb, bench, tuner) */

enum rn_entry_kind {
    RN_PARAM,  /* trained: lives in the weight/gradient/momentum slabs */
    RN_BUFFER, /* running_mean / running_var: lives in the buffer slab */
    RN_COUNTER /* num_batches_tracked: an int64 kept on the host */
};

typedef struct rn_entry {
    char name[64]; /* torchvision state_dict key */
    enum rn_entry_kind kind;
    int ndim;
    int64_t shape[4];
    size_t numel;
    size_t off;     /* float offset inside its slab (aligned for sub-buffers) */
    cl_mem w, g, v; /* sub-buffers of the slabs (PARAM: all three; BUFFER: w only); g shares its
                     * place with other layers' gradients unless keep_gradients */
} rn_entry;

/* One convolution followed by batch-norm (and ReLU when relu != 0). */
typedef struct rn_cbr {
    int cin, cout, k, stride, pad, h, w, ho, wo, relu; /* pad: torchvision's (symmetric) */
    rn_padding padding; /* the rule the conv runs with (rn_model_set_padding) */
    int conv_w, bn_w, bn_b, bn_rm, bn_rv, bn_nbt; /* entry indices */
    /* conv output [cout][N][ho][wo] (batch-norm input), kept for backward. The batch-norm+ReLU
     * output is not kept: backward recomputes it from t and the saved statistics, into
     * rn_model.act (batchnorm_apply) where the next conv's weight gradient reads it, and per
     * value inside batchnorm_backward for the ReLU's mask. */
    cl_mem t;
    cl_mem smean, sinv; /* batch statistics saved for backward */
} rn_cbr;

typedef struct rn_block {
    rn_cbr c1, c2, c3, down;
    int has_down;
    int stage, index; /* layer<stage+1>.<index> in torchvision's names */
    cl_mem out;       /* add + ReLU output [4·width][N][ho][wo] (inference_only: shared) */
} rn_block;

/* Data-parallel training's view of backward (see rn_model_backward): `ready` gets each group of
 * gradients backward completes, as floats [off, off + n) of the gradient slab (groups arrive in
 * descending order); `finish`, after the last, must leave the gradients to step with there. */
typedef struct rn_grad_hook {
    void (*ready)(void *user, size_t off, size_t n);
    void (*finish)(void *user);
    void *user;
} rn_grad_hook;

typedef struct rn_model {
    int classes;
    int batch; /* allocated batch size (0 before rn_model_alloc) */
    size_t nentries;
    rn_entry e[RN_MAX_ENTRIES];
    size_t param_floats, buffer_floats; /* slab sizes, including alignment gaps */
    size_t nparams;                     /* trained values, without gaps */
    /* Set between rn_model_init and rn_model_alloc to keep every parameter's gradient after
     * rn_model_backward (a gradient slab as large as the weights, laid out like them). Otherwise
     * the fused SGD step consumes each layer's gradients at once, and the slab holds one layer's
     * (on a CPU; a GPU's, ctx->disjoint_grads, is as large as the weights all the same). */
    int keep_gradients;
    /* Set between rn_model_init and rn_model_alloc for a model that only runs inference (eval,
     * predict): no gradients, momentum, saved conv outputs, batch statistics or backward scratch,
     * and the blocks' outputs take turns in two buffers (a block reads only the one before it).
     * A training forward or a backward of such a model is a programming error (rn_fatal). */
    int inference_only;
    const rn_grad_hook *grad_hook; /* NULL, or set with keep_gradients (see rn_model_backward) */
    int64_t num_batches_tracked;
    rn_padding padding; /* of every conv and the max-pool: rn_model_set_padding */

    rn_cbr stem;
    int pool_h; /* 8: after the 3×3/2 max-pool of the 16×16 stem output */
    rn_block blocks[16];
    int nblocks;
    int fc_w, fc_b;

    rn_ctx *ctx;
    cl_mem wslab, gslab, vslab, bslab; /* gslab: see keep_gradients */
    cl_mem pool_out, pool_arg, feat, logits, dlogits, dfeat;
    cl_mem scratch[3]; /* gradient ping-pong buffers (forward: the stem's batch-norm output,
                        * the projection's) */
    cl_mem act[2];     /* a bottleneck's c1 and c2 batch-norm+ReLU outputs, forward and
                        * recomputed in backward, shared by all blocks */
    cl_mem bn_part;    /* batch-norm partial sums, sized for the largest layer */
    rn_workspace ws;
} rn_model;

/* Builds the topology and parameter table (no device work), with symmetric padding. */
void rn_model_init(rn_model *m, int classes);

/* Switches every conv and the max-pool to padding p (MindSpore-trained weights want RN_PAD_SAME:
 * a loader of MindSpore checkpoints calls this). At 32×32 input both rules give every layer the
 * same output size, so this may be called at any time, also after rn_model_alloc. */
void rn_model_set_padding(rn_model *m, rn_padding p);

/* Allocates slabs and activations for `batch` images on ctx. Returns 0, or RN_ERR_INPUT after one
 * sentence when the device cannot hold it (with the largest batch that would fit). */
int rn_model_alloc(rn_model *m, rn_ctx *ctx, int batch, size_t workspace_bytes);
void rn_model_free(rn_model *m);

/* The device memory rn_model_alloc takes for a batch, in bytes, by what it holds. CLBlast's GEMM
 * scratch (ctx->gemm_tmp, sized by the step's GEMM shapes) comes on top. */
typedef struct rn_model_mem {
    size_t weights;     /* parameters and batch-norm running statistics */
    size_t gradients;   /* parameter gradients: one layer's, or all (keep_gradients, GPUs) */
    size_t momentum;    /* SGD momentum */
    size_t activations; /* forward outputs and batch statistics kept for backward */
    size_t scratch;     /* activation gradients in backward */
    size_t workspace;   /* im2col columns */
} rn_model_mem;

rn_model_mem rn_model_mem_plan(const rn_model *m, int batch, size_t workspace_bytes);
size_t rn_model_mem_total(const rn_model_mem *p);

/* Device bytes needed for a batch: rn_model_mem_total of the plan. */
size_t rn_model_bytes(const rn_model *m, int batch, size_t workspace_bytes);

/* How the trainable parameters start. residual_gamma is every bottleneck's last BN γ (1:
 * torchvision's default; 0: its zero_init_residual=True, which at 32×32 input leaves the network
 * seeing only a 6×6 corner of each image, see README); fc_scale scales PyTorch's Linear default
 * for fc (0: a zero head). */
typedef struct rn_model_initcfg {
    double residual_gamma, fc_scale;
} rn_model_initcfg;

/* torchvision's initialisation from a seed, as shaped by ic: Kaiming normal (fan_out, ReLU) for
 * convs, BN γ=1 β=0, running stats 0/1, PyTorch's Linear default for fc; momentum zeroed.
 * ic = NULL is torchvision's default exactly. */
void rn_model_init_params(rn_model *m, uint64_t seed, const rn_model_initcfg *ic);

/* Re-initialises only the classifier head (PyTorch Linear default) from a seed. */
void rn_model_init_head(rn_model *m, uint64_t seed);

/* Forward pass of n ≤ batch images: input [3][n][32][32] → m->logits [n][classes].
 * train != 0 uses batch statistics and updates the running statistics. */
void rn_model_forward(rn_model *m, cl_mem input, int n, int train);

/* SGD's hyper-parameters for one step (the rule is ops/sgd.h's). */
typedef struct rn_model_sgd {
    float lr, momentum, weight_decay;
    int nesterov;
    int decay_1d; /* 0: no weight decay on BN γ/β and fc.bias (the 1-D tensors) */
} rn_model_sgd;

/* Backward pass from m->dlogits [n][classes] after a training forward of the same n images. With
 * sgd, each layer's parameters take their SGD step as soon as backward has finished with them:
 * the same values as one step per tensor afterwards (the update is elementwise), while
 * only one layer's gradients exist at a time. sgd may be NULL only with keep_gradients: every
 * gradient is then left in the gradient slab and no parameter changes. With m->grad_hook, each
 * layer's gradients go to the hook instead, and the SGD step (if sgd) of every tensor follows the
 * hook's finish. It overwrites the forward's block outputs as it goes: each backward needs a
 * training forward of its own. */
void rn_model_backward(rn_model *m, cl_mem input, int n, const rn_model_sgd *sgd);

/* The convolution of c at batch n, and the stem's 3×3/2 max-pool at batch n: the geometry the
 * passes run, shared with the op-case list (model/cases.h). */
rn_conv rn_cbr_conv(const rn_cbr *c, int n);
rn_pool rn_model_maxpool(const rn_model *m, int n);

/* Index of an entry by its torchvision name, or -1. */
int rn_model_find(const rn_model *m, const char *name);

/* Copies the weight and buffer slabs to/from host memory (each slab in its own array). */
void rn_model_download(rn_model *m, float *wslab, float *bslab);
void rn_model_upload(rn_model *m, const float *wslab, const float *bslab);

#endif
