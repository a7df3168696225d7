/* Stored-entry zip reader. The central directory is the authority (torch's writer pads local
 * headers with extra fields); each local header is still checked to exist and carry the same
 * name, so a truncated or spliced file is caught before any tensor data is read. */
#include "format/zip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define MAX_ENTRIES 1000000u

typedef struct zr {
    const uint8_t *buf;
    size_t size;
    char *err;
    size_t errlen;
} zr;

static int fail(zr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(zr *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* 1 if [off, off+len) lies inside the buffer. */
static int inside(const zr *r, uint64_t off, uint64_t len)
{
    return off <= r->size && len <= r->size - off;
}

typedef struct cdir {
    uint64_t count, size, offset;
} cdir;

/* The zip64 end record, which torch always writes and which holds the true 64-bit values. */
static int read_eocd64(zr *r, size_t eocd, cdir *d)
{
    if (eocd < 20 || le(r->buf + eocd - 20, 4) != SIG_LOCATOR64) return 0;
    uint64_t at = le(r->buf + eocd - 12, 8);
    if (!inside(r, at, 56) || le(r->buf + at, 4) != SIG_EOCD64)
        return fail(r, "its zip64 end record is missing or out of range");
    if (le(r->buf + at + 16, 4) != 0 || le(r->buf + at + 20, 4) != 0)
        return fail(r, "it is a multi-disk zip archive");
    d->count = le(r->buf + at + 32, 8);
    d->size = le(r->buf + at + 40, 8);
    d->offset = le(r->buf + at + 48, 8);
    return 0;
}

static int find_cdir(zr *r, cdir *d)
{
    if (r->size < 22)
        return fail(r, "it is only %zu bytes long, too short for a zip archive", r->size);
    size_t lo = r->size > 22 + 65535 ? r->size - 22 - 65535 : 0, at = r->size - 22;
    while (le(r->buf + at, 4) != SIG_EOCD) {
        if (at == lo)
            return fail(r, "it has no zip end-of-directory record, so it is truncated or not a "
                           "zip archive");
        at--;
    }
    if (le(r->buf + at + 4, 2) != 0 || le(r->buf + at + 6, 2) != 0)
        return fail(r, "it is a multi-disk zip archive");
    d->count = le(r->buf + at + 10, 2);
    d->size = le(r->buf + at + 12, 4);
    d->offset = le(r->buf + at + 16, 4);
    if (read_eocd64(r, at, d)) return -1;
    if (d->count > MAX_ENTRIES)
        return fail(r, "it claims %llu entries", (unsigned long long)d->count);
    if (!inside(r, d->offset, d->size))
        return fail(r,
                    "its central directory (%llu bytes at %llu) lies past the end of the "
                    "file (%zu bytes), so the file is truncated",
                    (unsigned long long)d->size, (unsigned long long)d->offset, r->size);
    return 0;
}

/* Replaces the 0xffffffff placeholders of a central entry by its zip64 extra field's values. */
static int zip64_extra(zr *r, const uint8_t *x, size_t xlen, uint64_t *usize, uint64_t *csize,
                       uint64_t *off, const char *name)
{
    while (xlen >= 4) {
        size_t id = (size_t)le(x, 2), n = (size_t)le(x + 2, 2);
        if (n > xlen - 4) break;
        if (id == 1) {
            uint64_t *want[3] = {usize, csize, off};
            size_t p = 0;
            for (int i = 0; i < 3; i++) {
                if (*want[i] != 0xffffffffu) continue;
                if (p + 8 > n) return fail(r, "entry %s has a short zip64 field", name);
                *want[i] = le(x + 4 + p, 8);
                p += 8;
            }
            return 0;
        }
        x += 4 + n;
        xlen -= 4 + n;
    }
    if (*usize == 0xffffffffu || *csize == 0xffffffffu || *off == 0xffffffffu)
        return fail(r, "entry %s needs a zip64 field it does not have", name);
    return 0;
}

/* The entry whose central record starts at *pos; advances *pos past it. */
static int read_entry(zr *r, uint64_t *pos, uint64_t end, rn_zip_entry *e)
{
    const uint8_t *c = r->buf + *pos;
    if (*pos + 46 > end || le(c, 4) != SIG_CENTRAL)
        return fail(r, "its central directory is damaged at byte %llu", (unsigned long long)*pos);
    unsigned flags = (unsigned)le(c + 8, 2), method = (unsigned)le(c + 10, 2);
    uint32_t crc = (uint32_t)le(c + 16, 4);
    uint64_t csize = le(c + 20, 4), usize = le(c + 24, 4), off = le(c + 42, 4);
    size_t nlen = (size_t)le(c + 28, 2), xlen = (size_t)le(c + 30, 2), clen = (size_t)le(c + 32, 2);
    if (*pos + 46 + nlen + xlen + clen > end)
        return fail(r, "its central directory is damaged at byte %llu", (unsigned long long)*pos);
    if (!(e->name = strndup((const char *)c + 46, nlen))) return fail(r, "out of memory");
    if (strlen(e->name) != nlen) return fail(r, "an entry name holds a NUL byte");
    if (zip64_extra(r, c + 46 + nlen, xlen, &usize, &csize, &off, e->name)) return -1;
    if (flags & 1) return fail(r, "entry %s is encrypted", e->name);
    if (method != 0)
        return fail(r,
                    "entry %s is compressed (method %u); rn50cl reads only stored entries, as "
                    "torch.save writes them",
                    e->name, method);
    if (csize != usize)
        return fail(r, "entry %s is stored but its two sizes differ (%llu, %llu)", e->name,
                    (unsigned long long)csize, (unsigned long long)usize);
    const uint8_t *l = r->buf + off;
    if (!inside(r, off, 30) || le(l, 4) != SIG_LOCAL)
        return fail(r,
                    "entry %s has no local header at byte %llu, so the file is truncated or "
                    "damaged",
                    e->name, (unsigned long long)off);
    size_t lnlen = (size_t)le(l + 26, 2), lxlen = (size_t)le(l + 28, 2);
    if (lnlen != nlen || !inside(r, off + 30, lnlen) || memcmp(l + 30, e->name, nlen) != 0)
        return fail(r, "entry %s's local header names another file", e->name);
    uint64_t data = off + 30 + lnlen + lxlen;
    if (!inside(r, data, usize))
        return fail(r,
                    "entry %s (%llu bytes at %llu) runs past the end of the file (%zu bytes), "
                    "so the file is truncated",
                    e->name, (unsigned long long)usize, (unsigned long long)data, r->size);
    e->data = r->buf + data;
    e->size = (size_t)usize;
    uLong sum = crc32(0L, Z_NULL, 0);
    for (size_t done = 0; done < e->size;) { /* zlib's length is a uInt */
        size_t n = e->size - done > (1u << 30) ? (1u << 30) : e->size - done;
        sum = crc32(sum, e->data + done, (uInt)n);
        done += n;
    }
    if ((uint32_t)sum != crc) return fail(r, "entry %s fails its CRC-32 check", e->name);
    *pos += 46 + nlen + xlen + clen;
    return 0;
}

int rn_zip_parse(rn_zip *z, const uint8_t *buf, size_t size, char *err, size_t errlen)
{
    zr r = {buf, size, err, errlen};
    cdir d = {0, 0, 0};
    memset(z, 0, sizeof *z);
    if (find_cdir(&r, &d)) return -1;
    if (!(z->e = calloc(d.count + 1, sizeof *z->e))) return fail(&r, "out of memory");
    uint64_t pos = d.offset, end = d.offset + d.size;
    for (uint64_t i = 0; i < d.count; i++) {
        if (read_entry(&r, &pos, end, &z->e[z->count++])) {
            rn_zip_free(z);
            return -1;
        }
    }
    return 0;
}

const rn_zip_entry *rn_zip_find(const rn_zip *z, const char *name)
{
    for (size_t i = 0; i < z->count; i++)
        if (strcmp(z->e[i].name, name) == 0) return &z->e[i];
    return NULL;
}

void rn_zip_free(rn_zip *z)
{
    for (size_t i = 0; i < z->count; i++) free(z->e[i].name);
    free(z->e);
    memset(z, 0, sizeof *z);
}
