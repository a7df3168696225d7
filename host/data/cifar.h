/* CIFAR-10 binary-format reader: whole files into memory, validated (record size, labels) so that
 * everything downstream can trust the data. Records are 1 label byte + 3072 pixel bytes
 * (1024 R, 1024 G, 1024 B, each 32x32 row-major), kept exactly as in the file. */
#ifndef RN_DATA_CIFAR_H
#define RN_DATA_CIFAR_H

#include <stddef.h>
#include <stdint.h>

#define RN_CIFAR_CLASSES 10
#define RN_CIFAR_SIDE 32
#define RN_CIFAR_PLANE (RN_CIFAR_SIDE * RN_CIFAR_SIDE) /* 1024 */
#define RN_CIFAR_IMAGE (3 * RN_CIFAR_PLANE)            /* 3072 */
#define RN_CIFAR_RECORD (1 + RN_CIFAR_IMAGE)           /* 3073 */

typedef struct rn_cifar {
    size_t n;
    uint8_t *labels; /* n */
    uint8_t *pixels; /* n * 3072, as in the file */
} rn_cifar;

/* Loads the given files, in order, into *d (which is overwritten). On any bad file prints one
 * "rn50cl: error:" sentence naming it and returns RN_ERR_INPUT with *d empty. */
int rn_cifar_load_files(rn_cifar *d, const char *const *paths, size_t count);

/* Every data_batch_*.bin in dir, in strcmp order (none found is an error). */
int rn_cifar_load_train(rn_cifar *d, const char *dir);

/* dir/test_batch.bin. */
int rn_cifar_load_test(rn_cifar *d, const char *dir);

/* Class names from dir/batches.meta.txt (one per line); if that is missing or unusable, prints one
 * warning line and fills in the standard ten names. */
void rn_cifar_class_names(const char *dir, char names[RN_CIFAR_CLASSES][32]);

/* Keeps only the first n images (no-op if there are fewer). */
void rn_cifar_limit(rn_cifar *d, size_t n);

void rn_cifar_free(rn_cifar *d);

#endif
