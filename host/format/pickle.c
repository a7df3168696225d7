/* Restricted unpickler. Values live in one array and refer to each other by index, as Python's
 * objects do by reference (a memoised storage is shared by every tensor that views it). Every
 * read is bounds-checked, every container and stack grows only with input bytes, and nothing is
 * recursive except the two-level search for a wrapped state_dict. */
#include "format/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MEMO (1u << 24)
#define NO_VAL UINT32_MAX

enum kind {
    V_NONE,
    V_BOOL,
    V_INT,
    V_FLOAT,
    V_STR,
    V_TUPLE,
    V_LIST,
    V_DICT,
    V_GLOBAL,
    V_STORAGE,
    V_TENSOR
};
static const char *const kind_names[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                         "list", "dict", "global", "storage", "tensor"};
enum glob { G_ODICT, G_REBUILD_V2, G_REBUILD_PARAM, G_STORAGE };

typedef struct val {
    enum kind kind;
    int64_t i; /* int, bool; storage: element count */
    char *s;   /* str (and bytes); storage: its key */
    size_t slen;
    uint32_t *items; /* tuple/list items; dict: keys and values interleaved */
    size_t n, cap;
    enum glob glob;
    rn_st_dtype dtype; /* storage, tensor */
    rn_pkl_tensor t;   /* tensor (name unset); t.storage borrowed from the storage value */
} val;

typedef struct pm {
    const uint8_t *p, *start, *end;
    val *v;
    size_t nv, capv;
    uint32_t *stack;
    size_t sp, capst;
    size_t *marks;
    size_t nm, capm;
    uint32_t *memo;
    size_t capmemo, memo_len;
    char *err;
    size_t errlen;
} pm;

static int fail(pm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(pm *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, m->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* ---- values and the stack ---- */

static uint32_t new_val(pm *m, enum kind k)
{
    if (m->nv >= NO_VAL - 1 || grow((void **)&m->v, &m->capv, m->nv + 1, sizeof *m->v)) {
        fail(m, "out of memory");
        return NO_VAL;
    }
    memset(&m->v[m->nv], 0, sizeof *m->v);
    m->v[m->nv].kind = k;
    return (uint32_t)m->nv++;
}

static int push(pm *m, uint32_t x)
{
    if (x == NO_VAL) return -1;
    if (grow((void **)&m->stack, &m->capst, m->sp + 1, sizeof *m->stack))
        return fail(m, "out of memory");
    m->stack[m->sp++] = x;
    return 0;
}

static int push_new(pm *m, enum kind k)
{
    return push(m, new_val(m, k));
}

static size_t at(const pm *m)
{
    return (size_t)(m->p - m->start) - 1;
}

/* The value under the top of the stack, above the last mark. */
static int pop(pm *m, uint32_t *x)
{
    size_t floor = m->nm ? m->marks[m->nm - 1] : 0;
    *x = NO_VAL; /* also on failure: callers stop then, but gcc -O3 cannot see that */
    if (m->sp <= floor) return fail(m, "its pickle pops an empty stack at byte %zu", at(m));
    *x = m->stack[--m->sp];
    return 0;
}

static int top(pm *m, uint32_t *x)
{
    if (pop(m, x)) return -1;
    m->sp++;
    return 0;
}

static int add_item(pm *m, uint32_t c, uint32_t x)
{
    val *v = &m->v[c];
    if (grow((void **)&v->items, &v->cap, v->n + 1, sizeof *v->items))
        return fail(m, "out of memory");
    v->items[v->n++] = x;
    return 0;
}

/* Items above the last mark: moved into container c (pairs for a dict), the mark dropped. */
static int pop_mark_into(pm *m, uint32_t c)
{
    if (!m->nm) return fail(m, "its pickle uses a mark it never set at byte %zu", at(m));
    size_t from = m->marks[--m->nm];
    if (m->v[c].kind == V_DICT && (m->sp - from) % 2)
        return fail(m, "its pickle gives a dict an odd number of items at byte %zu", at(m));
    for (size_t i = from; i < m->sp; i++)
        if (add_item(m, c, m->stack[i])) return -1;
    m->sp = from;
    return 0;
}

/* ---- reading the opcode stream ---- */

static int take(pm *m, size_t n, const uint8_t **out)
{
    *out = m->p;
    if ((size_t)(m->end - m->p) < n)
        return fail(m, "its pickle ends in the middle of an opcode at byte %zu", at(m));
    m->p += n;
    return 0;
}

static int take_uint(pm *m, int n, uint64_t *out)
{
    const uint8_t *b;
    if (take(m, (size_t)n, &b)) return -1;
    *out = 0;
    for (int i = n - 1; i >= 0; i--) *out = *out << 8 | b[i];
    return 0;
}

static int push_int(pm *m, int64_t i, enum kind k)
{
    uint32_t x = new_val(m, k);
    if (x != NO_VAL) m->v[x].i = i;
    return push(m, x);
}

static int op_str(pm *m, int lenbytes)
{
    uint64_t n;
    const uint8_t *b;
    if (take_uint(m, lenbytes, &n) || n > (uint64_t)(m->end - m->p) || take(m, (size_t)n, &b))
        return fail(m, "its pickle has a string running past the end at byte %zu", at(m));
    uint32_t x = new_val(m, V_STR);
    if (x == NO_VAL) return -1;
    if (!(m->v[x].s = malloc((size_t)n + 1))) return fail(m, "out of memory");
    memcpy(m->v[x].s, b, (size_t)n);
    m->v[x].s[n] = 0;
    m->v[x].slen = (size_t)n;
    return push(m, x);
}

static int op_long1(pm *m)
{
    uint64_t n, u = 0;
    const uint8_t *b;
    if (take_uint(m, 1, &n) || take(m, (size_t)n, &b)) return -1;
    if (n > 8) return fail(m, "its pickle has an integer wider than 64 bits at byte %zu", at(m));
    for (int i = (int)n - 1; i >= 0; i--) u = u << 8 | b[i];
    if (n && n < 8 && (b[n - 1] & 0x80)) u |= ~0ull << (8 * n); /* sign-extend */
    return push_int(m, (int64_t)u, V_INT);
}

/* BINFLOAT: a state_dict's floats are optimizer settings, never weights; only the value's kind
 * is kept. */
static int op_float(pm *m)
{
    const uint8_t *b;
    return take(m, 8, &b) ? -1 : push_new(m, V_FLOAT);
}

static int op_tuple(pm *m, int n)
{
    uint32_t t = new_val(m, V_TUPLE), it[3];
    if (t == NO_VAL) return -1;
    for (int i = n - 1; i >= 0; i--)
        if (pop(m, &it[i])) return -1;
    for (int i = 0; i < n; i++)
        if (add_item(m, t, it[i])) return -1;
    return push(m, t);
}

static int op_container_mark(pm *m, enum kind k)
{
    uint32_t c = new_val(m, k);
    return c == NO_VAL || pop_mark_into(m, c) ? -1 : push(m, c);
}

static int memo_put(pm *m, uint64_t idx)
{
    uint32_t x;
    if (top(m, &x)) return -1;
    /* Picklers number memo entries in order, so an index beyond the input's length is hostile and
     * would only make the memo table huge. */
    if (idx >= MAX_MEMO || idx > (uint64_t)(m->end - m->start))
        return fail(m, "its pickle memo index %llu is too large", (unsigned long long)idx);
    size_t old = m->capmemo;
    if (grow((void **)&m->memo, &m->capmemo, (size_t)idx + 1, sizeof *m->memo))
        return fail(m, "out of memory");
    for (size_t i = old; i < m->capmemo; i++) m->memo[i] = NO_VAL;
    if (m->memo[idx] == NO_VAL) m->memo_len++;
    m->memo[idx] = x;
    return 0;
}

static int memo_get(pm *m, uint64_t idx)
{
    if (idx >= m->capmemo || m->memo[idx] == NO_VAL)
        return fail(m, "its pickle reads memo entry %llu, which was never stored, at byte %zu",
                    (unsigned long long)idx, at(m));
    return push(m, m->memo[idx]);
}

/* ---- globals: the whole list of what may be named ---- */

static const struct {
    const char *module, *name;
    enum glob glob;
    rn_st_dtype dtype;
} allowed[] = {
    {"collections", "OrderedDict", G_ODICT, RN_ST_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, RN_ST_F32},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, RN_ST_F32},
    {"torch", "FloatStorage", G_STORAGE, RN_ST_F32},
    {"torch", "HalfStorage", G_STORAGE, RN_ST_F16},
    {"torch", "BFloat16Storage", G_STORAGE, RN_ST_BF16},
    {"torch", "DoubleStorage", G_STORAGE, RN_ST_F64},
    {"torch", "LongStorage", G_STORAGE, RN_ST_I64},
    {"torch", "IntStorage", G_STORAGE, RN_ST_I32},
};

/* A printable copy of at most 80 bytes of s, for the refusal message. */
static void printable(char *dst, const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n && i < 80; i++) dst[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    dst[i] = 0;
}

static int push_global(pm *m, const char *mod, size_t modlen, const char *name, size_t namelen)
{
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (strlen(allowed[i].module) != modlen || strlen(allowed[i].name) != namelen ||
            memcmp(allowed[i].module, mod, modlen) || memcmp(allowed[i].name, name, namelen))
            continue;
        uint32_t x = new_val(m, V_GLOBAL);
        if (x == NO_VAL) return -1;
        m->v[x].glob = allowed[i].glob;
        m->v[x].dtype = allowed[i].dtype;
        return push(m, x);
    }
    char a[81], b[81];
    printable(a, mod, modlen);
    printable(b, name, namelen);
    return fail(m,
                "its pickle names the global %s.%s, which a state_dict does not need (rn50cl "
                "never runs code from a checkpoint; save the model's state_dict() instead)",
                a, b);
}

static int op_global(pm *m)
{
    const uint8_t *s = m->p, *nl1 = memchr(s, '\n', (size_t)(m->end - s));
    const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(m->end - nl1 - 1)) : NULL;
    if (!nl2) return fail(m, "its pickle has an unterminated GLOBAL at byte %zu", at(m));
    m->p = nl2 + 1;
    return push_global(m, (const char *)s, (size_t)(nl1 - s), (const char *)nl1 + 1,
                       (size_t)(nl2 - nl1 - 1));
}

static int op_stack_global(pm *m)
{
    uint32_t mod, name;
    if (pop(m, &name) || pop(m, &mod)) return -1;
    if (m->v[mod].kind != V_STR || m->v[name].kind != V_STR)
        return fail(m, "its pickle has a STACK_GLOBAL without two strings at byte %zu", at(m));
    return push_global(m, m->v[mod].s, m->v[mod].slen, m->v[name].s, m->v[name].slen);
}

/* ---- the few calls a state_dict makes ---- */

static int is_str(const pm *m, uint32_t x, const char *s)
{
    return m->v[x].kind == V_STR && strlen(s) == m->v[x].slen &&
           !memcmp(m->v[x].s, s, m->v[x].slen);
}

/* ('storage', torch.XStorage, key, location, numel): what torch.save put in the zip for it. */
static int op_persid(pm *m)
{
    uint32_t pid;
    if (pop(m, &pid)) return -1;
    const val *t = &m->v[pid];
    if (t->kind != V_TUPLE || t->n != 5 || !is_str(m, t->items[0], "storage") ||
        m->v[t->items[1]].kind != V_GLOBAL || m->v[t->items[1]].glob != G_STORAGE ||
        m->v[t->items[2]].kind != V_STR || m->v[t->items[4]].kind != V_INT ||
        m->v[t->items[4]].i < 0)
        return fail(m, "its pickle has a persistent id that is not a torch storage at byte %zu",
                    at(m));
    uint32_t x = new_val(m, V_STORAGE);
    if (x == NO_VAL) return -1;
    t = &m->v[pid]; /* new_val may move the array */
    m->v[x].dtype = m->v[t->items[1]].dtype;
    m->v[x].s = m->v[t->items[2]].s; /* shared: freed with the key string */
    m->v[x].slen = m->v[t->items[2]].slen;
    m->v[x].i = m->v[t->items[4]].i;
    return push(m, x);
}

/* A tuple of n non-negative ints into out; -1 if it is not one. */
static int int_tuple(const pm *m, uint32_t x, int64_t *out, size_t *n)
{
    const val *t = &m->v[x];
    if (t->kind != V_TUPLE || t->n > RN_ST_MAX_DIMS) return -1;
    for (size_t i = 0; i < t->n; i++) {
        if (m->v[t->items[i]].kind != V_INT || m->v[t->items[i]].i < 0) return -1;
        out[i] = m->v[t->items[i]].i;
    }
    *n = t->n;
    return 0;
}

/* The view's element count and its span in the storage, with every product checked. */
static int tensor_extent(rn_pkl_tensor *t)
{
    uint64_t numel = 1, last = 0;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t s = (uint64_t)t->shape[d];
        if (s && numel > (UINT64_MAX >> 8) / s) return -1;
        numel *= s;
    }
    if (numel == 0) {
        t->span = 0;
        return 0;
    }
    for (int d = 0; d < t->ndim; d++) {
        uint64_t s = (uint64_t)t->shape[d] - 1, st = (uint64_t)t->stride[d];
        if (st && s > (UINT64_MAX >> 8) / st) return -1;
        last += s * st;
        if (last > UINT64_MAX >> 8) return -1;
    }
    t->span = last + 1;
    return 0;
}

static int rebuild_tensor(pm *m, uint32_t args)
{
    const val *a = &m->v[args];
    if (a->kind != V_TUPLE || a->n < 6 || a->n > 7 || m->v[a->items[0]].kind != V_STORAGE ||
        m->v[a->items[1]].kind != V_INT || m->v[a->items[1]].i < 0)
        return fail(m, "its pickle calls _rebuild_tensor_v2 with unexpected arguments at byte %zu",
                    at(m));
    rn_pkl_tensor t = {0};
    size_t nshape, nstride;
    if (int_tuple(m, a->items[2], t.shape, &nshape) ||
        int_tuple(m, a->items[3], t.stride, &nstride) || nshape != nstride)
        return fail(m,
                    "its pickle gives a tensor a size or stride that is not %d or fewer "
                    "non-negative integers at byte %zu",
                    RN_ST_MAX_DIMS, at(m));
    const val *s = &m->v[a->items[0]];
    t.ndim = (int)nshape;
    t.storage = s->s;
    t.dtype = s->dtype;
    t.storage_numel = (uint64_t)s->i;
    t.offset = (uint64_t)m->v[a->items[1]].i;
    if (tensor_extent(&t) ||
        (t.span && (t.offset > t.storage_numel || t.span > t.storage_numel - t.offset)))
        return fail(m, "its pickle has a tensor view that reaches outside its storage at byte %zu",
                    at(m));
    uint32_t x = new_val(m, V_TENSOR);
    if (x == NO_VAL) return -1;
    m->v[x].t = t;
    return push(m, x);
}

static int op_reduce(pm *m)
{
    uint32_t args, fn;
    if (pop(m, &args) || pop(m, &fn)) return -1;
    if (m->v[fn].kind != V_GLOBAL || m->v[args].kind != V_TUPLE)
        return fail(m, "its pickle calls a %s at byte %zu", kind_names[m->v[fn].kind], at(m));
    switch (m->v[fn].glob) {
    case G_ODICT:
        if (m->v[args].n) return fail(m, "its pickle builds an OrderedDict from arguments");
        return push_new(m, V_DICT);
    case G_REBUILD_V2: return rebuild_tensor(m, args);
    case G_REBUILD_PARAM:
        if (m->v[args].n < 1 || m->v[m->v[args].items[0]].kind != V_TENSOR)
            return fail(m, "its pickle calls _rebuild_parameter without a tensor");
        return push(m, m->v[args].items[0]);
    default: return fail(m, "its pickle calls a storage class at byte %zu", at(m));
    }
}

static int container(pm *m, uint32_t x, enum kind k)
{
    if (m->v[x].kind != k)
        return fail(m, "its pickle adds items to a %s at byte %zu", kind_names[m->v[x].kind],
                    at(m));
    return 0;
}

static int op_setitem(pm *m)
{
    uint32_t k, v, d;
    if (pop(m, &v) || pop(m, &k) || top(m, &d) || container(m, d, V_DICT)) return -1;
    return add_item(m, d, k) || add_item(m, d, v) ? -1 : 0;
}

static int op_append(pm *m)
{
    uint32_t v, l;
    if (pop(m, &v) || top(m, &l) || container(m, l, V_LIST)) return -1;
    return add_item(m, l, v);
}

/* SETITEMS and APPENDS: the container sits just below the mark. */
static int op_extend(pm *m, enum kind k)
{
    if (!m->nm || m->marks[m->nm - 1] == 0)
        return fail(m, "its pickle extends a container it has not pushed at byte %zu", at(m));
    uint32_t c = m->stack[m->marks[m->nm - 1] - 1];
    return container(m, c, k) ? -1 : pop_mark_into(m, c);
}

static int op_mark(pm *m)
{
    if (grow((void **)&m->marks, &m->capm, m->nm + 1, sizeof *m->marks))
        return fail(m, "out of memory");
    m->marks[m->nm++] = m->sp;
    return 0;
}

/* BUILD sets an object's state; a state_dict's OrderedDict carries its _metadata this way and a
 * tensor may carry attributes. Neither matters for the weights, so the state is dropped. */
static int op_build(pm *m)
{
    uint32_t state, obj;
    if (pop(m, &state) || top(m, &obj)) return -1;
    if (m->v[obj].kind != V_DICT && m->v[obj].kind != V_TENSOR)
        return fail(m, "its pickle sets the state of a %s at byte %zu", kind_names[m->v[obj].kind],
                    at(m));
    return 0;
}

static int step(pm *m, int *stop)
{
    const uint8_t *b;
    uint64_t u;
    uint32_t x;
    if (take(m, 1, &b)) return fail(m, "its pickle ends without a STOP opcode");
    switch (*b) {
    case 0x80: return take_uint(m, 1, &u);    /* PROTO */
    case 0x95: return take_uint(m, 8, &u);    /* FRAME: a hint only */
    case '.': *stop = 1; return 0;            /* STOP */
    case '(': return op_mark(m);              /* MARK */
    case '}': return push_new(m, V_DICT);     /* EMPTY_DICT */
    case ']': return push_new(m, V_LIST);     /* EMPTY_LIST */
    case ')': return push_new(m, V_TUPLE);    /* EMPTY_TUPLE */
    case 'N': return push_new(m, V_NONE);     /* NONE */
    case 0x88: return push_int(m, 1, V_BOOL); /* NEWTRUE */
    case 0x89: return push_int(m, 0, V_BOOL); /* NEWFALSE */
    case 'K': return take_uint(m, 1, &u) ? -1 : push_int(m, (int64_t)u, V_INT);
    case 'M': return take_uint(m, 2, &u) ? -1 : push_int(m, (int64_t)u, V_INT);
    case 'J': return take_uint(m, 4, &u) ? -1 : push_int(m, (int32_t)(uint32_t)u, V_INT);
    case 0x8a: return op_long1(m); /* LONG1 */
    case 'G': return op_float(m);  /* BINFLOAT */
    case 'X':
    case 'T':
    case 'B': return op_str(m, 4); /* BINUNICODE, BINSTRING, BINBYTES */
    case 0x8c:
    case 'U':
    case 'C': return op_str(m, 1);
    case 0x8d:
    case 0x8e: return op_str(m, 8);                 /* BINUNICODE8, BINBYTES8 */
    case 't': return op_container_mark(m, V_TUPLE); /* TUPLE */
    case 'l': return op_container_mark(m, V_LIST);  /* LIST */
    case 'd': return op_container_mark(m, V_DICT);  /* DICT */
    case 0x85: return op_tuple(m, 1);
    case 0x86: return op_tuple(m, 2);
    case 0x87: return op_tuple(m, 3);
    case 'q': return take_uint(m, 1, &u) ? -1 : memo_put(m, u); /* BINPUT */
    case 'r': return take_uint(m, 4, &u) ? -1 : memo_put(m, u); /* LONG_BINPUT */
    case 0x94: return memo_put(m, m->memo_len);                 /* MEMOIZE */
    case 'h': return take_uint(m, 1, &u) ? -1 : memo_get(m, u); /* BINGET */
    case 'j': return take_uint(m, 4, &u) ? -1 : memo_get(m, u); /* LONG_BINGET */
    case 'c': return op_global(m);
    case 0x93: return op_stack_global(m);
    case 'Q': return op_persid(m);                 /* BINPERSID */
    case 'R': return op_reduce(m);                 /* REDUCE */
    case 'b': return op_build(m);                  /* BUILD */
    case 's': return op_setitem(m);                /* SETITEM */
    case 'u': return op_extend(m, V_DICT);         /* SETITEMS */
    case 'a': return op_append(m);                 /* APPEND */
    case 'e': return op_extend(m, V_LIST);         /* APPENDS */
    case '0': return pop(m, &x);                   /* POP */
    case '2': return top(m, &x) ? -1 : push(m, x); /* DUP */
    case '1':                                      /* POP_MARK */
        if (!m->nm) return fail(m, "its pickle pops a mark it never set");
        m->sp = m->marks[--m->nm];
        return 0;
    default:
        return fail(m, "its pickle has opcode 0x%02x at byte %zu, which a state_dict does not use",
                    *b, at(m));
    }
}

/* ---- finding the state_dict ---- */

static int keep_ignored(rn_pkl_dict *d, const val *key)
{
    char **n = realloc(d->ignored, (d->ignored_count + 1) * sizeof *n);
    if (!n) return -1;
    d->ignored = n;
    n[d->ignored_count] = strdup(key->kind == V_STR ? key->s : "(a key that is not a string)");
    return n[d->ignored_count++] ? 0 : -1;
}

static int add_tensor(pm *m, rn_pkl_dict *d, const val *key, const val *tv)
{
    if (key->kind != V_STR || strlen(key->s) != key->slen)
        return fail(m, "its state_dict has a tensor whose key is not a plain string");
    rn_pkl_tensor *n = realloc(d->t, (d->count + 1) * sizeof *n);
    if (!n) return fail(m, "out of memory");
    d->t = n;
    rn_pkl_tensor *t = &d->t[d->count];
    *t = tv->t;
    t->name = strdup(key->s);
    t->storage = strdup(tv->t.storage);
    d->count++;
    return t->name && t->storage ? 0 : fail(m, "out of memory");
}

static int has_tensor(const pm *m, const val *dict)
{
    for (size_t i = 1; i < dict->n; i += 2)
        if (m->v[dict->items[i]].kind == V_TENSOR) return 1;
    return 0;
}

static int collect(pm *m, uint32_t x, rn_pkl_dict *d, int depth)
{
    const val *dict = &m->v[x];
    if (dict->kind != V_DICT)
        return fail(m, "its pickle holds a %s, not a state_dict", kind_names[dict->kind]);
    if (has_tensor(m, dict)) {
        for (size_t i = 0; i + 1 < dict->n; i += 2) {
            const val *k = &m->v[dict->items[i]], *v = &m->v[dict->items[i + 1]];
            int rc = v->kind == V_TENSOR ? add_tensor(m, d, k, v) : keep_ignored(d, k);
            if (rc) return rc == -1 && !m->err[0] ? fail(m, "out of memory") : -1;
        }
        return 0;
    }
    const char *wrappers[] = {"state_dict", "model"};
    for (int w = 0; w < 2 && depth < 2; w++)
        for (size_t i = 0; i + 1 < dict->n; i += 2) {
            if (!is_str(m, dict->items[i], wrappers[w]) || m->v[dict->items[i + 1]].kind != V_DICT)
                continue;
            for (size_t j = 0; j + 1 < dict->n; j += 2)
                if (j != i && keep_ignored(d, &m->v[dict->items[j]]))
                    return fail(m, "out of memory");
            return collect(m, dict->items[i + 1], d, depth + 1);
        }
    return fail(m, "its pickle holds a dict with no tensors and no \"state_dict\" or \"model\" "
                   "entry");
}

static void machine_free(pm *m)
{
    for (size_t i = 0; i < m->nv; i++) {
        if (m->v[i].kind != V_STORAGE) free(m->v[i].s);
        free(m->v[i].items);
    }
    free(m->v);
    free(m->stack);
    free(m->marks);
    free(m->memo);
}

int rn_pickle_state_dict(rn_pkl_dict *d, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    pm m = {.p = buf, .start = buf, .end = buf + len, .err = err, .errlen = errlen};
    memset(d, 0, sizeof *d);
    if (errlen) err[0] = 0;
    int stop = 0, rc = 0;
    while (!stop && rc == 0) rc = step(&m, &stop);
    if (rc == 0 && (m.sp != 1 || m.nm))
        rc = fail(&m, "its pickle stops with %zu values and %zu marks on the stack, not one value",
                  m.sp, m.nm);
    if (rc == 0) rc = collect(&m, m.stack[0], d, 0);
    if (rc == 0 && d->count == 0) rc = fail(&m, "its state_dict holds no tensors");
    machine_free(&m);
    if (rc) rn_pkl_dict_free(d);
    return rc ? -1 : 0;
}

void rn_pkl_dict_free(rn_pkl_dict *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->t[i].name);
        free(d->t[i].storage);
    }
    for (size_t i = 0; i < d->ignored_count; i++) free(d->ignored[i]);
    free(d->t);
    free(d->ignored);
    memset(d, 0, sizeof *d);
}
