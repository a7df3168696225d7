/* safetensors writer and strict reader. The reader parses the header with a small JSON parser for
 * the subset safetensors uses (objects, arrays, strings, integers) and checks every offset and
 * shape against the file before any tensor is handed out. */
#include "format/safetensors.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and rn50cl copies it as is"
#endif

#define MAX_HEADER (100u * 1000u * 1000u)
#define MAX_DEPTH 32

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

/* ---- growable string, for the writer's header ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n);
}

static void sb_json_string(sbuf *b, const char *s)
{
    sb_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_puts(b, "\"");
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

/* The JSON header, padded with spaces to a multiple of 8 bytes. */
static int build_header(const rn_st_writer *w, sbuf *b)
{
    sb_puts(b, "{");
    if (w->mcount) {
        sb_puts(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->mcount; i++) {
            if (i) sb_puts(b, ",");
            sb_json_string(b, w->mkeys[i]);
            sb_puts(b, ":");
            sb_json_string(b, w->mvals[i]);
        }
        sb_puts(b, "}");
    }
    size_t off = 0;
    for (size_t i = 0; i < w->count; i++) {
        const wtensor *t = &w->t[i];
        if (i || w->mcount) sb_puts(b, ",");
        sb_json_string(b, t->name);
        sb_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", dtypes[t->dtype].name);
        for (int d = 0; d < t->ndim; d++)
            sb_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        sb_printf(b, "],\"data_offsets\":[%zu,%zu]}", off, off + t->bytes);
        off += t->bytes;
    }
    sb_puts(b, "}");
    while (b->len % 8) sb_puts(b, " ");
    return b->oom ? -1 : 0;
}

static int write_body(const rn_st_writer *w, const sbuf *hdr, FILE *f)
{
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hdr->len >> (8 * i));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(hdr->p, 1, hdr->len, f) != hdr->len) return -1;
    for (size_t i = 0; i < w->count; i++)
        if (w->t[i].bytes && fwrite(w->t[i].data, 1, w->t[i].bytes, f) != w->t[i].bytes) return -1;
    return 0;
}

int rn_st_write(const rn_st_writer *w, const char *path)
{
    sbuf hdr = {0};
    rn_atomic_file af;
    int ok = build_header(w, &hdr) == 0;
    if (!ok) errno = ENOMEM;
    ok = ok && rn_atomic_open(&af, path) == 0;
    if (ok && write_body(w, &hdr, af.f) != 0) {
        int e = errno;
        rn_atomic_abort(&af);
        errno = e;
        ok = 0;
    }
    ok = ok && rn_atomic_commit(&af) == 0;
    free(hdr.p);
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

/* ---- JSON subset parser ---- */

typedef enum jtype { J_OBJ, J_ARR, J_STR, J_INT } jtype;

typedef struct jval {
    jtype type;
    char *str;          /* J_STR */
    int64_t num;        /* J_INT */
    size_t n;           /* J_OBJ / J_ARR: members */
    char **keys;        /* J_OBJ */
    struct jval *items; /* J_OBJ / J_ARR */
} jval;

typedef struct jparser {
    const char *s;
    size_t pos, len;
    int depth;
    char err[160];
} jparser;

static int jfail(jparser *p, const char *what)
{
    if (!p->err[0]) snprintf(p->err, sizeof p->err, "%s at byte %zu", what, p->pos);
    return -1;
}

static void jfree(jval *v)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys) free(v->keys[i]);
        jfree(&v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->str);
    memset(v, 0, sizeof *v);
}

static void skip_ws(jparser *p)
{
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos]) p->pos++;
}

static int peek(jparser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int hex4(jparser *p, uint32_t *out)
{
    if (p->len - p->pos < 4) return jfail(p, "short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return jfail(p, "bad \\u escape");
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* A \u escape (p just past the 'u'), combining surrogate pairs, as a code point. */
static int unicode_escape(jparser *p, uint32_t *cp)
{
    if (hex4(p, cp) != 0) return -1;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return jfail(p, "lone low surrogate");
    if (*cp < 0xd800 || *cp > 0xdbff) return *cp ? 0 : jfail(p, "NUL character in string");
    uint32_t lo;
    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return jfail(p, "lone high surrogate");
    p->pos += 2;
    if (hex4(p, &lo) != 0) return -1;
    if (lo < 0xdc00 || lo > 0xdfff) return jfail(p, "bad surrogate pair");
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    return 0;
}

static void put_utf8(char *out, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | cp >> 6);
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | cp >> 12);
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | cp >> 18);
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* A string starting at the opening quote; the decoded text (never longer than the source). */
static int parse_string(jparser *p, char **out)
{
    p->pos++;
    size_t start = p->pos, n = 0;
    char *buf = malloc(p->len - start + 1);
    if (!buf) return jfail(p, "out of memory");
    for (;;) {
        int c = peek(p);
        if (c < 0) {
            free(buf);
            return jfail(p, "unterminated string");
        }
        p->pos++;
        if (c == '"') break;
        if (c < 0x20) {
            free(buf);
            return jfail(p, "control character in string");
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            continue;
        }
        int e = peek(p);
        p->pos++;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = e > 0 ? strchr(from, e) : NULL;
        uint32_t cp;
        if (hit) {
            buf[n++] = to[hit - from];
        } else if (e == 'u' && unicode_escape(p, &cp) == 0) {
            put_utf8(buf, &n, cp);
        } else {
            free(buf);
            return jfail(p, "bad escape in string");
        }
    }
    buf[n] = 0;
    *out = buf;
    return 0;
}

static int parse_int(jparser *p, int64_t *out)
{
    int neg = peek(p) == '-';
    if (neg) p->pos++;
    int c = peek(p);
    if (c < '0' || c > '9') return jfail(p, "expected a digit");
    if (c == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        return jfail(p, "leading zero in number");
    uint64_t v = 0;
    while ((c = peek(p)) >= '0' && c <= '9') {
        if (v > ((uint64_t)INT64_MAX - (uint64_t)(c - '0')) / 10)
            return jfail(p, "number too large");
        v = v * 10 + (uint64_t)(c - '0');
        p->pos++;
    }
    if (c == '.' || c == 'e' || c == 'E') return jfail(p, "non-integer number");
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int parse_value(jparser *p, jval *v);

/* Appends one parsed member to an object or array being built. */
static int push_item(jparser *p, jval *v, char *key)
{
    jval *items = realloc(v->items, (v->n + 1) * sizeof *items);
    if (items) v->items = items;
    char **keys = v->type == J_OBJ && items ? realloc(v->keys, (v->n + 1) * sizeof *keys) : NULL;
    if (keys) v->keys = keys;
    if (!items || (v->type == J_OBJ && !keys)) {
        free(key);
        return jfail(p, "out of memory");
    }
    memset(&v->items[v->n], 0, sizeof(jval));
    if (v->type == J_OBJ) v->keys[v->n] = key;
    v->n++; /* counted first so jfree releases a half-parsed member */
    return parse_value(p, &v->items[v->n - 1]);
}

static int parse_key(jparser *p, const jval *obj, char **key)
{
    skip_ws(p);
    if (peek(p) != '"') return jfail(p, "expected a string key");
    if (parse_string(p, key) != 0) return -1;
    for (size_t i = 0; i < obj->n; i++) {
        if (strcmp(obj->keys[i], *key) == 0) {
            free(*key);
            return jfail(p, "duplicate key");
        }
    }
    skip_ws(p);
    if (peek(p) != ':') {
        free(*key);
        return jfail(p, "expected ':'");
    }
    p->pos++;
    return 0;
}

static int parse_container(jparser *p, jval *v, int close)
{
    if (++p->depth > MAX_DEPTH) return jfail(p, "nesting too deep");
    p->pos++;
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        if (v->type == J_OBJ && parse_key(p, v, &key) != 0) return -1;
        if (push_item(p, v, key) != 0) return -1;
        skip_ws(p);
        int c = peek(p);
        p->pos++;
        if (c == close) break;
        if (c != ',') {
            p->pos--;
            return jfail(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    p->depth--;
    return 0;
}

static int parse_value(jparser *p, jval *v)
{
    skip_ws(p);
    int c = peek(p);
    if (c == '{' || c == '[') {
        v->type = c == '{' ? J_OBJ : J_ARR;
        return parse_container(p, v, c == '{' ? '}' : ']');
    }
    if (c == '"') {
        v->type = J_STR;
        return parse_string(p, &v->str);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        v->type = J_INT;
        return parse_int(p, &v->num);
    }
    return jfail(p, c < 0 ? "unexpected end" : "unexpected character");
}

static int parse_json(jparser *p, jval *root)
{
    memset(root, 0, sizeof *root);
    if (parse_value(p, root) == 0) {
        skip_ws(p);
        if (p->pos == p->len) return 0;
        jfail(p, "trailing characters");
    }
    jfree(root);
    return -1;
}

static const jval *jget(const jval *obj, const char *key)
{
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
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

static int read_metadata(rn_st_file *f, const jval *m)
{
    if (m->type != J_OBJ) return st_fail(f->path, "\"__metadata__\" is not an object");
    f->meta_keys = calloc(m->n + 1, sizeof(char *));
    f->meta_values = calloc(m->n + 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values) return st_fail(f->path, "out of memory");
    for (size_t i = 0; i < m->n; i++) {
        if (m->items[i].type != J_STR)
            return st_fail(f->path, "metadata \"%s\" is not a string", m->keys[i]);
        f->meta_keys[i] = strdup(m->keys[i]);
        f->meta_values[i] = strdup(m->items[i].str);
        f->meta_count++;
        if (!f->meta_keys[i] || !f->meta_values[i]) return st_fail(f->path, "out of memory");
    }
    return RN_OK;
}

static int read_shape(rn_st_file *f, rn_st_tensor *t, const jval *shape)
{
    if (shape->type != J_ARR || shape->n > RN_ST_MAX_DIMS)
        return st_fail(f->path,
                       "tensor \"%s\" has a shape that is not a list of at most %d numbers",
                       t->name, RN_ST_MAX_DIMS);
    size_t numel = 1, limit = SIZE_MAX / 8;
    for (size_t d = 0; d < shape->n; d++) {
        const jval *dim = &shape->items[d];
        if (dim->type != J_INT || dim->num < 0)
            return st_fail(f->path, "tensor \"%s\" has a negative or non-integer dimension",
                           t->name);
        if (dim->num > 0 && numel > limit / (uint64_t)dim->num)
            return st_fail(f->path, "tensor \"%s\" has a shape whose size overflows", t->name);
        numel *= (size_t)dim->num;
        t->shape[d] = dim->num;
    }
    t->ndim = (int)shape->n;
    t->numel = numel;
    return RN_OK;
}

static int read_offsets(rn_st_file *f, rn_st_tensor *t, const jval *off)
{
    if (off->type != J_ARR || off->n != 2 || off->items[0].type != J_INT ||
        off->items[1].type != J_INT || off->items[0].num < 0 || off->items[1].num < 0)
        return st_fail(f->path,
                       "tensor \"%s\" has data_offsets that are not two non-negative "
                       "integers",
                       t->name);
    int64_t b = off->items[0].num, e = off->items[1].num;
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

static int read_tensor(rn_st_file *f, rn_st_tensor *t, const jval *v)
{
    if (v->type != J_OBJ) return st_fail(f->path, "entry \"%s\" is not an object", t->name);
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], "dtype") && strcmp(v->keys[i], "shape") &&
            strcmp(v->keys[i], "data_offsets"))
            return st_fail(f->path, "tensor \"%s\" has an unknown key \"%s\"", t->name, v->keys[i]);
    const char *need[3] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++)
        if (!jget(v, need[i]))
            return st_fail(f->path, "tensor \"%s\" has no \"%s\"", t->name, need[i]);
    const jval *dt = jget(v, "dtype");
    if (dt->type != J_STR || find_dtype(dt->str, &t->dtype) != 0)
        return st_fail(f->path,
                       "tensor \"%s\" has dtype \"%s\", which rn50cl cannot read "
                       "(F32, F16, BF16, F64, I64, I32)",
                       t->name, dt->type == J_STR ? dt->str : "(not a string)");
    int rc = read_shape(f, t, jget(v, "shape"));
    return rc == RN_OK ? read_offsets(f, t, jget(v, "data_offsets")) : rc;
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

static int read_header(rn_st_file *f, const jval *root)
{
    if (root->type != J_OBJ) return st_fail(f->path, "the header is not a JSON object");
    f->tensors = calloc(root->n + 1, sizeof *f->tensors);
    if (!f->tensors) return st_fail(f->path, "out of memory");
    for (size_t i = 0; i < root->n; i++) {
        int rc;
        if (strcmp(root->keys[i], "__metadata__") == 0) {
            rc = read_metadata(f, &root->items[i]);
        } else {
            rn_st_tensor *t = &f->tensors[f->count++];
            t->name = strdup(root->keys[i]);
            rc = t->name ? read_tensor(f, t, &root->items[i]) : st_fail(f->path, "out of memory");
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
    jparser p = {.s = (const char *)f->buf + 8, .len = (size_t)n};
    jval root;
    if (parse_json(&p, &root) != 0)
        return st_fail(f->path, "its header is not valid JSON (%s)", p.err);
    int rc = read_header(f, &root);
    jfree(&root);
    return rc;
}

int rn_st_open(rn_st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->buf = f->path ? rn_read_file(path, &f->size) : NULL;
    if (!f->buf) {
        fprintf(stderr, "rn50cl: error: cannot read the checkpoint %s (%s); check the path.\n",
                path, strerror(errno));
        rn_st_close(f);
        return RN_ERR_INPUT;
    }
    int rc = parse_file(f);
    if (rc != RN_OK) rn_st_close(f);
    return rc;
}

const rn_st_tensor *rn_st_find(const rn_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

static float half_to_float(uint16_t h)
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
            if (t->dtype == RN_ST_F16) dst[i] = half_to_float(h);
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
