/* Dataset location, download (libcurl), MD5 check and safe extraction (libarchive, regular files
 * under cifar-10-batches-bin/ only, no absolute paths or ".."), into a temporary folder that is
 * renamed into place at the end. */
#include "data/download.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"

#define ARCHIVE_DIR "cifar-10-batches-bin"

/* ---- MD5 (RFC 1321) ---- */

typedef struct md5_ctx {
    uint32_t a, b, c, d;
    uint64_t bytes;
    uint8_t block[64];
} md5_ctx;

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const uint8_t md5_r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                  5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_init(md5_ctx *m)
{
    m->a = 0x67452301;
    m->b = 0xefcdab89;
    m->c = 0x98badcfe;
    m->d = 0x10325476;
    m->bytes = 0;
}

static void md5_block(md5_ctx *m, const uint8_t *p)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = m->a, b = m->b, c = m->c, d = m->d;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        uint32_t t = a + f + md5_k[i] + w[g];
        a = d;
        d = c;
        c = b;
        b += (t << md5_r[i]) | (t >> (32 - md5_r[i]));
    }
    m->a += a;
    m->b += b;
    m->c += c;
    m->d += d;
}

static void md5_update(md5_ctx *m, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t have = (size_t)(m->bytes % 64);
    m->bytes += len;
    while (len > 0) {
        size_t take = 64 - have < len ? 64 - have : len;
        memcpy(m->block + have, p, take);
        have += take;
        p += take;
        len -= take;
        if (have == 64) {
            md5_block(m, m->block);
            have = 0;
        }
    }
}

static void md5_final_hex(md5_ctx *m, char hex[33])
{
    uint64_t bits = m->bytes * 8;
    static const uint8_t pad[64] = {0x80};
    size_t have = (size_t)(m->bytes % 64);
    md5_update(m, pad, have < 56 ? 56 - have : 120 - have);
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (uint8_t)(bits >> (8 * i));
    md5_update(m, len_le, 8);
    const uint32_t words[4] = {m->a, m->b, m->c, m->d};
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned)(words[i / 4] >> (8 * (i % 4))) & 0xff);
}

void rn_md5_hex(const void *data, size_t len, char hex[33])
{
    md5_ctx m;
    md5_init(&m);
    md5_update(&m, data, len);
    md5_final_hex(&m, hex);
}

int rn_md5_file(const char *path, char hex[33])
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    md5_ctx m;
    md5_init(&m);
    uint8_t buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) md5_update(&m, buf, got);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        errno = EIO;
        return -1;
    }
    md5_final_hex(&m, hex);
    return 0;
}

/* ---- locating ---- */

static int has_test_batch(const char *dir)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void print_manual_hint(const char *cache)
{
    fprintf(stderr,
            "put the CIFAR-10 binary files (data_batch_1.bin ... test_batch.bin) by hand in one "
            "of: the folder given by --data, $RN50CL_DATA, "
            "./datasets-cifar10-bin/" ARCHIVE_DIR ", or %s/" ARCHIVE_DIR ".\n",
            cache);
}

/* ---- download ---- */

static int progress_cb(void *arg, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un)
{
    (void)ut;
    (void)un;
    int *last = arg;
    int pct = total > 0 ? (int)(now * 100 / total) : -1;
    if (pct == *last) return 0;
    *last = pct;
    if (pct >= 0)
        fprintf(stderr, "\rrn50cl: downloading CIFAR-10: %3d%% of %.1f MB", pct,
                (double)total / 1e6);
    else fprintf(stderr, "\rrn50cl: downloading CIFAR-10: %.1f MB", (double)now / 1e6);
    return 0;
}

/* Fetches url into the open file f; 0, or -1 with curl's message in err. */
static int fetch(const char *url, FILE *f, char err[CURL_ERROR_SIZE])
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, CURL_ERROR_SIZE, "cannot initialise libcurl");
        return -1;
    }
    int last = -2, tty = isatty(2);
    err[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, tty ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &last);
    if (!tty) fprintf(stderr, "rn50cl: downloading %s ...\n", url);
    CURLcode rc = curl_easy_perform(c);
    if (tty) fputc('\n', stderr);
    if (rc != CURLE_OK && !err[0]) snprintf(err, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    if (rc == CURLE_OK && fflush(f) != 0) {
        snprintf(err, CURL_ERROR_SIZE, "cannot write the download (%s)", strerror(errno));
        return -1;
    }
    return rc == CURLE_OK ? 0 : -1;
}

/* Downloads url to a new temporary file in cache (name in tmp) and checks its MD5 against want. */
static int download_checked(const char *url, const char *want, const char *cache, char *tmp,
                            size_t tmplen)
{
    char target[4096];
    snprintf(target, sizeof target, "%s/cifar-10-binary.tar.gz", cache);
    int fd = rn_tmp_name(tmp, tmplen, target) == 0 ? mkstemp(tmp) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        fprintf(stderr, "rn50cl: error: cannot create a temporary file in %s (%s); ", cache,
                strerror(errno));
        if (fd >= 0) close(fd);
        print_manual_hint(cache);
        return RN_ERR_INPUT;
    }
    char err[CURL_ERROR_SIZE];
    int rc = fetch(url, f, err);
    fclose(f);
    if (rc != 0) {
        fprintf(stderr, "rn50cl: error: downloading %s failed (%s); ", url, err);
        print_manual_hint(cache);
        return RN_ERR_INPUT;
    }
    struct stat st;
    if (stat(tmp, &st) == 0 && !isatty(2))
        fprintf(stderr, "rn50cl: downloaded %.1f MB\n", (double)st.st_size / 1e6);
    char got[33];
    if (rn_md5_file(tmp, got) != 0) {
        fprintf(stderr,
                "rn50cl: error: cannot read back the download %s (%s); check the cache "
                "folder.\n",
                tmp, strerror(errno));
        return RN_ERR_INPUT;
    }
    if (strcasecmp(got, want) != 0) {
        fprintf(stderr,
                "rn50cl: error: the file downloaded from %s has MD5 %s, not the expected %s, so it "
                "is corrupt or not CIFAR-10; try again later or set $RN50CL_DATA_MD5 for a "
                "mirror.\n",
                url, got, want);
        return RN_ERR_INPUT;
    }
    return RN_OK;
}

/* ---- extraction ---- */

static int has_dotdot(const char *path)
{
    for (const char *p = path; p; p = strchr(p, '/'), p = p ? p + 1 : NULL)
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == 0)) return 1;
    return 0;
}

/* The file name below ARCHIVE_DIR/ for an entry to extract, NULL to skip it, or "" (with an error
 * printed) for an entry that tries to leave the folder. */
static const char *entry_name(const char *path, const char *archive)
{
    const char *bad = path[0] == '/'     ? "an absolute path"
                      : has_dotdot(path) ? "a \"..\" component"
                                         : NULL;
    if (bad) {
        fprintf(stderr,
                "rn50cl: error: %s has an entry \"%s\" with %s, so it was not unpacked; "
                "download CIFAR-10 from the official site instead.\n",
                archive, path, bad);
        return "";
    }
    while (strncmp(path, "./", 2) == 0) path += 2;
    size_t n = strlen(ARCHIVE_DIR);
    if (strncmp(path, ARCHIVE_DIR "/", n + 1) != 0) return NULL;
    path += n + 1;
    return *path && !strchr(path, '/') ? path : NULL;
}

static int copy_entry(struct archive *a, const char *dst)
{
    FILE *f = fopen(dst, "wb");
    if (!f) return -1;
    const void *buf;
    size_t size;
    la_int64_t off;
    int rc = ARCHIVE_OK, ok = 1;
    while (ok && (rc = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
        ok = fwrite(buf, 1, size, f) == size;
    ok = ok && rc == ARCHIVE_EOF && fflush(f) == 0 && fsync(fileno(f)) == 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Unpacks the regular files under ARCHIVE_DIR/ of archive into the existing folder dir. */
static int extract(const char *archive, const char *dir)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    int rc = RN_OK;
    if (archive_read_open_filename(a, archive, 1 << 16) != ARCHIVE_OK) {
        fprintf(stderr, "rn50cl: error: cannot open the archive %s (%s); delete it and retry.\n",
                archive, archive_error_string(a));
        archive_read_free(a);
        return RN_ERR_INPUT;
    }
    struct archive_entry *e;
    int r;
    while (rc == RN_OK && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = entry_name(archive_entry_pathname(e), archive);
        if (name && !*name) rc = RN_ERR_INPUT;
        if (!name || !*name || archive_entry_filetype(e) != AE_IFREG) continue;
        char dst[4096];
        snprintf(dst, sizeof dst, "%s/%s", dir, name);
        if (copy_entry(a, dst) != 0) {
            fprintf(stderr,
                    "rn50cl: error: cannot unpack %s from %s into %s (%s); check the "
                    "free space in the cache folder.\n",
                    name, archive, dir,
                    archive_error_string(a) ? archive_error_string(a) : strerror(errno));
            rc = RN_ERR_INPUT;
        }
    }
    if (rc == RN_OK && r != ARCHIVE_EOF) {
        fprintf(stderr, "rn50cl: error: the archive %s is damaged (%s); delete it and retry.\n",
                archive, archive_error_string(a));
        rc = RN_ERR_INPUT;
    }
    archive_read_free(a);
    return rc;
}

/* Unpacks archive into a temporary folder, then renames it to final. */
static int install(const char *archive, const char *cache, const char *final)
{
    char tmpdir[4096];
    char target[4096];
    snprintf(target, sizeof target, "%s/" ARCHIVE_DIR, cache);
    if (rn_tmp_name(tmpdir, sizeof tmpdir, target) != 0 || !mkdtemp(tmpdir)) {
        fprintf(stderr,
                "rn50cl: error: cannot create a temporary folder in %s (%s); check that "
                "it is writable.\n",
                cache, strerror(errno));
        return RN_ERR_INPUT;
    }
    int rc = extract(archive, tmpdir);
    if (rc == RN_OK && !has_test_batch(tmpdir)) {
        fprintf(stderr,
                "rn50cl: error: the archive %s has no " ARCHIVE_DIR "/test_batch.bin, so "
                "it is not the CIFAR-10 binary version; check --data-url.\n",
                archive);
        rc = RN_ERR_INPUT;
    }
    chmod(tmpdir, 0755);
    /* Another rn50cl may have installed the folder meanwhile; its copy is as good as ours. */
    if (rc == RN_OK && rename(tmpdir, final) != 0 && !has_test_batch(final)) {
        fprintf(stderr,
                "rn50cl: error: cannot move the unpacked data to %s (%s); remove that "
                "path and retry.\n",
                final, strerror(errno));
        rc = RN_ERR_INPUT;
    }
    rn_remove_flat_dir(tmpdir);
    return rc;
}

static int download_and_install(const char *url, const char *md5, const char *cache,
                                const char *final)
{
    if (rn_mkdirs(cache) != 0) {
        fprintf(stderr, "rn50cl: error: cannot create the cache folder %s (%s); ", cache,
                strerror(errno));
        print_manual_hint(cache);
        return RN_ERR_INPUT;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char tmp[4096];
    int rc = download_checked(url, md5, cache, tmp, sizeof tmp);
    if (rc == RN_OK) rc = install(tmp, cache, final);
    unlink(tmp);
    curl_global_cleanup();
    return rc;
}

static const char *or_default(const char *v, const char *def)
{
    return v && *v ? v : def;
}

/* Checks a folder the user named explicitly; such a folder never falls through to the defaults. */
static int explicit_dir(const char *dir, const char *what, char *out, size_t len)
{
    if (has_test_batch(dir)) {
        snprintf(out, len, "%s", dir);
        return RN_OK;
    }
    fprintf(stderr,
            "rn50cl: error: %s %s has no test_batch.bin; point it at the " ARCHIVE_DIR
            " folder of the CIFAR-10 binary version (or leave it out to download it).\n",
            what, dir);
    return RN_ERR_INPUT;
}

int rn_data_resolve(const rn_data_options *o, char *out, size_t len)
{
    if (o->dir && *o->dir)
        return explicit_dir(o->dir, or_default(o->dir_what, "the --data folder"), out, len);
    const char *local = "./datasets-cifar10-bin/" ARCHIVE_DIR;
    if (has_test_batch(local)) {
        snprintf(out, len, "%s", local);
        return RN_OK;
    }
    char final[4200];
    snprintf(final, sizeof final, "%s/" ARCHIVE_DIR, o->cache_dir);
    if (!has_test_batch(final)) {
        int rc = download_and_install(or_default(o->url, RN_CIFAR_URL),
                                      or_default(o->md5, RN_CIFAR_MD5), o->cache_dir, final);
        if (rc != RN_OK) return rc;
    }
    snprintf(out, len, "%s", final);
    return RN_OK;
}
