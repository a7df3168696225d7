/* The one JSON reader and writer: a strict parser into a flat list of values (safetensors headers,
 * `cl_bench compare`), and a streaming writer with RFC 8259 string escaping for every JSON file
 * and line rn50cl and cl_bench produce. No OpenCL, no global state. */
#ifndef RN_BASE_JSON_H
#define RN_BASE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Containers nested deeper than this are refused by the reader and abort the writer. */
#define RN_JSON_MAX_DEPTH 32

/* ---- reading ---- */

typedef enum rn_json_type {
    RN_JSON_NULL,
    RN_JSON_FALSE,
    RN_JSON_TRUE,
    RN_JSON_NUMBER,
    RN_JSON_STRING,
    RN_JSON_ARRAY,
    RN_JSON_OBJECT,
} rn_json_type;

/* One value. A container's members follow it in the list, each followed by its own members, so
 * `span` (this value and everything inside it) is the step from one member to the next. */
typedef struct rn_json {
    rn_json_type type;
    size_t at;       /* byte offset of the value in the text, for messages */
    const char *key; /* a member of an object: its name, decoded; otherwise NULL */
    const char *str; /* STRING: decoded UTF-8, NUL-terminated (\u0000 is refused) */
    double num;      /* NUMBER: the nearest double (finite: out-of-range numbers are refused) */
    int is_int;      /* NUMBER written without fraction or exponent, within ±(2^63 - 1) */
    int64_t i;       /* NUMBER when is_int: the exact value */
    size_t n;        /* ARRAY, OBJECT: direct members */
    size_t span;
} rn_json;

typedef struct rn_json_doc {
    rn_json *v;    /* every value in document order; v[0] is the root */
    size_t count;  /* values in v */
    char *strings; /* the decoded strings and keys the values point into */
    char err[160]; /* after a failure: "<what> at byte <offset>" */
} rn_json_doc;

/* Parses exactly len bytes of text (no terminator needed, none read past the end): one value with
 * optional whitespace around it, strictly as RFC 8259 says, duplicate object keys refused. 0 on
 * success (free with rn_json_free), or -1 with d->err set and nothing to free. */
int rn_json_parse(rn_json_doc *d, const char *text, size_t len);
void rn_json_free(rn_json_doc *d);

/* Members of an array or object in order: for (m = rn_json_child(c); m; m = rn_json_next(c, m)).
 * rn_json_child gives NULL for an empty container or a scalar. */
const rn_json *rn_json_child(const rn_json *c);
const rn_json *rn_json_next(const rn_json *c, const rn_json *m);
/* The member of obj named key; NULL if there is none or obj is not an object. */
const rn_json *rn_json_get(const rn_json *obj, const char *key);

/* ---- writing ---- */

/* Layouts: RN_JW_COMPACT has no whitespace at all (safetensors headers); RN_JW_LINE writes one
 * line with ", " and ": " between items and a newline after the top-level value; a count n > 0
 * is RN_JW_LINE with the members of the outer n levels each on its own line, indented two spaces
 * per level (RN_JW_PRETTY: every level). */
enum { RN_JW_COMPACT = -1, RN_JW_LINE = 0, RN_JW_PRETTY = RN_JSON_MAX_DEPTH };

/* Writes values as they are handed over; keys, commas and layout follow from the nesting. Every
 * call is a no-op when the writer has no file, so optional output needs no ifs. Write errors
 * stay in the FILE (ferror) for the caller's close to report. */
typedef struct rn_jw {
    FILE *f;
    int layout;
    int depth;
    unsigned char first[RN_JSON_MAX_DEPTH + 1]; /* 1 until a member is written at this depth */
    char close[RN_JSON_MAX_DEPTH + 1];          /* the bracket that ends the container */
} rn_jw;

void rn_jw_open(rn_jw *j, FILE *f, int layout);
/* key: the member's name inside an object, NULL for an array element or the top-level value. */
void rn_jw_obj(rn_jw *j, const char *key);
void rn_jw_arr(rn_jw *j, const char *key);
void rn_jw_end(rn_jw *j); /* closes the innermost object or array */
void rn_jw_str(rn_jw *j, const char *key, const char *s);
void rn_jw_int(rn_jw *j, const char *key, long long v);
void rn_jw_uint(rn_jw *j, const char *key, unsigned long long v);
/* "%.*g" with `digits` significant digits, or "%.*f" with `decimals`; null when v is not finite
 * (JSON has no inf or NaN). */
void rn_jw_num(rn_jw *j, const char *key, double v, int digits);
void rn_jw_fixed(rn_jw *j, const char *key, double v, int decimals);
void rn_jw_bool(rn_jw *j, const char *key, int v);

#endif
