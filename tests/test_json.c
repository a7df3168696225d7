/* base/json: writer layouts and escapes, round trips through writer and reader, every escape the
 * reader decodes, numbers as RFC 8259 defines them, malformed documents each refused, the depth
 * limit, and no read past the end of the text (every prefix and many one-byte mutations of a
 * document parsed from the end of a page followed by an inaccessible one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/json.h"
#include "testutil.h"

static int parse(rn_json_doc *d, const char *s)
{
    return rn_json_parse(d, s, strlen(s));
}

/* ---- writer ---- */

/* The same document in the given layout, as a malloc'd string. */
static char *write_doc(int layout)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    rn_jw j;
    rn_jw_open(&j, m, layout);
    rn_jw_obj(&j, NULL);
    rn_jw_int(&j, "a", -1);
    rn_jw_arr(&j, "b");
    rn_jw_bool(&j, NULL, 1);
    rn_jw_str(&j, NULL, "x");
    rn_jw_end(&j);
    rn_jw_obj(&j, "c");
    rn_jw_end(&j);
    rn_jw_arr(&j, "d");
    rn_jw_end(&j);
    rn_jw_obj(&j, "e");
    rn_jw_num(&j, "f", NAN, 6);
    rn_jw_fixed(&j, "g", 0.5, 3);
    rn_jw_uint(&j, "h", 18446744073709551615ull);
    rn_jw_end(&j);
    rn_jw_end(&j);
    fclose(m);
    return buf;
}

static void check_layouts(void)
{
    static const struct {
        int layout;
        const char *want;
    } cases[] = {
        {RN_JW_COMPACT,
         "{\"a\":-1,\"b\":[true,\"x\"],\"c\":{},\"d\":[],\"e\":{\"f\":null,\"g\":0.500,"
         "\"h\":18446744073709551615}}"},
        {RN_JW_LINE, "{\"a\": -1, \"b\": [true, \"x\"], \"c\": {}, \"d\": [], \"e\": {\"f\": null, "
                     "\"g\": 0.500, \"h\": 18446744073709551615}}\n"},
        {1, "{\n  \"a\": -1,\n  \"b\": [true, \"x\"],\n  \"c\": {},\n  \"d\": [],\n  \"e\": "
            "{\"f\": null, \"g\": 0.500, \"h\": 18446744073709551615}\n}\n"},
        {RN_JW_PRETTY, "{\n  \"a\": -1,\n  \"b\": [\n    true,\n    \"x\"\n  ],\n  \"c\": {},\n"
                       "  \"d\": [],\n  \"e\": {\n    \"f\": null,\n    \"g\": 0.500,\n"
                       "    \"h\": 18446744073709551615\n  }\n}\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = write_doc(cases[i].layout);
        TU_CHECK(strcmp(got, cases[i].want) == 0, "layout %d writes\n%s\n(got)\n%s",
                 cases[i].layout, cases[i].want, got);
        rn_json_doc d;
        TU_CHECK(parse(&d, got) == 0 && d.count == 11, "layout %d reads back (%s)", cases[i].layout,
                 d.err);
        rn_json_free(&d);
        free(got);
    }
}

/* A string through the writer: its JSON text, malloc'd. */
static char *written(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    rn_jw j;
    rn_jw_open(&j, m, RN_JW_COMPACT);
    rn_jw_str(&j, NULL, s);
    fclose(m);
    return buf;
}

static void check_escapes_written(void)
{
    char *got = written("q\" b\\ s/ \x01\x1f\x7f caf\xc3\xa9");
    TU_CHECK(strcmp(got, "\"q\\\" b\\\\ s/ \\u0001\\u001f\x7f caf\xc3\xa9\"") == 0,
             "quote, backslash and controls escaped; slash, DEL and UTF-8 as they are (got %s)",
             got);
    free(got);
    /* every byte but NUL, written and read back */
    char all[256];
    for (int c = 1; c < 256; c++) all[c - 1] = (char)c;
    all[255] = 0;
    got = written(all);
    int plain = 1;
    for (const char *p = got; *p; p++) plain &= (unsigned char)*p >= 0x20;
    rn_json_doc d;
    int rc = parse(&d, got);
    TU_CHECK(plain && rc == 0 && strcmp(d.v[0].str, all) == 0,
             "bytes 1..255 round-trip with no raw control character in the JSON (%s)", d.err);
    rn_json_free(&d);
    free(got);
}

/* ---- reader ---- */

static void check_escapes_read(void)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"},
        {"\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9"},
        {"\"\\u07ff\\u0800\\u20ac\\uffff\"", "\xdf\xbf\xe0\xa0\x80\xe2\x82\xac\xef\xbf\xbf"},
        {"\"\\ud83d\\ude00\\udbff\\udfff\"", "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"},
        {"\"caf\xc3\xa9 \x7f\"", "caf\xc3\xa9 \x7f"},
        {"\"\"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rn_json_doc d;
        int rc = parse(&d, cases[i].json);
        TU_CHECK(rc == 0 && d.v[0].type == RN_JSON_STRING && strcmp(d.v[0].str, cases[i].want) == 0,
                 "%s decodes (%s)", cases[i].json, rc ? d.err : d.v[0].str);
        rn_json_free(&d);
    }
}

static void check_numbers(void)
{
    static const struct {
        const char *json;
        double num;
        int is_int;
        long long i;
    } cases[] = {
        {"0", 0, 1, 0},
        {"-0", 0, 1, 0},
        {"7", 7, 1, 7},
        {"-123", -123, 1, -123},
        {"1.5", 1.5, 0, 0},
        {"-0.25", -0.25, 0, 0},
        {"0.1", 0.1, 0, 0},
        {"1.0", 1, 0, 0},
        {"1e3", 1000, 0, 0},
        {"1E-2", 0.01, 0, 0},
        {"2.5e+2", 250, 0, 0},
        {"1e-400", 0, 0, 0},
        {"9223372036854775807", 9223372036854775807.0, 1, 9223372036854775807LL},
        {"-9223372036854775807", -9223372036854775807.0, 1, -9223372036854775807LL},
        {"9223372036854775808", 9223372036854775808.0, 0, 0},
        {"123456789012345678901234567890", 123456789012345678901234567890.0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rn_json_doc d;
        int rc = parse(&d, cases[i].json);
        const rn_json *v = d.v;
        TU_CHECK(rc == 0 && v->type == RN_JSON_NUMBER && v->num == cases[i].num &&
                     v->is_int == cases[i].is_int && (!v->is_int || v->i == cases[i].i),
                 "%s reads as %.17g (integer %d: %lld) (got %.17g, %d, %lld%s)", cases[i].json,
                 cases[i].num, cases[i].is_int, cases[i].i, rc ? 0 : v->num, rc ? 0 : v->is_int,
                 rc ? 0 : (long long)v->i, d.err);
        rn_json_free(&d);
    }
}

static void check_tree(void)
{
    rn_json_doc d;
    const char *text = " {\"a\": [1, {\"x\": null}, []], \"b\": {}, \"c\": \"s\", \"d\": false} ";
    TU_CHECK(parse(&d, text) == 0 && d.count == 9, "a nested document parses (%s)", d.err);
    if (d.count != 9) return;
    const rn_json *root = d.v, *a = rn_json_get(root, "a");
    TU_CHECK(root->type == RN_JSON_OBJECT && root->n == 4 && root->span == 9 && root->at == 1,
             "root: an object of 4 members spanning every value, at byte 1");
    const char *keys[4] = {"a", "b", "c", "d"};
    int k = 0, in_order = 1;
    for (const rn_json *m = rn_json_child(root); m && k < 8; m = rn_json_next(root, m), k++)
        in_order &= k < 4 && strcmp(m->key, keys[k]) == 0;
    TU_CHECK(in_order && k == 4, "members visited in document order, none skipped (%d)", k);
    TU_CHECK(a && a->type == RN_JSON_ARRAY && a->n == 3 && a->span == 5 && a->key &&
                 rn_json_child(a)->i == 1 && rn_json_child(a)->key == NULL,
             "\"a\": an array of 3 whose elements have no key");
    const rn_json *inner = rn_json_next(a, rn_json_child(a));
    TU_CHECK(inner->type == RN_JSON_OBJECT && rn_json_get(inner, "x")->type == RN_JSON_NULL &&
                 rn_json_next(a, rn_json_next(a, inner)) == NULL,
             "the walk steps over a nested object and ends after the last element");
    TU_CHECK(rn_json_child(rn_json_get(root, "b")) == NULL &&
                 strcmp(rn_json_get(root, "c")->str, "s") == 0 &&
                 rn_json_get(root, "d")->type == RN_JSON_FALSE && !rn_json_get(root, "e") &&
                 !rn_json_get(a, "a") && !rn_json_child(rn_json_get(root, "c")),
             "empty object, string, false; absent key and get on an array give NULL");
    rn_json_free(&d);
    TU_CHECK(parse(&d, "true") == 0 && d.v->type == RN_JSON_TRUE && d.count == 1,
             "a scalar is a document");
    rn_json_free(&d);
}

static void check_refusals(void)
{
    static const char *const bad[] = {
        /* structure */
        "", "   ", "{", "}", "[", "]", "[1,]", "[,1]", "[1,,2]", "[1 2]", "[1]]", "{\"a\":1,}",
        "{,}", "{\"a\" 1}", "{\"a\":}", "{1:2}", "{a:1}", "[\"a\":1]", "{\"a\":1,\"a\":2}",
        /* strings */
        "\"abc", "\"abc\\", "\"\\x\"", "\"\\'\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800\\n\"", "\"\\u0000\"", "\"a\tb\"",
        "\"a\nb\"", "'a'",
        /* literals */
        "tru", "nul", "fals", "trux", "nul1", "fakse", "True", "NULL", "truex",
        /* numbers */
        "01", "-01", "00", "-", "--1", "+1", "1.", ".5", "1.e3", "1e", "1e+", "1e-", "0x10", "NaN",
        "Infinity", "-Infinity", "1e999", "-1e999",
        /* after the value */
        "{}x", "[] []", "1 2", "\xef\xbb\xbf{}", "[1]\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rn_json_doc d;
        int rc = parse(&d, bad[i]);
        TU_CHECK(rc == -1 && strstr(d.err, " at byte ") && d.v == NULL && d.strings == NULL,
                 "'%s' refused with a position, nothing to free (%s)", bad[i], d.err);
    }
    static const struct {
        const char *json, *err;
    } why[] = {
        {"{\"a\":1,\"b\":2,\"a\":3}", "duplicate key at byte 13"},
        {"\"abc", "unterminated string at byte 4"},
        {"\"abc\\", "unterminated string at byte 5"},
        {"[01]", "leading zero in number at byte 2"},
        {"[1,]", "unexpected character at byte 3"},
        {"{\"a\" 1}", "expected ':' at byte 5"},
        {"\"\\u12\"", "short \\u escape at byte 3"},
    };
    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
        rn_json_doc d;
        parse(&d, why[i].json);
        TU_CHECK(strcmp(d.err, why[i].err) == 0, "'%s' refused as \"%s\" (got \"%s\")", why[i].json,
                 why[i].err, d.err);
    }
    rn_json_doc d;
    TU_CHECK(rn_json_parse(&d, "[1]\0", 4) == -1 && strstr(d.err, "trailing"),
             "a NUL after the document is trailing garbage (%s)", d.err);
}

/* n nested arrays, or objects when obj: [[[...]]] or {"k":{"k":...{}}}. */
static char *nested(int n, int obj)
{
    char *s = malloc((size_t)n * 6 + 1), *p = s;
    for (int i = 0; i < n; i++) {
        const char *open = i + 1 < n && obj ? "{\"k\":" : obj ? "{" : "[";
        memcpy(p, open, strlen(open));
        p += strlen(open);
    }
    for (int i = 0; i < n; i++) *p++ = obj ? '}' : ']';
    *p = 0;
    return s;
}

static void check_depth(void)
{
    for (int obj = 0; obj < 2; obj++) {
        char *ok = nested(RN_JSON_MAX_DEPTH, obj), *deep = nested(RN_JSON_MAX_DEPTH + 1, obj);
        rn_json_doc d;
        int rc = parse(&d, ok);
        TU_CHECK(rc == 0 && d.count == RN_JSON_MAX_DEPTH, "%d nested %s accepted (%s)",
                 RN_JSON_MAX_DEPTH, obj ? "objects" : "arrays", d.err);
        rn_json_free(&d);
        TU_CHECK(parse(&d, deep) == -1 && strstr(d.err, "nesting too deep"),
                 "%d nested %s refused (%s)", RN_JSON_MAX_DEPTH + 1, obj ? "objects" : "arrays",
                 d.err);
        free(ok);
        free(deep);
    }
}

/* ---- no read past the end ---- */

static char *page_end; /* the first byte of an inaccessible page */

/* Copies n bytes so that they end where the inaccessible page starts: a read past them faults. */
static const char *at_page_end(const char *s, size_t n)
{
    char *p = page_end - n;
    memcpy(p, s, n);
    return p;
}

static void guard_page(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *m =
        mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + pg, (size_t)pg, PROT_NONE) != 0) abort();
    page_end = m + pg;
}

/* The tree's own bookkeeping holds: every container's span is itself plus its members' spans, it
 * has n members, and every value starts inside the text. */
static int tree_sane(const rn_json_doc *d, size_t len)
{
    if (d->count == 0 || d->v[0].span != d->count) return 0;
    for (size_t i = 0; i < d->count; i++) {
        const rn_json *c = &d->v[i];
        size_t span = 1, n = 0;
        for (const rn_json *m = rn_json_child(c); m && n <= d->count; m = rn_json_next(c, m), n++)
            span += m->span;
        if (span != c->span || n != c->n || c->at >= len) return 0;
    }
    return 1;
}

static const char doc_text[] =
    "{\"name\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\","
    "\"n\":[0,-1,2.5,-3.25e+2,1E-3,9223372036854775807],\"t\":true,\"f\":false,\"z\":null,"
    "\"deep\":{\"a\":[[],{},[{\"b\":\"\"}]]},\"e\":{}}";

static void check_prefixes(void)
{
    size_t n = sizeof doc_text - 1, refused = 0;
    for (size_t len = 0; len < n; len++) {
        rn_json_doc d;
        refused += rn_json_parse(&d, at_page_end(doc_text, len), len) == -1;
        rn_json_free(&d);
    }
    TU_CHECK(refused == n, "every proper prefix of a %zu-byte document refused (%zu were)", n,
             refused);
    rn_json_doc d;
    TU_CHECK(rn_json_parse(&d, at_page_end(doc_text, n), n) == 0 && tree_sane(&d, n),
             "the whole document parses from the end of a page (%s)", d.err);
    rn_json_free(&d);
}

/* Every byte of the document replaced by each of a set of bytes that matter to the grammar. */
static void check_mutations(void)
{
    static const char subst[] = "\"\\{}[],:0-e.u ntf\x01\x80";
    size_t n = sizeof doc_text - 1, runs = 0, insane = 0, parsed = 0;
    char buf[sizeof doc_text];
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t k = 0; k < sizeof subst; k++) { /* the terminator too: a NUL byte */
            memcpy(buf, doc_text, n);
            buf[pos] = subst[k];
            rn_json_doc d;
            if (rn_json_parse(&d, at_page_end(buf, n), n) == 0) {
                parsed++;
                insane += !tree_sane(&d, n);
            } else {
                insane += strstr(d.err, " at byte ") == NULL;
            }
            rn_json_free(&d);
            runs++;
        }
    }
    TU_CHECK(insane == 0 && parsed > 0 && parsed < runs,
             "%zu one-byte mutations: %zu parsed with a sound tree, the rest refused with a "
             "position (%zu not)",
             runs, parsed, insane);
}

int main(void)
{
    guard_page();
    check_layouts();
    check_escapes_written();
    check_escapes_read();
    check_numbers();
    check_tree();
    check_refusals();
    check_depth();
    check_prefixes();
    check_mutations();
    return tu_finish("test_json");
}
