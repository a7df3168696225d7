/* Model checkpoints as safetensors with torchvision state_dict names, so a file moves between
 * rn50cl and PyTorch unchanged. "last" files also carry momentum buffers and the position in
 * training (epoch, step) for --resume; "best" files hold only the model. Loading also takes
 * PyTorch .pth and MindSpore .ckpt weights (format/tensors.h). */
#ifndef RN_TRAIN_CHECKPOINT_H
#define RN_TRAIN_CHECKPOINT_H

#include <stdint.h>

#include "format/tensors.h"
#include "model/resnet50.h"

#define RN_MOMENTUM_PREFIX "momentum."

typedef struct rn_train_state {
    int epoch;         /* epochs completed before `step_in_epoch` */
    int step_in_epoch; /* optimizer steps already taken in the current epoch */
    int64_t global_step;
    double best_accuracy; /* best test accuracy so far (0..1), -1 if none */
    double accuracy;      /* test accuracy of this checkpoint's model, -1 if not evaluated */
    uint64_t seed;
    double epoch_loss_sum; /* sums over the steps of the epoch in progress, so that a resumed */
    int64_t epoch_correct; /* epoch reports the same figures as an uninterrupted one */
    int64_t epoch_seen;
    char *history; /* epoch records (rn_curves_history's JSON), malloc'd; NULL if none. Saved
                    * when set; load sets it (or NULL) and the caller frees it */
} rn_train_state;

/* Writes the model (and, with_momentum, momentum buffers + state for resuming) atomically; the
 * metadata records the model's padding rule ("padding": "symmetric" or "same"). */
int rn_checkpoint_save(rn_model *m, const char *path, const rn_train_state *st, int with_momentum);

/* The format of a weights file from its first bytes (RN_TS_UNKNOWN if unreadable): a MindSpore
 * checkpoint's model padded 'same'. Loading below accepts safetensors, .pth and .ckpt alike. */
rn_ts_source rn_checkpoint_source(const char *path);

/* Number of classes of a checkpoint (from fc.weight), or RN_ERR_INPUT-style -1 after a message. */
int rn_checkpoint_classes(const char *path);

/* Loads every model tensor strictly: each entry must be present with its shape (with_momentum:
 * the momentum buffers and training state too), and sets the model's padding to the one the
 * file records (symmetric when it records none). Returns 0 or RN_ERR_INPUT after one sentence. */
int rn_checkpoint_load(rn_model *m, const char *path, rn_train_state *st, int with_momentum);

/* Loads every tensor whose name and shape match (torchvision/timm weights); a classifier head
 * of another class count is re-initialised from seed and said so. A file that records a padding
 * rule sets the model's; one that records none (torchvision's) leaves it. Returns 0 or
 * RN_ERR_INPUT. */
int rn_checkpoint_load_pretrained(rn_model *m, const char *path, uint64_t seed);

#endif
