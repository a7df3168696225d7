/* The protobuf wire format, as little as MindSpore's checkpoint needs: a field-by-field reader
 * that checks every varint and length against the buffer, and varint/length writers. */
#ifndef RN_FORMAT_PROTOBUF_H
#define RN_FORMAT_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { RN_PB_VARINT = 0, RN_PB_I64 = 1, RN_PB_LEN = 2, RN_PB_I32 = 5 };

typedef struct rn_pb {
    const uint8_t *p, *end;
    const uint8_t *base; /* the whole file, for byte positions in messages */
} rn_pb;

typedef struct rn_pb_field {
    uint32_t num;
    int wire;
    uint64_t v;          /* VARINT, I64, I32 */
    const uint8_t *data; /* LEN: len bytes inside the buffer */
    size_t len;
    size_t at; /* byte position of the field's tag in base */
} rn_pb_field;

/* The next field of a message: 1, 0 at its end, or -1 with one clause in err (a varint longer than
 * ten bytes, a length past the end, a group or unknown wire type, field number 0). */
int rn_pb_next(rn_pb *r, rn_pb_field *f, char *err, size_t errlen);
/* One varint from a packed field's bytes: 0, or -1 if it is cut short or too long. */
int rn_pb_varint(rn_pb *r, uint64_t *v);
/* A sub-reader over a LEN field's bytes. */
rn_pb rn_pb_sub(const rn_pb *r, const rn_pb_field *f);

size_t rn_pb_varint_size(uint64_t v);
/* Write one varint, or a tag; 0 or -1 on a write error. */
int rn_pb_put_varint(FILE *f, uint64_t v);
int rn_pb_put_tag(FILE *f, uint32_t num, int wire);
/* Tag, length and bytes of a LEN field. */
int rn_pb_put_bytes(FILE *f, uint32_t num, const void *data, size_t len);
/* The size of such a field on the wire. */
size_t rn_pb_bytes_size(uint32_t num, size_t len);

#endif
