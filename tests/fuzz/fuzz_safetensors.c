/* libFuzzer harness: the safetensors reader (rn_st_open) on one arbitrary file, then every read an
 * accepted file offers: each tensor by name, as float32 (and int64 where it is one), and the
 * metadata. Every tensor the reader accepts must lie inside the file. */
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"
#include "fuzz_util.h"
#include "rn50cl/rn50cl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rn_st_file f;
    if (rn_st_open(&f, fz_file(".safetensors", data, size)) != RN_OK) return 0;
    for (size_t i = 0; i < f.count; i++) {
        const rn_st_tensor *t = &f.tensors[i];
        if (t->begin > t->end || t->end > f.data_len || rn_st_find(&f, t->name) == NULL) abort();
        if (t->numel > (1u << 20)) continue; /* a valid but large tensor: nothing new to read */
        void *dst = malloc(t->numel * 8 + 1);
        rn_st_read_f32(&f, t, dst);
        if (t->dtype == RN_ST_I64) rn_st_read_i64(&f, t, dst);
        free(dst);
    }
    for (size_t i = 0; i < f.meta_count; i++)
        if (!rn_st_meta(&f, f.meta_keys[i])) abort();
    rn_st_close(&f);
    return 0;
}
