/* `eval` and `predict`: load a checkpoint (its class count decides the head), run the test set in
 * inference mode, and report: accuracy tables, the tutorial-style prediction picture, logits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "data/augment.h"
#include "data/download.h"
#include "format/npy.h"
#include "format/png.h"
#include "rn50cl/rn50cl.h"
#include "train/checkpoint.h"
#include "train/train.h"

typedef struct job {
    rn_ctx ctx;
    rn_model model;
    rn_cifar test;
    char dir[4096];
    char names[RN_CIFAR_CLASSES][32];
} job;

static int job_open(job *j, const rn_eval_cfg *c)
{
    if (!c->checkpoint) {
        fprintf(stderr, "rn50cl: error: --checkpoint FILE is required (e.g. "
                        "./BestCheckPoint/resnet50-best.safetensors).\n");
        return RN_ERR_INPUT;
    }
    int classes = rn_checkpoint_classes(c->checkpoint);
    if (classes < 0) return RN_ERR_INPUT;
    int rc = rn_data_resolve(&c->data, j->dir, sizeof j->dir);
    if (!rc) rc = rn_cifar_load_test(&j->test, j->dir);
    if (rc) return rc;
    if (c->limit_test) rn_cifar_limit(&j->test, (size_t)c->limit_test);
    rn_cifar_class_names(j->dir, j->names);
    if ((rc = rn_ctx_create(&j->ctx, &c->ctx))) return rc;
    rn_model_init(&j->model, classes);
    j->model.inference_only = 1;
    if ((rc = rn_model_alloc(&j->model, &j->ctx, c->batch, (size_t)RN_WORKSPACE_MB << 20)))
        return rc;
    return rn_checkpoint_load(&j->model, c->checkpoint, NULL, 0);
}

static void job_close(job *j)
{
    if (j->model.batch) rn_model_free(&j->model);
    rn_cifar_free(&j->test);
    rn_ctx_release(&j->ctx);
}

static void print_text(const job *j, const rn_eval_result *r)
{
    printf("test accuracy: %.2f%% (%zu / %zu), mean loss %.4f, %s\n\nper class:\n",
           r->n ? 100.0 * r->correct / r->n : 0, r->correct, r->n, r->loss,
           r->tta ? "with test-time mirroring (mean logits of image and mirror)" : "single view");
    for (int k = 0; k < RN_CIFAR_CLASSES; k++)
        printf("  %-12s %6.2f%% (%zu / %zu)\n", j->names[k],
               r->class_total[k] ? 100.0 * r->class_correct[k] / r->class_total[k] : 0,
               r->class_correct[k], r->class_total[k]);
    printf("\nconfusion matrix (rows: true class, columns: predicted):\n%12s", "");
    for (int k = 0; k < RN_CIFAR_CLASSES; k++) printf(" %6.6s", j->names[k]);
    printf("\n");
    for (int t = 0; t < RN_CIFAR_CLASSES; t++) {
        printf("%-12s", j->names[t]);
        for (int p = 0; p < RN_CIFAR_CLASSES; p++) printf(" %6zu", r->confusion[t][p]);
        printf("\n");
    }
}

static void print_json(const job *j, const rn_eval_result *r)
{
    rn_jw w;
    rn_jw_open(&w, stdout, RN_JW_LINE);
    rn_jw_obj(&w, NULL);
    rn_jw_uint(&w, "images", r->n);
    rn_jw_uint(&w, "correct", r->correct);
    rn_jw_fixed(&w, "accuracy", r->n ? (double)r->correct / r->n : 0, 6);
    rn_jw_fixed(&w, "loss", r->loss, 6);
    rn_jw_str(&w, "views", r->tta ? "image+mirror" : "image");
    rn_jw_obj(&w, "per_class"); /* class names come from batches.meta.txt: escaped */
    for (int k = 0; k < RN_CIFAR_CLASSES; k++)
        rn_jw_fixed(&w, j->names[k],
                    r->class_total[k] ? (double)r->class_correct[k] / r->class_total[k] : 0, 6);
    rn_jw_end(&w);
    rn_jw_arr(&w, "confusion");
    for (int t = 0; t < RN_CIFAR_CLASSES; t++) {
        rn_jw_arr(&w, NULL);
        for (int p = 0; p < RN_CIFAR_CLASSES; p++) rn_jw_uint(&w, NULL, r->confusion[t][p]);
        rn_jw_end(&w);
    }
    rn_jw_end(&w);
    rn_jw_end(&w);
}

int rn_eval_job(const rn_eval_cfg *c)
{
    job *j = calloc(1, sizeof *j);
    int rc = job_open(j, c);
    if (!rc) {
        rn_eval_result r;
        rc = rn_evaluate(&j->model, &j->test, 0, c->tta, &r, NULL, NULL);
        if (!rc && c->json) print_json(j, &r);
        else if (!rc) print_text(j, &r);
        /* after the results, and off stdout under --json so that it stays one JSON object */
        if (!rc && j->ctx.profile) rn_profile_print(&j->ctx, c->json ? stderr : stdout);
    }
    job_close(j);
    free(j);
    return rc;
}

/* The tutorial's visualize_model: a grid of enlarged images, each titled with the predicted class,
 * blue when right and red when wrong. */
#define CELL_SCALE 4
#define TITLE_H 14
#define GAP 6

static int write_grid(const job *j, const char *path, size_t count, const int32_t *pred)
{
    int cols = count < 3 ? (int)count : 3, rows = (int)((count + 2) / 3);
    int cw = RN_CIFAR_SIDE * CELL_SCALE, chh = cw + TITLE_H;
    int W = cols * cw + (cols + 1) * GAP, H = rows * chh + (rows + 1) * GAP;
    uint8_t *img = malloc((size_t)W * H * 3);
    memset(img, 255, (size_t)W * H * 3);
    for (size_t i = 0; i < count; i++) {
        int x0 = GAP + (int)(i % 3) * (cw + GAP), y0 = GAP + (int)(i / 3) * (chh + GAP);
        int right = pred[i] == j->test.labels[i];
        const char *title = pred[i] < RN_CIFAR_CLASSES ? j->names[pred[i]] : "?";
        int tx = x0 + (cw - rn_text_width(title, 1)) / 2;
        rn_draw_text(img, W, H, tx < x0 ? x0 : tx, y0 + 3, title, 1, right ? 0 : 220, 0,
                     right ? 220 : 0);
        const uint8_t *px = j->test.pixels + i * RN_CIFAR_IMAGE;
        for (int y = 0; y < cw; y++)
            for (int x = 0; x < cw; x++)
                for (int ch = 0; ch < 3; ch++)
                    img[((size_t)(y0 + TITLE_H + y) * W + x0 + x) * 3 + ch] =
                        px[ch * RN_CIFAR_PLANE + (y / CELL_SCALE) * RN_CIFAR_SIDE + x / CELL_SCALE];
    }
    int rc = rn_png_write(path, W, H, img);
    free(img);
    return rc;
}

/* The first `count` predictions, then the picture and the logits of `evaluated` images. */
static int report_predictions(const job *j, const rn_eval_cfg *c, const rn_eval_result *r,
                              size_t count, size_t evaluated, const float *logits,
                              const int32_t *pred)
{
    for (size_t i = 0; i < count; i++)
        printf("%4zu  predicted %-12s true %-12s %s\n", i,
               pred[i] < RN_CIFAR_CLASSES ? j->names[pred[i]] : "?", j->names[j->test.labels[i]],
               pred[i] == j->test.labels[i] ? "right" : "WRONG");
    printf("%zu of %zu right\n", r->correct, r->n);
    int rc = RN_OK;
    if (c->grid) {
        rc = write_grid(j, c->grid, count, pred);
        if (!rc) printf("wrote %s\n", c->grid);
    }
    if (!rc && c->save_logits) {
        rc = rn_npy_write_f32(c->save_logits, evaluated, (size_t)j->model.classes, logits);
        if (!rc)
            printf("wrote %s (%zu × %d logits)\n", c->save_logits, evaluated, j->model.classes);
    }
    return rc;
}

int rn_predict_job(const rn_eval_cfg *c)
{
    job *j = calloc(1, sizeof *j);
    int rc = job_open(j, c);
    if (!rc) {
        size_t count = (size_t)c->count < j->test.n ? (size_t)c->count : j->test.n;
        size_t evaluated = c->save_logits ? j->test.n : count;
        float *logits = malloc(evaluated * j->model.classes * sizeof(float));
        int32_t *pred = malloc(evaluated * sizeof(int32_t));
        rn_eval_result r;
        rc = rn_evaluate(&j->model, &j->test, evaluated, c->tta, &r, logits, pred);
        if (!rc) rc = report_predictions(j, c, &r, count, evaluated, logits, pred);
        free(logits);
        free(pred);
    }
    job_close(j);
    free(j);
    return rc;
}
