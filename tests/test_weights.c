/* The .pth and .ckpt parsers on buffers built here: a stored zip around hand-written pickles
 * (protocol 2 and 4 opcodes, strides, offsets, half storages, a wrapped dict), MindSpore values
 * (packed and unpacked dims, scalar [0], slices), each refusal's clause, every truncation and
 * every single-byte corruption of a valid file answered without a crash; and the MindSpore name
 * mapping, which must invert torchvision's for every model entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "format/msnames.h"
#include "format/tensors.h"
#include "model/resnet50.h"
#include "testutil.h"

typedef struct buf {
    uint8_t b[8192];
    size_t n;
} buf;

static void put(buf *o, const void *p, size_t n)
{
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

/* A string literal's bytes, NULs included, without its terminator. */
#define PUT_LIT(o, lit) put(o, lit, sizeof(lit) - 1)

static void le(buf *o, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) o->b[o->n++] = (uint8_t)(v >> (8 * i));
}

/* A stored zip of the given entries (torch.save's layout, without its padding). */
static void zip_of(buf *z, const char **names, const buf *data, int n)
{
    size_t offs[8];
    z->n = 0;
    for (int i = 0; i < n; i++) {
        offs[i] = z->n;
        uint32_t crc = (uint32_t)crc32(0, data[i].b, (uInt)data[i].n);
        le(z, 0x04034b50, 4), le(z, 0, 4), le(z, 0, 2), le(z, 0, 4), le(z, crc, 4);
        le(z, data[i].n, 4), le(z, data[i].n, 4), le(z, strlen(names[i]), 2), le(z, 0, 2);
        put(z, names[i], strlen(names[i]));
        put(z, data[i].b, data[i].n);
    }
    size_t cd = z->n;
    for (int i = 0; i < n; i++) {
        uint32_t crc = (uint32_t)crc32(0, data[i].b, (uInt)data[i].n);
        le(z, 0x02014b50, 4), le(z, 0, 4), le(z, 0, 4), le(z, 0, 4), le(z, crc, 4);
        le(z, data[i].n, 4), le(z, data[i].n, 4), le(z, strlen(names[i]), 2), le(z, 0, 4);
        le(z, 0, 4), le(z, 0, 4), le(z, offs[i], 4);
        put(z, names[i], strlen(names[i]));
    }
    size_t cdlen = z->n - cd;
    le(z, 0x06054b50, 4), le(z, 0, 4), le(z, n, 2), le(z, n, 2), le(z, cdlen, 4), le(z, cd, 4);
    le(z, 0, 2);
}

static void str(buf *o, const char *s) /* BINUNICODE */
{
    o->b[o->n++] = 'X';
    le(o, strlen(s), 4);
    put(o, s, strlen(s));
}

/* {"w": Tensor(storage "0", float, offset 1, size (2, 3), stride (1, 2))} as protocol 2, or the
 * same with protocol 4's SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE and FRAME (p4). */
static void pickle_of(buf *p, int p4, const char *storage_class)
{
    p->n = 0;
    put(p, p4 ? "\x80\x04\x95\0\0\0\0\0\0\0\0" : "\x80\x02", p4 ? 11 : 2);
    PUT_LIT(p, "ccollections\nOrderedDict\nq\x00)R(");
    str(p, "w");
    if (p4) {
        PUT_LIT(p, "\x8c\x0ctorch._utils\x94\x8c\x12_rebuild_tensor_v2\x94\x93");
    } else {
        PUT_LIT(p, "ctorch._utils\n_rebuild_tensor_v2\n");
    }
    PUT_LIT(p, "((");
    str(p, "storage");
    PUT_LIT(p, "ctorch\n");
    put(p, storage_class, strlen(storage_class));
    PUT_LIT(p, "\n");
    str(p, "0");
    str(p, "cpu");
    PUT_LIT(p, "K\x07tQK\x01K\x02K\x03\x86K\x01K\x02\x86\x89h\x00)Rtq\x01Ru.");
}

static int parse(const buf *b, rn_tensors *ts, char *err)
{
    return rn_tensors_parse(ts, b->b, b->n, err, 256);
}

static void pth_case(int p4)
{
    buf pk, data[2], z;
    const char *names[2] = {"arch/data.pkl", "arch/data/0"};
    pickle_of(&pk, p4, "FloatStorage");
    data[0] = pk;
    data[1].n = 0;
    for (int i = 0; i < 7; i++) {
        float v = (float)i;
        put(&data[1], &v, 4);
    }
    zip_of(&z, names, data, 2);
    rn_tensors ts;
    char err[256] = "";
    int rc = parse(&z, &ts, err);
    TU_CHECK(rc == 0 && ts.count == 1, "p%d .pth parses (%s)", p4 ? 4 : 2, err);
    if (rc) return;
    const rn_tensor *t = rn_tensors_find(&ts, "w");
    float got[6], want[6] = {1, 3, 5, 2, 4, 6}; /* element (i, j) = storage[1 + i + 2j] */
    rn_tensor_read_f32(t, got);
    TU_CHECK(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && !memcmp(got, want, sizeof got),
             "p%d strided view with offset reads in row-major order", p4 ? 4 : 2);
    rn_tensors_free(&ts);
    /* Every truncation and every byte flipped: a clean answer each time (never a crash). */
    int refused = 0;
    for (size_t n = 0; n < z.n; n++) {
        buf c = z;
        c.n = n;
        refused += parse(&c, &ts, err) != 0;
        if (refused <= (int)n) rn_tensors_free(&ts);
    }
    TU_CHECK(refused == (int)z.n, "every truncation of the .pth is refused (%d of %zu)", refused,
             z.n);
    for (size_t i = 0; i < z.n; i++) {
        buf c = z;
        c.b[i] ^= 0x5a;
        if (parse(&c, &ts, err) == 0) rn_tensors_free(&ts);
    }
}

static void expect_refusal(const buf *b, const char *clause, const char *what)
{
    rn_tensors ts;
    char err[256] = "";
    int rc = parse(b, &ts, err);
    TU_CHECK(rc != 0 && strstr(err, clause), "%s: refused with \"%s\" (got rc %d, \"%s\")", what,
             clause, rc, err);
    if (rc == 0) rn_tensors_free(&ts);
}

static void pth_refusals(void)
{
    buf pk, data[2], z;
    const char *names[2] = {"a/data.pkl", "a/data/0"};
    pickle_of(&pk, 0, "FloatStorage");
    data[0] = pk;
    data[1].n = 4 * 6; /* one float short of what the view reaches */
    memset(data[1].b, 0, data[1].n);
    zip_of(&z, names, data, 2);
    expect_refusal(&z, "needs 7 elements of storage a/data/0", "a view past its storage");
    pickle_of(&pk, 0, "ByteStorage");
    data[0] = pk;
    zip_of(&z, names, data, 2);
    expect_refusal(&z, "names the global torch.ByteStorage", "an unknown storage class");
    data[0].n = 0, PUT_LIT(&data[0], "\x80\x02"
                                     "cposix\nsystem\n");
    zip_of(&z, names, data, 1);
    expect_refusal(&z, "names the global posix.system", "posix.system");
    data[0].n = 0, PUT_LIT(&data[0], "\x80\x02h\x05.");
    zip_of(&z, names, data, 1);
    expect_refusal(&z, "memo entry 5, which was never stored", "a memo read before a write");
    data[0].n = 0, PUT_LIT(&data[0], "\x80\x02R.");
    zip_of(&z, names, data, 1);
    expect_refusal(&z, "pops an empty stack", "stack underflow");
    data[0].n = 0, PUT_LIT(&data[0], "\x80\x02}.");
    zip_of(&z, names, data, 1);
    expect_refusal(&z, "no tensors and no \"state_dict\"", "an empty dict");
}

/* ---- MindSpore ---- */

static void varint(buf *o, uint64_t v)
{
    do {
        o->b[o->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void lenfield(buf *o, int num, const void *p, size_t n)
{
    varint(o, (uint64_t)num << 3 | 2);
    varint(o, n);
    put(o, p, n);
}

static void ms_value(buf *o, const char *tag, const int64_t *dims, int ndim, int packed,
                     const char *type, const void *content, size_t clen)
{
    buf t = {.n = 0}, v = {.n = 0}, d = {.n = 0};
    for (int i = 0; i < ndim; i++) {
        if (!packed) varint(&t, 1 << 3);
        varint(packed ? &d : &t, (uint64_t)dims[i]);
    }
    if (packed) lenfield(&t, 1, d.b, d.n);
    lenfield(&t, 2, type, strlen(type));
    lenfield(&t, 3, content, clen);
    lenfield(&v, 1, tag, strlen(tag));
    lenfield(&v, 2, t.b, t.n);
    lenfield(o, 1, v.b, v.n);
}

static void ckpt_cases(void)
{
    buf c = {.n = 0};
    float w[6] = {1, 2, 3, 4, 5, 6}, s = 0.5f;
    int64_t d2[2] = {2, 3}, d0[1] = {0};
    ms_value(&c, "layer1.0.norm2.gamma", d2, 2, 1, "Float32", w, 12); /* packed, sliced */
    ms_value(&c, "layer1.0.norm2.gamma", d2, 2, 1, "Float32", w + 3, 12);
    ms_value(&c, "end_point.bias", d2 + 1, 1, 0, "Float32", w, 12);
    ms_value(&c, "learning_rate", d0, 1, 0, "Float32", &s, 4);
    ms_value(&c, "moments.end_point.bias", d2 + 1, 1, 0, "Float32", w, 12);
    rn_tensors ts;
    char err[256] = "";
    int rc = parse(&c, &ts, err);
    TU_CHECK(rc == 0 && ts.count == 2 && ts.ignored_count == 2 && ts.source == RN_TS_MINDSPORE,
             "ckpt parses: 2 tensors, 2 optimizer entries ignored (%s)", err);
    if (rc) return;
    const rn_tensor *g = rn_tensors_find(&ts, "layer1.0.bn2.weight");
    float got[6];
    if (g) rn_tensor_read_f32(g, got);
    TU_CHECK(g && g->ndim == 2 && !memcmp(got, w, sizeof w), "slices joined under the mapped name");
    TU_CHECK(rn_tensors_find(&ts, "fc.bias") != NULL, "end_point maps to fc");
    rn_tensors_free(&ts);
    int refused = 0;
    for (size_t n = 1; n < c.n; n++) {
        buf t = c;
        t.n = n;
        if (parse(&t, &ts, err) == 0) rn_tensors_free(&ts);
        else refused++;
    }
    TU_CHECK(refused >= (int)c.n - 6, "truncations inside a value are refused (%d)", refused);
    for (size_t i = 0; i < c.n; i++) {
        buf t = c;
        t.b[i] ^= 0xa5;
        if (parse(&t, &ts, err) == 0) rn_tensors_free(&ts);
    }
    buf bad = {.n = 0};
    ms_value(&bad, "fc.bias", d2 + 1, 1, 0, "Float32", w, 8);
    expect_refusal(&bad, "fc.bias has 8 content bytes but its dims and type Float32 need 12",
                   "content shorter than dims");
    bad.n = 0;
    ms_value(&bad, "fc.bias", d2 + 1, 1, 0, "Float32", w, 12);
    PUT_LIT(&bad, "\x0b\x00");
    expect_refusal(&bad, "wire type 3", "a group");
    bad.n = 0, PUT_LIT(&bad, "\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02");
    expect_refusal(&bad, "bad or cut-off length", "a varint over 64 bits");
}

static void names(void)
{
    rn_model m;
    rn_model_init(&m, 10);
    int all = 1;
    for (size_t i = 0; i < m.nentries; i++) {
        char ms[512], back[512];
        rn_torchvision_to_ms(m.e[i].name, ms, sizeof ms);
        int model = rn_ms_to_torchvision(ms, back, sizeof back);
        if (m.e[i].kind != RN_COUNTER && (!model || strcmp(back, m.e[i].name))) {
            all = 0;
            printf("  %s -> %s -> %s\n", m.e[i].name, ms, back);
        }
    }
    TU_CHECK(all, "torchvision -> MindSpore -> torchvision is the identity on every entry");
    const char *pairs[][2] = {{"bn1.running_var", "norm.moving_variance"},
                              {"layer2.0.downsample.1.weight", "layer2.0.down_sample.1.gamma"},
                              {"layer2.0.downsample.0.weight", "layer2.0.down_sample.0.weight"},
                              {"layer3.4.bn3.bias", "layer3.4.norm3.beta"}};
    for (int i = 0; i < 4; i++) {
        char ms[512];
        rn_torchvision_to_ms(pairs[i][0], ms, sizeof ms);
        TU_CHECK(!strcmp(ms, pairs[i][1]), "%s -> %s (got %s)", pairs[i][0], pairs[i][1], ms);
    }
    char tv[512];
    TU_CHECK(rn_ms_to_torchvision("layer1.0.down_sample_layer.1.moving_mean", tv, sizeof tv) &&
                 !strcmp(tv, "layer1.0.downsample.1.running_mean"),
             "mindspore/models' down_sample_layer maps too (got %s)", tv);
    TU_CHECK(!rn_ms_to_torchvision("global_step", tv, sizeof tv), "global_step is optimizer state");
}

/* The format from a file's first 16 bytes alone, as rn_checkpoint_source reads them. */
static void detection(void)
{
    const uint8_t st[16] = "\x58\x01\0\0\0\0\0\0{\"conv1.", zip[16] = "PK\3\4\x14",
                  ms[16] = "\x0a\x90\x02\x0a\x0c"
                           "conv1.w",
                  legacy[16] = "\x80\x02\x8a\x0a";
    TU_CHECK(rn_ts_detect(st, 16) == RN_TS_SAFETENSORS, "safetensors recognised");
    TU_CHECK(rn_ts_detect(zip, 16) == RN_TS_PTH, "a zip is a .pth");
    TU_CHECK(rn_ts_detect(ms, 16) == RN_TS_MINDSPORE, "a protobuf value is a MindSpore .ckpt");
    TU_CHECK(rn_ts_detect(legacy, 16) == RN_TS_UNKNOWN, "a bare pickle is none of them");
}

int main(void)
{
    detection();
    pth_case(0);
    pth_case(1);
    pth_refusals();
    ckpt_cases();
    names();
    return tu_finish("test_weights");
}
