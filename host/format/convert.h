/* `rn50cl convert`: weights from safetensors, .pth or .ckpt into safetensors with torchvision
 * names, or into a MindSpore .ckpt with the tutorial's names, chosen by the output's extension. */
#ifndef RN_FORMAT_CONVERT_H
#define RN_FORMAT_CONVERT_H

/* Converts in to out (written atomically) and prints what was converted. RN_OK, or RN_ERR_INPUT
 * after one "rn50cl: error:" sentence. */
int rn_convert(const char *in, const char *out);

#endif
