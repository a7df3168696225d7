/* The training loop and evaluation: schedule, one optimizer step per batch, per-epoch evaluation,
 * best/last checkpoints, progress on a terminal or plain lines otherwise, a JSON-lines log, and a
 * Ctrl-C that finishes the step, saves resumable state and exits 130. */
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/download.h"
#include "data/loader.h"
#include "ops/loss.h"
#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "base/json.h"
#include "tune/tune.h"
#include "train/checkpoint.h"
#include "train/curves.h"
#include "train/dist.h"

void rn_train_defaults(rn_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->epochs = 5;
    c->batch = 128;
    c->lr = 0.05;
    c->momentum = 0.9;
    c->weight_decay = 5e-4;
    c->nesterov = 1;
    c->bn_decay = 0;
    c->init = (rn_model_initcfg){.residual_gamma = 0.2, .fc_scale = 0};
    c->schedule = "cosine";
    c->warmup_epochs = 0.25;
    c->label_smoothing = 0.1;
    c->seed = 1;
    c->classes = 10;
    c->out = "./BestCheckPoint";
    c->workspace_mb = RN_WORKSPACE_MB;
    c->bucket_mb = 25; /* PyTorch DDP's bucket_cap_mb */
}

double rn_lr_at(const char *schedule, double lr, int64_t step, int64_t total, int64_t warmup)
{
    if (warmup > 0 && step < warmup) return lr * (double)(step + 1) / (double)warmup;
    if (!strcmp(schedule, "constant")) return lr;
    if (!strcmp(schedule, "step")) /* ×0.1 at half and at three quarters of the run */
        return lr * (step >= total * 3 / 4 ? 0.01 : step >= total / 2 ? 0.1 : 1.0);
    double t = total > warmup ? (double)(step - warmup) / (double)(total - warmup) : 1.0;
    return lr * 0.5 * (1.0 + cos(M_PI * (t > 1 ? 1 : t)));
}

/* ---- evaluation ------------------------------------------------------------------------------ */

/* Mirrors every image of x ([3][n][32][32]) left to right, in place. */
static void mirror_images(float *x, size_t n)
{
    for (size_t row = 0; row < 3 * n * 32; row++) {
        float *p = x + row * 32;
        for (int i = 0; i < 16; i++) {
            float t = p[i];
            p[i] = p[31 - i];
            p[31 - i] = t;
        }
    }
}

/* The logits of the n images in x into lg (n × classes); with tta, the mean of the logits of each
 * image and of its mirror image (x is left mirrored), tmp holding the second view's. */
static void infer_logits(rn_model *m, cl_mem input, float *x, size_t n, int tta, float *lg,
                         float *tmp)
{
    size_t K = (size_t)m->classes, bytes = 3 * n * RN_CIFAR_PLANE * sizeof(float);
    rn_write(m->ctx, input, 0, bytes, x);
    rn_model_forward(m, input, (int)n, 0);
    rn_read(m->ctx, m->logits, 0, n * K * sizeof(float), lg);
    if (!tta) return;
    mirror_images(x, n);
    rn_write(m->ctx, input, 0, bytes, x);
    rn_model_forward(m, input, (int)n, 0);
    rn_read(m->ctx, m->logits, 0, n * K * sizeof(float), tmp);
    for (size_t i = 0; i < n * K; i++) lg[i] = 0.5f * (lg[i] + tmp[i]);
}

int rn_evaluate(rn_model *m, const rn_cifar *d, size_t count, int tta, rn_eval_result *r,
                float *logits, int32_t *pred)
{
    memset(r, 0, sizeof *r);
    r->tta = tta;
    size_t total = count && count < d->n ? count : d->n, B = (size_t)m->batch, K = m->classes;
    cl_mem input = rn_buffer(m->ctx, 3 * B * RN_CIFAR_PLANE * sizeof(float));
    if (!input) return RN_ERR_INPUT;
    rn_cifar view = *d;
    view.n = total;
    rn_loader *ld = rn_loader_create(&view, B, 0, 0, 0, 0, 0, 0);
    float *x = malloc(3 * B * RN_CIFAR_PLANE * sizeof *x), *lg = malloc(2 * B * K * sizeof *lg);
    int32_t *lab = malloc(B * sizeof *lab);
    size_t n, done = 0;
    while ((n = rn_loader_next(ld, x, lab)) > 0) {
        infer_logits(m, input, x, n, tta, lg, lg + B * K);
        for (size_t i = 0; i < n; i++) {
            const float *row = lg + i * K;
            size_t best = 0;
            double mx = row[0], se = 0;
            for (size_t k = 1; k < K; k++)
                if (row[k] > row[best]) best = k;
            mx = row[best];
            for (size_t k = 0; k < K; k++) se += exp((double)row[k] - mx);
            r->loss += mx + log(se) - row[lab[i]];
            r->correct += best == (size_t)lab[i];
            if (lab[i] < RN_CIFAR_CLASSES) {
                r->class_total[lab[i]]++;
                r->class_correct[lab[i]] += best == (size_t)lab[i];
                if (best < RN_CIFAR_CLASSES) r->confusion[lab[i]][best]++;
            }
            if (pred) pred[done + i] = (int32_t)best;
        }
        if (logits) memcpy(logits + done * K, lg, n * K * sizeof(float));
        done += n;
    }
    r->n = done;
    if (done) r->loss /= (double)done;
    rn_release(&input);
    rn_loader_destroy(ld);
    free(x);
    free(lg);
    free(lab);
    return RN_OK;
}

/* ---- Ctrl-C -------------------------------------------------------------------------------- */

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    g_interrupted = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

/* ---- progress and log ---------------------------------------------------------------------- */

typedef struct progress {
    int tty;
    FILE *log;
    double t_start, t_last_line;
} progress;

static void fmt_time(char *buf, size_t len, double s)
{
    if (s < 0 || !isfinite(s)) s = 0;
    int h = (int)(s / 3600), mi = (int)(s / 60) % 60, se = (int)s % 60;
    if (h) snprintf(buf, len, "%dh%02dm", h, mi);
    else snprintf(buf, len, "%dm%02ds", mi, se);
}

static void progress_step(progress *p, int epoch, int epochs, int step, int steps, double loss,
                          double acc, double lr, double img_s)
{
    double now = rn_now();
    char eta[32];
    fmt_time(eta, sizeof eta, img_s > 0 ? (steps - step) * ((now - p->t_start) / step) : 0);
    if (p->tty) {
        int width = 24, fill = steps ? step * width / steps : 0;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        printf("\repoch %d/%d [%s] %d/%d loss %.4f acc %5.1f%% %.1f img/s ETA %s   ", epoch, epochs,
               bar, step, steps, loss, 100 * acc, img_s, eta);
        fflush(stdout);
    } else if (now - p->t_last_line >= 30 || step == steps || step == 1) {
        printf("epoch %d/%d step %d/%d loss %.4f acc %.1f%% lr %.5f %.1f img/s ETA %s\n", epoch,
               epochs, step, steps, loss, 100 * acc, lr, img_s, eta);
        fflush(stdout);
        p->t_last_line = now;
    }
}

static void log_step(progress *p, int epoch, int step, int64_t gstep, double loss, double acc,
                     double lr, double img_s)
{
    if (!p->log) return;
    rn_jw j;
    rn_jw_open(&j, p->log, RN_JW_LINE);
    rn_jw_obj(&j, NULL);
    rn_jw_str(&j, "type", "step");
    rn_jw_int(&j, "epoch", epoch);
    rn_jw_int(&j, "step", step);
    rn_jw_int(&j, "global_step", gstep);
    rn_jw_num(&j, "loss", loss, 9);
    rn_jw_fixed(&j, "accuracy", acc, 6);
    rn_jw_num(&j, "lr", lr, 9);
    rn_jw_fixed(&j, "images_per_s", img_s, 3);
    rn_jw_end(&j);
    fflush(p->log);
}

/* ---- training ------------------------------------------------------------------------------ */

typedef struct trainer {
    const rn_train_cfg *cfg;
    rn_ctx ctx;
    rn_model model;
    rn_cifar train, test;
    rn_train_state st;
    char best_path[4096], last_path[4096];
    rn_batch b;
    progress prog;
    rn_curves curves;
    char curves_path[4096];
    rn_dist dist; /* this process's rank among the data-parallel ones */
} trainer;

static int setup_data(trainer *t)
{
    char dir[4096];
    int rc = rn_data_resolve(&t->cfg->data, dir, sizeof dir);
    if (rc) return rc;
    if ((rc = rn_cifar_load_train(&t->train, dir)) || (rc = rn_cifar_load_test(&t->test, dir)))
        return rc;
    if (t->cfg->limit_train) rn_cifar_limit(&t->train, (size_t)t->cfg->limit_train);
    if (t->cfg->limit_test) rn_cifar_limit(&t->test, (size_t)t->cfg->limit_test);
    if (t->cfg->classes < RN_CIFAR_CLASSES) {
        fprintf(stderr,
                "rn50cl: error: CIFAR-10 has labels 0-9, so --classes must be at least "
                "10 (got %d).\n",
                t->cfg->classes);
        return RN_ERR_INPUT;
    }
    printf("data: %s (%zu training, %zu test images)\n", dir, t->train.n, t->test.n);
    return RN_OK;
}

/* --padding, which wins over a checkpoint's; a resumed run cannot change the rule it was
 * trained with. */
static int apply_padding(trainer *t)
{
    rn_padding p;
    if (!t->cfg->padding || rn_padding_parse(t->cfg->padding, &p)) return RN_OK;
    if (t->cfg->resume && p != t->model.padding) {
        fprintf(stderr,
                "rn50cl: error: %s was trained with %s padding; a resumed run keeps it, so drop "
                "--padding %s.\n",
                t->cfg->resume, rn_padding_name(t->model.padding), t->cfg->padding);
        return RN_ERR_INPUT;
    }
    rn_model_set_padding(&t->model, p);
    return RN_OK;
}

static int setup_model(trainer *t)
{
    const rn_train_cfg *c = t->cfg;
    int rc = rn_dist_check_sizes(&t->dist, c->batch, t->test.n);
    if (rc) return rc;
    rn_model_init(&t->model, c->classes);
    /* several ranks exchange all gradients before one SGD step, so all of them are kept */
    t->model.keep_gradients = t->dist.size > 1;
    rc = rn_model_alloc(&t->model, &t->ctx, rn_dist_local_batch(&t->dist, c->batch),
                        c->workspace_mb << 20);
    if (rc) return rc;
    rn_model_init_params(&t->model, c->seed, &c->init);
    t->st.best_accuracy = -1;
    t->st.accuracy = -1;
    t->st.seed = c->seed;
    if (c->resume) {
        rc = rn_checkpoint_load(&t->model, c->resume, &t->st, 1);
        if (rc) return rc;
        if (t->st.history && rn_curves_parse_history(&t->curves, t->st.history))
            fprintf(stderr,
                    "rn50cl: warning: the epoch history in %s is unreadable; curves.png "
                    "starts at this run.\n",
                    c->resume);
        printf("resuming from %s at epoch %d step %d (global step %lld, seed %llu)\n", c->resume,
               t->st.epoch + 1, t->st.step_in_epoch, (long long)t->st.global_step,
               (unsigned long long)t->st.seed);
    } else if (c->pretrained) {
        rc = rn_checkpoint_load_pretrained(&t->model, c->pretrained, c->seed);
        if (rc) return rc;
    }
    if ((rc = apply_padding(t))) return rc;
    if (t->model.padding == RN_PAD_SAME)
        printf("conv and max-pool padding: same (MindSpore's pad_mode='same')\n");
    rn_dist_attach(&t->dist, &t->model, c->bucket_mb << 20);
    if ((rc = rn_dist_check_replicas(&t->dist, &t->model, "at the start"))) return rc;
    if (t->train.n < (size_t)c->batch) {
        fprintf(stderr,
                "rn50cl: error: the training set has %zu images, fewer than one batch of "
                "%d; lower --batch-size.\n",
                t->train.n, c->batch);
        return RN_ERR_INPUT;
    }
    return rn_batch_alloc(&t->b, &t->ctx, (size_t)c->batch);
}

static int setup_out(trainer *t)
{
    snprintf(t->best_path, sizeof t->best_path, "%s/resnet50-best.safetensors", t->cfg->out);
    snprintf(t->last_path, sizeof t->last_path, "%s/resnet50-last.safetensors", t->cfg->out);
    snprintf(t->curves_path, sizeof t->curves_path, "%s/curves.png", t->cfg->out);
    if (t->dist.rank) return RN_OK; /* rank 0 alone writes checkpoints and the log */
    if (rn_mkdirs(t->cfg->out) != 0) {
        fprintf(stderr,
                "rn50cl: error: cannot create the output folder %s (%s); pass another "
                "--out.\n",
                t->cfg->out, strerror(errno));
        return RN_ERR_INPUT;
    }
    if (t->cfg->log) {
        t->prog.log = fopen(t->cfg->log, t->cfg->resume ? "a" : "w");
        if (!t->prog.log) {
            fprintf(stderr, "rn50cl: error: cannot open the log file %s (%s).\n", t->cfg->log,
                    strerror(errno));
            return RN_ERR_INPUT;
        }
    }
    return RN_OK;
}

static void trainer_free(trainer *t)
{
    rn_batch_free(&t->b);
    if (t->model.batch) rn_model_free(&t->model);
    rn_cifar_free(&t->train);
    rn_cifar_free(&t->test);
    if (t->prog.log) fclose(t->prog.log);
    rn_curves_free(&t->curves);
    free(t->st.history);
    rn_ctx_release(&t->ctx);
}

int rn_batch_alloc(rn_batch *b, rn_ctx *ctx, size_t B)
{
    memset(b, 0, sizeof *b);
    if (!(b->input = rn_buffer(ctx, 3 * B * RN_CIFAR_PLANE * sizeof(float))) ||
        !(b->labels = rn_buffer(ctx, B * sizeof(int32_t))) ||
        !(b->loss = rn_buffer(ctx, B * sizeof(float))) ||
        !(b->correct = rn_buffer(ctx, B * sizeof(int32_t)))) {
        rn_batch_free(b);
        return RN_ERR_INPUT;
    }
    b->x = malloc(3 * B * RN_CIFAR_PLANE * sizeof(float));
    b->lab = malloc(B * sizeof(int32_t));
    b->loss_h = malloc(B * sizeof(float));
    b->correct_h = malloc(B * sizeof(int32_t));
    if (!b->x || !b->lab || !b->loss_h || !b->correct_h) abort();
    return RN_OK;
}

void rn_batch_free(rn_batch *b)
{
    rn_release(&b->input);
    rn_release(&b->labels);
    rn_release(&b->loss);
    rn_release(&b->correct);
    free(b->x);
    free(b->lab);
    free(b->loss_h);
    free(b->correct_h);
}

rn_step_hparams rn_step_hparams_of(const rn_train_cfg *c, double lr)
{
    rn_step_hparams h = {.lr = lr,
                         .momentum = c->momentum,
                         .weight_decay = c->weight_decay,
                         .label_smoothing = c->label_smoothing,
                         .nesterov = c->nesterov,
                         .bn_decay = c->bn_decay};
    return h;
}

void rn_train_step(rn_model *m, rn_batch *b, size_t n, const rn_step_hparams *h)
{
    rn_ctx *ctx = m->ctx;
    rn_write(ctx, b->input, 0, 3 * n * RN_CIFAR_PLANE * sizeof(float), b->x);
    rn_write(ctx, b->labels, 0, n * sizeof(int32_t), b->lab);
    rn_model_forward(m, b->input, (int)n, 1);
    softmax_ce_forward(ctx, b->loss, b->correct, m->dlogits, m->logits, b->labels, (int)n,
                       m->classes, (float)h->label_smoothing);
    rn_model_sgd sgd = {(float)h->lr, (float)h->momentum, (float)h->weight_decay, h->nesterov,
                        h->bn_decay};
    rn_model_backward(m, b->input, (int)n, &sgd);
    rn_read(ctx, b->loss, 0, n * sizeof(float), b->loss_h);
    rn_read(ctx, b->correct, 0, n * sizeof(int32_t), b->correct_h);
}

/* One optimizer step on n images already in t->b. Returns summed loss and correct. */
static void train_step(trainer *t, size_t n, double lr, double *loss_sum, int *correct)
{
    const rn_train_cfg *c = t->cfg;
    rn_step_hparams h = rn_step_hparams_of(c, lr);
    rn_train_step(&t->model, &t->b, n, &h);
    *loss_sum = 0;
    *correct = 0;
    for (size_t i = 0; i < n; i++) {
        *loss_sum += t->b.loss_h[i];
        *correct += t->b.correct_h[i];
    }
}

static int save_last(trainer *t)
{
    if (t->dist.rank) return RN_OK;
    int rc = rn_checkpoint_save(&t->model, t->last_path, &t->st, 1);
    if (rc) fprintf(stderr, "rn50cl: error: could not write %s.\n", t->last_path);
    return rc;
}

static void log_epoch(const trainer *t, int epoch, double loss, double acc, double test_loss,
                      double test_acc, double secs, double img_s)
{
    if (!t->prog.log) return;
    rn_jw j;
    rn_jw_open(&j, t->prog.log, RN_JW_LINE);
    rn_jw_obj(&j, NULL);
    rn_jw_str(&j, "type", "epoch");
    rn_jw_int(&j, "epoch", epoch);
    rn_jw_int(&j, "global_step", t->st.global_step);
    rn_jw_num(&j, "train_loss", loss, 9);
    rn_jw_fixed(&j, "train_accuracy", acc, 6);
    rn_jw_num(&j, "test_loss", test_loss, 9);
    rn_jw_fixed(&j, "test_accuracy", test_acc, 6);
    rn_jw_fixed(&j, "seconds", secs, 3);
    rn_jw_fixed(&j, "images_per_s", img_s, 3);
    rn_jw_end(&j);
    fflush(t->prog.log);
}

/* Evaluates, prints the epoch line, writes best (if improved) and last. */
/* The epoch's record and the schedule so far into the curves, the picture beside the checkpoints,
 * and the records into the state the checkpoints carry. */
/* The learning rate of optimizer step `step` of a run of spe steps per epoch. */
static double step_lr(const rn_train_cfg *c, int64_t step, int64_t spe)
{
    int64_t total = spe * c->epochs, warm = llround((double)spe * c->warmup_epochs);
    return c->min_lr + rn_lr_at(c->schedule, c->lr - c->min_lr, step, total, warm);
}

static int update_curves(trainer *t, const rn_epoch_rec *r)
{
    const rn_train_cfg *c = t->cfg;
    rn_curves_add_epoch(&t->curves, r);
    int64_t spe = (int64_t)(t->train.n / (size_t)c->batch);
    int64_t stride = spe * c->epochs / 2000 + 1; /* enough points for a smooth line */
    t->curves.nlr = 0;
    for (int64_t s = 0; s < t->st.global_step; s += stride)
        rn_curves_add_lr(&t->curves, (double)(s + 1) / (double)spe, step_lr(c, s, spe));
    free(t->st.history);
    t->st.history = rn_curves_history(&t->curves);
    return t->dist.rank ? RN_OK : rn_curves_png(&t->curves, t->curves_path);
}

static int end_of_epoch(trainer *t, int epoch, double loss, double acc, double secs, double img_s)
{
    rn_eval_result r;
    double t0 = rn_now();
    char when[64];
    snprintf(when, sizeof when, "after epoch %d", epoch);
    rn_dist_average_buffers(&t->dist, &t->model);
    int rc = rn_dist_check_replicas(&t->dist, &t->model, when);
    if (rc) return rc;
    rn_cifar shard = rn_dist_eval_shard(&t->dist, &t->test, 0); /* each rank a part */
    if ((rc = rn_evaluate(&t->model, &shard, 0, 0, &r, NULL, NULL))) return rc;
    rn_dist_reduce_eval(&t->dist, &r);
    double test_acc = r.n ? (double)r.correct / r.n : 0;
    if (t->prog.tty) printf("\n");
    printf("epoch %3d | train loss %.4f | train acc %6.2f%% | test loss %.4f | test acc %6.2f%% | "
           "%7.1f s | %6.1f img/s | eval %.1f s\n",
           epoch, loss, 100 * acc, r.loss, 100 * test_acc, secs, img_s, rn_now() - t0);
    fflush(stdout);
    log_epoch(t, epoch, loss, acc, r.loss, test_acc, secs, img_s);
    if (update_curves(t, &(rn_epoch_rec){epoch, loss, acc, r.loss, test_acc})) return RN_ERR_INPUT;
    t->st.accuracy = test_acc;
    if (test_acc > t->st.best_accuracy) {
        t->st.best_accuracy = test_acc;
        if (!t->dist.rank && rn_checkpoint_save(&t->model, t->best_path, &t->st, 0))
            return RN_ERR_INPUT;
        printf("saved %s (test accuracy %.2f%%)\n", t->best_path, 100 * test_acc);
    }
    return save_last(t);
}

static int run_epochs(trainer *t)
{
    const rn_train_cfg *c = t->cfg;
    int64_t spe = (int64_t)(t->train.n / (size_t)c->batch);
    for (int e = t->st.epoch; e < c->epochs; e++) {
        rn_loader *ld =
            rn_loader_create(&t->train, (size_t)c->batch, !c->no_shuffle, !c->no_augment, 1,
                             t->st.seed, (uint64_t)e, (size_t)t->st.step_in_epoch);
        /* The epoch's sums so far (a resumed epoch starts from the checkpoint's), and the images
         * this process has run for img/s. */
        rn_train_state *st = &t->st;
        double t0 = rn_now();
        long ran = 0;
        t->prog.t_start = t0;
        size_t n;
        while ((n = rn_loader_next(ld, t->b.x, t->b.lab)) > 0) {
            double lr = step_lr(c, t->st.global_step, spe);
            double ls;
            int cor;
            train_step(t, rn_dist_take_shard(&t->dist, t->b.x, t->b.lab, n), lr, &ls, &cor);
            /* the global batch's loss and accuracy, and whether any rank was interrupted */
            double sums[3] = {ls, cor, g_interrupted};
            rn_dist_sum(&t->dist, sums, 3);
            ls = sums[0];
            cor = (int)sums[1];
            t->st.global_step++;
            t->st.step_in_epoch++;
            if (!isfinite(ls)) {
                rn_loader_destroy(ld);
                if (!t->dist.rank) /* every rank has the same (global) loss */
                    fprintf(stderr,
                            "\nrn50cl: error: the loss became %s at epoch %d step %d; training "
                            "stopped and %s was left as it was. Lower --lr (now %g).\n",
                            isnan(ls) ? "NaN" : "infinite", e + 1, t->st.step_in_epoch,
                            t->best_path, c->lr);
                return RN_ERR_DIVERGED;
            }
            st->epoch_loss_sum += ls;
            st->epoch_correct += cor;
            st->epoch_seen += (int64_t)n;
            ran += (long)n;
            double img_s = ran / (rn_now() - t0);
            double seen = (double)st->epoch_seen;
            progress_step(&t->prog, e + 1, c->epochs, t->st.step_in_epoch, (int)spe,
                          st->epoch_loss_sum / seen, st->epoch_correct / seen, lr, img_s);
            log_step(&t->prog, e + 1, t->st.step_in_epoch, t->st.global_step, ls / n,
                     (double)cor / n, lr, img_s);
            int stop = c->max_steps > 0 && t->st.global_step >= c->max_steps;
            if (sums[2] > 0) {
                rn_loader_destroy(ld);
                printf("\ninterrupted: saving %s\n", t->last_path);
                rn_dist_average_buffers(&t->dist, &t->model);
                int rc = save_last(t);
                return rc ? rc : RN_ERR_INTERRUPTED;
            }
            if (stop && t->st.step_in_epoch < spe) {
                rn_loader_destroy(ld);
                double secs = rn_now() - t0;
                printf("\nstopping after %lld steps (--max-steps)\n", (long long)t->st.global_step);
                return end_of_epoch(t, e + 1, st->epoch_loss_sum / seen, st->epoch_correct / seen,
                                    secs, ran / secs);
            }
        }
        rn_loader_destroy(ld);
        double secs = rn_now() - t0, seen = (double)st->epoch_seen;
        double loss = seen ? st->epoch_loss_sum / seen : 0,
               acc = seen ? st->epoch_correct / seen : 0;
        st->epoch = e + 1;
        st->step_in_epoch = 0;
        st->epoch_loss_sum = 0;
        st->epoch_correct = st->epoch_seen = 0;
        int rc = end_of_epoch(t, e + 1, loss, acc, secs, ran / secs);
        if (rc) return rc;
        if (c->max_steps > 0 && t->st.global_step >= c->max_steps) break;
    }
    return RN_OK;
}

int rn_train(const rn_train_cfg *c)
{
    trainer *t = calloc(1, sizeof *t);
    t->cfg = c;
    rn_dist_init(&t->dist);
    t->prog.tty = isatty(STDOUT_FILENO);
    rn_ctx_options ctx_opts = c->ctx;
    if (t->dist.rank) ctx_opts.quiet = 1; /* rn_dist_announce lists every rank's device */
    int rc = rn_dist_device(&t->dist, &ctx_opts);
    if (!rc) rc = rn_ctx_create(&t->ctx, &ctx_opts);
    if (!rc) rn_dist_announce(&t->dist, &t->ctx);
    if (!rc) rc = setup_data(t);
    if (!rc) {
        /* A long run on a CPU device with no stored GEMM parameters first spends ~1 % of its
         * time on a quick search (see rn_tune_auto); short runs and tuned devices skip it. */
        double planned = (double)c->epochs * (double)(t->train.n - t->train.n % (size_t)c->batch);
        if (c->max_steps > 0 && (double)c->max_steps * c->batch < planned)
            planned = (double)c->max_steps * c->batch;
        rc = rn_tune_auto(&t->ctx, rn_dist_local_batch(&t->dist, c->batch), planned);
    }
    if (!rc) rc = setup_out(t);
    if (!rc) rc = setup_model(t);
    if (!rc) {
        printf("training ResNet50 (%zu parameters) for %d epochs, batch %d, lr %g (%s, %g warm-up "
               "epochs), momentum %g%s, weight decay %g%s, label smoothing %g, seed %llu\n",
               t->model.nparams, c->epochs, c->batch, c->lr, c->schedule, c->warmup_epochs,
               c->momentum, c->nesterov ? " nesterov" : "", c->weight_decay,
               c->bn_decay ? "" : " (not on BN and biases)", c->label_smoothing,
               (unsigned long long)t->st.seed);
        if (!c->resume && !c->pretrained)
            printf("fresh model: last BN of each bottleneck at γ = %g, classifier init ×%g\n",
                   c->init.residual_gamma, c->init.fc_scale);
        g_interrupted = 0;
        signal(SIGINT, on_sigint);
        /* mpirun turns Ctrl-C into SIGTERM to every rank (then SIGKILL after
         * odls_base_sigkill_timeout seconds) */
        if (t->dist.size > 1) signal(SIGTERM, on_sigint);
        rc = run_epochs(t);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        rn_dist_report(&t->dist);
        if (t->ctx.profile) rn_profile_print(&t->ctx, stdout);
        if (rc == RN_OK)
            printf("done: best test accuracy %.2f%%, checkpoints in %s\n",
                   100 * t->st.best_accuracy, c->out);
    }
    trainer_free(t);
    rc = rn_dist_end(&t->dist, rc);
    free(t);
    return rc;
}
