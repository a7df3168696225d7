/* libFuzzer harness: the stored GEMM tuning file reader (rn_tune_load) on one arbitrary file, for
 * a made-up device (no OpenCL is touched). An accepted file's own-kernel choices must be ones the
 * kernels can run. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "runtime/tuning.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rn_ctx ctx; /* large: kept off the stack */
    static int init;
    if (!init++) {
        strcpy(ctx.info.name, "fuzz-device");
        strcpy(ctx.info.driver_version, "1.0");
        ctx.info.max_work_group = 1024;
        ctx.info.local_mem = 64 * 1024;
    }
    rn_tune_params p;
    char tuned[64], why[256] = "";
    if (rn_tune_load(&ctx, fz_file(".txt", data, size), &p, tuned, sizeof tuned, why, sizeof why) ==
        0) {
        if (p.nown < 0 || p.nown > RN_GEMM_MAX_OWN) abort();
        for (int i = 0; i < p.nown; i++)
            if (!rn_gemm_own_valid(&p.own[i])) abort();
    } else if (!why[0]) {
        abort(); /* a refusal always says why */
    }
    return 0;
}
