/* Strict JSON reader into a flat value list, and the streaming writer. Every read of the text
 * checks the length first (peek() for single bytes; escapes and literals before their multi-byte
 * reads), so truncated or hostile input can never make the reader run past the buffer. */
#include "base/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- reader ---- */

typedef struct parser {
    const char *s;
    size_t pos, len;
    rn_json_doc *d;
    size_t cap;  /* values allocated in d->v */
    size_t used; /* bytes of d->strings taken */
    int depth;
} parser;

static int fail(parser *p, const char *what)
{
    if (!p->d->err[0]) snprintf(p->d->err, sizeof p->d->err, "%s at byte %zu", what, p->pos);
    return -1;
}

static int peek(const parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static void skip_ws(parser *p)
{
    int c;
    while ((c = peek(p)) == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Appends a value of `type` at the current position; its index in *k (the list may move). */
static int new_value(parser *p, rn_json_type type, const char *key, size_t *k)
{
    rn_json_doc *d = p->d;
    if (d->count == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        rn_json *v = realloc(d->v, cap * sizeof *v);
        if (!v) return fail(p, "out of memory");
        d->v = v;
        p->cap = cap;
    }
    *k = d->count++;
    d->v[*k] = (rn_json){.type = type, .at = p->pos, .key = key, .span = 1};
    return 0;
}

static int hex4(parser *p, uint32_t *out)
{
    if (p->len - p->pos < 4) return fail(p, "short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p->s[p->pos++];
        int h = is_digit(c)            ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (h < 0) return fail(p, "bad \\u escape");
        v = v * 16 + (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* A \u escape (p just past the 'u'), a surrogate pair combined, as a code point. */
static int unicode_escape(parser *p, uint32_t *cp)
{
    if (hex4(p, cp) != 0) return -1;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return fail(p, "lone low surrogate");
    if (*cp < 0xd800 || *cp > 0xdbff) return *cp ? 0 : fail(p, "NUL character in string");
    uint32_t lo;
    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return fail(p, "lone high surrogate");
    p->pos += 2;
    if (hex4(p, &lo) != 0) return -1;
    if (lo < 0xdc00 || lo > 0xdfff) return fail(p, "bad surrogate pair");
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

/* One escape (p just past the backslash), decoded onto out. */
static int escape(parser *p, char *out, size_t *n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    int e = peek(p);
    if (e < 0) return fail(p, "unterminated string");
    p->pos++;
    const char *hit = e > 0 ? strchr(from, e) : NULL;
    uint32_t cp;
    if (hit) {
        out[(*n)++] = to[hit - from];
        return 0;
    }
    if (e != 'u') return fail(p, "bad escape in string");
    if (unicode_escape(p, &cp) != 0) return -1;
    put_utf8(out, n, cp);
    return 0;
}

/* A string from its opening quote, decoded into d->strings. It fits: decoding never lengthens
 * text, and the two quotes pay for the terminator. */
static int parse_string(parser *p, const char **out)
{
    char *buf = p->d->strings + p->used;
    size_t n = 0;
    p->pos++;
    for (;;) {
        int c = peek(p);
        if (c < 0) return fail(p, "unterminated string");
        if (c < 0x20) return fail(p, "control character in string");
        p->pos++;
        if (c == '"') break;
        if (c != '\\') buf[n++] = (char)c;
        else if (escape(p, buf, &n) != 0) return -1;
    }
    buf[n] = 0;
    p->used += n + 1;
    *out = buf;
    return 0;
}

/* Digits from the current position; how many. */
static size_t digits(parser *p)
{
    size_t start = p->pos;
    while (is_digit(peek(p))) p->pos++;
    return p->pos - start;
}

/* The exact value of an integer's digits, when it fits in ±(2^63 - 1). */
static void exact_int(rn_json *v, const char *s, size_t len)
{
    int neg = s[0] == '-';
    uint64_t m = 0;
    for (size_t i = (size_t)neg; i < len; i++) {
        unsigned dig = (unsigned)(s[i] - '0');
        if (m > ((uint64_t)INT64_MAX - dig) / 10) return;
        m = m * 10 + dig;
    }
    v->is_int = 1;
    v->i = neg ? -(int64_t)m : (int64_t)m;
}

/* A number as RFC 8259 writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(parser *p, rn_json *v)
{
    size_t start = p->pos;
    int integral = 1;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') {
        p->pos++;
        if (is_digit(peek(p))) return fail(p, "leading zero in number");
    } else if (!digits(p)) {
        return fail(p, "expected a digit");
    }
    if (peek(p) == '.') {
        p->pos++;
        integral = 0;
        if (!digits(p)) return fail(p, "expected a digit after '.'");
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        integral = 0;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (!digits(p)) return fail(p, "expected a digit in the exponent");
    }
    /* strtod needs a terminator: the copy goes where the next string would, and fits there too */
    size_t len = p->pos - start;
    char *copy = p->d->strings + p->used;
    memcpy(copy, p->s + start, len);
    copy[len] = 0;
    v->num = strtod(copy, NULL);
    if (!isfinite(v->num)) return fail(p, "number out of range");
    if (integral) exact_int(v, copy, len);
    return 0;
}

/* A literal word (true, false, null) at the current position. */
static int parse_word(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "unexpected character");
    p->pos += n;
    return 0;
}

static int parse_value(parser *p, const char *key);

/* An object member's name and the colon after it; a name used before in object k is refused. */
static int parse_key(parser *p, size_t k, const char **key)
{
    skip_ws(p);
    if (peek(p) != '"') return fail(p, "expected a string key");
    size_t at = p->pos;
    if (parse_string(p, key) != 0) return -1;
    const rn_json *v = p->d->v;
    for (size_t m = k + 1; m < p->d->count; m += v[m].span) {
        if (strcmp(v[m].key, *key) == 0) {
            p->pos = at;
            return fail(p, "duplicate key");
        }
    }
    skip_ws(p);
    if (peek(p) != ':') return fail(p, "expected ':'");
    p->pos++;
    return 0;
}

/* The members of the array or object at index k, from its opening bracket to its closing one. */
static int parse_members(parser *p, size_t k, int close)
{
    int object = close == '}';
    if (++p->depth > RN_JSON_MAX_DEPTH) return fail(p, "nesting too deep");
    p->pos++;
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        if (object && parse_key(p, k, &key) != 0) return -1;
        if (parse_value(p, key) != 0) return -1;
        p->d->v[k].n++;
        skip_ws(p);
        int c = peek(p);
        if (c == close) break;
        if (c != ',') return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
        p->pos++;
    }
    p->pos++;
    p->depth--;
    return 0;
}

static int parse_value(parser *p, const char *key)
{
    skip_ws(p);
    int c = peek(p), rc;
    rn_json_type type = c == '{'   ? RN_JSON_OBJECT
                        : c == '[' ? RN_JSON_ARRAY
                        : c == '"' ? RN_JSON_STRING
                        : c == 't' ? RN_JSON_TRUE
                        : c == 'f' ? RN_JSON_FALSE
                        : c == 'n' ? RN_JSON_NULL
                                   : RN_JSON_NUMBER;
    if (c < 0) return fail(p, "unexpected end");
    size_t k;
    if (new_value(p, type, key, &k) != 0) return -1;
    switch (type) {
    case RN_JSON_OBJECT: rc = parse_members(p, k, '}'); break;
    case RN_JSON_ARRAY: rc = parse_members(p, k, ']'); break;
    case RN_JSON_STRING: rc = parse_string(p, &p->d->v[k].str); break;
    case RN_JSON_TRUE: rc = parse_word(p, "true"); break;
    case RN_JSON_FALSE: rc = parse_word(p, "false"); break;
    case RN_JSON_NULL: rc = parse_word(p, "null"); break;
    default:
        rc = c == '-' || is_digit(c) ? parse_number(p, &p->d->v[k])
                                     : fail(p, "unexpected character");
    }
    p->d->v[k].span = p->d->count - k;
    return rc;
}

int rn_json_parse(rn_json_doc *d, const char *text, size_t len)
{
    memset(d, 0, sizeof *d);
    parser p = {.s = text, .len = len, .d = d};
    d->strings = malloc(len + 1);
    int rc = d->strings ? parse_value(&p, NULL) : fail(&p, "out of memory");
    if (rc == 0) {
        skip_ws(&p);
        if (p.pos != len) rc = fail(&p, "trailing characters");
    }
    if (rc != 0) {
        free(d->v);
        free(d->strings);
        d->v = NULL;
        d->strings = NULL;
        d->count = 0;
    }
    return rc;
}

void rn_json_free(rn_json_doc *d)
{
    free(d->v);
    free(d->strings);
    memset(d, 0, sizeof *d);
}

const rn_json *rn_json_child(const rn_json *c)
{
    return (c->type == RN_JSON_ARRAY || c->type == RN_JSON_OBJECT) && c->n ? c + 1 : NULL;
}

const rn_json *rn_json_next(const rn_json *c, const rn_json *m)
{
    const rn_json *next = m + m->span;
    return next < c + c->span ? next : NULL;
}

const rn_json *rn_json_get(const rn_json *obj, const char *key)
{
    if (obj->type != RN_JSON_OBJECT) return NULL;
    for (const rn_json *m = rn_json_child(obj); m; m = rn_json_next(obj, m))
        if (strcmp(m->key, key) == 0) return m;
    return NULL;
}

/* ---- writer ---- */

void rn_jw_open(rn_jw *j, FILE *f, int layout)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->layout = layout;
    j->first[0] = 1;
}

/* RFC 8259: quote and backslash escaped, control characters as \u00XX, all else (UTF-8 too) as
 * is. Safetensors headers written before this module used the same rule, byte for byte. */
static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* Whether the members of the container at this depth go on lines of their own. */
static int on_lines(const rn_jw *j, int depth)
{
    return depth > 0 && depth <= j->layout;
}

/* Separator, line break and indentation before a member, then its key if it has one. */
static void member(rn_jw *j, const char *key)
{
    int lines = on_lines(j, j->depth), compact = j->layout == RN_JW_COMPACT;
    if (!j->first[j->depth]) fputs(lines || compact ? "," : ", ", j->f);
    j->first[j->depth] = 0;
    if (lines) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    if (key) {
        put_string(j->f, key);
        fputs(compact ? ":" : ": ", j->f);
    }
}

static void open_nest(rn_jw *j, const char *key, char open, char close)
{
    if (!j->f) return;
    if (j->depth >= RN_JSON_MAX_DEPTH) abort(); /* a caller's bug: no document nests this deep */
    member(j, key);
    fputc(open, j->f);
    j->depth++;
    j->first[j->depth] = 1;
    j->close[j->depth] = close;
}

void rn_jw_obj(rn_jw *j, const char *key)
{
    open_nest(j, key, '{', '}');
}

void rn_jw_arr(rn_jw *j, const char *key)
{
    open_nest(j, key, '[', ']');
}

void rn_jw_end(rn_jw *j)
{
    if (!j->f) return;
    if (j->depth <= 0) abort(); /* a caller's bug: more ends than opens */
    int lines = on_lines(j, j->depth) && !j->first[j->depth];
    char close = j->close[j->depth--];
    if (lines) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(close, j->f);
    if (j->depth == 0 && j->layout != RN_JW_COMPACT) fputc('\n', j->f);
}

void rn_jw_str(rn_jw *j, const char *key, const char *s)
{
    if (!j->f) return;
    member(j, key);
    put_string(j->f, s);
}

/* A scalar written with a printf format. */
static void scalar(rn_jw *j, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void scalar(rn_jw *j, const char *key, const char *fmt, ...)
{
    if (!j->f) return;
    member(j, key);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(j->f, fmt, ap);
    va_end(ap);
}

void rn_jw_int(rn_jw *j, const char *key, long long v)
{
    scalar(j, key, "%lld", v);
}

void rn_jw_uint(rn_jw *j, const char *key, unsigned long long v)
{
    scalar(j, key, "%llu", v);
}

void rn_jw_num(rn_jw *j, const char *key, double v, int digits)
{
    if (isfinite(v)) scalar(j, key, "%.*g", digits, v);
    else scalar(j, key, "null");
}

void rn_jw_fixed(rn_jw *j, const char *key, double v, int decimals)
{
    if (isfinite(v)) scalar(j, key, "%.*f", decimals, v);
    else scalar(j, key, "null");
}

void rn_jw_bool(rn_jw *j, const char *key, int v)
{
    scalar(j, key, "%s", v ? "true" : "false");
}
