/* `rn50cl convert IN OUT`: weights between safetensors, PyTorch .pth and MindSpore .ckpt. The two
 * file names are positional; everything else (--help) goes through the shared option parser. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "format/convert.h"
#include "rn50cl/rn50cl.h"

#define USAGE "usage: rn50cl convert IN OUT"

int rn_cmd_convert(int argc, char **argv, const rn_env *env)
{
    (void)env;
    const rn_opt opts[] = {{NULL, 0, NULL, NULL, NULL}};
    const char *files[2] = {NULL, NULL};
    char *rest[8] = {argv[0]};
    int nrest = 1, nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-", 1) != 0 && nfiles < 2) files[nfiles++] = argv[i];
        else if (nrest < 8) rest[nrest++] = argv[i];
    }
    int rc = rn_parse_opts(nrest, rest, opts, USAGE,
                           "Convert ResNet50 weights. IN: safetensors, a PyTorch .pth (torch.save, "
                           "PyTorch >= 1.6) or a MindSpore .ckpt, recognised by content. OUT: "
                           "*.safetensors (torchvision names, what --pretrained, eval and predict "
                           "read; MindSpore batch-norms get num_batches_tracked = 0) or *.ckpt "
                           "(MindSpore, the ResNet50 tutorial's names, for load_checkpoint; "
                           "counters and momentum are left out).");
    if (rc) return rc < 0 ? RN_OK : rc;
    if (nfiles != 2 || argc - 1 != nfiles) {
        fprintf(stderr, "rn50cl: error: convert takes an input and an output file.\n%s\n", USAGE);
        return RN_ERR_INPUT;
    }
    return rn_convert(files[0], files[1]);
}
