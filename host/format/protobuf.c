/* Protobuf wire-format reader and writer. Lengths are checked against what is left of the
 * enclosing message, so a corrupt length can never point outside the buffer. */
#include "format/protobuf.h"

#include <string.h>

#include "format/tensors.h"

int rn_pb_varint(rn_pb *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return -1;
        uint8_t b = *r->p++;
        if (shift == 63 && b > 1) return -1; /* more than 64 bits */
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

int rn_pb_next(rn_pb *r, rn_pb_field *f, char *err, size_t errlen)
{
    if (r->p >= r->end) return 0;
    uint64_t tag;
    memset(f, 0, sizeof *f);
    f->at = (size_t)(r->p - r->base);
    if (rn_pb_varint(r, &tag))
        return rn_ts_fail(err, errlen, "its field tag at byte %zu is a bad or cut-off varint",
                          f->at);
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (f->num == 0 || tag >> 32)
        return rn_ts_fail(err, errlen, "its field number at byte %zu is out of range", f->at);
    size_t left;
    switch (f->wire) {
    case RN_PB_VARINT:
        if (rn_pb_varint(r, &f->v))
            return rn_ts_fail(err, errlen, "field %u at byte %zu has a bad or cut-off varint",
                              f->num, f->at);
        return 1;
    case RN_PB_I64:
    case RN_PB_I32:
        f->len = f->wire == RN_PB_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < f->len)
            return rn_ts_fail(err, errlen, "field %u at byte %zu is cut off", f->num, f->at);
        for (size_t i = f->len; i-- > 0;) f->v = f->v << 8 | r->p[i];
        r->p += f->len;
        return 1;
    case RN_PB_LEN:
        if (rn_pb_varint(r, &f->v))
            return rn_ts_fail(err, errlen, "field %u at byte %zu has a bad or cut-off length",
                              f->num, f->at);
        left = (size_t)(r->end - r->p);
        if (f->v > left)
            return rn_ts_fail(err, errlen,
                              "field %u at byte %zu has length %llu but only %zu bytes are left of "
                              "its message, so the file is truncated or corrupt",
                              f->num, f->at, (unsigned long long)f->v, left);
        f->data = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return 1;
    default:
        return rn_ts_fail(err, errlen,
                          "field %u at byte %zu has wire type %d, which rn50cl does not read",
                          f->num, f->at, f->wire);
    }
}

rn_pb rn_pb_sub(const rn_pb *r, const rn_pb_field *f)
{
    rn_pb s = {f->data, f->data + f->len, r->base};
    return s;
}

size_t rn_pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int rn_pb_put_varint(FILE *f, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    return fwrite(b, 1, n, f) == n ? 0 : -1;
}

int rn_pb_put_tag(FILE *f, uint32_t num, int wire)
{
    return rn_pb_put_varint(f, (uint64_t)num << 3 | (unsigned)wire);
}

int rn_pb_put_bytes(FILE *f, uint32_t num, const void *data, size_t len)
{
    if (rn_pb_put_tag(f, num, RN_PB_LEN) || rn_pb_put_varint(f, len)) return -1;
    return len && fwrite(data, 1, len, f) != len ? -1 : 0;
}

size_t rn_pb_bytes_size(uint32_t num, size_t len)
{
    return rn_pb_varint_size((uint64_t)num << 3) + rn_pb_varint_size(len) + len;
}
