/* The model's operation cases: one descriptor per operation a ResNet50 training step runs (conv,
 * batch-norm, max-pool, residual join, average pool, classifier, loss, optimizer) with its
 * torchvision name and shape, its GEMMs, FLOPs and memory traffic, and one way to run it on
 * buffers of its own. The tuner, cl_bench and the tests iterate this list instead of spelling
 * shapes out; the tests pair each case with its double-precision reference (tests/ref_*.c). */
#ifndef RN_MODEL_CASES_H
#define RN_MODEL_CASES_H

#include "model/resnet50.h"
#include "ops/conv.h"
#include "ops/pool.h"

enum rn_op {
    RN_OP_CONV,     /* conv2d without bias */
    RN_OP_BN,       /* batch-norm, training statistics, ReLU fused when relu != 0 */
    RN_OP_RELU,     /* stand-alone ReLU (not in the model: batch-norm fuses it; kept for bench) */
    RN_OP_ADD_RELU, /* residual join: max(a + b, 0) */
    RN_OP_MAXPOOL,
    RN_OP_AVGPOOL,
    RN_OP_FC,
    RN_OP_LOSS, /* softmax cross-entropy with its gradient */
    RN_OP_SGD   /* one optimizer step over the whole parameter slab */
};

/* One operation at one shape. Only the fields of its kind are meaningful. */
typedef struct rn_opcase {
    enum rn_op op;
    char name[48];  /* torchvision module name: "conv1", "layer2.0.downsample.1", "maxpool",
                       "layer1.0" (its residual join), "fc"; "loss", "sgd" */
    rn_conv conv;   /* CONV */
    int with_dx;    /* CONV: 0 for the stem, whose input is the image batch */
    int C;          /* BN, RELU, ADD_RELU: channels; AVGPOOL, FC: input features */
    size_t M;       /* BN, RELU, ADD_RELU: values per channel (N·H·W) */
    int relu;       /* BN */
    rn_pool pool;   /* MAXPOOL */
    int N, HW;      /* AVGPOOL: batch, H·W; FC, LOSS: batch */
    int classes;    /* FC, LOSS */
    size_t nparams; /* SGD: floats in the slab (alignment gaps included, as the step runs it) */
} rn_opcase;

/* Every operation of one training step of ResNet50 with `classes` outputs at `batch`, in forward
 * order (conv1, bn1, maxpool, each block's convs and batch-norms and its join, avgpool, fc, loss,
 * sgd). Returns how many; *out is malloc'd. */
int rn_model_cases(int batch, int classes, rn_opcase **out);

/* The case named `name` of kind op in a list, or NULL. */
const rn_opcase *rn_opcase_find(const rn_opcase *c, int n, enum rn_op op, const char *name);

/* A case's GEMMs (conv; none for the rest, the classifier included) through the conv's own
 * rn_conv_gemm_shapes, with an im2col workspace of ws_floats. Returns how many (cap written). */
int rn_opcase_gemms(const rn_opcase *c, size_t ws_floats, int backward, rn_gemm_shape *out,
                    int cap);

/* Multiply-add FLOPs of the case's products, the convs' GEMMs and the classifier's (forward, or
 * backward: input and weight gradients); element-wise work is not counted (it is well under 1 %
 * of a step). */
double rn_opcase_flops(const rn_opcase *c, int backward);

/* Bytes the case's own kernels read and write (every pass over every tensor; a conv counts only
 * its im2col / col2im traffic, or its dense form's weight and row passes, not its GEMM's), for
 * GB/s figures. */
double rn_opcase_bytes(const rn_opcase *c, int backward);

/* Buffers for running one case by itself: inputs uniform in [-1, 1) from a fixed seed, batch-norm
 * γ = 1, β = 0, labels i % classes; a backward run finds what its forward saved (max-pool
 * argmax, batch statistics), because rn_opcase_io_alloc runs the forward once. */
typedef struct rn_opcase_io {
    cl_mem x, x2, y, dy, dx;         /* input(s), output, gradients (ADD_RELU: x + x2) */
    cl_mem w, dw, b, db;             /* conv/fc weight and bias; BN γ, β; their gradients */
    cl_mem rmean, rvar, smean, sinv; /* BN running and saved statistics */
    cl_mem part;                     /* BN partial sums (batchnorm_part_floats) */
    cl_mem index;                    /* MAXPOOL argmax, LOSS labels */
    cl_mem loss, correct, v;         /* LOSS outputs; SGD momentum (w, v, dw = weights, v, g) */
    rn_workspace ws;
} rn_opcase_io;
/* RN_OK, or RN_ERR_INPUT after rn_buffer's sentence when the device refuses a buffer (nothing
 * is then left allocated). */
int rn_opcase_io_alloc(rn_ctx *ctx, const rn_opcase *c, rn_opcase_io *io);
void rn_opcase_io_free(rn_opcase_io *io);

/* Runs the case's forward (backward == 0) or backward through host/ops on io's buffers. */
void rn_opcase_run(rn_ctx *ctx, const rn_opcase *c, int backward, rn_opcase_io *io);

/* One GEMM shape of a step with where it comes from. */
typedef struct rn_gemm_use {
    rn_gemm_shape s;
    char layer[48];   /* first layer that issues it, torchvision naming */
    const char *form; /* "fwd", "dgrad" (input gradient) or "wgrad" (weight gradient) */
    int count;        /* how often one step issues it */
    /* Calls that may run as a product reading its B from a conv's input (rn_sgemm_rows): the
     * forward or the weight gradient of a conv that gathers its im2col columns so
     * (rn_conv_rows_width; runs_as is this use), or the input gradient of one that forms dx as
     * its forward's product on flipped weights, gathering dy (rn_conv_dx_as_forward; runs_as is
     * that forward's use). `gathered` of the count are such calls of conv gconv (N its chunk's
     * images; the first such conv, named glayer; calls of others count as explicit), and run so
     * wherever use runs_as's stored own choice gathers for gconv (rn_sgemm_rows_fits with its Cin
     * and width). runs_as -1 and gathered 0: none. */
    int runs_as, gathered;
    rn_conv gconv;
    char glayer[48];
} rn_gemm_use;

/* How many of uses[i]'s calls a step on ctx, with its stored choices, runs gathering from a conv's
 * input: its `gathered` where use runs_as's choice gathers for gconv, else 0. */
int rn_gemm_use_gathered(rn_ctx *ctx, const rn_gemm_use *uses, int i);

/* Whether a step on ctx never issues uses[i]'s own shape: every call of it runs as use runs_as's
 * gathering product (an input gradient formed as its conv's forward product). */
int rn_gemm_use_only_as_other(rn_ctx *ctx, const rn_gemm_use *uses, int i);

/* Every distinct rn_sgemm shape of one training step (train != 0) or inference pass of ResNet50
 * with `classes` outputs at this batch and an im2col workspace of ws_bytes, with counts, in the
 * order the layers first issue them (from rn_model_cases). Returns how many; *out is malloc'd. */
int rn_model_gemm_uses(int batch, int classes, int train, size_t ws_bytes, rn_gemm_use **out);

#endif
