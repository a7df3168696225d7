/* File-system helpers: mkdir -p, atomic writes via temp file + rename, and whole-file reads.
 * Used by everything that persists state. */
#include "base/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rn_mkdirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(tmp, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

void rn_remove_flat_dir(const char *dir)
{
    DIR *dp = opendir(dir);
    if (dp) {
        char p[8192];
        for (struct dirent *e; (e = readdir(dp)) != NULL;) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
        }
        closedir(dp);
    }
    rmdir(dir);
}

/* Temporaries carry their writer's pid, so a later write of the same path can remove what a
 * killed writer left behind without touching a write still in progress in another process.
 * A reused pid only keeps a stale temporary until a later write. */
static void remove_stale_tmp(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if (snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) >= (int)sizeof dir)
        return;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0) continue;
        char *end;
        long pid = strtol(n + blen + 5, &end, 10);
        if (pid <= 0 || *end != '.' || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char stale[8192];
        if (snprintf(stale, sizeof stale, "%s/%s", dir, n) >= (int)sizeof stale) continue;
        if (unlink(stale) != 0 && (errno == EISDIR || errno == EPERM)) rn_remove_flat_dir(stale);
    }
    closedir(d);
}

int rn_tmp_name(char *buf, size_t n, const char *path)
{
    if (snprintf(buf, n, "%s.tmp.%ld.XXXXXX", path, (long)getpid()) >= (int)n) {
        errno = ENAMETOOLONG;
        return -1;
    }
    remove_stale_tmp(path);
    return 0;
}

int rn_atomic_open(rn_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    if (snprintf(af->path, sizeof af->path, "%s", path) >= (int)sizeof af->path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (rn_tmp_name(af->tmp, sizeof af->tmp, path) != 0) return -1;
    int fd = mkstemp(af->tmp);
    if (fd < 0) return -1;
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int rn_atomic_commit(rn_atomic_file *af)
{
    int ok = fflush(af->f) == 0 && !ferror(af->f) && fsync(fileno(af->f)) == 0;
    int e = errno;
    if (fclose(af->f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    af->f = NULL;
    if (ok && rename(af->tmp, af->path) == 0) return 0;
    if (ok) e = errno;
    unlink(af->tmp);
    errno = e;
    return -1;
}

void rn_atomic_abort(rn_atomic_file *af)
{
    int e = errno; /* the caller's reason for giving up, for its message */
    if (af->f) fclose(af->f);
    af->f = NULL;
    unlink(af->tmp);
    errno = e;
}

int rn_write_file_atomic(const char *path, const void *data, size_t bytes)
{
    rn_atomic_file af;
    if (rn_atomic_open(&af, path) != 0) return -1;
    if (bytes && fwrite(data, 1, bytes, af.f) != bytes) {
        rn_atomic_abort(&af);
        return -1;
    }
    return rn_atomic_commit(&af);
}

void *rn_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? 2 * cap : 1 << 20;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[len] = 0;
    *size = len;
    return buf;
}
