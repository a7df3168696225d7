/* safetensors container: bit-exact round trip (F32, I64, scalars, empty tensors, metadata with
 * escapes), the on-disk layout and header padding, F16/BF16/F64/I32 conversion on known values,
 * and RN_ERR_INPUT with a message naming the file for each damaged or hostile header. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "testutil.h"
#include "format/safetensors.h"

static const char *dir;

static char *path_of(const char *name)
{
    static char p[8][1200];
    static int k;
    char *s = p[k++ % 8];
    snprintf(s, 1200, "%s/%s", dir, name);
    return s;
}

/* Opens path with stderr captured; returns the status and the message (malloc'd) in *msg. */
static int open_captured(rn_st_file *f, const char *path, char **msg)
{
    const char *cap = path_of("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    int rc = rn_st_open(f, path);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n;
    *msg = rn_read_file(cap, &n);
    return rc;
}

/* A file made of an explicit header length, header text and body bytes. */
static void write_raw(const char *path, uint64_t hlen, const char *hdr, const void *body,
                      size_t body_len)
{
    size_t n = strlen(hdr);
    uint8_t *buf = malloc(8 + n + body_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(buf + 8, hdr, n);
    if (body_len) memcpy(buf + 8 + n, body, body_len);
    rn_write_file_atomic(path, buf, 8 + n + body_len);
    free(buf);
}

static void expect_refused(const char *what, const char *hdr, size_t body_len, const char *word)
{
    static const uint8_t body[64] = {0};
    const char *path = path_of("bad.safetensors");
    write_raw(path, strlen(hdr), hdr, body, body_len);
    rn_st_file f;
    char *msg = NULL;
    int rc = open_captured(&f, path, &msg);
    TU_CHECK(rc == RN_ERR_INPUT, "%s: refused with RN_ERR_INPUT (got %d)", what, rc);
    TU_CHECK(msg && strstr(msg, "rn50cl: error: ") == msg && strstr(msg, path) &&
                 strstr(msg, word) && strchr(msg, '\n') == msg + strlen(msg) - 1,
             "%s: one line naming the file and saying '%s' (got: %s)", what, word, msg);
    TU_CHECK(f.tensors == NULL && f.buf == NULL, "%s: nothing left to close", what);
    free(msg);
}

static void check_roundtrip(void)
{
    float w[2 * 3 * 2 * 2];
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) w[i] = (float)tu_uniform(-3, 3);
    w[0] = -0.0f;
    w[1] = NAN;
    w[2] = INFINITY;
    w[3] = 1e-45f;
    int64_t steps = 123456789012345LL, ids[3] = {-1, 0, INT64_MAX};
    float bias[5] = {1, 2, 3, 4, 5};
    int64_t shw[4] = {2, 3, 2, 2}, shi[1] = {3}, shb[1] = {5}, she[2] = {0, 4};
    rn_st_writer *wr = rn_st_writer_new();
    TU_CHECK(rn_st_add(wr, "layer1.0.conv1.weight", RN_ST_F32, 4, shw, w) == RN_OK &&
                 rn_st_add(wr, "bn1.num_batches_tracked", RN_ST_I64, 0, NULL, &steps) == RN_OK &&
                 rn_st_add(wr, "ids", RN_ST_I64, 1, shi, ids) == RN_OK &&
                 rn_st_add(wr, "empty", RN_ST_F32, 2, she, NULL) == RN_OK &&
                 rn_st_add(wr, "fc.\"bias\"\\", RN_ST_F32, 1, shb, bias) == RN_OK,
             "tensors added");
    TU_CHECK(rn_st_add(wr, "ids", RN_ST_F32, 1, shb, bias) != RN_OK, "duplicate name refused");
    rn_st_add_meta(wr, "epoch", "7");
    rn_st_add_meta(wr, "note", "quote \" backslash \\ newline \n tab \t caf\xc3\xa9 \x01");
    const char *path = path_of("ok.safetensors");
    TU_CHECK(rn_st_write(wr, path) == RN_OK, "checkpoint written");
    rn_st_writer_free(wr);

    size_t size = 0;
    uint8_t *raw = rn_read_file(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    size_t data = sizeof w + 8 + 24 + 0 + sizeof bias;
    TU_CHECK(hlen % 8 == 0 && 8 + hlen + data == size && raw[8] == '{' && raw[8 + hlen - 1] != 0,
             "layout: 8-byte length, header padded to 8, then %zu contiguous data bytes", data);
    TU_CHECK(memcmp(raw + 8 + hlen, w, sizeof w) == 0 &&
                 memcmp(raw + 8 + hlen + sizeof w, &steps, 8) == 0,
             "tensors stored in the order added");
    free(raw);

    rn_st_file f;
    char *msg = NULL;
    TU_CHECK(open_captured(&f, path, &msg) == RN_OK && msg && !*msg, "checkpoint reads back");
    free(msg);
    const rn_st_tensor *t = rn_st_find(&f, "layer1.0.conv1.weight");
    float wb[sizeof w / sizeof w[0]];
    TU_CHECK(t && t->dtype == RN_ST_F32 && t->ndim == 4 && t->shape[0] == 2 && t->shape[3] == 2 &&
                 t->numel == 24 && rn_st_read_f32(&f, t, wb) == RN_OK &&
                 memcmp(wb, w, sizeof w) == 0,
             "F32 weight round-trips bit for bit (incl. -0, NaN, inf, denormal)");
    int64_t sb = 0, ib[3] = {0};
    t = rn_st_find(&f, "bn1.num_batches_tracked");
    TU_CHECK(t && t->ndim == 0 && t->numel == 1 && rn_st_read_i64(&f, t, &sb) == RN_OK &&
                 sb == steps,
             "I64 scalar round-trips");
    t = rn_st_find(&f, "ids");
    TU_CHECK(t && rn_st_read_i64(&f, t, ib) == RN_OK && memcmp(ib, ids, sizeof ids) == 0,
             "I64 vector round-trips");
    t = rn_st_find(&f, "empty");
    TU_CHECK(t && t->numel == 0 && t->shape[1] == 4 && t->begin == t->end, "empty tensor kept");
    float bb[5];
    t = rn_st_find(&f, "fc.\"bias\"\\");
    TU_CHECK(t && rn_st_read_f32(&f, t, bb) == RN_OK && memcmp(bb, bias, sizeof bias) == 0,
             "name with quote and backslash round-trips");
    TU_CHECK(f.count == 5 && strcmp(f.tensors[0].name, "layer1.0.conv1.weight") == 0 &&
                 strcmp(f.tensors[2].name, "ids") == 0,
             "tensors listed in header order");
    TU_CHECK(rn_st_find(&f, "nope") == NULL, "absent name gives NULL");
    TU_CHECK(rn_st_meta(&f, "epoch") && strcmp(rn_st_meta(&f, "epoch"), "7") == 0 &&
                 rn_st_meta(&f, "note") &&
                 strcmp(rn_st_meta(&f, "note"),
                        "quote \" backslash \\ newline \n tab \t caf\xc3\xa9 \x01") == 0 &&
                 rn_st_meta(&f, "absent") == NULL,
             "metadata round-trips, escapes included");
    rn_st_close(&f);
}

/* Headers of 8 consecutive lengths (every residue mod 8): each padded with spaces after its
 * closing brace to a multiple of 8 bytes. */
static void check_padding(void)
{
    int padded = 0;
    for (int k = 0; k < 8; k++) {
        char pad[8] = "xxxxxxx";
        pad[k] = 0;
        rn_st_writer *w = rn_st_writer_new();
        rn_st_add_meta(w, "pad", pad);
        const char *path = path_of("pad.safetensors");
        rn_st_write(w, path);
        rn_st_writer_free(w);
        size_t size = 0;
        uint8_t *raw = rn_read_file(path, &size);
        uint64_t hlen = 0;
        for (int i = 7; raw && size >= 8 && i >= 0; i--) hlen = hlen << 8 | raw[i];
        size_t json = 8 + strlen("{\"__metadata__\":{\"pad\":\"\"}}") + (size_t)k, i = json;
        while (i < size && raw[i] == ' ') i++;
        padded += hlen % 8 == 0 && size == 8 + hlen && i == size && raw[json - 1] == '}';
        free(raw);
    }
    TU_CHECK(padded == 8,
             "headers of every length mod 8 padded with spaces to a multiple of 8 (%d of 8)",
             padded);
}

static void check_conversions(void)
{
    const uint16_t h[10] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400,
                            0x3555, 0x7C00, 0xFC00, 0x8000, 0x7E00};
    const float hv[9] = {
        1.0f,     -2.0f,     65504.0f, 5.9604644775390625e-08f, 6.103515625e-05f, 0.333251953125f,
        INFINITY, -INFINITY, -0.0f};
    const uint16_t bf[4] = {0x3F80, 0xC040, 0x4049, 0xFF80};
    const float bv[4] = {1.0f, -3.0f, 3.140625f, -INFINITY};
    const double d[2] = {0.1, -1e300};
    const int32_t i32[2] = {-5, 2147483647};
    int64_t s10[1] = {10}, s4[1] = {4}, s2[1] = {2};
    rn_st_writer *w = rn_st_writer_new();
    rn_st_add(w, "h", RN_ST_F16, 1, s10, h);
    rn_st_add(w, "bf", RN_ST_BF16, 1, s4, bf);
    rn_st_add(w, "d", RN_ST_F64, 1, s2, d);
    rn_st_add(w, "i", RN_ST_I32, 1, s2, i32);
    const char *path = path_of("conv.safetensors");
    rn_st_write(w, path);
    rn_st_writer_free(w);

    rn_st_file f;
    char *msg = NULL;
    TU_CHECK(open_captured(&f, path, &msg) == RN_OK, "mixed-dtype file opens");
    free(msg);
    float out[10];
    int ok = rn_st_read_f32(&f, rn_st_find(&f, "h"), out) == RN_OK;
    for (int k = 0; k < 9; k++) ok &= memcmp(&out[k], &hv[k], 4) == 0;
    TU_CHECK(ok && isnan(out[9]), "F16 -> float exact (normal, max, subnormal, inf, -0, NaN)");
    ok = rn_st_read_f32(&f, rn_st_find(&f, "bf"), out) == RN_OK;
    for (int k = 0; k < 4; k++) ok &= out[k] == bv[k];
    TU_CHECK(ok, "BF16 -> float exact");
    TU_CHECK(rn_st_read_f32(&f, rn_st_find(&f, "d"), out) == RN_OK && out[0] == 0.1f &&
                 isinf(out[1]) && out[1] < 0,
             "F64 -> float rounds");
    int64_t iv[2];
    TU_CHECK(rn_st_read_i64(&f, rn_st_find(&f, "i"), iv) == RN_OK && iv[0] == -5 &&
                 iv[1] == 2147483647,
             "I32 -> int64");
    fflush(stderr);
    int saved = dup(2), fd = open("/dev/null", O_WRONLY);
    dup2(fd, 2);
    close(fd);
    int r1 = rn_st_read_f32(&f, rn_st_find(&f, "i"), out);
    int r2 = rn_st_read_i64(&f, rn_st_find(&f, "h"), iv);
    dup2(saved, 2);
    close(saved);
    TU_CHECK(r1 == RN_ERR_INPUT && r2 == RN_ERR_INPUT, "int read as float and vice versa refused");
    rn_st_close(&f);

    /* Escapes decode to UTF-8 (incl. a surrogate pair), whitespace is allowed anywhere. */
    const char *hdr = "{ \n \"caf\\u00e9\\ud83d\\ude00\" : { \"dtype\" : \"F32\" ,\n"
                      "  \"shape\": [ 1 ], \"data_offsets\": [ 0 , 4 ] } }";
    write_raw(path, strlen(hdr), hdr, "\0\0\x80\x3f", 4);
    TU_CHECK(open_captured(&f, path, &msg) == RN_OK, "pretty-printed header with escapes opens");
    free(msg);
    TU_CHECK(rn_st_find(&f, "caf\xc3\xa9\xf0\x9f\x98\x80") &&
                 rn_st_read_f32(&f, rn_st_find(&f, "caf\xc3\xa9\xf0\x9f\x98\x80"), out) == 0 &&
                 out[0] == 1.0f,
             "\\u escapes decode to UTF-8");
    rn_st_close(&f);
}

/* The header entry of tensor "a" with these dtype, shape and data_offsets (JSON text, so each can
 * be made malformed on its own). */
#define TENSOR_A(dtype, shape, offsets)                                                            \
    "\"a\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"
#define T1 TENSOR_A("F32", "[2]", "[0,8]")

/* Opens path expecting RN_ERR_INPUT with `word` in the message. */
static void expect_open_refused(const char *path, const char *word, const char *what)
{
    rn_st_file f;
    char *msg = NULL;
    int rc = open_captured(&f, path, &msg);
    TU_CHECK(rc == RN_ERR_INPUT && msg && strstr(msg, path) && strstr(msg, word),
             "%s refused, naming the file and saying '%s' (got: %s)", what, word, msg);
    free(msg);
}

static void check_refusals(void)
{
    const char *path = path_of("bad.safetensors");
    rn_write_file_atomic(path, "\x08\0\0\0", 4);
    expect_open_refused(path, "too short", "file shorter than 8 bytes");
    write_raw(path, 1000, "{" T1 "}", "12345678", 8);
    expect_open_refused(path, "larger than the file", "header length past the end");
    write_raw(path, 200000000, "{" T1 "}", "12345678", 8);
    expect_open_refused(path, "100 MB", "header length over 100 MB");
    expect_open_refused(path_of("missing.safetensors"), "cannot read", "missing file");

    expect_refused("second tensor truncated",
                   "{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
                   "\"data_offsets\":[8,12]}}",
                   11, "truncated");
    expect_refused("unclosed object", "{" T1, 8, "not valid JSON");
    expect_refused("trailing comma", "{" T1 ",}", 8, "not valid JSON");
    expect_refused("float number", "{" TENSOR_A("F32", "[2.0]", "[0,8]") "}", 8, "not valid JSON");
    expect_refused("literal true", "{\"a\":true}", 8, "not valid JSON");
    expect_refused("bad escape", "{\"\\q\":{}}", 8, "not valid JSON");
    expect_refused("unterminated string", "{\"abc", 8, "not valid JSON");
    expect_refused("raw newline in string", "{\"a\nb\":{}}", 8, "not valid JSON");
    expect_refused("duplicate tensor", "{" T1 "," T1 "}", 8, "duplicate key");
    expect_refused("leading zero", "{" TENSOR_A("F32", "[02]", "[0,8]") "}", 8, "not valid JSON");
    expect_refused("huge number", "{" TENSOR_A("F32", "[99999999999999999999]", "[0,8]") "}", 8,
                   "not valid JSON");
    expect_refused("trailing junk", "{" T1 "}x", 8, "not valid JSON");
    expect_refused("deep nesting",
                   "{\"__metadata__\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]"
                   "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
                   8, "not valid JSON");
    expect_refused("array at top", "[1]", 8, "not a JSON object");
    expect_refused("missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                   "no \"dtype\"");
    expect_refused("missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
                   "no \"data_offsets\"");
    expect_refused("missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8,
                   "no \"shape\"");
    expect_refused("unknown key",
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"x\":1,"
                   "\"data_offsets\":[0,8]}}",
                   8, "unknown key");
    expect_refused("unknown dtype", "{" TENSOR_A("Q8", "[2]", "[0,8]") "}", 8, "\"Q8\"");
    expect_refused("offsets out of range", "{" TENSOR_A("F32", "[2]", "[4,12]") "}", 8,
                   "out of range");
    expect_refused("truncated body", "{" T1 "}", 6, "truncated");
    expect_refused("backwards offsets", "{" TENSOR_A("F32", "[0]", "[8,4]") "}", 8, "backwards");
    expect_refused("negative offset", "{" TENSOR_A("F32", "[0]", "[-4,0]") "}", 8, "non-negative");
    expect_refused("one offset", "{" TENSOR_A("F32", "[0]", "[0]") "}", 8, "two");
    expect_refused("size mismatch", "{" TENSOR_A("F32", "[3]", "[0,8]") "}", 8, "need 12");
    expect_refused("negative dim", "{" TENSOR_A("F32", "[-2]", "[0,8]") "}", 8, "negative");
    expect_refused("overflowing shape",
                   "{" TENSOR_A("F32", "[4611686018427387904,4611686018427387904]", "[0,8]") "}", 8,
                   "overflows");
    expect_refused("overlap",
                   "{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                   "overlap");
    expect_refused("metadata not strings", "{\"__metadata__\":{\"epoch\":3}}", 0, "not a string");
    expect_refused("tensor not object", "{\"a\":[1]}", 0, "not an object");
}

int main(void)
{
    tu_seed(9);
    dir = tu_tmpdir("safetensors");
    check_roundtrip();
    check_padding();
    check_conversions();
    check_refusals();
    return tu_finish("test_safetensors");
}
