// The fully connected head, forward and backward, as small kernels of its own: its products are
// at most a few MFLOP, and on Intel's CPU runtime CLBlast's first GEMM call built its kernel for
// about 3 s of every run. Each sum runs over its index in ascending order, 8 columns at a time
// where that is the contiguous direction, so results are the same on every run.

// Fixed-order sum of a float8's lanes.
static float rn_fc_hsum8(float8 v)
{
    const float4 a = v.lo + v.hi;
    const float2 b = a.lo + a.hi;
    return b.x + b.y;
}

// Σ_k s[k]·m[k·ld + j] for j = 0..7 (dot8) or j = 0 (dot1), k ascending: one row against 8
// contiguous columns, or one column, of a row-major matrix.
static float8 rn_fc_dot8(__global const float *s, __global const float *m, int ld, int K)
{
    float8 acc = 0.0f;
    for (int k = 0; k < K; k++) acc = fma((float8)(s[k]), vload8(0, m + (size_t)k * ld), acc);
    return acc;
}

static float rn_fc_dot1(__global const float *s, __global const float *m, int ld, int K)
{
    float acc = 0.0f;
    for (int k = 0; k < K; k++) acc = fma(s[k], m[(size_t)k * ld], acc);
    return acc;
}

// y[n][o] = b[o] + Σ_c x[c][n]·w[o][c] for x[C][N], w[O][C], y[N][O]. One work-item per
// (o, 8 images): the 8 images of a feature are contiguous in x.
__kernel void rn_fc_fwd(__global float *y, __global const float *x, __global const float *w,
                        __global const float *b, const int N, const int C, const int O)
{
    const int o = get_global_id(0) % O, n0 = get_global_id(0) / O * 8;
    if (n0 >= N) return;
    __global const float *wo = w + (size_t)o * C;
    if (n0 + 8 <= N) {
        const float8 acc = rn_fc_dot8(wo, x + n0, N, C) + b[o];
        for (int j = 0; j < 8; j++) y[(size_t)(n0 + j) * O + o] = acc[j];
        return;
    }
    for (int n = n0; n < N; n++) // the last, short group of images
        y[(size_t)n * O + o] = rn_fc_dot1(wo, x + n, N, C) + b[o];
}

// dx[c][n] = Σ_o w[o][c]·dy[n][o]. One work-item per (8 features, image): the 8 features of an
// output are contiguous in w.
__kernel void rn_fc_dx_bwd(__global float *dx, __global const float *dy, __global const float *w,
                           const int N, const int C, const int O)
{
    const int n = get_global_id(0) % N, c0 = get_global_id(0) / N * 8;
    if (c0 >= C) return;
    __global const float *dyn = dy + (size_t)n * O;
    if (c0 + 8 <= C) {
        const float8 acc = rn_fc_dot8(dyn, w + c0, C, O);
        for (int j = 0; j < 8; j++) dx[(size_t)(c0 + j) * N + n] = acc[j];
        return;
    }
    for (int c = c0; c < C; c++) // the last, short group of features
        dx[(size_t)c * N + n] = rn_fc_dot1(dyn, w + c, C, O);
}

// dw[o][c] = Σ_n dy[n][o]·x[c][n], 8 images at a time (lane j sums images ≡ j mod 8; the lanes
// are added in a fixed order, then the last N mod 8 images one by one). One work-item per
// (o, 8 features): the 8 values of dy's column o, 8 loads 4·O bytes apart, serve 8 features
// (one feature per work-item spent PoCL's time on those loads: 1.6-1.8 ms a step, 0.4-0.5 now;
// Intel's runtime 0.4 -> 0.2-0.3). The last group may have fewer than 8.
__kernel void rn_fc_dw_bwd(__global float *dw, __global const float *dy, __global const float *x,
                           const int N, const int C, const int O)
{
    const int groups = (C + 7) / 8;
    const int i = get_global_id(0);
    if (i >= O * groups) return;
    const int o = i / groups, c0 = i % groups * 8, nc = min(8, C - c0);
    float8 acc[8];
    for (int j = 0; j < 8; j++) acc[j] = 0.0f;
    int n = 0;
    for (; n + 8 <= N; n += 8) {
        const float8 d = (float8)(dy[(size_t)n * O + o], dy[(size_t)(n + 1) * O + o],
                                  dy[(size_t)(n + 2) * O + o], dy[(size_t)(n + 3) * O + o],
                                  dy[(size_t)(n + 4) * O + o], dy[(size_t)(n + 5) * O + o],
                                  dy[(size_t)(n + 6) * O + o], dy[(size_t)(n + 7) * O + o]);
        for (int j = 0; j < nc; j++)
            acc[j] = fma(d, vload8(0, x + (size_t)(c0 + j) * N + n), acc[j]);
    }
    for (int j = 0; j < nc; j++) {
        __global const float *xc = x + (size_t)(c0 + j) * N;
        float s = rn_fc_hsum8(acc[j]);
        for (int m = n; m < N; m++) s = fma(dy[(size_t)m * O + o], xc[m], s);
        dw[(size_t)o * C + c0 + j] = s;
    }
}

// db[o] = Σ_n dy[n][o] for dy[N][O]; one work-item per output, summed in a fixed order.
__kernel void rn_fc_db_bwd(__global float *db, __global const float *dy, const int N, const int O)
{
    const int o = get_global_id(0);
    if (o >= O) return;
    float s = 0.0f;
    for (int n = 0; n < N; n++) s += dy[(size_t)n * O + o];
    db[o] = s;
}
