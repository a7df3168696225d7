/* The model's operation cases: every convolution layer as ResNet50 runs it (torchvision name and
 * shape) and every GEMM one training step or inference pass issues, with where it comes from.
 * The tuner, cl_bench and the tests iterate these lists instead of spelling the shapes out. */
#ifndef RN_MODEL_CASES_H
#define RN_MODEL_CASES_H

#include "model/resnet50.h"
#include "ops/conv.h"

/* One convolution of the network at a batch size. */
typedef struct rn_conv_case {
    char name[48]; /* torchvision module name: "conv1", "layer2.0.downsample.0", ... */
    rn_conv conv;
    int with_dx; /* 0 for the stem, whose input is the image batch (no input gradient) */
} rn_conv_case;

/* The convolutions of m in forward order (53 for ResNet50) at `batch`. Returns how many (only cap
 * are written). */
int rn_model_conv_cases(const rn_model *m, int batch, rn_conv_case *out, int cap);

/* One GEMM shape of a step with where it comes from. */
typedef struct rn_gemm_use {
    rn_gemm_shape s;
    char layer[48];   /* first layer that issues it, torchvision naming */
    const char *form; /* "fwd", "dgrad" (input gradient) or "wgrad" (weight gradient) */
    int count;        /* how often one step issues it */
} rn_gemm_use;

/* Every distinct rn_sgemm shape of one training step (train != 0) or inference pass of ResNet50
 * with `classes` outputs at this batch and an im2col workspace of ws_bytes, with counts, in the
 * order the layers first issue them. Returns how many; *out is malloc'd. */
int rn_model_gemm_uses(int batch, int classes, int train, size_t ws_bytes, rn_gemm_use **out);

#endif
