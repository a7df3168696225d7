/* Input files for the fuzz harnesses (see fuzz_util.h). */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fz_file(const char *suffix, const uint8_t *data, size_t size)
{
    static char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/rn50cl-fuzz-%d%s",
             stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp", (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    return path;
}
