/* 2-D convolution without bias on CNHW activations (PyTorch semantics; zero padding symmetric, or
 * MindSpore's 'same', see ops/padding.h):
 * im2col + one SGEMM per batch chunk forward; weight gradient by GEMM, input gradient by GEMM +
 * col2im (a gather, no float atomics, so results are deterministic). A conv whose every output
 * reads every input (3×3 pad 1 on 1×1 and 2×2 images) is one dense GEMM on whole images instead,
 * with no multiplications by padding. */
#ifndef RN_OPS_CONV_H
#define RN_OPS_CONV_H

#include "ops/padding.h"
#include "runtime/rt.h"

typedef struct rn_conv {
    int N, Cin, H, W; /* input  x: [Cin][N][H][W] */
    int Cout, kh, kw; /* weight w: [Cout][Cin][kh][kw] (PyTorch order) */
    int stride;       /* same in both directions */
    int pad_h, pad_w; /* zero rows above and columns left of the image; how many lie below and
                       * to the right follows from Ho and Wo (kernels read only in-image taps) */
    int Ho, Wo;       /* output y: [Cout][N][Ho][Wo], filled by rn_conv_init */
} rn_conv;

/* Fills a conv description with symmetric padding pad (PyTorch); Ho = (H + 2·pad − kh)/stride
 * + 1, likewise Wo. */
rn_conv rn_conv_init(int N, int Cin, int H, int W, int Cout, int k, int stride, int pad);
/* The same with MindSpore's pad_mode='same' (rn_same_padding along each axis): Ho = ceil(H/s). */
rn_conv rn_conv_init_same(int N, int Cin, int H, int W, int Cout, int k, int stride);

/* True when the input itself is the column matrix (1×1, stride 1, no padding): no im2col needed. */
int rn_conv_is_pointwise(const rn_conv *c);
/* The width of the image rows (8, or 4 for 4×4 images, of a 3×3/1 conv; 32 for the stem's 7×7/2
 * on 32×32) with which the conv's forward product can gather its im2col columns itself
 * (rn_sgemm_rows, where the product's stored own choice allows: rn_sgemm_rows_fits), or 0 where
 * the conv always runs im2col first. */
int rn_conv_rows_width(const rn_conv *c);
/* True when every output reads every input through some tap and some tap reads padding (3×3 pad 1
 * on a 1×1 or 2×2 image, or 'same' 3×3/2 on 2×2): the conv runs as one dense GEMM on whole images,
 * which multiplies only the taps inside the image, instead of im2col. */
int rn_conv_is_dense(const rn_conv *c);

/* The im2col workspace shared by all convolutions of a model. Its size is fixed at creation
 * (budget_bytes); a layer whose column buffer for the whole batch would not fit processes the
 * batch in chunks of images instead. A workspace smaller than what one image of the largest layer
 * needs is grown to that (rn_conv_workspace_floats(c, 1)). */
typedef struct rn_workspace {
    cl_mem buf;
    size_t floats;
} rn_workspace;
/* Floats a conv needs in the workspace to run `images` images per chunk: 0 for a pointwise conv,
 * Cin·kh·kw·Ho·Wo per image for im2col; the dense form needs its weight matrix and that matrix's
 * gradient once (2·Cout·Ho·Wo·Cin·H·W) plus Cin·H·W + Cout·Ho·Wo per image. */
size_t rn_conv_workspace_floats(const rn_conv *c, int images);
/* RN_OK, or RN_ERR_INPUT after rn_buffer's sentence. A growth inside a convolution that the
 * device refuses is fatal, so a caller that may be refused creates the workspace large enough. */
int rn_workspace_create(rn_ctx *ctx, rn_workspace *ws, size_t floats);
void rn_workspace_release(rn_workspace *ws);

/* y[Cout][N][Ho][Wo] = conv(x[Cin][N][H][W], w[Cout][Cin][kh][kw]) */
void conv2d_forward(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem w, const rn_conv *c, rn_workspace *ws);

/* dw[Cout][Cin][kh][kw] = ∂L/∂w (overwritten);
 * dx[Cin][N][H][W] = ∂L/∂x, overwritten when accumulate_dx == 0, added to when 1; dx may be
 * NULL (the first layer needs no input gradient). dy[Cout][N][Ho][Wo], x and w as forward. */
void conv2d_backward(rn_ctx *ctx, cl_mem dx, cl_mem dw, cl_mem dy, cl_mem x, cl_mem w,
                     const rn_conv *c, rn_workspace *ws, int accumulate_dx);

/* Appends to out[0..cap) the rn_sgemm shapes conv2d_forward (and, when backward != 0,
 * conv2d_backward with an input gradient when with_dx != 0) issues for this layer with a workspace
 * of ws_floats floats. Returns how many shapes that is (may exceed cap: only cap are written). */
int rn_conv_gemm_shapes(const rn_conv *c, size_t ws_floats, int backward, int with_dx,
                        rn_gemm_shape *out, int cap);

/* Whether conv2d_backward, on a device with a stored own choice that gathers (rn_sgemm_rows_fits)
 * for the forward product of each chunk of images, forms dx as products of those very shapes on
 * flipped weights that gather dy's columns, in place of the Wᵀ·dY products and col2im that
 * rn_conv_gemm_shapes lists (a listing has no device): a 3×3 stride-1 conv that gathers its
 * forward columns (rn_conv_rows_width) with Cin = Cout, the flipped weights fitting ws_floats.
 * ResNet50's layer1 and layer2 3×3 convs at 32×32 input; accumulating into dx never does. */
int rn_conv_dx_as_forward(const rn_conv *c, size_t ws_floats);

#endif
