/* Padding rules shared by conv and max-pool (see padding.h): the 'same' arithmetic once, and the
 * names the command line and checkpoint metadata use. */
#include "ops/padding.h"

#include <string.h>

int rn_same_padding(int size, int k, int stride, int *before)
{
    const int out = (size + stride - 1) / stride;
    int total = (out - 1) * stride + k - size;
    if (total < 0) total = 0;
    *before = total / 2;
    return out;
}

const char *rn_padding_name(rn_padding p)
{
    return p == RN_PAD_SAME ? "same" : "symmetric";
}

int rn_padding_parse(const char *name, rn_padding *p)
{
    if (!strcmp(name, "symmetric")) *p = RN_PAD_SYMMETRIC;
    else if (!strcmp(name, "same")) *p = RN_PAD_SAME;
    else return -1;
    return 0;
}
