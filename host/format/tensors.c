/* One view of every weights format: the file is read once, recognised by its first bytes and
 * handed to its parser; tensors stay views into it and are converted only when read. */
#include "format/tensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "format/msckpt.h"
#include "format/pth.h"

static int is_legacy_torch(const uint8_t *h, size_t n)
{
    return n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5; /* a bare pickle */
}

rn_ts_source rn_ts_detect(const uint8_t *h, size_t n)
{
    if (n >= 4 && !memcmp(h, "PK\3\4", 4)) return RN_TS_PTH;
    /* A header length under 4 GB, then the JSON header's brace. */
    if (n >= 9 && h[8] == '{' && !h[4] && !h[5] && !h[6] && !h[7]) return RN_TS_SAFETENSORS;
    if (n >= 2 && h[0] == 0x0a) return RN_TS_MINDSPORE; /* field 1 (value), length-delimited */
    return RN_TS_UNKNOWN;
}

const char *rn_ts_source_name(rn_ts_source s)
{
    static const char *const names[] = {"safetensors", "PyTorch .pth", "MindSpore .ckpt",
                                        "unknown"};
    return names[s];
}

int rn_tensors_add(rn_tensors *ts, const char *name, const char *original, const rn_tensor *t)
{
    if (rn_tensors_find(ts, name)) return -1;
    rn_tensor *n = realloc(ts->t, (ts->count + 1) * sizeof *n);
    if (!n) return -1;
    ts->t = n;
    n[ts->count] = *t;
    n[ts->count].name = strdup(name);
    n[ts->count].original = strdup(original);
    if (!n[ts->count].name || !n[ts->count].original) {
        free(n[ts->count].name);
        free(n[ts->count].original);
        return -1;
    }
    ts->count++;
    return 0;
}

int rn_tensors_ignore(rn_tensors *ts, const char *name)
{
    char **n = realloc(ts->ignored, (ts->ignored_count + 1) * sizeof *n);
    if (!n) return -1;
    ts->ignored = n;
    return (n[ts->ignored_count] = strdup(name)) ? (ts->ignored_count++, 0) : -1;
}

int rn_tensors_parse(rn_tensors *ts, const uint8_t *buf, size_t size, char *err, size_t errlen)
{
    memset(ts, 0, sizeof *ts);
    ts->buf = buf;
    ts->source = rn_ts_detect(buf, size);
    int rc = -1;
    if (ts->source == RN_TS_PTH) rc = rn_pth_parse(ts, buf, size, err, errlen);
    else if (ts->source == RN_TS_MINDSPORE) rc = rn_msckpt_parse(ts, buf, size, err, errlen);
    else snprintf(err, errlen, "it is not a PyTorch .pth or MindSpore .ckpt file");
    if (rc) rn_tensors_free(ts);
    return rc;
}

/* safetensors' own reader has checked the file; its entries become contiguous views. */
static int from_safetensors(rn_tensors *ts, const char *path, uint8_t *buf, size_t size)
{
    memset(ts, 0, sizeof *ts);
    ts->source = RN_TS_SAFETENSORS;
    if (rn_st_adopt(&ts->st, path, buf, size) != RN_OK) return RN_ERR_INPUT;
    ts->buf = ts->st.buf;
    for (size_t i = 0; i < ts->st.count; i++) {
        const rn_st_tensor *s = &ts->st.tensors[i];
        rn_tensor t = {
            .dtype = s->dtype, .ndim = s->ndim, .numel = s->numel, .data = ts->st.data + s->begin};
        int64_t stride = 1;
        for (int d = s->ndim - 1; d >= 0; d--) {
            t.shape[d] = s->shape[d];
            t.stride[d] = stride;
            stride *= s->shape[d] ? s->shape[d] : 1;
        }
        if (rn_tensors_add(ts, s->name, s->name, &t)) {
            fprintf(stderr, "rn50cl: error: %s names tensor %s twice (or memory ran out).\n", path,
                    s->name);
            rn_tensors_free(ts);
            return RN_ERR_INPUT;
        }
    }
    return RN_OK;
}

static int refuse(const char *path, const uint8_t *b, size_t n)
{
    if (is_legacy_torch(b, n))
        fprintf(stderr,
                "rn50cl: error: %s is a PyTorch file in the legacy format (before PyTorch 1.6); "
                "re-save it with torch.save in PyTorch 1.6 or newer.\n",
                path);
    else
        fprintf(
            stderr,
            "rn50cl: error: %s is not safetensors, a PyTorch .pth (torch.save zip) or a "
            "MindSpore .ckpt (it starts with bytes %02x %02x %02x %02x); pass weights in one of "
            "those formats.\n",
            path, n > 0 ? b[0] : 0, n > 1 ? b[1] : 0, n > 2 ? b[2] : 0, n > 3 ? b[3] : 0);
    return RN_ERR_INPUT;
}

int rn_tensors_open(rn_tensors *ts, const char *path)
{
    size_t size;
    uint8_t *buf = rn_read_file(path, &size);
    memset(ts, 0, sizeof *ts);
    if (!buf) {
        fprintf(stderr, "rn50cl: error: cannot read the checkpoint %s (%s); check the path.\n",
                path, strerror(errno));
        return RN_ERR_INPUT;
    }
    rn_ts_source s = rn_ts_detect(buf, size);
    if (s == RN_TS_SAFETENSORS) return from_safetensors(ts, path, buf, size);
    if (s == RN_TS_UNKNOWN) {
        refuse(path, buf, size);
        free(buf);
        return RN_ERR_INPUT;
    }
    char err[512];
    if (rn_tensors_parse(ts, buf, size, err, sizeof err)) {
        fprintf(stderr,
                "rn50cl: error: %s is not a usable %s checkpoint: %s; re-save it or use another "
                "checkpoint.\n",
                path, rn_ts_source_name(s), err);
        free(buf);
        return RN_ERR_INPUT;
    }
    ts->owned_buf = buf;
    return RN_OK;
}

void rn_tensors_free(rn_tensors *ts)
{
    for (size_t i = 0; i < ts->count; i++) {
        free(ts->t[i].name);
        free(ts->t[i].original);
        free(ts->t[i].own);
    }
    for (size_t i = 0; i < ts->ignored_count; i++) free(ts->ignored[i]);
    free(ts->t);
    free(ts->ignored);
    free(ts->owned_buf);
    if (ts->source == RN_TS_SAFETENSORS) rn_st_close(&ts->st);
    memset(ts, 0, sizeof *ts);
}

const rn_tensor *rn_tensors_find(const rn_tensors *ts, const char *name)
{
    for (size_t i = 0; i < ts->count; i++)
        if (strcmp(ts->t[i].name, name) == 0) return &ts->t[i];
    return NULL;
}

const char *rn_tensors_meta(const rn_tensors *ts, const char *key)
{
    return ts->source == RN_TS_SAFETENSORS ? rn_st_meta(&ts->st, key) : NULL;
}

int rn_tensor_is_float(const rn_tensor *t)
{
    return t->dtype == RN_ST_F32 || t->dtype == RN_ST_F16 || t->dtype == RN_ST_BF16 ||
           t->dtype == RN_ST_F64;
}

static double load_elem(rn_st_dtype dt, const uint8_t *p)
{
    float f;
    double d;
    uint16_t h;
    uint32_t bits;
    switch (dt) {
    case RN_ST_F32: memcpy(&f, p, 4); return f;
    case RN_ST_F16: memcpy(&h, p, 2); return rn_st_half_to_float(h);
    case RN_ST_BF16:
        memcpy(&h, p, 2);
        bits = (uint32_t)h << 16;
        memcpy(&f, &bits, 4);
        return f;
    case RN_ST_F64: memcpy(&d, p, 8); return d;
    default: return 0; /* integers are read by rn_tensor_read_i64 */
    }
}

/* The next element's offset of a strided view in row-major order; idx is its index. */
static size_t step_offset(const rn_tensor *t, int64_t *idx, size_t off)
{
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (size_t)t->stride[d];
        if (++idx[d] < t->shape[d]) return off;
        off -= (size_t)(t->stride[d] * t->shape[d]);
        idx[d] = 0;
    }
    return off;
}

static int is_contiguous(const rn_tensor *t)
{
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != want) return 0;
        want *= t->shape[d];
    }
    return 1;
}

void rn_tensor_read_f32(const rn_tensor *t, float *dst)
{
    if (t->dtype == RN_ST_F32 && is_contiguous(t)) {
        memcpy(dst, t->data, t->numel * 4);
        return;
    }
    int64_t idx[RN_ST_MAX_DIMS] = {0};
    size_t es = rn_st_dtype_size(t->dtype), off = 0;
    for (size_t i = 0; i < t->numel; i++, off = step_offset(t, idx, off))
        dst[i] = (float)load_elem(t->dtype, t->data + off * es);
}

void rn_tensor_read_i64(const rn_tensor *t, int64_t *dst)
{
    int64_t idx[RN_ST_MAX_DIMS] = {0};
    size_t es = rn_st_dtype_size(t->dtype), off = 0;
    for (size_t i = 0; i < t->numel; i++, off = step_offset(t, idx, off)) {
        int32_t v32;
        if (t->dtype == RN_ST_I64) memcpy(&dst[i], t->data + off * es, 8);
        else if (t->dtype == RN_ST_I32) memcpy(&v32, t->data + off * es, 4), dst[i] = v32;
        else dst[i] = (int64_t)load_elem(t->dtype, t->data + off * es);
    }
}

int rn_ts_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
