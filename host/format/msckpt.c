/* MindSpore checkpoint reader and writer. save_checkpoint writes one Value per parameter, and a
 * parameter too large for one protobuf message as several consecutive Values with the same tag
 * whose contents are joined; a scalar is written with dims [0]. */
#include "format/msckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "format/msnames.h"
#include "format/protobuf.h"

static const struct {
    const char *name;
    rn_st_dtype dtype;
} types[] = {{"Float32", RN_ST_F32}, {"Float16", RN_ST_F16}, {"BFloat16", RN_ST_BF16},
             {"Float64", RN_ST_F64}, {"Int64", RN_ST_I64},   {"Int32", RN_ST_I32}};
#define N_TYPES (sizeof types / sizeof types[0])

typedef struct msval {
    const uint8_t *tag;
    size_t taglen;
    const uint8_t *type;
    size_t typelen;
    const uint8_t *content;
    size_t clen;
    int ndim, has_tensor;
    int64_t dims[RN_ST_MAX_DIMS];
    size_t at;
} msval;

static int add_dim(msval *v, uint64_t d, char *err, size_t errlen)
{
    if (v->ndim >= RN_ST_MAX_DIMS || d > INT64_MAX)
        return rn_ts_fail(err, errlen,
                          "the value at byte %zu has more than %d dims or a negative one", v->at,
                          RN_ST_MAX_DIMS);
    v->dims[v->ndim++] = (int64_t)d;
    return 0;
}

/* dims come one varint per field (proto2's default) or packed into one LEN field. */
static int read_dims(rn_pb *r, const rn_pb_field *f, msval *v, char *err, size_t errlen)
{
    if (f->wire == RN_PB_VARINT) return add_dim(v, f->v, err, errlen);
    if (f->wire != RN_PB_LEN)
        return rn_ts_fail(err, errlen, "dims at byte %zu are not integers", f->at);
    rn_pb s = rn_pb_sub(r, f);
    while (s.p < s.end) {
        uint64_t d;
        if (rn_pb_varint(&s, &d))
            return rn_ts_fail(err, errlen, "the packed dims at byte %zu hold a bad varint", f->at);
        if (add_dim(v, d, err, errlen)) return -1;
    }
    return 0;
}

static int read_tensor(rn_pb *r, const rn_pb_field *tf, msval *v, char *err, size_t errlen)
{
    rn_pb s = rn_pb_sub(r, tf);
    rn_pb_field f;
    int rc;
    v->has_tensor = 1;
    while ((rc = rn_pb_next(&s, &f, err, errlen)) == 1) {
        if (f.num == 1) rc = read_dims(&s, &f, v, err, errlen);
        else if (f.num == 2 && f.wire == RN_PB_LEN) v->type = f.data, v->typelen = f.len;
        else if (f.num == 3 && f.wire == RN_PB_LEN) v->content = f.data, v->clen = f.len;
        if (rc < 0) return -1;
    }
    if (rc < 0) return -1;
    if (!v->type || !v->content)
        return rn_ts_fail(err, errlen,
                          "the tensor at byte %zu has no tensor_type or no tensor_content", tf->at);
    return 0;
}

static int read_value(rn_pb *r, const rn_pb_field *vf, msval *v, char *err, size_t errlen)
{
    rn_pb s = rn_pb_sub(r, vf);
    rn_pb_field f;
    int rc;
    memset(v, 0, sizeof *v);
    v->at = vf->at;
    while ((rc = rn_pb_next(&s, &f, err, errlen)) == 1) {
        if (f.num == 1 && f.wire == RN_PB_LEN) v->tag = f.data, v->taglen = f.len;
        else if (f.num == 2 && f.wire == RN_PB_LEN && read_tensor(&s, &f, v, err, errlen))
            return -1;
    }
    if (rc < 0) return -1;
    if (!v->tag || v->taglen == 0 || v->taglen > 400 || memchr(v->tag, 0, v->taglen))
        return rn_ts_fail(err, errlen, "the value at byte %zu has no usable tag (parameter name)",
                          v->at);
    return 0;
}

static int same_tag(const msval *a, const msval *b)
{
    return a->taglen == b->taglen && !memcmp(a->tag, b->tag, a->taglen);
}

static int find_type(const msval *v, rn_st_dtype *dt)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (strlen(types[i].name) == v->typelen && !memcmp(types[i].name, v->type, v->typelen)) {
            *dt = types[i].dtype;
            return 0;
        }
    return -1;
}

/* Values [first, first+n) share one tag: one tensor, its contents joined if n > 1. */
static int add_group(rn_tensors *ts, const msval *v, size_t n, char *err, size_t errlen)
{
    char name[512], tv[512];
    snprintf(name, sizeof name, "%.*s", (int)v->taglen, (const char *)v->tag);
    rn_tensor t = {.ndim = v->ndim, .numel = 1};
    if (!v->has_tensor || find_type(v, &t.dtype) || !rn_ms_to_torchvision(name, tv, sizeof tv))
        return rn_tensors_ignore(ts, name) ? rn_ts_fail(err, errlen, "out of memory") : 0;
    size_t total = 0, es = rn_st_dtype_size(t.dtype);
    for (size_t i = 0; i < n; i++) {
        if (v[i].ndim != v->ndim || memcmp(v[i].dims, v->dims, sizeof v->dims) ||
            v[i].typelen != v->typelen || memcmp(v[i].type, v->type, v->typelen))
            return rn_ts_fail(err, errlen, "the slices of %s disagree on its dims or type", name);
        total += v[i].clen;
    }
    for (int d = t.ndim - 1; d >= 0; d--) {
        t.shape[d] = v->dims[d];
        t.stride[d] = (int64_t)t.numel;
        if (v->dims[d] && t.numel > (SIZE_MAX / 16) / (size_t)v->dims[d])
            return rn_ts_fail(err, errlen, "%s has dims whose product overflows", name);
        t.numel *= (size_t)v->dims[d];
    }
    if (t.ndim == 1 && t.shape[0] == 0 && total == es) t.ndim = 0, t.numel = 1; /* a scalar */
    if (total != t.numel * es)
        return rn_ts_fail(err, errlen,
                          "%s has %zu content bytes but its dims and type %.*s need %zu", name,
                          total, (int)v->typelen, (const char *)v->type, t.numel * es);
    t.data = v->content;
    if (n > 1) {
        if (!(t.own = malloc(total))) return rn_ts_fail(err, errlen, "out of memory");
        for (size_t i = 0, o = 0; i < n; o += v[i].clen, i++)
            memcpy(t.own + o, v[i].content, v[i].clen);
        t.data = t.own;
    }
    if (rn_tensors_add(ts, tv, name, &t)) {
        free(t.own);
        return rn_ts_fail(err, errlen, "%s maps to %s, which appears twice", name, tv);
    }
    return 0;
}

static int read_values(const uint8_t *buf, size_t size, msval **out, size_t *count, char *err,
                       size_t errlen)
{
    rn_pb r = {buf, buf + size, buf};
    rn_pb_field f;
    size_t cap = 0;
    int rc;
    *out = NULL;
    *count = 0;
    while ((rc = rn_pb_next(&r, &f, err, errlen)) == 1) {
        if (f.num != 1 || f.wire != RN_PB_LEN)
            return rn_ts_fail(err, errlen,
                              "it has field %u (wire type %d) at byte %zu where a "
                              "MindSpore checkpoint has only values",
                              f.num, f.wire, f.at);
        if (*count == cap) {
            msval *n = realloc(*out, (cap = cap ? 2 * cap : 256) * sizeof *n);
            if (!n) return rn_ts_fail(err, errlen, "out of memory");
            *out = n;
        }
        if (read_value(&r, &f, &(*out)[(*count)++], err, errlen)) return -1;
    }
    if (rc == 0 && *count == 0) return rn_ts_fail(err, errlen, "it holds no values");
    return rc;
}

int rn_msckpt_parse(rn_tensors *ts, const uint8_t *buf, size_t size, char *err, size_t errlen)
{
    msval *v;
    size_t n;
    int rc = read_values(buf, size, &v, &n, err, errlen);
    for (size_t i = 0, j; rc == 0 && i < n; i = j) {
        for (j = i + 1; j < n && same_tag(&v[i], &v[j]);) j++;
        rc = add_group(ts, &v[i], j - i, err, errlen);
    }
    free(v);
    return rc;
}

/* ---- writer ---- */

static const char *type_name(rn_st_dtype dt)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (types[i].dtype == dt) return types[i].name;
    return "Float32";
}

static int write_value(FILE *f, const rn_ms_tensor *t)
{
    const char *type = type_name(t->dtype);
    size_t bytes = rn_st_dtype_size(t->dtype), dims = 0;
    for (int d = 0; d < t->ndim; d++) bytes *= (size_t)t->shape[d];
    int64_t scalar = 0;
    const int64_t *shape = t->ndim ? t->shape : &scalar; /* MindSpore writes a scalar as [0] */
    int ndim = t->ndim ? t->ndim : 1;
    for (int d = 0; d < ndim; d++) dims += 1 + rn_pb_varint_size((uint64_t)shape[d]);
    size_t tensor = dims + rn_pb_bytes_size(2, strlen(type)) + rn_pb_bytes_size(3, bytes);
    size_t value = rn_pb_bytes_size(1, strlen(t->name)) + rn_pb_bytes_size(2, tensor);
    int bad = rn_pb_put_tag(f, 1, RN_PB_LEN) || rn_pb_put_varint(f, value) ||
              rn_pb_put_bytes(f, 1, t->name, strlen(t->name)) || rn_pb_put_tag(f, 2, RN_PB_LEN) ||
              rn_pb_put_varint(f, tensor);
    for (int d = 0; d < ndim && !bad; d++)
        bad = rn_pb_put_tag(f, 1, RN_PB_VARINT) || rn_pb_put_varint(f, (uint64_t)shape[d]);
    return bad || rn_pb_put_bytes(f, 2, type, strlen(type)) || rn_pb_put_bytes(f, 3, t->data, bytes)
               ? -1
               : 0;
}

int rn_msckpt_write(const char *path, const rn_ms_tensor *t, size_t n)
{
    rn_atomic_file af;
    int ok = rn_atomic_open(&af, path) == 0;
    for (size_t i = 0; ok && i < n; i++) {
        if (write_value(af.f, &t[i])) {
            rn_atomic_abort(&af);
            ok = 0;
        }
    }
    ok = ok && rn_atomic_commit(&af) == 0;
    if (ok) return RN_OK;
    fprintf(stderr,
            "rn50cl: error: cannot write the MindSpore checkpoint %s (%s); check that its folder "
            "exists, is writable and has free space.\n",
            path, strerror(errno));
    return RN_ERR_INPUT;
}
