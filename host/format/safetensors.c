/* safetensors writer and strict reader. The header is JSON written and parsed by base/json; the
 * reader also refuses what safetensors never writes (true/false/null, non-integer numbers) and
 * checks every offset and shape against the file before any tensor is handed out. */
#include "format/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "base/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and rn50cl copies it as is"
#endif

#define MAX_HEADER (100u * 1000u * 1000u)

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {[RN_ST_F32] = {"F32", 4}, [RN_ST_F16] = {"F16", 2}, [RN_ST_BF16] = {"BF16", 2},
              [RN_ST_F64] = {"F64", 8}, [RN_ST_I64] = {"I64", 8}, [RN_ST_I32] = {"I32", 4}};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

const char *rn_st_dtype_name(rn_st_dtype t)
{
    return dtypes[t].name;
}

size_t rn_st_dtype_size(rn_st_dtype t)
{
    return dtypes[t].size;
}

/* ---- writer ---- */

typedef struct wtensor {
    char *name;
    rn_st_dtype dtype;
    int ndim;
    int64_t shape[RN_ST_MAX_DIMS];
    size_t bytes;
    const void *data;
} wtensor;

struct rn_st_writer {
    wtensor *t;
    size_t count;
    char **mkeys, **mvals;
    size_t mcount;
};

rn_st_writer *rn_st_writer_new(void)
{
    return calloc(1, sizeof(rn_st_writer));
}

int rn_st_add(rn_st_writer *w, const char *name, rn_st_dtype dtype, int ndim, const int64_t *shape,
              const void *data)
{
    if (ndim < 0 || ndim > RN_ST_MAX_DIMS || (unsigned)dtype >= N_DTYPES) return RN_ERR_INTERNAL;
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->t[i].name, name) == 0) return RN_ERR_INTERNAL;
    wtensor t = {.dtype = dtype, .ndim = ndim, .data = data, .bytes = dtypes[dtype].size};
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return RN_ERR_INTERNAL;
        t.shape[d] = shape[d];
        t.bytes *= (size_t)shape[d];
    }
    wtensor *nt = realloc(w->t, (w->count + 1) * sizeof *nt);
    if (!nt) return RN_ERR_INTERNAL;
    w->t = nt;
    if (!(t.name = strdup(name))) return RN_ERR_INTERNAL;
    w->t[w->count++] = t;
    return RN_OK;
}

int rn_st_add_meta(rn_st_writer *w, const char *key, const char *value)
{
    char **k = realloc(w->mkeys, (w->mcount + 1) * sizeof *k);
    if (k) w->mkeys = k;
    char **v = k ? realloc(w->mvals, (w->mcount + 1) * sizeof *v) : NULL;
    if (v) w->mvals = v;
    char *kc = v ? strdup(key) : NULL, *vc = kc ? strdup(value) : NULL;
    if (!vc) {
        free(kc);
        return RN_ERR_INTERNAL;
    }
    w->mkeys[w->mcount] = kc;
    w->mvals[w->mcount++] = vc;
    return RN_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes, into *hdr (malloc'd). */
static int build_header(const rn_st_writer *w, char **hdr, size_t *len)
{
    FILE *m = open_memstream(hdr, len);
    if (!m) return -1;
    rn_jw j;
    rn_jw_open(&j, m, RN_JW_COMPACT);
    rn_jw_obj(&j, NULL);
    if (w->mcount) {
        rn_jw_obj(&j, "__metadata__");
        for (size_t i = 0; i < w->mcount; i++) rn_jw_str(&j, w->mkeys[i], w->mvals[i]);
        rn_jw_end(&j);
    }
    size_t off = 0;
    for (size_t i = 0; i < w->count; i++) {
        const wtensor *t = &w->t[i];
        rn_jw_obj(&j, t->name);
        rn_jw_str(&j, "dtype", dtypes[t->dtype].name);
        rn_jw_arr(&j, "shape");
        for (int d = 0; d < t->ndim; d++) rn_jw_int(&j, NULL, t->shape[d]);
        rn_jw_end(&j);
        rn_jw_arr(&j, "data_offsets");
        rn_jw_uint(&j, NULL, off);
        rn_jw_uint(&j, NULL, off + t->bytes);
        rn_jw_end(&j);
        rn_jw_end(&j);
        off += t->bytes;
    }
    rn_jw_end(&j);
    long n = ftell(m);
    if (n >= 0) fprintf(m, "%*s", (int)((8 - n % 8) % 8), "");
    int bad = n < 0 || ferror(m);
    if (fclose(m) != 0 || bad) {
        free(*hdr);
        *hdr = NULL;
        return -1;
    }
    return 0;
}

static int write_body(const rn_st_writer *w, const char *hdr, size_t hlen, FILE *f)
{
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen) return -1;
    for (size_t i = 0; i < w->count; i++)
        if (w->t[i].bytes && fwrite(w->t[i].data, 1, w->t[i].bytes, f) != w->t[i].bytes) return -1;
    return 0;
}

int rn_st_write(const rn_st_writer *w, const char *path)
{
    char *hdr = NULL;
    size_t hlen = 0;
    rn_atomic_file af;
    int ok = build_header(w, &hdr, &hlen) == 0;
    if (!ok) errno = ENOMEM;
    ok = ok && rn_atomic_open(&af, path) == 0;
    if (ok && write_body(w, hdr, hlen, af.f) != 0) {
        rn_atomic_abort(&af);
        ok = 0;
    }
    ok = ok && rn_atomic_commit(&af) == 0;
    free(hdr);
    if (ok) return RN_OK;
    fprintf(stderr,
            "rn50cl: error: cannot write the checkpoint %s (%s); check that its folder "
            "exists, is writable and has free space.\n",
            path, strerror(errno));
    return RN_ERR_INPUT;
}

void rn_st_writer_free(rn_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->mcount; i++) {
        free(w->mkeys[i]);
        free(w->mvals[i]);
    }
    free(w->t);
    free(w->mkeys);
    free(w->mvals);
    free(w);
}

/* ---- reader ---- */

static int st_fail(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int st_fail(const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "rn50cl: error: %s is not a usable safetensors checkpoint: %s; re-save it or use "
            "another checkpoint.\n",
            path, msg);
    return RN_ERR_INPUT;
}

static int find_dtype(const char *s, rn_st_dtype *out)
{
    for (size_t i = 0; i < N_DTYPES; i++) {
        if (strcmp(dtypes[i].name, s) == 0) {
            *out = (rn_st_dtype)i;
            return 0;
        }
    }
    return -1;
}

static int read_metadata(rn_st_file *f, const rn_json *m)
{
    if (m->type != RN_JSON_OBJECT) return st_fail(f->path, "\"__metadata__\" is not an object");
    f->meta_keys = calloc(m->n + 1, sizeof(char *));
    f->meta_values = calloc(m->n + 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values) return st_fail(f->path, "out of memory");
    for (const rn_json *e = rn_json_child(m); e; e = rn_json_next(m, e)) {
        if (e->type != RN_JSON_STRING)
            return st_fail(f->path, "metadata \"%s\" is not a string", e->key);
        size_t i = f->meta_count++;
        f->meta_keys[i] = strdup(e->key);
        f->meta_values[i] = strdup(e->str);
        if (!f->meta_keys[i] || !f->meta_values[i]) return st_fail(f->path, "out of memory");
    }
    return RN_OK;
}

static int read_shape(rn_st_file *f, rn_st_tensor *t, const rn_json *shape)
{
    if (shape->type != RN_JSON_ARRAY || shape->n > RN_ST_MAX_DIMS)
        return st_fail(f->path,
                       "tensor \"%s\" has a shape that is not a list of at most %d numbers",
                       t->name, RN_ST_MAX_DIMS);
    size_t numel = 1, limit = SIZE_MAX / 8;
    int d = 0;
    for (const rn_json *dim = rn_json_child(shape); dim; dim = rn_json_next(shape, dim), d++) {
        if (!dim->is_int || dim->i < 0)
            return st_fail(f->path, "tensor \"%s\" has a negative or non-integer dimension",
                           t->name);
        if (dim->i > 0 && numel > limit / (uint64_t)dim->i)
            return st_fail(f->path, "tensor \"%s\" has a shape whose size overflows", t->name);
        numel *= (size_t)dim->i;
        t->shape[d] = dim->i;
    }
    t->ndim = (int)shape->n;
    t->numel = numel;
    return RN_OK;
}

static int read_offsets(rn_st_file *f, rn_st_tensor *t, const rn_json *off)
{
    const rn_json *first = rn_json_child(off), *last = first ? rn_json_next(off, first) : NULL;
    if (off->type != RN_JSON_ARRAY || off->n != 2 || !first->is_int || !last->is_int ||
        first->i < 0 || last->i < 0)
        return st_fail(f->path,
                       "tensor \"%s\" has data_offsets that are not two non-negative "
                       "integers",
                       t->name);
    int64_t b = first->i, e = last->i;
    if (b > e)
        return st_fail(f->path, "tensor \"%s\" has data_offsets [%lld, %lld] that run backwards",
                       t->name, (long long)b, (long long)e);
    if ((uint64_t)e > f->data_len)
        return st_fail(f->path,
                       "tensor \"%s\" ends at data byte %lld but only %zu data bytes follow the "
                       "header, so the file is truncated or its offsets are out of range",
                       t->name, (long long)e, f->data_len);
    t->begin = (size_t)b;
    t->end = (size_t)e;
    if (t->end - t->begin != t->numel * dtypes[t->dtype].size)
        return st_fail(f->path, "tensor \"%s\" has %zu data bytes but its shape and dtype need %zu",
                       t->name, t->end - t->begin, t->numel * dtypes[t->dtype].size);
    return RN_OK;
}

static int read_tensor(rn_st_file *f, rn_st_tensor *t, const rn_json *v)
{
    if (v->type != RN_JSON_OBJECT)
        return st_fail(f->path, "entry \"%s\" is not an object", t->name);
    for (const rn_json *m = rn_json_child(v); m; m = rn_json_next(v, m))
        if (strcmp(m->key, "dtype") && strcmp(m->key, "shape") && strcmp(m->key, "data_offsets"))
            return st_fail(f->path, "tensor \"%s\" has an unknown key \"%s\"", t->name, m->key);
    const char *need[3] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++)
        if (!rn_json_get(v, need[i]))
            return st_fail(f->path, "tensor \"%s\" has no \"%s\"", t->name, need[i]);
    const rn_json *dt = rn_json_get(v, "dtype");
    if (dt->type != RN_JSON_STRING || find_dtype(dt->str, &t->dtype) != 0)
        return st_fail(f->path,
                       "tensor \"%s\" has dtype \"%s\", which rn50cl cannot read "
                       "(F32, F16, BF16, F64, I64, I32)",
                       t->name, dt->type == RN_JSON_STRING ? dt->str : "(not a string)");
    int rc = read_shape(f, t, rn_json_get(v, "shape"));
    return rc == RN_OK ? read_offsets(f, t, rn_json_get(v, "data_offsets")) : rc;
}

static int cmp_begin(const void *a, const void *b)
{
    const rn_st_tensor *x = *(rn_st_tensor *const *)a, *y = *(rn_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int check_overlap(rn_st_file *f)
{
    rn_st_tensor **order = malloc((f->count + 1) * sizeof *order);
    if (!order) return st_fail(f->path, "out of memory");
    for (size_t i = 0; i < f->count; i++) order[i] = &f->tensors[i];
    qsort(order, f->count, sizeof *order, cmp_begin);
    int rc = RN_OK;
    for (size_t i = 1; i < f->count && rc == RN_OK; i++)
        if (order[i]->begin < order[i - 1]->end)
            rc = st_fail(f->path, "the data of tensors \"%s\" and \"%s\" overlap",
                         order[i - 1]->name, order[i]->name);
    free(order);
    return rc;
}

/* safetensors writes only objects, arrays, strings and integers. Anything else is refused as the
 * header's own parser refused it before base/json existed: as JSON that is not valid here. */
static int check_subset(rn_st_file *f, const rn_json_doc *doc)
{
    for (size_t i = 0; i < doc->count; i++) {
        const rn_json *v = &doc->v[i];
        const char *what = v->type == RN_JSON_NUMBER && !v->is_int
                               ? "a number that is not a 64-bit integer"
                           : v->type <= RN_JSON_TRUE ? "true, false or null"
                                                     : NULL;
        if (what)
            return st_fail(f->path, "its header is not valid JSON for safetensors (%s at byte %zu)",
                           what, v->at);
    }
    return RN_OK;
}

static int read_header(rn_st_file *f, const rn_json *root)
{
    if (root->type != RN_JSON_OBJECT) return st_fail(f->path, "the header is not a JSON object");
    f->tensors = calloc(root->n + 1, sizeof *f->tensors);
    if (!f->tensors) return st_fail(f->path, "out of memory");
    for (const rn_json *e = rn_json_child(root); e; e = rn_json_next(root, e)) {
        int rc;
        if (strcmp(e->key, "__metadata__") == 0) {
            rc = read_metadata(f, e);
        } else {
            rn_st_tensor *t = &f->tensors[f->count++];
            t->name = strdup(e->key);
            rc = t->name ? read_tensor(f, t, e) : st_fail(f->path, "out of memory");
        }
        if (rc != RN_OK) return rc;
    }
    return check_overlap(f);
}

/* Splits the file into header and data; parses the header. */
static int parse_file(rn_st_file *f)
{
    if (f->size < 8)
        return st_fail(f->path,
                       "it is only %zu bytes long, too short for the 8-byte header "
                       "length",
                       f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | f->buf[i];
    if (n > MAX_HEADER)
        return st_fail(f->path, "its header length %llu is over the 100 MB limit",
                       (unsigned long long)n);
    if (n > f->size - 8)
        return st_fail(f->path, "its header length %llu is larger than the file (%zu bytes)",
                       (unsigned long long)n, f->size);
    f->data = f->buf + 8 + n;
    f->data_len = f->size - 8 - (size_t)n;
    rn_json_doc doc;
    if (rn_json_parse(&doc, (const char *)f->buf + 8, (size_t)n) != 0)
        return st_fail(f->path, "its header is not valid JSON (%s)", doc.err);
    int rc = check_subset(f, &doc);
    if (rc == RN_OK) rc = read_header(f, doc.v);
    rn_json_free(&doc);
    return rc;
}

int rn_st_adopt(rn_st_file *f, const char *path, uint8_t *buf, size_t size)
{
    memset(f, 0, sizeof *f);
    f->buf = buf;
    f->size = size;
    if (!(f->path = strdup(path))) {
        rn_st_close(f);
        return st_fail(path, "out of memory");
    }
    int rc = parse_file(f);
    if (rc != RN_OK) rn_st_close(f);
    return rc;
}

int rn_st_open(rn_st_file *f, const char *path)
{
    size_t size;
    uint8_t *buf = rn_read_file(path, &size);
    if (!buf) {
        fprintf(stderr, "rn50cl: error: cannot read the checkpoint %s (%s); check the path.\n",
                path, strerror(errno));
        memset(f, 0, sizeof *f);
        return RN_ERR_INPUT;
    }
    return rn_st_adopt(f, path, buf, size);
}

const rn_st_tensor *rn_st_find(const rn_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

float rn_st_half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        float v = ldexpf((float)mant, -24); /* zero or subnormal */
        return sign ? -v : v;
    }
    uint32_t bits = (uint32_t)sign << 31 | (exp == 31 ? 0x7f800000u | mant << 13
                                                      : (uint32_t)(exp + 112) << 23 | mant << 13);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

int rn_st_read_f32(const rn_st_file *f, const rn_st_tensor *t, float *dst)
{
    const uint8_t *src = f->data + t->begin;
    switch (t->dtype) {
    case RN_ST_F32: memcpy(dst, src, t->numel * 4); return RN_OK;
    case RN_ST_F16:
    case RN_ST_BF16:
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            if (t->dtype == RN_ST_F16) dst[i] = rn_st_half_to_float(h);
            else memcpy(&dst[i], &bits, 4);
        }
        return RN_OK;
    case RN_ST_F64:
        for (size_t i = 0; i < t->numel; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return RN_OK;
    default:
        return st_fail(f->path, "tensor \"%s\" is %s, not a floating-point tensor", t->name,
                       dtypes[t->dtype].name);
    }
}

int rn_st_read_i64(const rn_st_file *f, const rn_st_tensor *t, int64_t *dst)
{
    const uint8_t *src = f->data + t->begin;
    if (t->dtype == RN_ST_I64) {
        memcpy(dst, src, t->numel * 8);
        return RN_OK;
    }
    if (t->dtype == RN_ST_I32) {
        for (size_t i = 0; i < t->numel; i++) {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            dst[i] = v;
        }
        return RN_OK;
    }
    return st_fail(f->path, "tensor \"%s\" is %s, not an integer tensor", t->name,
                   dtypes[t->dtype].name);
}

const char *rn_st_meta(const rn_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

void rn_st_close(rn_st_file *f)
{
    for (size_t i = 0; i < f->count; i++) free(f->tensors[i].name);
    for (size_t i = 0; i < f->meta_count; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->buf);
    free(f->path);
    memset(f, 0, sizeof *f);
}
