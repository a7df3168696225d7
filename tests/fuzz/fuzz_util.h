/* What the file-reading fuzz harnesses share: the readers take paths, so each input is written to
 * one private file (in /dev/shm when it exists) and read back through the real entry point. */
#ifndef RN_FUZZ_UTIL_H
#define RN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes data to a file whose path ends in `suffix` and returns the path (the same file for every
 * call of one process; aborts when it cannot be written). */
const char *fz_file(const char *suffix, const uint8_t *data, size_t size);

#endif
