/* Name mapping by dotted component: the two MindSpore ResNets differ from torchvision only in the
 * batch-norm and shortcut module names, the head's name and the batch-norm parameter names. */
#include "format/msnames.h"

#include <stdio.h>
#include <string.h>

/* Optimizer and training-loop state that MindSpore's save_checkpoint stores beside the model. */
static const char *const optimizer_prefixes[] = {
    "moments.",
    "moment1.",
    "moment2.",
    "accum.",
    "learning_rate",
    "global_step",
    "momentum",
    "beta1_power",
    "beta2_power",
    "scale_sense",
    "current_iterator_step",
    "last_overflow_iterator_step",
    "epoch_num",
    "step_num",
    "loss_scale",
};

static const char *const bn_params[][2] = {
    {"gamma", "weight"},
    {"beta", "bias"},
    {"moving_mean", "running_mean"},
    {"moving_variance", "running_var"},
};

#define MAX_PARTS 16

static int split(char *s, char **parts)
{
    int n = 0;
    for (char *p = s; n < MAX_PARTS;) {
        parts[n++] = p;
        if (!(p = strchr(p, '.'))) break;
        *p++ = 0;
    }
    return n;
}

static void join(char **parts, int n, char *out, size_t len)
{
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "." : "", parts[i]);
}

int rn_ms_to_torchvision(const char *ms, char *out, size_t len)
{
    for (size_t i = 0; i < sizeof optimizer_prefixes / sizeof optimizer_prefixes[0]; i++)
        if (!strncmp(ms, optimizer_prefixes[i], strlen(optimizer_prefixes[i]))) return 0;
    char buf[512], *p[MAX_PARTS], bn[8];
    snprintf(buf, sizeof buf, "%s", ms);
    int n = split(buf, p);
    for (int i = 0; i < n; i++) {
        if (i == 0 && !strcmp(p[i], "norm")) p[i] = "bn1";
        else if (i == 0 && !strcmp(p[i], "end_point")) p[i] = "fc";
        else if (!strcmp(p[i], "down_sample") || !strcmp(p[i], "down_sample_layer"))
            p[i] = "downsample";
        else if (!strncmp(p[i], "norm", 4) && strlen(p[i]) == 5 && p[i][4] >= '1' &&
                 p[i][4] <= '9') {
            snprintf(bn, sizeof bn, "bn%c", p[i][4]);
            p[i] = bn;
        }
    }
    for (size_t k = 0; n > 1 && k < 4; k++)
        if (!strcmp(p[n - 1], bn_params[k][0])) p[n - 1] = (char *)bn_params[k][1];
    join(p, n, out, len);
    return 1;
}

void rn_torchvision_to_ms(const char *tv, char *out, size_t len)
{
    char buf[512], *p[MAX_PARTS], norm[8];
    snprintf(buf, sizeof buf, "%s", tv);
    int n = split(buf, p);
    /* A batch-norm's parameters: those of bn1..bn9 and of downsample.1. */
    int is_bn = n >= 2 && ((!strncmp(p[n - 2], "bn", 2) && strlen(p[n - 2]) == 3) ||
                           (n >= 3 && !strcmp(p[n - 2], "1") && !strcmp(p[n - 3], "downsample")));
    for (int i = 0; i < n - 1; i++) {
        if (i == 0 && !strcmp(p[i], "bn1")) p[i] = "norm";
        else if (!strcmp(p[i], "downsample")) p[i] = "down_sample";
        else if (!strncmp(p[i], "bn", 2) && strlen(p[i]) == 3) {
            snprintf(norm, sizeof norm, "norm%c", p[i][2]);
            p[i] = norm;
        }
    }
    for (size_t k = 0; is_bn && k < 4; k++)
        if (!strcmp(p[n - 1], bn_params[k][1])) p[n - 1] = (char *)bn_params[k][0];
    join(p, n, out, len);
}
