/* libFuzzer harness: the PyTorch .pth (zip + restricted unpickler) and MindSpore .ckpt (protobuf)
 * readers on one arbitrary buffer through rn_tensors_parse, then every read an accepted file
 * offers. A refusal must come with its clause; a tensor accepted must be readable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/tensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rn_tensors ts;
    char err[256] = "";
    if (rn_tensors_parse(&ts, data, size, err, sizeof err) != 0) {
        if (!err[0]) abort(); /* every refusal says why */
        return 0;
    }
    for (size_t i = 0; i < ts.count; i++) {
        const rn_tensor *t = &ts.t[i];
        if (rn_tensors_find(&ts, t->name) == NULL) abort();
        if (t->numel > (1u << 20)) continue; /* valid but large: nothing new to read */
        void *dst = malloc(t->numel * 8 + 1);
        if (rn_tensor_is_float(t)) rn_tensor_read_f32(t, dst);
        else rn_tensor_read_i64(t, dst);
        free(dst);
    }
    rn_tensors_free(&ts);
    return 0;
}
