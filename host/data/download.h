/* Finds the CIFAR-10 binary folder, downloading and unpacking it into the cache when it is
 * nowhere to be found. The unpacked folder appears by one rename, so it is whole or absent. */
#ifndef RN_DATA_DOWNLOAD_H
#define RN_DATA_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>

#define RN_CIFAR_URL "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
#define RN_CIFAR_MD5 "c32a1d4ab5d03f1284b67883e8d87530"

/* Where CIFAR-10 is and where it comes from. The library reads no environment: rn50cl fills
 * this from its flags and $RN50CL_DATA, $RN50CL_DATA_URL, $RN50CL_DATA_MD5 (host/cli/env.c). */
typedef struct rn_data_options {
    const char *dir;       /* a folder the user named (NULL or "": none); must hold the data */
    const char *dir_what;  /* how errors name it; NULL: "the --data folder" */
    const char *url;       /* archive to download; NULL or "": RN_CIFAR_URL */
    const char *md5;       /* its expected MD5; NULL or "": RN_CIFAR_MD5 */
    const char *cache_dir; /* holds <cache>/cifar-10-batches-bin; required */
} rn_data_options;

/* Writes the data folder to out. Looks, in order, at o->dir (an error if it lacks
 * test_batch.bin), ./datasets-cifar10-bin/cifar-10-batches-bin and
 * <cache>/cifar-10-batches-bin. If none has test_batch.bin, downloads o->url, checks its MD5 and
 * unpacks it into <cache>/cifar-10-batches-bin. RN_OK, or RN_ERR_INPUT after one
 * "rn50cl: error:" sentence. */
int rn_data_resolve(const rn_data_options *o, char *out, size_t len);

/* MD5 (RFC 1321) of a whole file as 32 lowercase hex digits; -1 with errno set if unreadable. */
int rn_md5_file(const char *path, char hex[33]);

/* MD5 of a memory block as 32 lowercase hex digits. */
void rn_md5_hex(const void *data, size_t len, char hex[33]);

#endif
