/* Small file-system helpers shared by the program cache, checkpoints, downloads and image output:
 * mkdir -p, whole-file reads and atomic whole-file writes (a crash never leaves a torn file). */
#ifndef RN_BASE_FSUTIL_H
#define RN_BASE_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

/* mkdir -p. Returns 0 on success, -1 with errno set. */
int rn_mkdirs(const char *path);

/* Writes `bytes` to path atomically: a temporary file in the same folder, fsync, rename.
 * Returns 0, or -1 with errno set (the temporary file is removed). */
int rn_write_file_atomic(const char *path, const void *data, size_t bytes);

/* Streaming form of the same: rn_atomic_open gives a FILE* on a temporary file next to `path`;
 * rn_atomic_commit flushes, fsyncs, closes and renames it over `path` (0 on success);
 * rn_atomic_abort closes and removes it, leaving errno as it was (the reason to give up). */
typedef struct rn_atomic_file {
    FILE *f;
    char tmp[4096];
    char path[4096];
} rn_atomic_file;
int rn_atomic_open(rn_atomic_file *af, const char *path);
int rn_atomic_commit(rn_atomic_file *af);
void rn_atomic_abort(rn_atomic_file *af);

/* Puts in buf a mkstemp/mkdtemp template for a temporary beside path owned by this process
 * (PATH.tmp.<pid>.XXXXXX), after removing the temporaries of path whose writers are gone
 * (killed mid-write). Returns 0, or -1 with errno set. */
int rn_tmp_name(char *buf, size_t n, const char *path);

/* Removes a folder of plain files, then the folder. */
void rn_remove_flat_dir(const char *dir);

/* Reads a whole file into a malloc'd buffer (one extra NUL byte appended). NULL with errno set. */
void *rn_read_file(const char *path, size_t *size);

#endif
