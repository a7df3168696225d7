/* Max-pool (forward values and argmax, backward gather) and global average pool against the
 * double reference in ref_b.c; the reference backward against central finite differences.
 * Shapes: odd inputs (7×7, 5×5, 6×9) with k3 s2 p1, k2 s2 p0 and k3 s1 p1, batch 1 and 3, odd
 * channel counts, plus ResNet50-CIFAR's max-pool (64 ch, 16×16 → 8×8, batch 8) and average
 * pool (2048 ch at 1×1 and 2×2); the max-pool again with MindSpore's pad_mode="same" (padding
 * below and right only at stride 2 on even sizes, different per axis on 6×9). Ties and all-negative
 * inputs prove the tie rule and that padding never wins. Every output is poisoned (NaN, or −7777
 * for argmax). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/pool.h"
#include "ref_b.h"
#include "testutil.h"

#define ARG_POISON (-7777)

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* Distinct values: a shuffled permutation of 0..n−1, centred and divided by 64 (exact in float,
 * half of them negative, neighbours 1/64 apart, so no ties and FD steps never reorder). */
static void fill_distinct(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)tu_uniform(0, (double)i + 1);
        if (j > i) j = i;
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    for (size_t i = 0; i < n; i++) x[i] = (x[i] - (float)(n / 2)) / 64.0f;
}

/* Ties everywhere and nothing positive: values in {−1, −2, −3}. A kernel that pads with 0 or
 * takes the last maximum fails here. */
static void fill_ties_negative(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = -(float)(1 + (int)tu_uniform(0, 3));
}

static cl_mem int_poisoned(size_t n)
{
    int *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = ARG_POISON;
    cl_mem m = rn_buffer(tu_ctx(), n * sizeof(int));
    rn_write(tu_ctx(), m, 0, n * sizeof(int), p);
    free(p);
    return m;
}

/* Claim: the device max-pool p equals the reference r (the same pool, described independently):
 * geometry, values, argmax and the backward gather. */
static void check_pool_shape(const char *label, rn_pool p, refb_pool rp, int ties, uint64_t seed)
{
    const int C = rp.C, N = rp.N, H = rp.H, W = rp.W;
    TU_CHECK(p.Ho == rp.Ho && p.Wo == rp.Wo && p.pad_h == rp.pad_top && p.pad_w == rp.pad_left,
             "maxpool %s: output %dx%d, padding above/left %d/%d; expected %dx%d, %d/%d", label,
             p.Ho, p.Wo, p.pad_h, p.pad_w, rp.Ho, rp.Wo, rp.pad_top, rp.pad_left);
    const size_t nx = (size_t)C * N * H * W, ny = (size_t)C * N * p.Ho * p.Wo;
    printf("  maxpool %s: C=%d N=%d %dx%d k%d s%d pads %d/%d %d/%d -> %dx%d%s\n", label, C, N, H, W,
           rp.k, rp.stride, rp.pad_top, rp.pad_bottom, rp.pad_left, rp.pad_right, p.Ho, p.Wo,
           ties ? " (ties, all negative)" : "");
    tu_seed(seed);
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
    if (ties) fill_ties_negative(x, nx);
    else fill_distinct(x, nx);
    tu_fill_uniform(dy, ny, -1, 1);
    rn_ctx *ctx = tu_ctx();
    cl_mem dX = tu_upload(x, nx), dY = tu_poisoned(ny), dA = int_poisoned(ny);
    cl_mem dDY = tu_upload(dy, ny), dDX = tu_poisoned(nx);
    maxpool_forward(ctx, dY, dA, dX, &p);
    maxpool_backward(ctx, dDX, dDY, dA, &p);

    double *xd = to_double(x, nx), *dyd = to_double(dy, ny);
    double *yr = malloc(ny * sizeof *yr), *dxr = malloc(nx * sizeof *dxr);
    int *ar = malloc(ny * sizeof *ar), *ag = malloc(ny * sizeof *ag);
    refb_maxpool_forward(yr, ar, xd, &rp);
    refb_maxpool_backward(dxr, dyd, ar, &rp);
    float *got = tu_download_new(dY, ny);
    tu_compare(tu_name("maxpool %s fwd y (exact)", label), got, yr, ny, 0, 0);
    rn_read(ctx, dA, 0, ny * sizeof(int), ag);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < ny; i++)
        if (ag[i] != ar[i] && !bad++) first = i;
    TU_CHECK(bad == 0, "maxpool %s argmax: %zu of %zu differ, first [%zu] got %d want %d", label,
             bad, ny, first, ag[first], ar[first]);
    free(got);
    got = tu_download_new(dDX, nx);
    /* Each dx is a sum of at most ⌈k/s⌉² dy values: float rounding only. */
    tu_compare(tu_name("maxpool %s bwd dx", label), got, dxr, nx, 1e-6, 1e-6);
    size_t multi = 0; /* how many inputs won more than one window: the gather's real work */
    for (size_t pl = 0; pl < (size_t)C * N; pl++) {
        int *cnt = calloc((size_t)H * W, sizeof *cnt);
        for (int o = 0; o < p.Ho * p.Wo; o++) cnt[ar[pl * p.Ho * p.Wo + o]]++;
        for (int i = 0; i < H * W; i++) multi += cnt[i] > 1;
        free(cnt);
    }
    printf("    %zu inputs are the argmax of more than one window\n", multi);

    cl_mem bufs[] = {dX, dY, dA, dDY, dDX};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(x), free(dy), free(xd), free(dyd), free(yr), free(dxr), free(ar), free(ag), free(got);
}

/* check_pool_shape with PyTorch's symmetric padding */
static void check_maxpool(const char *label, int C, int N, int H, int W, int k, int s, int pad,
                          int ties, uint64_t seed)
{
    check_pool_shape(label, rn_pool_init(C, N, H, W, k, s, pad),
                     refb_pool_make(C, N, H, W, k, s, pad), ties, seed);
}

/* check_pool_shape with MindSpore's pad_mode="same" */
static void check_maxpool_same(const char *label, int C, int N, int H, int W, int k, int s,
                               int ties, uint64_t seed)
{
    check_pool_shape(label, rn_pool_init_same(C, N, H, W, k, s), refb_pool_same(C, N, H, W, k, s),
                     ties, seed);
}

static void check_avgpool(const char *label, int C, int N, int HW, uint64_t seed)
{
    const size_t nx = (size_t)C * N * HW, ny = (size_t)C * N;
    printf("  avgpool %s: C=%d N=%d HW=%d\n", label, C, N, HW);
    tu_seed(seed);
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
    tu_fill_uniform(x, nx, -3, 3);
    tu_fill_uniform(dy, ny, -1, 1);
    rn_ctx *ctx = tu_ctx();
    cl_mem dX = tu_upload(x, nx), dY = tu_poisoned(ny), dDY = tu_upload(dy, ny);
    cl_mem dDX = tu_poisoned(nx);
    avgpool_forward(ctx, dY, dX, C, N, HW);
    avgpool_backward(ctx, dDX, dDY, C, N, HW);
    double *xd = to_double(x, nx), *dyd = to_double(dy, ny);
    double *yr = malloc(ny * sizeof *yr), *dxr = malloc(nx * sizeof *dxr);
    refb_avgpool_forward(yr, xd, C, N, HW);
    refb_avgpool_backward(dxr, dyd, C, N, HW);
    float *got = tu_download_new(dY, ny);
    tu_compare(tu_name("avgpool %s fwd y", label), got, yr, ny, 1e-6, 1e-6);
    free(got);
    got = tu_download_new(dDX, nx);
    tu_compare(tu_name("avgpool %s bwd dx", label), got, dxr, nx, 1e-7, 1e-6);
    cl_mem bufs[] = {dX, dY, dDY, dDX};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(x), free(dy), free(xd), free(dyd), free(yr), free(dxr), free(got);
}

/* The inputs of a loss Σ r·y over a pool's reference forward; y is scratch. */
typedef struct {
    const double *x, *r;
    double *y;
    size_t ny;
    const refb_pool *p; /* max-pool */
    int C, N, HW;       /* average pool */
} pool_loss_in;

static double dot(const double *r, const double *y, size_t n)
{
    double s = 0;
    for (size_t j = 0; j < n; j++) s += r[j] * y[j];
    return s;
}

static double maxpool_loss(void *arg)
{
    const pool_loss_in *a = arg;
    refb_maxpool_forward(a->y, NULL, a->x, a->p);
    return dot(a->r, a->y, a->ny);
}

static double avgpool_loss(void *arg)
{
    const pool_loss_in *a = arg;
    refb_avgpool_forward(a->y, a->x, a->C, a->N, a->HW);
    return dot(a->r, a->y, a->ny);
}

/* Reference backward vs central differences of Σ r·y (distinct inputs: max is locally linear). */
static void check_fd_maxpool(refb_pool p, uint64_t seed)
{
    printf("  maxpool reference backward vs finite differences: C=%d N=%d %dx%d k%d s%d pads "
           "%d/%d %d/%d\n",
           p.C, p.N, p.H, p.W, p.k, p.stride, p.pad_top, p.pad_bottom, p.pad_left, p.pad_right);
    tu_seed(seed);
    const size_t nx = (size_t)p.C * p.N * p.H * p.W, ny = (size_t)p.C * p.N * p.Ho * p.Wo;
    float *xf = malloc(nx * sizeof *xf);
    fill_distinct(xf, nx);
    double *x = to_double(xf, nx), *r = malloc(ny * sizeof *r), *y = malloc(ny * sizeof *y);
    for (size_t i = 0; i < ny; i++) r[i] = tu_uniform(-1, 1);
    int *am = malloc(ny * sizeof *am);
    double *g = malloc(nx * sizeof *g), *fd = malloc(nx * sizeof *fd);
    refb_maxpool_forward(y, am, x, &p);
    refb_maxpool_backward(g, r, am, &p);
    const double h = 1e-4; /* well under the 1/64 spacing of the inputs */
    pool_loss_in in = {.x = x, .r = r, .y = y, .ny = ny, .p = &p};
    for (size_t i = 0; i < nx; i++) fd[i] = tu_central_diff(&x[i], h, maxpool_loss, &in);
    tu_compare_dd(tu_name("fd maxpool %dx%d k%d s%d pads %d/%d %d/%d dx", p.H, p.W, p.k, p.stride,
                          p.pad_top, p.pad_bottom, p.pad_left, p.pad_right),
                  g, fd, nx, 1e-9, 1e-8);
    free(xf), free(x), free(r), free(y), free(am), free(g), free(fd);
}

static void check_fd_avgpool(int C, int N, int HW, uint64_t seed)
{
    printf("  avgpool reference backward vs finite differences: C=%d N=%d HW=%d\n", C, N, HW);
    tu_seed(seed);
    const size_t nx = (size_t)C * N * HW, ny = (size_t)C * N;
    double *x = malloc(nx * sizeof *x), *r = malloc(ny * sizeof *r), *y = malloc(ny * sizeof *y);
    double *g = malloc(nx * sizeof *g), *fd = malloc(nx * sizeof *fd);
    for (size_t i = 0; i < nx; i++) x[i] = tu_uniform(-3, 3);
    for (size_t i = 0; i < ny; i++) r[i] = tu_uniform(-1, 1);
    refb_avgpool_backward(g, r, C, N, HW);
    const double h = 1e-6;
    pool_loss_in in = {.x = x, .r = r, .y = y, .ny = ny, .C = C, .N = N, .HW = HW};
    for (size_t i = 0; i < nx; i++) fd[i] = tu_central_diff(&x[i], h, avgpool_loss, &in);
    tu_compare_dd(tu_name("fd avgpool C=%d N=%d HW=%d dx", C, N, HW), g, fd, nx, 1e-8, 1e-6);
    free(x), free(r), free(y), free(g), free(fd);
}

int main(void)
{
    printf("max-pool:\n");
    check_maxpool("C3 N1 7x7", 3, 1, 7, 7, 3, 2, 1, 0, 1);
    check_maxpool("C7 N3 5x5", 7, 3, 5, 5, 3, 2, 1, 0, 2);
    check_maxpool("C13 N3 7x7 k2", 13, 3, 7, 7, 2, 2, 0, 0, 3);
    check_maxpool("C5 N3 6x9 k3s1", 5, 3, 6, 9, 3, 1, 1, 0, 4);
    check_maxpool("C3 N3 7x7 ties", 3, 3, 7, 7, 3, 2, 1, 1, 5);
    check_maxpool("C7 N1 5x5 k3s1 ties", 7, 1, 5, 5, 3, 1, 1, 1, 6);
    /* rows 16 and 32 wide at padding 1 take the vector kernels (one and two chunks per row) */
    check_maxpool("C3 N2 16x16 vector", 3, 2, 16, 16, 3, 2, 1, 0, 7);
    check_maxpool("C2 N3 9x32 vector", 2, 3, 9, 32, 3, 2, 1, 0, 8);
    check_maxpool("C3 N2 16x16 vector ties", 3, 2, 16, 16, 3, 2, 1, 1, 9);
    check_maxpool("C2 N3 10x32 vector ties", 2, 3, 10, 32, 3, 2, 1, 1, 10);
    if (!tu_small()) {
        rn_opcase *mp;
        TU_CHECK(tu_model_cases(RN_OP_MAXPOOL, 8, &mp) == 1, "the model has one max-pool");
        const rn_pool *p = &mp->pool;
        check_maxpool(mp->name, p->C, p->N, p->H, p->W, p->k, p->stride, p->pad_h, 0, 7);
        free(mp);
    }
    check_fd_maxpool(refb_pool_make(3, 1, 7, 7, 3, 2, 1), 11);
    check_fd_maxpool(refb_pool_make(2, 3, 5, 5, 2, 2, 0), 12);
    check_fd_maxpool(refb_pool_make(2, 1, 6, 5, 3, 1, 1), 13);

    /* MindSpore's pad_mode="same": more padding below and right than above and left at stride 2
     * (the stem's pool on 16×16 pads 0 above and 1 below), non-square with different pads per
     * axis, odd sizes where it is symmetric, k2, stride 1, ties; and the model's pool shape */
    printf("max-pool, pad_mode same:\n");
    check_maxpool_same("same C3 N1 8x8", 3, 1, 8, 8, 3, 2, 0, 41);
    check_maxpool_same("same C5 N3 6x9", 5, 3, 6, 9, 3, 2, 0, 42);
    check_maxpool_same("same C7 N3 7x7", 7, 3, 7, 7, 3, 2, 0, 43);
    check_maxpool_same("same C13 N3 7x7 k2", 13, 3, 7, 7, 2, 2, 0, 44);
    check_maxpool_same("same C5 N3 6x9 k3s1", 5, 3, 6, 9, 3, 1, 0, 45);
    check_maxpool_same("same C3 N3 8x8 ties", 3, 3, 8, 8, 3, 2, 1, 46);
    if (!tu_small()) {
        rn_opcase *mp;
        TU_CHECK(tu_model_cases(RN_OP_MAXPOOL, 8, &mp) == 1, "the model has one max-pool");
        const rn_pool *p = &mp->pool;
        rn_pool ps = rn_pool_init_same(p->C, p->N, p->H, p->W, p->k, p->stride);
        TU_CHECK(ps.Ho == p->Ho && ps.Wo == p->Wo && ps.pad_h == 0 && ps.pad_w == 0,
                 "'same' max-pool on %dx%d: output %dx%d as the symmetric one (%dx%d), no padding "
                 "above or left (%d, %d)",
                 p->H, p->W, ps.Ho, ps.Wo, p->Ho, p->Wo, ps.pad_h, ps.pad_w);
        check_maxpool_same("same maxpool (model)", p->C, p->N, p->H, p->W, p->k, p->stride, 0, 47);
        free(mp);
    }
    check_fd_maxpool(refb_pool_same(3, 1, 8, 8, 3, 2), 51);
    check_fd_maxpool(refb_pool_same(2, 2, 6, 9, 3, 2), 52);
    check_fd_maxpool(refb_pool_same(2, 3, 7, 7, 2, 2), 53);

    printf("global average pool:\n");
    check_avgpool("C7 N3 5x5", 7, 3, 25, 21);
    check_avgpool("C13 N1 7x7", 13, 1, 49, 22);
    if (!tu_small()) {
        rn_opcase *ap;
        TU_CHECK(tu_model_cases(RN_OP_AVGPOOL, 8, &ap) == 1, "the model has one average pool");
        check_avgpool(ap->name, ap->C, ap->N, ap->HW, 23);
        free(ap);
        check_avgpool("resnet 2048@2x2", 2048, 8, 4, 24);
    }
    check_fd_avgpool(3, 2, 25, 31);
    check_fd_avgpool(5, 3, 1, 32);
    return tu_finish("test_pool");
}
