/* NumPy .npy output for matrices of float32 (embeddings, confusion data, logits), so results can be
 * opened with numpy.load without any conversion. */
#ifndef RN_FORMAT_NPY_H
#define RN_FORMAT_NPY_H

#include <stddef.h>

/* Writes a (rows, cols) '<f4' C-order .npy v1.0 file atomically. On failure prints one
 * "rn50cl: error:" sentence naming path and returns RN_ERR_INPUT. */
int rn_npy_write_f32(const char *path, size_t rows, size_t cols, const float *data);

#endif
