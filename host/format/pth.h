/* PyTorch .pth files as torch.save writes them since 1.6: a zip of "<name>/data.pkl" (the pickled
 * state_dict) and "<name>/data/<key>" (one raw little-endian storage per key). */
#ifndef RN_FORMAT_PTH_H
#define RN_FORMAT_PTH_H

#include "format/tensors.h"

/* Adds the state_dict's tensors (views into buf, which must outlive ts) to ts. 0, or -1 with one
 * clause in err. */
int rn_pth_parse(rn_tensors *ts, const uint8_t *buf, size_t size, char *err, size_t errlen);

#endif
