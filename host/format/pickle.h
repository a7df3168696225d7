/* A restricted unpickler for the data.pkl of a torch.save zip: it understands the pickle opcodes
 * (protocols 2-4) and just the globals a state_dict is made of (collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.<Float|Half|BFloat16|Double|Long|
 * Int>Storage) and refuses every other global by name. It builds values; it never calls anything.
 */
#ifndef RN_FORMAT_PICKLE_H
#define RN_FORMAT_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "format/safetensors.h"

typedef struct rn_pkl_tensor {
    char *name;
    char *storage; /* persistent-id key: the tensor's bytes are zip entry "<prefix>/data/<key>" */
    rn_st_dtype dtype;
    uint64_t storage_numel; /* elements the storage holds, as the pickle says */
    uint64_t offset;        /* storage offset in elements */
    int ndim;
    int64_t shape[RN_ST_MAX_DIMS], stride[RN_ST_MAX_DIMS];
    uint64_t
        span; /* elements from offset to the last one the view reaches, plus one (0 if empty) */
} rn_pkl_tensor;

typedef struct rn_pkl_dict {
    rn_pkl_tensor *t;
    size_t count;
    char **ignored; /* keys of the pickled dict that are not tensors ("optimizer", "epoch", ...) */
    size_t ignored_count;
} rn_pkl_dict;

/* The state_dict in a pickle: the top-level dict of tensors, or the dict under its "state_dict"
 * or "model" key. 0, or -1 with one clause in err (then d needs no freeing). */
int rn_pickle_state_dict(rn_pkl_dict *d, const uint8_t *buf, size_t len, char *err, size_t errlen);
void rn_pkl_dict_free(rn_pkl_dict *d);

#endif
