/* Naive double-precision references (the spec) for batch-norm, ReLU, add+ReLU and pooling; see
 * ref_b.h. Written for clarity, not speed: every formula is the textbook one. */
#include "ref_b.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void channel_stats(const double *xc, int M, double *mean, double *var)
{
    double s = 0;
    for (int i = 0; i < M; i++) s += xc[i];
    double m = s / M, q = 0;
    for (int i = 0; i < M; i++) q += (xc[i] - m) * (xc[i] - m);
    *mean = m;
    *var = q / M;
}

void refb_bn_forward_train(double *y, double *save_mean, double *save_invstd, double *running_mean,
                           double *running_var, const double *x, const double *gamma,
                           const double *beta, int C, int M, double momentum, double eps, int relu)
{
    for (int c = 0; c < C; c++) {
        const double *xc = x + (size_t)c * M;
        double mean, var;
        channel_stats(xc, M, &mean, &var);
        double invstd = 1.0 / sqrt(var + eps);
        if (save_mean) save_mean[c] = mean;
        if (save_invstd) save_invstd[c] = invstd;
        double unbiased = M > 1 ? var * M / (M - 1) : var;
        if (running_mean) running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean;
        if (running_var) running_var[c] = (1 - momentum) * running_var[c] + momentum * unbiased;
        if (y)
            for (int i = 0; i < M; i++) {
                double v = (xc[i] - mean) * invstd * gamma[c] + beta[c];
                y[(size_t)c * M + i] = relu && v < 0 ? 0 : v;
            }
    }
}

void refb_bn_forward_eval(double *y, const double *x, const double *gamma, const double *beta,
                          const double *running_mean, const double *running_var, int C, int M,
                          double eps, int relu)
{
    for (int c = 0; c < C; c++)
        for (int i = 0; i < M; i++) {
            size_t j = (size_t)c * M + i;
            double v = (x[j] - running_mean[c]) / sqrt(running_var[c] + eps) * gamma[c] + beta[c];
            y[j] = relu && v < 0 ? 0 : v;
        }
}

void refb_bn_backward(double *dx, double *dgamma, double *dbeta, const double *dy, const double *x,
                      const double *y, const double *gamma, const double *beta, int C, int M,
                      double eps, int relu)
{
    double *g = malloc((size_t)M * sizeof *g), *xhat = malloc((size_t)M * sizeof *xhat);
    for (int c = 0; c < C; c++) {
        const double *xc = x + (size_t)c * M;
        double mean, var;
        channel_stats(xc, M, &mean, &var);
        double invstd = 1.0 / sqrt(var + eps);
        double sdy = 0, sdyx = 0;
        for (int i = 0; i < M; i++) {
            size_t j = (size_t)c * M + i;
            xhat[i] = (xc[i] - mean) * invstd;
            double out = y ? y[j] : xhat[i] * gamma[c] + beta[c];
            g[i] = (!relu || out > 0) ? dy[j] : 0;
            sdy += g[i];
            sdyx += g[i] * xhat[i];
        }
        dbeta[c] = sdy;
        dgamma[c] = sdyx;
        /* dx = invstd/M · (M·dxhat − Σdxhat − xhat·Σ(dxhat·xhat)), dxhat = g·γ */
        for (int i = 0; i < M; i++)
            dx[(size_t)c * M + i] =
                invstd / M * (M * g[i] * gamma[c] - sdy * gamma[c] - xhat[i] * sdyx * gamma[c]);
    }
    free(g);
    free(xhat);
}

void refb_relu_forward(double *y, const double *x, long n)
{
    for (long i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

void refb_relu_backward(double *dx, const double *dy, const double *y, long n)
{
    for (long i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
}

void refb_add_relu_forward(double *y, const double *a, const double *b, long n)
{
    for (long i = 0; i < n; i++) y[i] = a[i] + b[i] > 0 ? a[i] + b[i] : 0;
}

void refb_add_relu_backward(double *d, const double *dy, const double *y, long n)
{
    refb_relu_backward(d, dy, y, n);
}

void refb_maxpool_forward(double *y, int *argmax, const double *x, int C, int N, int H, int W,
                          int k, int stride, int pad)
{
    int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    for (int p = 0; p < C * N; p++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                double best = -INFINITY;
                int arg = -1;
                for (int kh = 0; kh < k; kh++)
                    for (int kw = 0; kw < k; kw++) {
                        int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue; /* padding */
                        double v = x[(size_t)p * H * W + ih * W + iw];
                        if (arg < 0 || v > best) {
                            best = v;
                            arg = ih * W + iw;
                        }
                    }
                size_t o = (size_t)p * Ho * Wo + oh * Wo + ow;
                y[o] = best;
                if (argmax) argmax[o] = arg;
            }
}

void refb_maxpool_backward(double *dx, const double *dy, const int *argmax, int C, int N, int H,
                           int W, int k, int stride, int pad)
{
    int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    memset(dx, 0, (size_t)C * N * H * W * sizeof *dx);
    for (int p = 0; p < C * N; p++)
        for (int o = 0; o < Ho * Wo; o++) {
            int a = argmax[(size_t)p * Ho * Wo + o];
            if (a >= 0) dx[(size_t)p * H * W + a] += dy[(size_t)p * Ho * Wo + o];
        }
}

void refb_avgpool_forward(double *y, const double *x, int C, int N, int HW)
{
    for (int p = 0; p < C * N; p++) {
        double s = 0;
        for (int i = 0; i < HW; i++) s += x[(size_t)p * HW + i];
        y[p] = s / HW;
    }
}

void refb_avgpool_backward(double *dx, const double *dy, int C, int N, int HW)
{
    for (int p = 0; p < C * N; p++)
        for (int i = 0; i < HW; i++) dx[(size_t)p * HW + i] = dy[p] / HW;
}
