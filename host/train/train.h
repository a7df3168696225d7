/* The train / eval / predict jobs: configuration, the epoch loop with schedule, metrics, progress,
 * JSON log, checkpoints and Ctrl-C handling, and evaluation with per-class accuracy. */
#ifndef RN_TRAIN_TRAIN_H
#define RN_TRAIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "data/cifar.h"
#include "data/download.h"
#include "model/resnet50.h"

typedef struct rn_train_cfg {
    rn_ctx_options ctx;   /* device, caches, tuning, profiling */
    rn_data_options data; /* where CIFAR-10 is or comes from */
    const char *pretrained, *resume, *out, *log, *schedule;
    const char
        *padding; /* --padding "same" | "symmetric"; NULL: the checkpoint's, else symmetric */
    int epochs, batch, max_steps, nesterov, no_augment, no_shuffle, classes;
    int bn_decay;                /* weight decay on BN γ/β and fc.bias too */
    double warmup_epochs;        /* linear warm-up, in epochs (fractions allowed) */
    rn_model_initcfg init;       /* residual γ and head scale of a fresh model */
    int limit_train, limit_test; /* 0 = whole set; for quick runs and tests */
    uint64_t seed;
    double lr, momentum, weight_decay, label_smoothing;
    double min_lr; /* the schedule decays lr − min_lr and adds min_lr (--min-lr) */
    size_t workspace_mb;
    size_t bucket_mb; /* gradients per all-reduce when several ranks train (MPI) */
} rn_train_cfg;

/* The documented defaults (README and --help show the same numbers). */
void rn_train_defaults(rn_train_cfg *c);

/* Lays recipe `name` over c fresh from rn_train_defaults (host/train/recipe.c): "default" leaves
 * it, "tutorial" is MindSpore's ResNet50 fine-tuning. Returns 0, or -1 for an unknown name. */
int rn_train_recipe(rn_train_cfg *c, const char *name);

/* Runs training; returns an exit code (0, RN_ERR_INPUT, RN_ERR_DIVERGED, RN_ERR_INTERRUPTED). */
int rn_train(const rn_train_cfg *c);

/* One batch's buffers, device and host: images [3][B][32][32], labels, per-image loss and
 * correctness. */
typedef struct rn_batch {
    cl_mem input, labels, loss, correct;
    float *x, *loss_h;
    int32_t *lab, *correct_h;
} rn_batch;

/* RN_OK, or RN_ERR_INPUT after rn_buffer's sentence (nothing left to free). */
int rn_batch_alloc(rn_batch *b, rn_ctx *ctx, size_t B);
void rn_batch_free(rn_batch *b);

/* What one optimizer step uses: this step's learning rate (the schedule's value, not the peak),
 * SGD's momentum, weight decay and Nesterov switch, and the loss's label smoothing. */
typedef struct rn_step_hparams {
    double lr, momentum, weight_decay, label_smoothing;
    int nesterov, bn_decay;
} rn_step_hparams;

/* A config's step hyper-parameters at learning rate lr. */
rn_step_hparams rn_step_hparams_of(const rn_train_cfg *c, double lr);

/* One optimizer step on the n images in b->x / b->lab; per-image loss and correctness end in
 * b->loss_h / b->correct_h. The trainer's step, and the one bench/cl_bench times. */
void rn_train_step(rn_model *m, rn_batch *b, size_t n, const rn_step_hparams *h);

/* Learning rate at optimizer step `step` of `total` (warmup steps linear from lr/warmup). */
double rn_lr_at(const char *schedule, double lr, int64_t step, int64_t total, int64_t warmup);

typedef struct rn_eval_result {
    size_t n, correct;
    int tta;                              /* logits were averaged with the mirror image's */
    double loss;                          /* mean cross-entropy */
    size_t class_total[RN_CIFAR_CLASSES]; /* by true class (classes ≥ 10 are not tallied) */
    size_t class_correct[RN_CIFAR_CLASSES];
    size_t confusion[RN_CIFAR_CLASSES][RN_CIFAR_CLASSES]; /* [true][predicted] */
} rn_eval_result;

/* Evaluates the first `count` images of d (0 = all) in inference mode; tta != 0 averages each
 * image's logits with those of its mirror image. logits (count × classes, may be NULL) receives
 * every image's (averaged) logits in file order; pred (may be NULL) the argmax.
 * RN_OK, or RN_ERR_INPUT after rn_buffer's sentence when the device refuses the input buffer. */
int rn_evaluate(rn_model *m, const rn_cifar *d, size_t count, int tta, rn_eval_result *r,
                float *logits, int32_t *pred);

typedef struct rn_eval_cfg {
    rn_ctx_options ctx;
    rn_data_options data;
    const char *checkpoint, *grid, *save_logits;
    int batch, json, count, limit_test, tta;
} rn_eval_cfg;

/* `rn50cl eval`: accuracy, per-class accuracy and confusion matrix (text or JSON). */
int rn_eval_job(const rn_eval_cfg *c);
/* `rn50cl predict`: predictions of the first c->count (≥ 1, checked with the options) test images,
 * optional PNG grid and logits. */
int rn_predict_job(const rn_eval_cfg *c);
#endif
