/* Naive double-precision references (see ref_a.h): direct loops over the definitions, so they can
 * be read against PyTorch's documentation and checked against finite differences. */
#include "ref_a.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ref_conv_shape ref_conv_shape_pads(int N, int Cin, int H, int W, int Cout, int k, int stride,
                                   int pt, int pb, int pl, int pr)
{
    ref_conv_shape s = {N, Cin, H, W, Cout, k, stride, pt, pb, pl, pr, 0, 0};
    s.Ho = (H + pt + pb - k) / stride + 1;
    s.Wo = (W + pl + pr - k) / stride + 1;
    return s;
}

ref_conv_shape ref_conv_shape_make(int N, int Cin, int H, int W, int Cout, int k, int stride,
                                   int pad)
{
    return ref_conv_shape_pads(N, Cin, H, W, Cout, k, stride, pad, pad, pad, pad);
}

int ref_same_pads(int size, int k, int stride, int *before, int *after)
{
    int out = (int)ceil((double)size / stride);
    int total = (out - 1) * stride + k - size;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
    return out;
}

ref_conv_shape ref_conv_shape_same(int N, int Cin, int H, int W, int Cout, int k, int stride)
{
    int pt, pb, pl, pr;
    ref_same_pads(H, k, stride, &pt, &pb);
    ref_same_pads(W, k, stride, &pl, &pr);
    return ref_conv_shape_pads(N, Cin, H, W, Cout, k, stride, pt, pb, pl, pr);
}

static size_t xi(const ref_conv_shape *s, int c, int n, int y, int x)
{
    return (((size_t)c * s->N + n) * s->H + y) * s->W + x;
}
static size_t yi(const ref_conv_shape *s, int c, int n, int y, int x)
{
    return (((size_t)c * s->N + n) * s->Ho + y) * s->Wo + x;
}
static size_t wi(const ref_conv_shape *s, int co, int ci, int ky, int kx)
{
    return (((size_t)co * s->Cin + ci) * s->k + ky) * s->k + kx;
}

/* The taps of output (co, n, oy, ox) that read inside the input, in the order ci, ky, kx: tap t
 * multiplies w[wt[t]] by x[xt[t]]. Taps in the zero padding add nothing and are left out.
 * Returns how many there are (at most Cin·k·k). */
static int window(const ref_conv_shape *s, int co, int n, int oy, int ox, size_t *wt, size_t *xt)
{
    int t = 0;
    for (int ci = 0; ci < s->Cin; ci++)
        for (int ky = 0; ky < s->k; ky++) {
            int iy = oy * s->stride - s->pad_top + ky;
            if (iy < 0 || iy >= s->H) continue;
            for (int kx = 0; kx < s->k; kx++) {
                int ix = ox * s->stride - s->pad_left + kx;
                if (ix < 0 || ix >= s->W) continue;
                wt[t] = wi(s, co, ci, ky, kx);
                xt[t++] = xi(s, ci, n, iy, ix);
            }
        }
    return t;
}

void ref_conv2d_forward(double *y, const double *x, const double *w, const ref_conv_shape *s)
{
    size_t taps = (size_t)s->Cin * s->k * s->k;
    size_t *wt = malloc(taps * sizeof *wt), *xt = malloc(taps * sizeof *xt);
    for (int co = 0; co < s->Cout; co++)
        for (int n = 0; n < s->N; n++)
            for (int oy = 0; oy < s->Ho; oy++)
                for (int ox = 0; ox < s->Wo; ox++) {
                    int nt = window(s, co, n, oy, ox, wt, xt);
                    double acc = 0;
                    for (int t = 0; t < nt; t++) acc += w[wt[t]] * x[xt[t]];
                    y[yi(s, co, n, oy, ox)] = acc;
                }
    free(wt);
    free(xt);
}

void ref_conv2d_backward(double *dx, double *dw, const double *dy, const double *x, const double *w,
                         const ref_conv_shape *s)
{
    if (dx) memset(dx, 0, sizeof(double) * s->Cin * s->N * s->H * s->W);
    if (dw) memset(dw, 0, sizeof(double) * s->Cout * s->Cin * s->k * s->k);
    size_t taps = (size_t)s->Cin * s->k * s->k;
    size_t *wt = malloc(taps * sizeof *wt), *xt = malloc(taps * sizeof *xt);
    /* scatter form of the chain rule: each tap of the forward sum sends dy·x to its weight and
     * dy·w to its input */
    for (int co = 0; co < s->Cout; co++)
        for (int n = 0; n < s->N; n++)
            for (int oy = 0; oy < s->Ho; oy++)
                for (int ox = 0; ox < s->Wo; ox++) {
                    double g = dy[yi(s, co, n, oy, ox)];
                    int nt = window(s, co, n, oy, ox, wt, xt);
                    for (int t = 0; t < nt; t++) {
                        if (dw) dw[wt[t]] += g * x[xt[t]];
                        if (dx) dx[xt[t]] += g * w[wt[t]];
                    }
                }
    free(wt);
    free(xt);
}

void ref_fc_forward(double *y, const double *x, const double *w, const double *b, int N, int C,
                    int O)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double acc = b[o];
            for (int c = 0; c < C; c++) acc += x[(size_t)c * N + n] * w[(size_t)o * C + c];
            y[(size_t)n * O + o] = acc;
        }
}

void ref_fc_backward(double *dx, double *dw, double *db, const double *dy, const double *x,
                     const double *w, int N, int C, int O)
{
    for (int c = 0; c < C && dx; c++)
        for (int n = 0; n < N; n++) {
            double acc = 0;
            for (int o = 0; o < O; o++) acc += w[(size_t)o * C + c] * dy[(size_t)n * O + o];
            dx[(size_t)c * N + n] = acc;
        }
    for (int o = 0; o < O; o++) {
        for (int c = 0; c < C; c++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += dy[(size_t)n * O + o] * x[(size_t)c * N + n];
            dw[(size_t)o * C + c] = acc;
        }
        double acc = 0;
        for (int n = 0; n < N; n++) acc += dy[(size_t)n * O + o];
        db[o] = acc;
    }
}

double ref_softmax_ce(double *loss, int *correct, double *dlogits, const double *logits,
                      const int *labels, int N, int K, double eps)
{
    double mean = 0;
    for (int n = 0; n < N; n++) {
        const double *l = logits + (size_t)n * K;
        double m = l[0];
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (l[k] > m) m = l[k], arg = k;
        double s = 0;
        for (int k = 0; k < K; k++) s += exp(l[k] - m);
        double lse = m + log(s), li = 0;
        for (int k = 0; k < K; k++) {
            double t = (k == labels[n] ? 1.0 - eps : 0.0) + eps / K;
            li -= t * (l[k] - lse); /* −t_k · log p_k */
            if (dlogits) dlogits[(size_t)n * K + k] = (exp(l[k] - lse) - t) / N;
        }
        if (loss) loss[n] = li;
        if (correct) correct[n] = arg == labels[n];
        mean += li / N;
    }
    return mean;
}

void ref_sgd_step(double *w, double *v, const double *g, size_t n, double lr, double momentum,
                  double weight_decay, int nesterov)
{
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] + weight_decay * w[i];
        double vi = momentum * v[i] + gi;
        v[i] = vi;
        w[i] -= lr * (nesterov ? gi + momentum * vi : vi);
    }
}
