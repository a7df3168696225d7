/* Training curves: per-epoch loss and accuracy and the learning rate per step, gathered by the
 * trainer (and carried in its last checkpoint so --resume keeps them) or read from a --log JSONL
 * file, and drawn as one PNG of three panels (loss, accuracy, learning rate). */
#ifndef RN_TRAIN_CURVES_H
#define RN_TRAIN_CURVES_H

#include <stddef.h>

typedef struct rn_epoch_rec {
    int epoch; /* 1-based */
    double train_loss, train_acc, test_loss, test_acc;
} rn_epoch_rec;

typedef struct rn_curves {
    rn_epoch_rec *ep; /* by epoch, ascending */
    size_t nep, cap_ep;
    double *lr_x, *lr_y; /* learning rate at position x (in epochs: 0 = start of training) */
    size_t nlr, cap_lr;
} rn_curves;

/* Adds r, replacing a record of the same epoch (a run stopped mid-epoch and resumed) and dropping
 * any later ones. */
void rn_curves_add_epoch(rn_curves *c, const rn_epoch_rec *r);
void rn_curves_add_lr(rn_curves *c, double x, double lr);
void rn_curves_free(rn_curves *c);

/* The epoch records as compact JSON ([[epoch, train_loss, train_acc, test_loss, test_acc], ...]),
 * malloc'd; and back. rn_curves_parse_history returns 0, or -1 for text that is not such a list
 * (c then holds no epochs). */
char *rn_curves_history(const rn_curves *c);
int rn_curves_parse_history(rn_curves *c, const char *json);

/* Reads the "epoch" and "step" lines of a `train --log` file. RN_OK, or RN_ERR_INPUT after one
 * "rn50cl: error:" sentence naming the file and line. */
int rn_curves_read_log(rn_curves *c, const char *path);

/* Draws c (at least one epoch or one learning-rate point) into path, written atomically. RN_OK,
 * or RN_ERR_INPUT after one sentence. */
int rn_curves_png(const rn_curves *c, const char *path);

#endif
