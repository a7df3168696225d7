/* safetensors checkpoint container: an 8-byte little-endian header length, a JSON header (dtype,
 * shape and data offsets of each tensor, plus "__metadata__" strings), then raw little-endian data.
 * The writer is atomic; the reader trusts nothing in the file and says exactly what is wrong. */
#ifndef RN_FORMAT_SAFETENSORS_H
#define RN_FORMAT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define RN_ST_MAX_DIMS 8

typedef enum rn_st_dtype {
    RN_ST_F32,
    RN_ST_F16,
    RN_ST_BF16,
    RN_ST_F64,
    RN_ST_I64,
    RN_ST_I32,
} rn_st_dtype;

/* "F32", "F16", ...; and the bytes of one element. */
const char *rn_st_dtype_name(rn_st_dtype t);
size_t rn_st_dtype_size(rn_st_dtype t);

/* ---- writing ---- */

typedef struct rn_st_writer rn_st_writer;

rn_st_writer *rn_st_writer_new(void); /* NULL when out of memory */
/* Adds a tensor; data is not copied and must stay valid until rn_st_write. Names and metadata are
 * copied. RN_ERR_INTERNAL for a duplicate name, ndim outside 0..RN_ST_MAX_DIMS, a negative dim or
 * no memory. */
int rn_st_add(rn_st_writer *w, const char *name, rn_st_dtype dtype, int ndim, const int64_t *shape,
              const void *data);
int rn_st_add_meta(rn_st_writer *w, const char *key, const char *value);
/* Writes the file atomically, tensors contiguous in the order added. RN_OK, or RN_ERR_INPUT after
 * one "rn50cl: error:" sentence naming path. */
int rn_st_write(const rn_st_writer *w, const char *path);
void rn_st_writer_free(rn_st_writer *w);

/* ---- reading ---- */

typedef struct rn_st_tensor {
    char *name;
    rn_st_dtype dtype;
    int ndim;
    int64_t shape[RN_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end; /* byte offsets into the data section */
} rn_st_tensor;

typedef struct rn_st_file {
    char *path;
    uint8_t *buf; /* the whole file */
    size_t size;
    const uint8_t *data; /* data section, data_len bytes */
    size_t data_len;
    rn_st_tensor *tensors; /* in header order */
    size_t count;
    char **meta_keys, **meta_values;
    size_t meta_count;
} rn_st_file;

/* Reads and validates path. RN_OK, or RN_ERR_INPUT after one "rn50cl: error:" sentence (and *f
 * needs no closing). */
int rn_st_open(rn_st_file *f, const char *path);
/* The same for a file already read into buf (malloc'd; f owns it from here on, also on failure). */
int rn_st_adopt(rn_st_file *f, const char *path, uint8_t *buf, size_t size);
const rn_st_tensor *rn_st_find(const rn_st_file *f, const char *name); /* NULL if absent */
/* Converts F32/F16/BF16/F64 to float (numel values); integer tensors are refused (RN_ERR_INPUT). */
int rn_st_read_f32(const rn_st_file *f, const rn_st_tensor *t, float *dst);
/* I64 or I32 as int64 (numel values); float tensors are refused (RN_ERR_INPUT). */
int rn_st_read_i64(const rn_st_file *f, const rn_st_tensor *t, int64_t *dst);
const char *rn_st_meta(const rn_st_file *f, const char *key); /* NULL if absent */
void rn_st_close(rn_st_file *f);

float rn_st_half_to_float(uint16_t h); /* IEEE binary16 to float, exactly */

#endif
