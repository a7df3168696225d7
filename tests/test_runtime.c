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

static void gemm_case(int ta, int tb, size_t M, size_t N, size_t K)
{
    /* Stored shapes: A is M×K (or K×M when ta), B is K×N (or N×K when tb); padded ld and an
     * offset prove CLBlast is called with the layout we think. */
    size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    size_t lda = ac + 3, ldb = bc + 1, ldc = N + 2, off = 5;
    size_t na = off + ar * lda, nb = off + br * ldb, nc = off + M * ldc;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    tu_fill_uniform(a, na, -1, 1);
    tu_fill_uniform(b, nb, -1, 1);
    tu_fill_uniform(c, nc, -1, 1);
    double *ref = malloc(M * N * sizeof *ref);
    float *got = malloc(nc * sizeof *got), *gotc = malloc(M * N * sizeof *gotc);
    const float alpha = 0.75f, beta = -0.5f;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) {
                double av = ta ? a[off + k * lda + i] : a[off + i * lda + k];
                double bv = tb ? b[off + j * ldb + k] : b[off + k * ldb + j];
                s += av * bv;
            }
            ref[i * N + j] = alpha * s + beta * (double)c[off + i * ldc + j];
        }
    cl_mem am = tu_upload(a, na), bm = tu_upload(b, nb), cm = tu_upload(c, nc);
    rn_sgemm(tu_ctx(), ta, tb, M, N, K, alpha, am, off, lda, bm, off, ldb, beta, cm, off, ldc);
    tu_download(cm, got, nc);
    for (size_t i = 0; i < M; i++) memcpy(gotc + i * N, got + off + i * ldc, N * sizeof(float));
    const char *what =
        tu_name("sgemm ta=%d tb=%d %zux%zux%zu vs double reference", ta, tb, M, N, K);
    tu_compare(what, gotc, ref, M * N, 1e-5, 1e-4);
    int pad_ok = 1; /* elements outside the C window must be untouched */
    for (size_t i = 0; i < nc; i++) {
        size_t r = (i - off) / ldc, col = (i - off) % ldc;
        if ((i < off || col >= N || r >= M) && got[i] != c[i]) pad_ok = 0;
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
    free(gotc);
}

int main(void)
{
    tu_seed(42);
    test_enumeration_and_selection();
    test_fill();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) gemm_case(ta, tb, 37, 29, 53);
    gemm_case(0, 0, 1, 7, 3);
    return tu_finish("test_runtime");
}
