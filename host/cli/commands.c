/* The table of subcommands. Each entry's function parses that command's options and calls into
 * the library; new commands are added here and documented in README.md. */
#include "cli/cli.h"

#include <stddef.h>

int rn_cmd_info(int argc, char **argv, const rn_env *env);
int rn_cmd_train(int argc, char **argv, const rn_env *env);
int rn_cmd_eval(int argc, char **argv, const rn_env *env);
int rn_cmd_predict(int argc, char **argv, const rn_env *env);
int rn_cmd_tune(int argc, char **argv, const rn_env *env);
int rn_cmd_plot(int argc, char **argv, const rn_env *env);
int rn_cmd_convert(int argc, char **argv, const rn_env *env);

const rn_command rn_commands[] = {
    {"train", "train ResNet50 on CIFAR-10, evaluating after every epoch", rn_cmd_train},
    {"eval", "test accuracy, per-class accuracy and confusion matrix of a checkpoint", rn_cmd_eval},
    {"predict", "predictions for the first test images, a picture of them, logits", rn_cmd_predict},
    {"info", "select a device, build all kernels, report start-up time", rn_cmd_info},
    {"tune", "choose the GEMM back-end and parameters per shape for this device", rn_cmd_tune},
    {"plot", "draw loss, accuracy and learning rate per epoch from a train --log file",
     rn_cmd_plot},
    {"convert", "convert weights between safetensors, PyTorch .pth and MindSpore .ckpt",
     rn_cmd_convert},
    {NULL, NULL, NULL},
};
