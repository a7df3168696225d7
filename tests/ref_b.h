/* Naive double-precision references for batch-norm, ReLU, add+ReLU, max-pool and global average
 * pool. They are the specification the device kernels are tested against (PyTorch semantics);
 * inputs are double so that finite differences can check the backward passes. */
#ifndef RN_REF_B_H
#define RN_REF_B_H

/* Training batch-norm over x[C][M]. Writes y, save_mean, save_invstd = 1/sqrt(biased var + eps);
 * updates running_mean/running_var in place with momentum and the unbiased variance ·M/(M−1)
 * (the biased one when M == 1, where the unbiased one is undefined). Any output may be NULL. */
void refb_bn_forward_train(double *y, double *save_mean, double *save_invstd, double *running_mean,
                           double *running_var, const double *x, const double *gamma,
                           const double *beta, int C, int M, double momentum, double eps, int relu);
/* Inference batch-norm with the running statistics. */
void refb_bn_forward_eval(double *y, const double *x, const double *gamma, const double *beta,
                          const double *running_mean, const double *running_var, int C, int M,
                          double eps, int relu);
/* Backward of the training forward: dx, dgamma, dbeta from dy. Batch statistics are recomputed
 * from x. With relu, the mask is [y > 0] where y is the given forward output (as the device API
 * takes it); y == NULL means the reference forward's own output. */
void refb_bn_backward(double *dx, double *dgamma, double *dbeta, const double *dy, const double *x,
                      const double *y, const double *gamma, const double *beta, int C, int M,
                      double eps, int relu);

void refb_relu_forward(double *y, const double *x, long n);
void refb_relu_backward(double *dx, const double *dy, const double *y, long n);
void refb_add_relu_forward(double *y, const double *a, const double *b, long n);
/* d = dy·[y > 0], the gradient of both summands. */
void refb_add_relu_backward(double *d, const double *dy, const double *y, long n);

/* A max-pool's geometry: window k, stride, padding on each side (−inf in effect: never wins). */
typedef struct refb_pool {
    int C, N, H, W, k, stride;
    int pad_top, pad_bottom, pad_left, pad_right;
    int Ho, Wo; /* floor((H + pt + pb − k)/stride) + 1, likewise */
} refb_pool;

/* PyTorch's MaxPool2d: pad on every side. */
refb_pool refb_pool_make(int C, int N, int H, int W, int k, int stride, int pad);
/* MindSpore's MaxPool2d(pad_mode="same"): the padding of ref_same_pads (ref_a.h) per axis. */
refb_pool refb_pool_same(int C, int N, int H, int W, int k, int stride);

/* Max-pool over x[C][N][H][W] → y[C][N][Ho][Wo], padding never wins, first maximum in row-major
 * window order wins ties, argmax = index within the (c, n) plane. argmax may be NULL. */
void refb_maxpool_forward(double *y, int *argmax, const double *x, const refb_pool *p);
/* Scatter form (independent of the device's gather): dx[plane][argmax] += dy. */
void refb_maxpool_backward(double *dx, const double *dy, const int *argmax, const refb_pool *p);

void refb_avgpool_forward(double *y, const double *x, int C, int N, int HW);
void refb_avgpool_backward(double *dx, const double *dy, int C, int N, int HW);

#endif
