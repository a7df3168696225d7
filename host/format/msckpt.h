/* MindSpore .ckpt files: protobuf Checkpoint { repeated Value value = 1; } with Value { string tag
 * = 1; TensorProto tensor = 2; } and TensorProto { repeated int64 dims = 1; string tensor_type = 2;
 * bytes tensor_content = 3; } (mindspore/ccsrc/utils/checkpoint.proto). */
#ifndef RN_FORMAT_MSCKPT_H
#define RN_FORMAT_MSCKPT_H

#include "format/tensors.h"

/* Adds the checkpoint's model tensors to ts under torchvision names (optimizer entries and
 * non-numeric values go to ts->ignored). buf must outlive ts. 0, or -1 with one clause in err. */
int rn_msckpt_parse(rn_tensors *ts, const uint8_t *buf, size_t size, char *err, size_t errlen);

typedef struct rn_ms_tensor {
    const char *name; /* written as is: map it with rn_torchvision_to_ms first */
    rn_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data; /* contiguous, little-endian */
} rn_ms_tensor;

/* Writes a checkpoint atomically. RN_OK, or RN_ERR_INPUT after one "rn50cl: error:" sentence. */
int rn_msckpt_write(const char *path, const rn_ms_tensor *t, size_t n);

#endif
