// cl_bench's device-peak kernels (clpeak-style): fp32 multiply-add chains at several vector
// widths, a copy kernel for memory bandwidth, and an empty kernel for launch latency. cl_bench
// compiles this file itself; it is not part of the trainer's program set in cl/.

// Loop trip count of every peak_mad_* kernel. cl_bench's flop formula (and tests/cli_bench.sh,
// which re-derives it from this file) depends on it: flops per work-item =
// 2 · width · (mad statements in PEAK_MAD_BLOCK) · PEAK_ITERS.
#define PEAK_ITERS 128

// One loop iteration: eight independent dependent chains (x_k, y_k), each step needing the result
// of the previous one, so the compiler can neither drop nor fold them. A core needs as many
// independent multiply-adds in flight as its FMA units times their latency (2 × 4 on current
// x86 cores): with four chains, PoCL's float16 reached half of what its own GEMM kernels then ran
// at on a Zen 5 core, and section 2 printed GEMMs at 155 % of "peak". One mad per line, 16 in all.
#define PEAK_MAD_BLOCK                                                                            \
    x0 = mad(y0, x0, y0);                                                                         \
    x1 = mad(y1, x1, y1);                                                                         \
    x2 = mad(y2, x2, y2);                                                                         \
    x3 = mad(y3, x3, y3);                                                                         \
    x4 = mad(y4, x4, y4);                                                                         \
    x5 = mad(y5, x5, y5);                                                                         \
    x6 = mad(y6, x6, y6);                                                                         \
    x7 = mad(y7, x7, y7);                                                                         \
    y0 = mad(x0, y0, x0);                                                                         \
    y1 = mad(x1, y1, x1);                                                                         \
    y2 = mad(x2, y2, x2);                                                                         \
    y3 = mad(x3, y3, x3);                                                                         \
    y4 = mad(x4, y4, x4);                                                                         \
    y5 = mad(x5, y5, x5);                                                                         \
    y6 = mad(x6, y6, x6);                                                                         \
    y7 = mad(x7, y7, x7);

// The start values come from a kernel argument, so nothing is known at compile time; the result
// is stored, so every chain is live. cl_bench passes a = 1.3: all values stay positive and grow
// to +inf within a few iterations, which CPUs and GPUs process at full speed (denormals, which
// shrinking values would reach, are slow on CPUs).
#define PEAK_KERNEL(NAME, T)                                                                      \
    __kernel void NAME(__global T *out, const float a)                                            \
    {                                                                                             \
        const float id = (float)get_local_id(0);                                                  \
        T x0 = (T)(a + id), x1 = (T)(a + 2.0f * id), x2 = (T)(a + 3.0f * id);                    \
        T x3 = (T)(a + 4.0f * id), x4 = (T)(a + 5.0f * id), x5 = (T)(a + 6.0f * id);              \
        T x6 = (T)(a + 7.0f * id), x7 = (T)(a + 8.0f * id);                                       \
        T y0 = (T)(a), y1 = (T)(a * 2.0f), y2 = (T)(a * 3.0f), y3 = (T)(a * 4.0f);                \
        T y4 = (T)(a * 5.0f), y5 = (T)(a * 6.0f), y6 = (T)(a * 7.0f), y7 = (T)(a * 8.0f);         \
        for (int i = 0; i < PEAK_ITERS; i++) {                                                    \
            PEAK_MAD_BLOCK                                                                        \
        }                                                                                         \
        out[get_global_id(0)] = (x0 + y0) + (x1 + y1) + (x2 + y2) + (x3 + y3) + (x4 + y4) +       \
                                (x5 + y5) + (x6 + y6) + (x7 + y7);                                \
    }

PEAK_KERNEL(peak_mad_float, float)
PEAK_KERNEL(peak_mad_float2, float2)
PEAK_KERNEL(peak_mad_float4, float4)
PEAK_KERNEL(peak_mad_float8, float8)
PEAK_KERNEL(peak_mad_float16, float16)

// Memory bandwidth: every work-item copies one float4 (16 bytes read, 16 written).
__kernel void peak_copy(__global float4 *dst, __global const float4 *src)
{
    const size_t i = get_global_id(0);
    dst[i] = src[i];
}

// Launch latency: nothing to do, so the time is all enqueue, dispatch and completion.
__kernel void peak_empty(__global float *unused)
{
    (void)unused;
}
