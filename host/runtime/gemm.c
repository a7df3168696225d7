/* Row-major SGEMM for the ops: each call goes to CLBlast, or to rn50cl's own tile kernels
 * (cl/gemm.cl) when the stored tuning chose them for that exact shape on this device. Both share
 * one scratch buffer, reserved before a step so that a step never allocates. */
#include <limits.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "runtime/rt.h"

int rn_gemm_shape_equal(const rn_gemm_shape *a, const rn_gemm_shape *b)
{
    return a->ta == b->ta && a->tb == b->tb && a->M == b->M && a->N == b->N && a->K == b->K &&
           a->lda == b->lda && a->ldb == b->ldb && a->ldc == b->ldc && a->beta == b->beta;
}

double rn_gemm_flops(const rn_gemm_shape *s)
{
    return 2.0 * (double)s->M * (double)s->N * (double)s->K;
}

/* ---- rn50cl's own kernels -------------------------------------------------------------------- */

static const size_t tile_rows[RN_TILE_KINDS] = {8, 8, 4, 8, 4, 6},
                    tile_cols[RN_TILE_KINDS] = {16, 32, 4, 32, 16, 16};

/* The tiles that hold each row's sums as two float8 (4×16, 6×16). */
static int float8_pairs(int tile)
{
    return tile == RN_TILE_P4X16 || tile == RN_TILE_P6X16;
}

/* Tiles over both operands copied into panels of their rows and columns, chunk by chunk. */
static int packs(int tile)
{
    return tile == RN_TILE_PACK || float8_pairs(tile);
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

int rn_gemm_own_valid(const rn_gemm_own *o)
{
    const rn_gemm_shape *s = &o->s;
    size_t lim = (size_t)INT_MAX; /* the kernels index with int */
    if (o->tile < 0 || o->tile >= RN_TILE_KINDS) return 0;
    if (!(s->M >= 1 && s->N >= 1 && s->K >= 1 && o->kc >= 1 && (o->m_fast == 0 || o->m_fast == 1) &&
          s->M < lim && s->N < lim && s->K < lim && s->lda * (s->ta ? s->K : s->M) < lim &&
          s->ldb * (s->tb ? s->N : s->K) < lim && s->ldc * s->M < lim &&
          s->lda >= (s->ta ? s->M : s->K) && s->ldb >= (s->tb ? s->K : s->N) && s->ldc >= s->N))
        return 0;
    /* packed panels are padded to whole tiles and take any transposition */
    if (packs(o->tile)) return rn_gemm_own_scratch_bytes(o) / sizeof(float) < lim;
    /* whole tiles only fit from M = 8, N = the tile width */
    if (o->tile == RN_TILE_DOT && !(!s->ta && s->tb)) return 0;
    return !(s->ta && s->tb) && s->M >= tile_rows[o->tile] && s->N >= tile_cols[o->tile];
}

/* An NT product reads B one K-chunk at a time through a transposed copy of kc×N floats; the
 * packed form copies a K-chunk of both operands, padded to whole tiles. */
size_t rn_gemm_own_scratch_bytes(const rn_gemm_own *o)
{
    size_t kc = o->kc < o->s.K ? o->kc : o->s.K;
    if (packs(o->tile))
        return kc * (round_up(o->s.M, tile_rows[o->tile]) + round_up(o->s.N, tile_cols[o->tile])) *
               sizeof(float);
    return o->s.tb && o->tile != RN_TILE_DOT ? kc * o->s.N * sizeof(float) : 0;
}

/* beta does not take part: it costs the same either way and the kernels take any value (a conv
 * whose input gradient accumulates issues its listed shape with beta 1). */
const rn_gemm_own *rn_gemm_own_lookup(const rn_gemm_own *own, int n, const rn_gemm_shape *s)
{
    for (int i = 0; i < n; i++) {
        rn_gemm_shape t = own[i].s;
        t.beta = s->beta;
        if (rn_gemm_shape_equal(&t, s)) return &own[i];
    }
    return NULL;
}

const rn_gemm_own *rn_gemm_own_find(const rn_ctx *ctx, const rn_gemm_shape *s)
{
    return rn_gemm_own_lookup(ctx->own, ctx->nown, s);
}

rn_gemm_own_swap rn_gemm_own_only(rn_ctx *ctx, const rn_gemm_own *o)
{
    rn_gemm_own_swap w = {ctx->own[0], ctx->nown};
    if (o) ctx->own[0] = *o;
    ctx->nown = o != NULL;
    return w;
}

void rn_gemm_own_restore(rn_ctx *ctx, rn_gemm_own_swap w)
{
    ctx->own[0] = w.own0;
    ctx->nown = w.nown;
}

/* The kernels take offsets as int: a call whose offset plus extent would not fit goes to CLBlast
 * (rn_gemm_own_valid checks the extents alone; offsets are the call's, not the shape's). */
static int own_offsets_fit(const rn_gemm_shape *s, size_t a_off, size_t b_off, size_t c_off)
{
    const size_t lim = (size_t)INT_MAX;
    return a_off < lim - s->lda * (s->ta ? s->K : s->M) &&
           b_off < lim - s->ldb * (s->tb ? s->N : s->K) && c_off < lim - s->ldc * s->M;
}

const size_t *rn_tile_local(const rn_ctx *ctx, cl_kernel k, const size_t *global, size_t *local)
{
    const size_t want = (size_t)ctx->tile_groups * ctx->info.compute_units;
    if (!want) return NULL;
    size_t kmax = 0;
    CL_CHECK(clGetKernelWorkGroupInfo(k, ctx->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                      &kmax, NULL));
    for (size_t d = 1; d <= global[0]; d++) {
        if (global[0] % d || d * global[1] < want || global[0] / d > kmax) continue;
        if (d * global[1] > 64 * want) return NULL; /* a larger d makes more */
        local[0] = global[0] / d;
        local[1] = 1;
        return local;
    }
    return NULL; /* fewer tiles than groups wanted */
}

/* Every launch of an own GEMM kernel (tiles, packs, transposes): a 2-D grid grouped as
 * rn_tile_local says. Not profiled one by one; the caller times the whole product. */
static void enqueue_grid(rn_ctx *ctx, cl_kernel k, const size_t *global)
{
    size_t local[2];
    CL_CHECK(clEnqueueNDRangeKernel(ctx->queue, k, 2, NULL, global,
                                    rn_tile_local(ctx, k, global, local), 0, NULL, NULL));
}

static void launch_tiles(rn_ctx *ctx, cl_kernel k, const rn_gemm_own *o)
{
    size_t mr = tile_rows[o->tile], nr = tile_cols[o->tile];
    size_t tm = (o->s.M + mr - 1) / mr, tn = (o->s.N + nr - 1) / nr;
    const size_t global[2] = {o->m_fast ? tm : tn, o->m_fast ? tn : tm};
    enqueue_grid(ctx, k, global);
}

static void transpose_chunk(rn_ctx *ctx, cl_mem out, cl_mem B, size_t b_off, size_t ldb, size_t N,
                            size_t kk)
{
    cl_kernel k = rn_kernel(ctx, "rn_transpose_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, out);
    rn_arg_mem(&a, B);
    rn_arg_int(&a, (int)b_off);
    rn_arg_int(&a, (int)ldb);
    rn_arg_int(&a, (int)N);
    rn_arg_int(&a, (int)kk);
    const size_t global[2] = {N, kk};
    enqueue_grid(ctx, k, global);
}

/* Rows r < rows of X, element (r, k) at X[off + r + k·ld] or, `along_k`, X[off + r·ld + k], into
 * panels of W rows at gemm_tmp[out_off], k-major and zero-padded (rn_gemm_pack_*_fwd). */
static void pack_chunk(rn_ctx *ctx, size_t out_off, cl_mem X, size_t off, size_t ld, int along_k,
                       size_t rows, size_t K, size_t W)
{
    cl_kernel k = rn_kernel(ctx, along_k ? "rn_gemm_pack_cols_fwd" : "rn_gemm_pack_rows_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, ctx->gemm_tmp);
    rn_arg_int(&a, (int)out_off);
    rn_arg_mem(&a, X);
    rn_arg_int(&a, (int)off);
    rn_arg_int(&a, (int)ld);
    rn_arg_int(&a, (int)rows);
    rn_arg_int(&a, (int)K);
    rn_arg_int(&a, (int)W);
    const size_t global[2] = {along_k ? (K + 15) / 16 : K, round_up(rows, W) / W};
    enqueue_grid(ctx, k, global);
}

/* One K-chunk's operands as the tile kernel reads them: in place, B's chunk transposed (NT with
 * outer-product tiles), or both packed. */
typedef struct operand {
    cl_mem m;
    size_t off, ld;
} operand;

static void chunk_operands(rn_ctx *ctx, const rn_gemm_own *o, cl_mem A, size_t a_off, cl_mem B,
                           size_t b_off, size_t k0, size_t kk, operand *a, operand *b)
{
    const rn_gemm_shape *s = &o->s;
    const size_t ao = a_off + (s->ta ? k0 * s->lda : k0), bo = b_off + (s->tb ? k0 : k0 * s->ldb);
    *a = (operand){A, ao, s->lda};
    *b = (operand){B, bo, s->ldb};
    if (packs(o->tile)) {
        const size_t mr = tile_rows[o->tile], nr = tile_cols[o->tile],
                     b_at = round_up(s->M, mr) * kk;
        pack_chunk(ctx, 0, A, ao, s->lda, !s->ta, s->M, kk, mr);
        pack_chunk(ctx, b_at, B, bo, s->ldb, s->tb, s->N, kk, nr);
        *a = (operand){ctx->gemm_tmp, 0, mr};
        *b = (operand){ctx->gemm_tmp, b_at, nr};
    } else if (s->tb && o->tile != RN_TILE_DOT) {
        transpose_chunk(ctx, ctx->gemm_tmp, B, bo, s->ldb, s->N, kk);
        *b = (operand){ctx->gemm_tmp, 0, s->N};
    } /* the dot tile reads Bᵀ's rows along k as stored */
}

/* K is walked in chunks of kc (cache blocking: each launch's panels of A and B stay in cache);
 * chunks after the first accumulate into C, always in the same order. */
static void own_sgemm(rn_ctx *ctx, const rn_gemm_own *o, float alpha, cl_mem A, size_t a_off,
                      cl_mem B, size_t b_off, float beta, cl_mem C, size_t c_off)
{
    const rn_gemm_shape *s = &o->s;
    static const char *const names[2][RN_TILE_KINDS] = {
        {"rn_gemm_nn_fwd", "rn_gemm_nn_wide_fwd", "rn_gemm_nt_fwd", "rn_gemm_packed_fwd",
         "rn_gemm_packed4_fwd", "rn_gemm_packed6_fwd"},
        {"rn_gemm_tn_fwd", "rn_gemm_tn_wide_fwd", "", "rn_gemm_packed_fwd", "rn_gemm_packed4_fwd",
         "rn_gemm_packed6_fwd"}};
    cl_kernel k = rn_kernel(ctx, names[s->ta][o->tile]);
    for (size_t k0 = 0; k0 < s->K; k0 += o->kc) {
        const size_t kk = s->K - k0 < o->kc ? s->K - k0 : o->kc;
        operand a, b;
        chunk_operands(ctx, o, A, a_off, B, b_off, k0, kk, &a, &b);
        rn_args r = rn_args_begin(k);
        rn_arg_mem(&r, C);
        rn_arg_int(&r, (int)c_off);
        rn_arg_int(&r, (int)s->ldc);
        rn_arg_mem(&r, a.m);
        rn_arg_int(&r, (int)a.off);
        rn_arg_int(&r, (int)a.ld);
        rn_arg_mem(&r, b.m);
        rn_arg_int(&r, (int)b.off);
        rn_arg_int(&r, (int)b.ld);
        rn_arg_int(&r, (int)s->M);
        rn_arg_int(&r, (int)s->N);
        rn_arg_int(&r, (int)kk);
        rn_arg_float(&r, alpha);
        rn_arg_float(&r, k0 ? 1.0f : beta);
        rn_arg_int(&r, o->m_fast);
        launch_tiles(ctx, k, o);
    }
}

/* ---- the shared scratch and the dispatch ------------------------------------------------------
 */

static size_t clblast_scratch_bytes(rn_ctx *ctx, const rn_gemm_shape *s, size_t a_off, size_t b_off,
                                    size_t c_off)
{
    size_t need = 0;
    CLBLAST_CHECK(CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, s->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
        s->tb ? CLBlastTransposeYes : CLBlastTransposeNo, s->M, s->N, s->K, a_off, s->lda, b_off,
        s->ldb, c_off, s->ldc, &ctx->queue, &need));
    return need;
}

/* CLBlast would allocate and free its padding/transpose scratch on every call; one buffer grown
 * to the largest need is reused instead, by both back-ends. */
static int scratch_grow(rn_ctx *ctx, size_t need, cl_int *err)
{
    *err = CL_SUCCESS;
    if (need <= ctx->gemm_tmp_bytes) return RN_OK;
    rn_release(&ctx->gemm_tmp);
    ctx->gemm_tmp_bytes = 0;
    if (!(ctx->gemm_tmp = rn_buffer_try(ctx, need, err))) return RN_ERR_INPUT;
    ctx->gemm_tmp_bytes = need;
    return RN_OK;
}

static size_t scratch_need(rn_ctx *ctx, const rn_gemm_shape *s, const rn_gemm_own *o, size_t a_off,
                           size_t b_off, size_t c_off)
{
    return o ? rn_gemm_own_scratch_bytes(o) : clblast_scratch_bytes(ctx, s, a_off, b_off, c_off);
}

int rn_gemm_reserve(rn_ctx *ctx, const rn_gemm_shape *s, cl_int *err)
{
    return scratch_grow(ctx, scratch_need(ctx, s, rn_gemm_own_find(ctx, s), 0, 0, 0), err);
}

int rn_gemm_own_reserve(rn_ctx *ctx, const rn_gemm_own *o, cl_int *err)
{
    return scratch_grow(ctx, rn_gemm_own_scratch_bytes(o), err);
}

void rn_sgemm_own(rn_ctx *ctx, const rn_gemm_own *o, float alpha, cl_mem A, size_t a_off, cl_mem B,
                  size_t b_off, cl_mem C, size_t c_off)
{
    cl_int err;
    if (scratch_grow(ctx, rn_gemm_own_scratch_bytes(o), &err))
        rn_fatal("cannot grow the GEMM scratch to %zu bytes (%s)", rn_gemm_own_scratch_bytes(o),
                 rn_cl_error_name(err));
    own_sgemm(ctx, o, alpha, A, a_off, B, b_off, o->s.beta, C, c_off);
}

/* A product's profile entry: the wall time from prof_begin to prof_end, the queue drained at both
 * ends (profiling on; 0 and nothing otherwise). */
static double prof_begin(rn_ctx *ctx)
{
    if (!ctx->profile) return 0;
    CL_CHECK(clFinish(ctx->queue));
    return rn_now();
}

static void prof_end(rn_ctx *ctx, const char *name, double t0)
{
    if (!ctx->profile) return;
    CL_CHECK(clFinish(ctx->queue));
    rn_profile_add(ctx, name, (rn_now() - t0) * 1e3);
}

/* A weight gradient (NT) gathers on the dot tile, whose sums rn_gemm_nt_row8_fwd and
 * rn_gemm_nt_row4_fwd form on tiles of 8 rows (M ≥ 8) with the columns of rows of 8 or of 4×4
 * images, rn_gemm_nt_s2row32_fwd on tiles of 4 rows (M ≥ 4) with the stem's, 16 pixels (two
 * rows, an image, an output row) at a time: K-chunks of whole 16s. 4×4 images only where
 * ctx->implicit_rows4: layer2's product took 1.4x less time than im2col + the product on Intel's
 * runtime, and about the same or more on PoCL (Zen 4), as the forward's float16 tiles. */
static int rows_nt_fits(const rn_ctx *ctx, const rn_gemm_own *o, const rn_gemm_shape *s, int Cin,
                        int width, size_t a_off, size_t c_off)
{
    const int stem = width == 32;
    return o->tile == RN_TILE_DOT && !s->ta && (width != 4 || ctx->implicit_rows4) &&
           s->M >= (stem ? 4u : 8u) && s->N == (size_t)Cin * (stem ? 49 : 9) && s->K % 16 == 0 &&
           (o->kc >= s->K || o->kc % 16 == 0) && own_offsets_fit(s, a_off, 0, c_off);
}

/* The stored choice rn_sgemm_rows runs s on, or NULL where it would not. */
static const rn_gemm_own *rows_choice(rn_ctx *ctx, const rn_gemm_shape *s, int Cin, int width,
                                      size_t a_off, size_t c_off)
{
    const rn_gemm_own *o = rn_gemm_own_find(ctx, s);
    if (o && s->tb) return rows_nt_fits(ctx, o, s, Cin, width, a_off, c_off) ? o : NULL;
    /* 4×4 images: the float16 tiles' gathers ran at 2x im2col + the product on PoCL (Zen 5) and
     * 0.4x on Intel's runtime (ctx->implicit_rows4); the float8-pair tiles' at about the product's
     * time on both runtimes (Zen 3), where im2col and col2im then go */
    if (o && width == 4 && !ctx->implicit_rows4 && !float8_pairs(o->tile)) return NULL;
    /* the stem's rows of 32: a row of taps costs the same loads and shuffles on any tile, which
     * the float8-pair tiles spread over 4 or 6 rows of multiply-adds, not 8; gathered on them its
     * product took 1.4-2.3x as long as on the 8×16 tile on PoCL (Zen 4), about what im2col + the
     * product take, and a choice stored before the stem gathered keeps its measured form */
    if (o && width == 32 && float8_pairs(o->tile)) return NULL;
    /* the chosen tile's width: 16, or 32 (the wide and the 8-row packed tile; the dot tile takes
     * no product with B as stored); at least 8 rows of W (the packed tiles take fewer when they
     * pack, but these kernels read W as stored) */
    if (!o || s->ta || s->beta != 0.0f || s->M < 8 || s->N % tile_cols[o->tile] ||
        s->K != (size_t)Cin * (width == 32 ? 49 : 9) || !own_offsets_fit(s, a_off, 0, c_off))
        return NULL;
    return o;
}

int rn_sgemm_rows_fits(rn_ctx *ctx, const rn_gemm_shape *s, int Cin, int width, size_t a_off,
                       size_t c_off)
{
    return rows_choice(ctx, s, Cin, width, a_off, c_off) != NULL;
}

int rn_sgemm_rows(rn_ctx *ctx, const rn_gemm_shape *s, cl_mem A, size_t a_off, cl_mem x, int Cin,
                  int Nimg, int H, int width, int n0, cl_mem C, size_t c_off)
{
    /* per row width (4, 8, the stem's 32) and tile kind: 8×16, 8×32 (the wide and the 8-row
     * packed tile), 4×16, 6×16 (none on rows of 32: rows_choice) */
    static const char *const names[3][4] = {
        {"rn_gemm_row4_fwd", "rn_gemm_row4_wide_fwd", "rn_gemm_row4_p4_fwd", "rn_gemm_row4_p6_fwd"},
        {"rn_gemm_row8_fwd", "rn_gemm_row8_wide_fwd", "rn_gemm_row8_p4_fwd", "rn_gemm_row8_p6_fwd"},
        {"rn_gemm_s2row32_fwd", "rn_gemm_s2row32_wide_fwd", NULL, NULL}};
    const rn_gemm_own *o = rows_choice(ctx, s, Cin, width, a_off, c_off);
    if (!o) return 0;
    const double t0 = prof_begin(ctx);
    const int form = o->tile == RN_TILE_P4X16   ? 2
                     : o->tile == RN_TILE_P6X16 ? 3
                                                : tile_cols[o->tile] == 32;
    /* the weight gradient (rows_nt_fits): tiles of 8 rows against the 3 taps of one (channel, tap
     * row), the stem's of 4 rows against 7 */
    static const char *const nt_names[3] = {"rn_gemm_nt_row4_fwd", "rn_gemm_nt_row8_fwd",
                                            "rn_gemm_nt_s2row32_fwd"};
    const int w = width == 32 ? 2 : width == 8;
    const char *name = s->tb ? nt_names[w] : names[w][form];
    const size_t mr = s->tb ? (width == 32 ? 4 : 8) : tile_rows[o->tile],
                 nr = s->tb ? (width == 32 ? 7 : 3) : tile_cols[o->tile];
    const size_t tm = (s->M + mr - 1) / mr, tn = (s->N + nr - 1) / nr;
    const size_t global[2] = {o->m_fast ? tm : tn, o->m_fast ? tn : tm};
    cl_kernel k = rn_kernel(ctx, name);
    rn_args r = rn_args_begin(k);
    rn_arg_mem(&r, C);
    rn_arg_int(&r, (int)c_off);
    rn_arg_int(&r, (int)s->ldc);
    rn_arg_mem(&r, A);
    rn_arg_int(&r, (int)a_off);
    rn_arg_int(&r, (int)s->lda);
    rn_arg_mem(&r, x);
    rn_arg_int(&r, Cin);
    rn_arg_int(&r, Nimg);
    rn_arg_int(&r, H);
    rn_arg_int(&r, n0);
    rn_arg_int(&r, (int)s->M);
    rn_arg_int(&r, (int)s->N);
    const cl_uint at_k0 = r.i;
    /* K-chunks as own_sgemm walks them, on the same tiles: the later ones add to C */
    for (size_t k0 = 0; k0 < s->K; k0 += o->kc) {
        r.i = at_k0;
        rn_arg_int(&r, (int)k0);
        rn_arg_int(&r, (int)(s->K - k0 < o->kc ? s->K - k0 : o->kc));
        rn_arg_float(&r, k0 ? 1.0f : s->beta);
        rn_arg_int(&r, o->m_fast);
        enqueue_grid(ctx, k, global);
    }
    prof_end(ctx, RN_PROF_GEMM_OWN, t0);
    return 1;
}

void rn_sgemm(rn_ctx *ctx, int ta, int tb, size_t M, size_t N, size_t K, float alpha, cl_mem A,
              size_t a_off, size_t lda, cl_mem B, size_t b_off, size_t ldb, float beta, cl_mem C,
              size_t c_off, size_t ldc)
{
    const rn_gemm_shape s = {ta, tb, M, N, K, lda, ldb, ldc, beta};
    const rn_gemm_own *o = rn_gemm_own_find(ctx, &s);
    if (o && !own_offsets_fit(&s, a_off, b_off, c_off)) o = NULL;
    const double t0 = prof_begin(ctx);
    size_t need = scratch_need(ctx, &s, o, a_off, b_off, c_off);
    cl_int err;
    if (scratch_grow(ctx, need, &err))
        rn_fatal("cannot grow the GEMM scratch to %zu bytes for %zux%zux%zu (%s); it is reserved "
                 "before a step (rn_gemm_reserve) so that this cannot happen",
                 need, M, N, K, rn_cl_error_name(err));
    if (o) {
        own_sgemm(ctx, o, alpha, A, a_off, B, b_off, beta, C, c_off);
    } else {
        cl_event ev = NULL;
        CLBLAST_CHECK(CLBlastSgemmWithTempBuffer(
            CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
            tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, alpha, A, a_off, lda, B, b_off,
            ldb, beta, C, c_off, ldc, &ctx->queue, &ev, ctx->gemm_tmp));
        if (ev) CL_CHECK(clReleaseEvent(ev));
    }
    prof_end(ctx, o ? RN_PROF_GEMM_OWN : RN_PROF_GEMM_CLBLAST, t0);
}
