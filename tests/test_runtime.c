/* Proves the runtime end to end: device enumeration and selection rules, the first kernel
 * (fill) against C, and CLBlast SGEMM in every transpose form, with offsets and padded
 * leading dimensions, against a double-precision reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "testutil.h"

static void test_enumeration_and_selection(void)
{
    rn_device_info *devs;
    size_t n, idx = 99;
    TU_CHECK(rn_devices_enumerate(&devs, &n) == RN_OK && n >= 1, "enumeration finds a device");
    TU_CHECK(rn_device_select(devs, n, "0", NULL, &idx) == RN_OK && idx == 0, "select by index 0");
    const char *type = (devs[0].type & CL_DEVICE_TYPE_GPU)   ? "gpu"
                       : (devs[0].type & CL_DEVICE_TYPE_CPU) ? "CPU"
                                                             : "accel";
    idx = 99;
    TU_CHECK(rn_device_select(devs, n, type, NULL, &idx) == RN_OK &&
                 (devs[idx].type & devs[0].type),
             "select by type word %s", type);
    char part[8] = {0};
    memcpy(part, devs[0].name + 1, strlen(devs[0].name) > 5 ? 4 : 1);
    idx = 99;
    TU_CHECK(rn_device_select(devs, n, part, NULL, &idx) == RN_OK && idx < n &&
                 strstr(devs[idx].name, part) != NULL,
             "select by name substring '%s'", part);
    TU_CHECK(rn_device_select(devs, n, "12345", NULL, &idx) == RN_ERR_INPUT,
             "index out of range refused");
    TU_CHECK(rn_device_select(devs, n, "-1", NULL, &idx) == RN_ERR_INPUT, "negative index refused");
    TU_CHECK(rn_device_select(devs, n, "no-such-device-xyz", NULL, &idx) == RN_ERR_INPUT,
             "unknown name refused");
    free(devs);
}

static void test_fill(void)
{
    const size_t n = 1000; /* not a multiple of the work-group size */
    cl_mem y = tu_poisoned(n);
    rn_fill(tu_ctx(), y, n, 1.5f);
    float *got = tu_download_new(y, n);
    double *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++) ref[i] = 1.5;
    tu_compare("fill writes every element", got, ref, n, 0, 0);
    rn_release(&y);
    free(got);
    free(ref);
}

/* own: NULL = CLBlast; else the shape is handed to rn50cl's own kernels with own's order and
 * K-chunk, through rn_sgemm's dispatch. beta 0 runs on a NaN-poisoned C (BLAS never reads it).
 * Returns the C window (malloc'd) for bit comparisons between runs. */
static float *gemm_case_with(int ta, int tb, size_t M, size_t N, size_t K, float beta,
                             const rn_gemm_own *own)
{
    /* Stored shapes: A is M×K (or K×M when ta), B is K×N (or N×K when tb); padded ld and an
     * offset prove the back-end is called with the layout we think. */
    size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    size_t lda = ac + 3, ldb = bc + 1, ldc = N + 2, off = 5;
    size_t na = off + ar * lda, nb = off + br * ldb, nc = off + M * ldc;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    tu_fill_uniform(a, na, -1, 1);
    tu_fill_uniform(b, nb, -1, 1);
    tu_fill_uniform(c, nc, -1, 1);
    if (beta == 0.0f)
        for (size_t i = 0; i < nc; i++) c[i] = NAN;
    double *ref = malloc(M * N * sizeof *ref);
    float *got = malloc(nc * sizeof *got), *gotc = malloc(M * N * sizeof *gotc);
    const float alpha = 0.75f;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) {
                double av = ta ? a[off + k * lda + i] : a[off + i * lda + k];
                double bv = tb ? b[off + j * ldb + k] : b[off + k * ldb + j];
                s += av * bv;
            }
            ref[i * N + j] = alpha * s + (beta ? beta * (double)c[off + i * ldc + j] : 0.0);
        }
    cl_mem am = tu_upload(a, na), bm = tu_upload(b, nb), cm = tu_upload(c, nc);
    rn_ctx *ctx = tu_ctx();
    ctx->nown = 0;
    if (own) {
        rn_gemm_own o = {{ta, tb, M, N, K, lda, ldb, ldc, beta}, own->tile, own->m_fast, own->kc};
        TU_CHECK(rn_gemm_own_valid(&o), "own kernels accept %zux%zux%zu", M, N, K);
        ctx->own[ctx->nown++] = o;
    }
    if (own) /* stored with the other beta: the choice holds for any */
        ctx->own[0].s.beta = beta == 0.0f ? 1.0f : 0.0f;
    ctx->profile = 1;
    rn_profile_reset(ctx);
    rn_sgemm(ctx, ta, tb, M, N, K, alpha, am, off, lda, bm, off, ldb, beta, cm, off, ldc);
    ctx->profile = 0;
    TU_CHECK(ctx->nprof == 1 &&
                 !strcmp(ctx->prof[0].name, own ? RN_PROF_GEMM_OWN : RN_PROF_GEMM_CLBLAST),
             "the product ran on %s", own ? "rn50cl's own kernels" : "CLBlast");
    ctx->nown = 0;
    tu_download(cm, got, nc);
    for (size_t i = 0; i < M; i++) memcpy(gotc + i * N, got + off + i * ldc, N * sizeof(float));
    const char *what =
        own ? tu_name("own sgemm ta=%d tb=%d %zux%zux%zu beta=%g m_fast=%d kc=%zu vs double "
                      "reference (tile=%d)",
                      ta, tb, M, N, K, beta, own->m_fast, own->kc, own->tile)
            : tu_name("sgemm ta=%d tb=%d %zux%zux%zu beta=%g vs double reference", ta, tb, M, N, K,
                      beta);
    tu_compare(what, gotc, ref, M * N, 1e-5, 1e-4);
    int pad_ok = 1; /* elements outside the C window must be untouched */
    for (size_t i = 0; i < nc; i++) {
        size_t r = (i - off) / ldc, col = (i - off) % ldc;
        if ((i < off || col >= N || r >= M) && memcmp(&got[i], &c[i], sizeof c[i])) pad_ok = 0;
    }
    TU_CHECK(pad_ok, "%s leaves padding untouched", what);
    rn_release(&am);
    rn_release(&bm);
    rn_release(&cm);
    free(a);
    free(b);
    free(c);
    free(ref);
    free(got);
    return gotc;
}

static void gemm_case(int ta, int tb, size_t M, size_t N, size_t K)
{
    free(gemm_case_with(ta, tb, M, N, K, -0.5f, NULL));
}

/* rn50cl's own kernels on whole tiles, ragged edges (tiles shifted inward or, packed, padded),
 * one-tile matrices, K-chunks that do and do not divide K, both tile orders and widths; an
 * element's bits must not depend on the order tiles are handed out in, on the tile width nor on
 * packing. Aᵀ·Bᵀ and matrices smaller than a tile run packed only. */
static int own_tile_fits(int tile, int ta, int tb, size_t M, size_t N)
{
    if (tile == RN_TILE_PACK || tile == RN_TILE_P4X16 || tile == RN_TILE_P6X16) return 1;
    if (ta && tb) return 0;
    if (tile == RN_TILE_DOT) return tb && M >= 4 && N >= 4;
    return M >= 8 && N >= (tile == RN_TILE_8X32 ? 32u : 16u);
}

/* gemm_case_with on the own kernels with the runtime's work-groups (tile_groups 0), then with
 * the local size rn_tile_local gives for 1 group wanted (1 per unit on 1 compute unit), which
 * every grid here gets: the same bits. Returns the first run's C. */
static float *own_case_grouped(int ta, int tb, size_t M, size_t N, size_t K, float beta,
                               const rn_gemm_own *o, unsigned seed)
{
    rn_ctx *ctx = tu_ctx();
    const int groups = ctx->tile_groups;
    const cl_uint units = ctx->info.compute_units;
    ctx->tile_groups = 0;
    tu_seed(seed);
    float *got = gemm_case_with(ta, tb, M, N, K, beta, o);
    ctx->tile_groups = 1;
    ctx->info.compute_units = 1;
    tu_seed(seed);
    float *grouped = gemm_case_with(ta, tb, M, N, K, beta, o);
    ctx->tile_groups = groups;
    ctx->info.compute_units = units;
    TU_CHECK(!memcmp(got, grouped, M * N * sizeof(float)),
             "own sgemm ta=%d tb=%d %zux%zux%zu kc=%zu tile=%d m_fast=%d: the same bits in "
             "work-groups of its own",
             ta, tb, M, N, K, o->kc, o->tile, o->m_fast);
    free(grouped);
    return got;
}

/* rn_tile_local's rule at 2 compute units and 8 groups each (16 wanted). */
static void test_tile_local(void)
{
    rn_ctx *ctx = tu_ctx();
    const int groups = ctx->tile_groups;
    const cl_uint units = ctx->info.compute_units;
    cl_kernel k = rn_kernel(ctx, "rn_gemm_nn_fwd");
    size_t kmax = 0, local[2] = {0, 0};
    CL_CHECK(clGetKernelWorkGroupInfo(k, ctx->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                      &kmax, NULL));
    ctx->info.compute_units = 2;
    ctx->tile_groups = 0;
    TU_CHECK(!rn_tile_local(ctx, k, (const size_t[]){32, 32}, local),
             "tile_groups 0 leaves the local size to the runtime");
    ctx->tile_groups = 8;
    static const struct {
        size_t g[2], l0; /* l0 0: NULL */
    } cases[] = {{{32, 32}, 32}, {{128, 8}, 64}, {{64, 1}, 4},   {{5, 2}, 0},
                 {{7, 1024}, 7}, {{7, 2048}, 0}, {{1, 4096}, 0}, {{48, 3}, 8}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const size_t *g = cases[i].g, *l = rn_tile_local(ctx, k, g, local);
        TU_CHECK(cases[i].l0 ? l == local && l[0] == cases[i].l0 && l[1] == 1 : !l,
                 "grid %zux%zu: local %zux1 wanted, got %s%zux%zu", g[0], g[1], cases[i].l0,
                 l ? "" : "NULL ", l ? l[0] : 0, l ? l[1] : 0);
    }
    const size_t wide[2] = {2 * kmax, 16}, *l = rn_tile_local(ctx, k, wide, local);
    TU_CHECK(l && l[0] == kmax && l[1] == 1,
             "a grid of 2x the kernel's largest group per row is cut in two (%zu)", kmax);
    ctx->tile_groups = groups;
    ctx->info.compute_units = units;
}

static void test_own_gemm(void)
{
    static const size_t shapes[][3] = {{37, 29, 53}, {8, 16, 1},    {64, 48, 40},
                                       {9, 17, 5},   {16, 147, 70}, {5, 3, 9}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                const size_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                const size_t kcs[] = {K, 16, 7};
                for (size_t j = 0; j < 3; j++) {
                    float beta = j == 1 ? 0.0f : -0.5f, *first = NULL;
                    for (int v = 0; v < 2 * RN_TILE_KINDS; v++) {
                        rn_gemm_own o = {{0}, v >> 1, v & 1, kcs[j]};
                        if (!own_tile_fits(o.tile, ta, tb, M, N)) continue;
                        float *got = own_case_grouped(ta, tb, M, N, K, beta, &o, 7 + s);
                        if (!first) {
                            first = got;
                            continue;
                        }
                        /* the dot tile sums in another order: checked against the reference
                         * only */
                        TU_CHECK(o.tile == RN_TILE_DOT ||
                                     !memcmp(first, got, M * N * sizeof(float)),
                                 "own sgemm ta=%d tb=%d %zux%zux%zu kc=%zu tile=%d m_fast=%d: "
                                 "the same bits as the first variant",
                                 ta, tb, M, N, K, kcs[j], o.tile, o.m_fast);
                        free(got);
                    }
                    free(first);
                }
            }
        }
    rn_gemm_own bad = {{1, 1, 37, 29, 53, 37, 53, 29, 0.0f}, 0, 0, 8};
    TU_CHECK(!rn_gemm_own_valid(&bad), "own kernels refuse Aᵀ·Bᵀ");
    bad.s.ta = 0, bad.s.lda = 53, bad.s.M = 7;
    TU_CHECK(!rn_gemm_own_valid(&bad), "own kernels refuse M < 8");
    bad.s.M = 37, bad.tile = 1;
    TU_CHECK(!rn_gemm_own_valid(&bad), "own kernels refuse 32-wide tiles at N = 29");
    bad.tile = RN_TILE_DOT, bad.s.tb = 0;
    TU_CHECK(!rn_gemm_own_valid(&bad), "the dot tile is for A·Bᵀ only");
    bad.tile = RN_TILE_KINDS;
    TU_CHECK(!rn_gemm_own_valid(&bad), "an unknown tile is refused");
    rn_gemm_own packed = {{1, 1, 5, 3, 9, 5, 9, 3, 0.0f}, RN_TILE_PACK, 0, 4};
    TU_CHECK(rn_gemm_own_valid(&packed), "packed tiles take Aᵀ·Bᵀ and M, N below a tile");
    packed.tile = RN_TILE_P6X16;
    TU_CHECK(rn_gemm_own_valid(&packed) && rn_gemm_own_scratch_bytes(&packed) == 4 * (6 + 16) * 4,
             "6x16 packed tiles take Aᵀ·Bᵀ, M and N below a tile, scratch for whole panels");
    packed.s.ldc = 2;
    TU_CHECK(!rn_gemm_own_valid(&packed), "packed tiles refuse ldc < N");
}

int main(void)
{
    tu_seed(42);
    test_enumeration_and_selection();
    test_fill();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) gemm_case(ta, tb, 37, 29, 53);
    gemm_case(0, 0, 1, 7, 3);
    test_tile_local();
    test_own_gemm();
    return tu_finish("test_runtime");
}
