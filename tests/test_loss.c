/* Softmax cross-entropy (host/ops/loss.c, cl/loss.cl) against the double reference in ref_a.c:
 * the reference against hand-computed values and its gradient against finite differences; the
 * device loss, correctness flags and gradient against the reference with and without label
 * smoothing, argmax ties (first maximum wins), huge logits, and without a gradient buffer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/loss.h"
#include "ref_a.h"
#include "testutil.h"

/* Claim: the reference gives hand-derived numbers, in PyTorch's definition
 * loss = (1−ε)·(−log p_y) + (ε/K)·Σ_k (−log p_k). */
static void check_ref_by_hand(void)
{
    double l[3] = {1, 2, 3}, loss, d[3];
    int lab = 2, cor;
    double lse = log(exp(1.0) + exp(2.0) + exp(3.0));
    ref_softmax_ce(&loss, &cor, d, l, &lab, 1, 3, 0.0);
    TU_CHECK(fabs(loss - (lse - 3)) < 1e-12 && cor == 1, "ref: -log softmax(1,2,3)[2] = %.12f",
             loss);
    TU_CHECK(fabs(d[0] - exp(1 - lse)) < 1e-12 && fabs(d[2] - (exp(3 - lse) - 1)) < 1e-12,
             "ref: gradient softmax - onehot");
    const double eps = 0.1;
    double want = (1 - eps) * (lse - 3) + eps / 3 * ((lse - 1) + (lse - 2) + (lse - 3));
    lab = 0;
    double want0 = (1 - eps) * (lse - 1) + eps / 3 * ((lse - 1) + (lse - 2) + (lse - 3));
    ref_softmax_ce(&loss, &cor, d, l, &lab, 1, 3, eps);
    TU_CHECK(fabs(loss - want0) < 1e-12 && cor == 0, "ref: smoothed loss, wrong label");
    lab = 2;
    ref_softmax_ce(&loss, &cor, d, l, &lab, 1, 3, eps);
    TU_CHECK(fabs(loss - want) < 1e-12, "ref: smoothed loss, right label");
    TU_CHECK(fabs(d[2] - (exp(3 - lse) - (1 - eps + eps / 3))) < 1e-12, "ref: smoothed gradient");
}

typedef struct {
    const double *logits;
    const int *labels;
    int N, K;
    double eps;
} ce_loss_in;

static double mean_loss(void *arg)
{
    const ce_loss_in *a = arg;
    return ref_softmax_ce(NULL, NULL, NULL, a->logits, a->labels, a->N, a->K, a->eps);
}

/* Claim: ref dlogits = ∂(mean loss)/∂logits by central differences. */
static void check_ref_fd(int N, int K, double eps)
{
    size_t n = (size_t)N * K;
    double *l = malloc(n * sizeof *l), *d = malloc(n * sizeof *d), *fd = malloc(n * sizeof *fd);
    int *lab = malloc(N * sizeof *lab);
    for (size_t i = 0; i < n; i++) l[i] = tu_uniform(-4, 4);
    for (int i = 0; i < N; i++) lab[i] = (int)tu_uniform(0, K - 1e-9);
    ref_softmax_ce(NULL, NULL, d, l, lab, N, K, eps);
    const double h = 1e-5;
    ce_loss_in in = {l, lab, N, K, eps};
    for (size_t i = 0; i < n; i++) fd[i] = tu_central_diff(&l[i], h, mean_loss, &in);
    tu_compare_dd(tu_name("ref dlogits == finite differences (N%d K%d eps %.2f)", N, K, eps), d, fd,
                  n, 1e-9, 1e-6);
    free(l), free(d), free(fd), free(lab);
}

/* Claim: the device equals the reference on these logits: loss to float accuracy of the shifted
 * log-sum-exp (|loss| ≲ 10 here, 2e4 for the huge rows), correct flags exactly, dlogits to 1e-6
 * absolute (its entries are at most 1/N). */
static void check_device(const char *tag, const float *logits, const int *labels, int N, int K,
                         float eps, int with_grad)
{
    rn_ctx *ctx = tu_ctx();
    size_t n = (size_t)N * K;
    double *ld = malloc(n * sizeof *ld), *lr = malloc(N * sizeof *lr), *dr = malloc(n * sizeof *dr);
    int *cr = malloc(N * sizeof *cr), *cg = malloc(N * sizeof *cg);
    for (size_t i = 0; i < n; i++) ld[i] = logits[i];
    ref_softmax_ce(lr, cr, dr, ld, labels, N, K, eps);
    cl_mem bl = tu_upload(logits, n), blab = rn_buffer(ctx, N * sizeof(int));
    rn_write(ctx, blab, 0, N * sizeof(int), labels);
    cl_mem bloss = tu_poisoned(N), bcor = tu_poisoned(N); /* NaN bits are not 0 or 1 as ints */
    cl_mem bd = with_grad ? tu_poisoned(n) : NULL;
    softmax_ce_forward(ctx, bloss, bcor, bd, bl, blab, N, K, eps);
    float *loss = tu_download_new(bloss, N);
    rn_read(ctx, bcor, 0, N * sizeof(int), cg);
    tu_compare(tu_name("%s: per-sample loss == ref (N%d K%d eps %.2f)", tag, N, K, eps), loss, lr,
               N, 1e-5, 1e-5);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += cg[i] != cr[i];
    TU_CHECK(bad == 0, "%s: correct flags == ref (%d of %d differ)", tag, bad, N);
    if (bd) {
        float *d = tu_download_new(bd, n);
        tu_compare(tu_name("%s: dlogits == ref", tag), d, dr, n, 1e-6, 1e-5);
        free(d);
    }
    float *back = tu_download_new(bl, n);
    int same = 1;
    for (size_t i = 0; i < n; i++) same &= back[i] == logits[i];
    TU_CHECK(same, "%s: logits left unchanged", tag);
    rn_release(&bl), rn_release(&blab), rn_release(&bloss), rn_release(&bcor), rn_release(&bd);
    free(ld), free(lr), free(dr), free(cr), free(cg), free(loss), free(back);
}

static void random_case(const char *tag, int N, int K, float eps, int with_grad)
{
    float *l = malloc((size_t)N * K * sizeof *l);
    int *lab = malloc(N * sizeof *lab);
    tu_fill_uniform(l, (size_t)N * K, -5, 5);
    for (int i = 0; i < N; i++) lab[i] = (int)tu_uniform(0, K - 1e-9);
    check_device(tag, l, lab, N, K, eps, with_grad);
    free(l), free(lab);
}

int main(void)
{
    tu_seed(4242);
    check_ref_by_hand();
    check_ref_fd(5, 10, 0.0);
    check_ref_fd(5, 10, 0.1);
    check_ref_fd(3, 4, 0.3);

    random_case("random", 13, 10, 0.0f, 1);
    random_case("random smoothed", 13, 10, 0.1f, 1);
    random_case("batch 8", 8, 10, 0.0f, 1);
    random_case("batch 1", 1, 10, 0.1f, 1);
    random_case("130 samples (several work-groups)", 130, 10, 0.1f, 1);
    random_case("odd K", 7, 3, 0.2f, 1);
    random_case("evaluation (dlogits NULL)", 13, 10, 0.1f, 0);

    /* ties: first maximum wins; the reference decides the flags, and they are spelled out too */
    enum { K = 10 };
    float tie[4 * K] = {0};
    int tl[4] = {0, 1, 3, 5};
    /* row 0: all equal, label 0 → correct; row 1: all equal, label 1 → wrong */
    tie[2 * K + 3] = 2.5f, tie[2 * K + 7] = 2.5f; /* row 2: max at 3 and 7, label 3 → correct */
    tie[3 * K + 2] = 1.0f, tie[3 * K + 5] = 1.0f; /* row 3: max at 2 and 5, label 5 → wrong */
    int tcr[4];
    double tld[4 * K];
    for (int i = 0; i < 4 * K; i++) tld[i] = tie[i];
    ref_softmax_ce(NULL, tcr, NULL, tld, tl, 4, K, 0);
    TU_CHECK(tcr[0] == 1 && tcr[1] == 0 && tcr[2] == 1 && tcr[3] == 0,
             "ref: ties go to the first maximum");
    check_device("argmax ties", tie, tl, 4, K, 0.0f, 1);

    /* huge logits: exp would overflow without the max shift */
    float huge[3 * K];
    tu_fill_uniform(huge, 3 * K, -1e4, 1e4);
    huge[0 * K + 4] = 1e4f;  /* row 0: label is the huge max → loss ≈ 0 */
    huge[1 * K + 6] = 1e4f;  /* row 1: label elsewhere → loss ≈ 1e4 − l_label */
    huge[2 * K + 0] = -1e4f; /* row 2: label at the minimum */
    int hl[3] = {4, 2, 0};
    check_device("huge logits (1e4)", huge, hl, 3, K, 0.0f, 1);
    check_device("huge logits smoothed", huge, hl, 3, K, 0.1f, 1);
    /* a label outside 0..K-1 (the reader should refuse it) shows up as a NaN loss, never as a
     * plausible number, and is never counted correct */
    {
        float l[2 * K];
        tu_fill_uniform(l, 2 * K, -1, 1);
        int bl[2] = {-1, K};
        cl_mem b_l = tu_upload(l, 2 * K), b_lab = rn_buffer(tu_ctx(), sizeof bl);
        rn_write(tu_ctx(), b_lab, 0, sizeof bl, bl);
        cl_mem b_loss = tu_poisoned(2), b_cor = tu_poisoned(2), b_d = tu_poisoned(2 * K);
        softmax_ce_forward(tu_ctx(), b_loss, b_cor, b_d, b_l, b_lab, 2, K, 0.1f);
        float lo[2];
        int co[2];
        tu_download(b_loss, lo, 2);
        rn_read(tu_ctx(), b_cor, 0, sizeof co, co);
        TU_CHECK(isnan(lo[0]) && isnan(lo[1]) && co[0] == 0 && co[1] == 0,
                 "labels -1 and K: loss NaN (got %g %g), correct 0 (got %d %d)", lo[0], lo[1],
                 co[0], co[1]);
        rn_release(&b_l), rn_release(&b_lab), rn_release(&b_loss), rn_release(&b_cor);
        rn_release(&b_d);
    }
    return tu_finish("test_loss");
}
