/* Naive double-precision references for conv, fc, softmax cross-entropy and SGD: the spec the
 * device ops are tested against. Layouts as the ops: activations CNHW, conv weights
 * [Cout][Cin][k][k], fc features [C][N], logits [N][K]. Written for clarity, not speed. */
#ifndef RN_REF_A_H
#define RN_REF_A_H

#include <stddef.h>

typedef struct ref_conv_shape {
    int N, Cin, H, W, Cout, k, stride;
    int pad_top, pad_bottom, pad_left, pad_right; /* zero rows / columns around the image */
    int Ho, Wo;
} ref_conv_shape;

/* Padding pt, pb above and below, pl, pr left and right: Ho = floor((H + pt + pb − k)/s) + 1,
 * Wo likewise. */
ref_conv_shape ref_conv_shape_pads(int N, int Cin, int H, int W, int Cout, int k, int stride,
                                   int pt, int pb, int pl, int pr);
/* PyTorch's symmetric padding p on every side. */
ref_conv_shape ref_conv_shape_make(int N, int Cin, int H, int W, int Cout, int k, int stride,
                                   int pad);
/* TensorFlow's / MindSpore's pad_mode='same': per axis out = ceil(size/s), total padding
 * max((out − 1)·s + k − size, 0), its floor half above (left), the rest below (right). */
ref_conv_shape ref_conv_shape_same(int N, int Cin, int H, int W, int Cout, int k, int stride);
/* The 'same' padding of one axis: *before and *after; returns out. */
int ref_same_pads(int size, int k, int stride, int *before, int *after);

/* y[Cout][N][Ho][Wo] = Σ_ci,ky,kx w[co][ci][ky][kx] · x[ci][n][oy·s−pt+ky][ox·s−pl+kx] (zero pad)
 */
void ref_conv2d_forward(double *y, const double *x, const double *w, const ref_conv_shape *s);
/* dx[Cin][N][H][W] and dw[Cout][Cin][k][k], both overwritten; either may be NULL. */
void ref_conv2d_backward(double *dx, double *dw, const double *dy, const double *x, const double *w,
                         const ref_conv_shape *s);

/* y[N][O] = Σ_c x[c][n]·w[o][c] + b[o] */
void ref_fc_forward(double *y, const double *x, const double *w, const double *b, int N, int C,
                    int O);
/* dx[C][N] (may be NULL), dw[O][C], db[O] from dy[N][O] */
void ref_fc_backward(double *dx, double *dw, double *db, const double *dy, const double *x,
                     const double *w, int N, int C, int O);

/* Per-sample loss[N] = −Σ_k t_k·log softmax(l)_k, t = (1−ε)·onehot + ε/K; correct[N] (argmax,
 * first maximum wins); dlogits[N][K] = ∂(mean loss)/∂logits (may be NULL). Returns the mean. */
double ref_softmax_ce(double *loss, int *correct, double *dlogits, const double *logits,
                      const int *labels, int N, int K, double eps);

/* PyTorch SGD (dampening 0): g' = g + wd·w; v = μ·v + g' (v untouched-equivalent when μ = 0);
 * w −= lr·v, Nesterov w −= lr·(g' + μ·v). */
void ref_sgd_step(double *w, double *v, const double *g, size_t n, double lr, double momentum,
                  double weight_decay, int nesterov);

#endif
