/* Reader for the zip container that torch.save writes (since PyTorch 1.6): stored entries only,
 * found through the central directory (zip64 records included), every size and offset checked
 * against the buffer and every entry's CRC-32 verified. */
#ifndef RN_FORMAT_ZIP_H
#define RN_FORMAT_ZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct rn_zip_entry {
    char *name;
    const uint8_t *data; /* size bytes inside the caller's buffer */
    size_t size;
} rn_zip_entry;

typedef struct rn_zip {
    rn_zip_entry *e;
    size_t count;
} rn_zip;

/* Parses buf (which must outlive z). 0, or -1 with one clause in err saying what is wrong (then z
 * needs no freeing). Compressed, encrypted and multi-disk entries are refused. */
int rn_zip_parse(rn_zip *z, const uint8_t *buf, size_t size, char *err, size_t errlen);
const rn_zip_entry *rn_zip_find(const rn_zip *z, const char *name); /* NULL if absent */
void rn_zip_free(rn_zip *z);

#endif
