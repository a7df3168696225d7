/* Named tensors read from any weights file rn50cl accepts — safetensors, PyTorch .pth (torch.save's
 * zip) or MindSpore .ckpt — recognised by their first bytes, not their extension. Names come out
 * as torchvision's ResNet50 names; the data stays where the file put it and is converted (dtype,
 * strides) only when read. */
#ifndef RN_FORMAT_TENSORS_H
#define RN_FORMAT_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "format/safetensors.h"

typedef enum rn_ts_source {
    RN_TS_SAFETENSORS,
    RN_TS_PTH,
    RN_TS_MINDSPORE, /* MindSpore's layers pad 'same' (asymmetric at stride 2) */
    RN_TS_UNKNOWN,
} rn_ts_source;

typedef struct rn_tensor {
    char *name;     /* torchvision name */
    char *original; /* the name in the file (differs for MindSpore and "module."-prefixed files) */
    rn_st_dtype dtype;
    int ndim;
    int64_t shape[RN_ST_MAX_DIMS];
    int64_t stride[RN_ST_MAX_DIMS]; /* in elements, all >= 0 */
    size_t numel;
    const uint8_t *data; /* element [0, ..., 0]; every strided element lies inside the file */
    uint8_t *own;        /* data joined from several file slices, owned here; else NULL */
} rn_tensor;

typedef struct rn_tensors {
    rn_ts_source source;
    rn_tensor *t;
    size_t count;
    char **ignored; /* file entries that hold no model tensor (optimizer state, other keys) */
    size_t ignored_count;
    rn_st_file st;      /* safetensors: the file, its metadata */
    const uint8_t *buf; /* the file's bytes (st.buf for safetensors, else owned) */
    uint8_t *owned_buf;
} rn_tensors;

/* The format of a file from its first n bytes (n >= 16 recommended). */
rn_ts_source rn_ts_detect(const uint8_t *head, size_t n);
const char *rn_ts_source_name(rn_ts_source s); /* "safetensors", "PyTorch .pth", ... */

/* Reads path (whichever format) into ts. RN_OK, or RN_ERR_INPUT after one "rn50cl: error:"
 * sentence naming path (ts then needs no freeing). */
int rn_tensors_open(rn_tensors *ts, const char *path);
/* The same for a .pth or .ckpt already in memory (buf must outlive ts): 0, or -1 with one clause
 * in err. The entry point for fuzzing both parsers. */
int rn_tensors_parse(rn_tensors *ts, const uint8_t *buf, size_t size, char *err, size_t errlen);
void rn_tensors_free(rn_tensors *ts);

const rn_tensor *rn_tensors_find(const rn_tensors *ts, const char *name); /* NULL if absent */
/* A safetensors file's metadata value, NULL if absent or another format. */
const char *rn_tensors_meta(const rn_tensors *ts, const char *key);

int rn_tensor_is_float(const rn_tensor *t);
/* numel values in row-major order: floating-point dtypes converted to float, or integer dtypes
 * to int64. The caller checks rn_tensor_is_float first. */
void rn_tensor_read_f32(const rn_tensor *t, float *dst);
void rn_tensor_read_i64(const rn_tensor *t, int64_t *dst);

/* How the parsers refuse input: one clause, formatted into err, and -1. */
int rn_ts_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds an entry to ts (used by the parsers). name and original are copied; 0 or -1 (memory). */
int rn_tensors_add(rn_tensors *ts, const char *name, const char *original, const rn_tensor *t);
int rn_tensors_ignore(rn_tensors *ts, const char *name);

#endif
