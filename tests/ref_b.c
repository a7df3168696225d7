/* Naive double-precision references (the spec) for batch-norm, ReLU, add+ReLU and pooling; see
 * ref_b.h. Written for clarity, not speed: every formula is the textbook one. */
#include "ref_b.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_a.h"

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

static refb_pool pool_pads(int C, int N, int H, int W, int k, int stride, int pt, int pb, int pl,
                           int pr)
{
    refb_pool p = {C, N, H, W, k, stride, pt, pb, pl, pr, 0, 0};
    p.Ho = (H + pt + pb - k) / stride + 1;
    p.Wo = (W + pl + pr - k) / stride + 1;
    return p;
}

refb_pool refb_pool_make(int C, int N, int H, int W, int k, int stride, int pad)
{
    return pool_pads(C, N, H, W, k, stride, pad, pad, pad, pad);
}

refb_pool refb_pool_same(int C, int N, int H, int W, int k, int stride)
{
    int pt, pb, pl, pr;
    ref_same_pads(H, k, stride, &pt, &pb);
    ref_same_pads(W, k, stride, &pl, &pr);
    return pool_pads(C, N, H, W, k, stride, pt, pb, pl, pr);
}

void refb_maxpool_forward(double *y, int *argmax, const double *x, const refb_pool *p)
{
    const int H = p->H, W = p->W, Ho = p->Ho, Wo = p->Wo;
    for (int pl = 0; pl < p->C * p->N; pl++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                double best = -INFINITY;
                int arg = -1;
                for (int kh = 0; kh < p->k; kh++)
                    for (int kw = 0; kw < p->k; kw++) {
                        int ih = oh * p->stride - p->pad_top + kh;
                        int iw = ow * p->stride - p->pad_left + kw;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue; /* padding */
                        double v = x[(size_t)pl * H * W + ih * W + iw];
                        if (arg < 0 || v > best) {
                            best = v;
                            arg = ih * W + iw;
                        }
                    }
                size_t o = (size_t)pl * Ho * Wo + oh * Wo + ow;
                y[o] = best;
                if (argmax) argmax[o] = arg;
            }
}

void refb_maxpool_backward(double *dx, const double *dy, const int *argmax, const refb_pool *p)
{
    const size_t HW = (size_t)p->H * p->W, HoWo = (size_t)p->Ho * p->Wo;
    memset(dx, 0, (size_t)p->C * p->N * HW * sizeof *dx);
    for (size_t pl = 0; pl < (size_t)p->C * p->N; pl++)
        for (size_t o = 0; o < HoWo; o++) {
            int a = argmax[pl * HoWo + o];
            if (a >= 0) dx[pl * HW + a] += dy[pl * HoWo + o];
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
