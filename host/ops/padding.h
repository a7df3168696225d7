/* The two padding rules of conv and max-pool: PyTorch's symmetric padding (the same number of
 * rows above and below) and MindSpore's / TensorFlow's pad_mode='same', which pads
 * asymmetrically at stride 2 (the extra row and column go below and to the right). */
#ifndef RN_OPS_PADDING_H
#define RN_OPS_PADDING_H

typedef enum rn_padding { RN_PAD_SYMMETRIC, RN_PAD_SAME } rn_padding;

/* 'same' along one axis of `size` elements: out = ceil(size/stride) outputs, and of the total
 * padding max((out − 1)·stride + k − size, 0) the floor of half goes before the image, the rest
 * after it. Returns out; *before receives the padding before. */
int rn_same_padding(int size, int k, int stride, int *before);

/* "symmetric" or "same" (the spelling of --padding and of checkpoint metadata). */
const char *rn_padding_name(rn_padding p);
/* 0 and *p set when name is one of rn_padding_name's spellings, else -1. */
int rn_padding_parse(const char *name, rn_padding *p);

#endif
