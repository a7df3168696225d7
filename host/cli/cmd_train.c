/* Options of `rn50cl train`, `rn50cl eval` and `rn50cl predict`; each fills its job's
 * configuration and checks ranges, then hands over to host/train. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "rn50cl/rn50cl.h"
#include "train/train.h"

#define RN_STR_(x) #x
#define RN_STR(x) RN_STR_(x) /* a number macro as text, for help strings */

static int bad(const char *what)
{
    fprintf(stderr, "rn50cl: error: %s\n", what);
    return RN_ERR_INPUT;
}

/* The flags every device-and-data command shares, laid over the environment's options. */
typedef struct edge_flags {
    const char *device, *data, *data_url;
    int no_tune;
} edge_flags;

static void apply_flags(const edge_flags *f, const rn_env *env, rn_ctx_options *ctx,
                        rn_data_options *data)
{
    *ctx = env->ctx;
    *data = env->data;
    rn_env_flag_device(ctx, f->device);
    rn_env_flag_data(data, f->data, f->data_url);
    if (f->no_tune) ctx->no_tune = 1;
}

int rn_cmd_train(int argc, char **argv, const rn_env *env)
{
    rn_train_cfg c;
    edge_flags f;
    int seed, ws, no_nesterov, no_bn_decay;
    const char *recipe;
    int bucket;
    const rn_opt opts[] = {
        {"device", RN_OPT_STR, &f.device, "SEL",
         "device index, gpu|cpu|accel, or part of its name; under mpirun a list SEL,SEL,... "
         "gives one per node-local rank"},
        {"data", RN_OPT_STR, &f.data, "DIR", "CIFAR-10 binary folder (default: see README)"},
        {"data-url", RN_OPT_STR, &f.data_url, "URL", "mirror of cifar-10-binary.tar.gz"},
        {"recipe", RN_OPT_STR, &recipe, "NAME",
         "default|tutorial (MindSpore's fine-tuning, implied by --pretrained); flags override it"},
        {"epochs", RN_OPT_INT, &c.epochs, "N", "epochs to train (default 5)"},
        {"batch-size", RN_OPT_INT, &c.batch, "N", "images per step (default 128)"},
        {"lr", RN_OPT_FLOAT, &c.lr, "F", "peak learning rate (default 0.05)"},
        {"min-lr", RN_OPT_FLOAT, &c.min_lr, "F",
         "learning rate the schedule decays towards instead of 0 (default 0)"},
        {"momentum", RN_OPT_FLOAT, &c.momentum, "F", "SGD momentum (default 0.9)"},
        {"weight-decay", RN_OPT_FLOAT, &c.weight_decay, "F", "L2 weight decay (default 5e-4)"},
        {"bn-decay", RN_OPT_FLAG, &c.bn_decay, NULL, "weight decay on BN γ/β and fc.bias too"},
        {"no-bn-decay", RN_OPT_FLAG, &no_bn_decay, NULL,
         "weight decay on conv and fc weights only (the default)"},
        {"nesterov", RN_OPT_FLAG, &c.nesterov, NULL, "Nesterov momentum (the default)"},
        {"no-nesterov", RN_OPT_FLAG, &no_nesterov, NULL, "plain momentum"},
        {"schedule", RN_OPT_STR, &c.schedule, "S", "cosine|step|constant (default cosine)"},
        {"warmup-epochs", RN_OPT_FLOAT, &c.warmup_epochs, "F",
         "linear warm-up epochs, fractions allowed (default 0.25)"},
        {"label-smoothing", RN_OPT_FLOAT, &c.label_smoothing, "F", "label smoothing (default 0.1)"},
        {"residual-gamma", RN_OPT_FLOAT, &c.init.residual_gamma, "F",
         "initial γ of each bottleneck's last BN (default 0.2; 1 = torchvision)"},
        {"fc-init-scale", RN_OPT_FLOAT, &c.init.fc_scale, "F",
         "classifier init × PyTorch's default (default 0: zeros)"},
        {"padding", RN_OPT_STR, &c.padding, "P",
         "symmetric|same (MindSpore's pad_mode); default: the checkpoint's, else symmetric"},
        {"seed", RN_OPT_INT, &seed, "N", "seed for init, shuffling and augmentation (default 1)"},
        {"pretrained", RN_OPT_STR, &c.pretrained, "FILE",
         "start from ResNet50 weights: safetensors, PyTorch .pth or MindSpore .ckpt"},
        {"resume", RN_OPT_STR, &c.resume, "FILE", "continue from a resnet50-last.safetensors"},
        {"out", RN_OPT_STR, &c.out, "DIR", "checkpoint folder (default ./BestCheckPoint)"},
        {"max-steps", RN_OPT_INT, &c.max_steps, "N", "stop after N optimizer steps in all"},
        {"log", RN_OPT_STR, &c.log, "FILE", "write one JSON object per step and per epoch"},
        {"classes", RN_OPT_INT, &c.classes, "N", "classifier outputs (default 10)"},
        {"no-augment", RN_OPT_FLAG, &c.no_augment, NULL, "no random crop or flip"},
        {"no-shuffle", RN_OPT_FLAG, &c.no_shuffle, NULL, "keep file order"},
        {"train-limit", RN_OPT_INT, &c.limit_train, "N", "use only the first N training images"},
        {"test-limit", RN_OPT_INT, &c.limit_test, "N", "evaluate only the first N test images"},
        {"workspace-mb", RN_OPT_INT, &ws, "N",
         "im2col workspace in MiB (default " RN_STR(RN_WORKSPACE_MB) ")"},
        {"no-tune", RN_OPT_FLAG, &f.no_tune, NULL,
         "ignore the GEMM choices stored by `rn50cl tune` (CLBlast everywhere)"},
        {"bucket-mb", RN_OPT_INT, &bucket, "N",
         "under mpirun: gradients per all-reduce in MB, sent while backward goes on (default 25)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    /* The first pass finds the recipe (named, else the tutorial's with --pretrained); the second
     * lays the flags over it, so that a flag wins wherever it stands. */
    const char *use = "default";
    for (int pass = 0; pass < 2; pass++) {
        rn_train_defaults(&c);
        if (rn_train_recipe(&c, use)) return bad("--recipe must be default or tutorial.");
        f = (edge_flags){0};
        seed = (int)c.seed, ws = (int)c.workspace_mb, no_nesterov = 0, no_bn_decay = 0;
        bucket = (int)c.bucket_mb;
        recipe = NULL;
        int rc = rn_parse_opts(argc, argv, opts, "usage: rn50cl train [options]",
                               "Train ResNet50 on CIFAR-10, evaluating after every epoch.");
        if (rc) return rc < 0 ? RN_OK : rc;
        use = recipe ? recipe : c.pretrained ? "tutorial" : "default";
    }
    if (strcmp(use, "default")) printf("recipe: %s (the flags given override it)\n", use);
    if (no_nesterov) c.nesterov = 0;
    if (no_bn_decay) c.bn_decay = 0;
    apply_flags(&f, env, &c.ctx, &c.data);
    c.seed = (uint64_t)(unsigned)seed;
    c.workspace_mb = (size_t)ws;
    c.bucket_mb = (size_t)bucket;
    if (c.epochs < 1) return bad("--epochs must be at least 1.");
    if (c.batch < 2) return bad("--batch-size must be at least 2 (batch-norm needs two images).");
    if (!(c.lr > 0)) return bad("--lr must be positive.");
    if (c.min_lr < 0 || c.min_lr > c.lr) return bad("--min-lr must be between 0 and --lr.");
    if (c.momentum < 0 || c.momentum >= 1) return bad("--momentum must be in [0, 1).");
    if (c.weight_decay < 0) return bad("--weight-decay must not be negative.");
    if (c.label_smoothing < 0 || c.label_smoothing >= 1)
        return bad("--label-smoothing must be in [0, 1).");
    if (strcmp(c.schedule, "cosine") && strcmp(c.schedule, "step") &&
        strcmp(c.schedule, "constant"))
        return bad("--schedule must be cosine, step or constant.");
    rn_padding padding;
    if (c.padding && rn_padding_parse(c.padding, &padding))
        return bad("--padding must be symmetric or same.");
    if (!(c.warmup_epochs >= 0) || c.warmup_epochs > c.epochs)
        return bad("--warmup-epochs must be between 0 and --epochs.");
    if (!(c.init.residual_gamma >= 0) || c.init.residual_gamma > 10)
        return bad("--residual-gamma must be between 0 and 10.");
    if (!(c.init.fc_scale >= 0) || c.init.fc_scale > 10)
        return bad("--fc-init-scale must be between 0 and 10.");
    if (c.classes < 2) return bad("--classes must be at least 2.");
    if (c.max_steps < 0) return bad("--max-steps must be 0 (no limit) or more.");
    if (c.limit_train < 0) return bad("--train-limit must be 0 (all images) or more.");
    if (c.limit_test < 0) return bad("--test-limit must be 0 (all images) or more.");
    if (ws < 1) return bad("--workspace-mb must be at least 1.");
    if (bucket < 1) return bad("--bucket-mb must be at least 1.");
    if (c.resume && c.pretrained) return bad("--resume and --pretrained cannot be combined.");
    return rn_train(&c);
}

static int eval_like(int argc, char **argv, const rn_env *env, int predict)
{
    rn_eval_cfg c = {.batch = 128, .count = 6};
    edge_flags f = {0};
    rn_opt opts[13] = {
        {"checkpoint", RN_OPT_STR, &c.checkpoint, "FILE",
         "model to use (safetensors, PyTorch .pth or MindSpore .ckpt)"},
        {"device", RN_OPT_STR, &f.device, "SEL",
         "device index, gpu|cpu|accel, or part of its name"},
        {"data", RN_OPT_STR, &f.data, "DIR", "CIFAR-10 binary folder (default: see README)"},
        {"data-url", RN_OPT_STR, &f.data_url, "URL", "mirror of cifar-10-binary.tar.gz"},
        {"batch-size", RN_OPT_INT, &c.batch, "N", "images per pass (default 128)"},
        {"test-limit", RN_OPT_INT, &c.limit_test, "N", "use only the first N test images"},
        {"no-tune", RN_OPT_FLAG, &f.no_tune, NULL,
         "ignore the GEMM choices stored by `rn50cl tune` (CLBlast everywhere)"},
        {"tta", RN_OPT_FLAG, &c.tta, NULL, "average each image's logits with its mirror image's"},
    }; /* the rest are zero: the table ends at the first NULL name */
    size_t n = 8;
    if (predict) {
        opts[n++] = (rn_opt){"count", RN_OPT_INT, &c.count, "N",
                             "how many test images to show (default 6)"};
        opts[n++] = (rn_opt){"grid", RN_OPT_STR, &c.grid, "FILE.png",
                             "picture of the images titled with predictions"};
        opts[n++] = (rn_opt){"save-logits", RN_OPT_STR, &c.save_logits, "FILE.npy",
                             "logits of every test image, float32 (images x classes)"};
    } else {
        opts[n++] = (rn_opt){"json", RN_OPT_FLAG, &c.json, NULL, "print the results as JSON"};
    }
    int rc =
        predict
            ? rn_parse_opts(argc, argv, opts, "usage: rn50cl predict --checkpoint FILE [options]",
                            "Show predictions for the first test images.")
            : rn_parse_opts(argc, argv, opts, "usage: rn50cl eval --checkpoint FILE [options]",
                            "Test accuracy, per-class accuracy and confusion matrix.");
    if (rc) return rc < 0 ? RN_OK : rc;
    if (c.batch < 1) return bad("--batch-size must be at least 1.");
    if (c.limit_test < 0) return bad("--test-limit must be 0 (all images) or more.");
    if (predict && c.count < 1) return bad("--count must be at least 1.");
    apply_flags(&f, env, &c.ctx, &c.data);
    return predict ? rn_predict_job(&c) : rn_eval_job(&c);
}

int rn_cmd_eval(int argc, char **argv, const rn_env *env)
{
    return eval_like(argc, argv, env, 0);
}

int rn_cmd_predict(int argc, char **argv, const rn_env *env)
{
    return eval_like(argc, argv, env, 1);
}
