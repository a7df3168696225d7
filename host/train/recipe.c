/* Named training recipes (`train --recipe NAME`): a few values laid over rn_train_defaults before
 * the command line is read, so that flags given always win. "default" is the defaults as they
 * are; the table holds the others. */
#include <string.h>

#include "train/train.h"

/* Every hyper-parameter a recipe fixes; the rest stay as rn_train_defaults has them. */
typedef struct recipe {
    const char *name;
    int batch, epochs, nesterov;
    double warmup_epochs, lr, min_lr, momentum, weight_decay, label_smoothing;
    const char *schedule;
} recipe;

static const recipe recipes[] = {
    /* MindSpore's ResNet50 fine-tuning tutorial: batch 256, 5 epochs, nn.cosine_decay_lr from
     * 1e-3 to 1e-5 without warm-up, nn.Momentum(momentum=0.9) (not Nesterov, weight decay 0),
     * SoftmaxCrossEntropyWithLogits (no label smoothing). */
    {"tutorial", 256, 5, 0, 0, 1e-3, 1e-5, 0.9, 0.0, 0.0, "cosine"},
};

int rn_train_recipe(rn_train_cfg *c, const char *name)
{
    if (!strcmp(name, "default")) return 0;
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        const recipe *r = &recipes[i];
        if (strcmp(name, r->name)) continue;
        c->batch = r->batch;
        c->epochs = r->epochs;
        c->warmup_epochs = r->warmup_epochs;
        c->nesterov = r->nesterov;
        c->lr = r->lr;
        c->min_lr = r->min_lr;
        c->momentum = r->momentum;
        c->weight_decay = r->weight_decay;
        c->label_smoothing = r->label_smoothing;
        c->schedule = r->schedule;
        return 0;
    }
    return -1;
}
