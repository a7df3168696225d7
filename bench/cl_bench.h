/* cl_bench's shared pieces: the run configuration, the figures one section hands to the next
 * (measured peaks for "% of peak"), timing statistics and their JSON form, and the section
 * entry points (peak.c, gemm.c, kernels.c, model.c, startup.c) and `cl_bench compare` (compare.c).
 */
#ifndef CL_BENCH_H
#define CL_BENCH_H

#include <stddef.h>
#include <stdio.h>

#include "base/json.h"
#include "runtime/rt.h"

/* Sections, as bits of clb_cfg.sections (and names for --only). */
enum { CLB_PEAK = 1, CLB_GEMM = 2, CLB_KERNELS = 4, CLB_MODEL = 8, CLB_STARTUP = 16, CLB_ALL = 31 };

typedef struct clb_cfg {
    int batch;
    int repeats;
    int quick;
    int no_tune;
    int sections;
    const char *json_path;
} clb_cfg;

/* Median, minimum and maximum of a set of timed runs (milliseconds unless said otherwise). */
typedef struct clb_stats {
    double med, min, max;
} clb_stats;

/* Sorts x[0..n) in place and returns its statistics. */
clb_stats clb_stats_of(double *x, int n);

/* Significant digits of every figure in the JSON (written with base/json's rn_jw, every level on
 * lines of its own). */
#define CLB_DIGITS 6

/* {"median": .., "min": .., "max": ..} under key. */
void clb_json_stats(rn_jw *j, const char *key, clb_stats s);

/* What a run measured so far, for the later sections' shares; 0 where not measured. */
typedef struct clb_peak {
    double gflops;   /* best fp32 multiply-add rate over the vector widths */
    double copy_gbs; /* copy-kernel bandwidth */
    double rss_ctx;  /* resident MiB right after rn_ctx_create: the runtime's own memory */
} clb_peak;

/* Section 1: fp32 peak, copy bandwidth, launch latency, host↔device transfers. */
void clb_section_peak(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, clb_peak *pk, int print);
/* Section 2: CLBlast SGEMM at square sizes and at every ResNet50 training GEMM shape. */
void clb_section_gemm(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk);
/* Section 3: rn50cl's own kernels at ResNet50 shapes. */
void clb_section_kernels(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk);
/* Section 4: one training step and one inference pass of the whole model. */
void clb_section_model(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk);
/* Section 5: time to all programs ready, cold and warm, by running `rn50cl info`. Returns 0, or
 * -1 when rn50cl could not be found or run (the section is then skipped with a note). */
int clb_section_startup(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j);

/* Model FLOPs per image, from the GEMM shapes of the layer list (GEMMs only: batch-norm, ReLU,
 * pooling and the optimizer add well under 1 %). */
typedef struct clb_model_flops {
    double train;     /* forward + input gradients + weight gradients */
    double inference; /* forward only */
} clb_model_flops;
clb_model_flops clb_flops_per_image(int batch);

/* `cl_bench compare A.json B.json ...`: exit status. */
int clb_compare(int nfiles, char **files);
/* `cl_bench ab A.txt B.txt [options]` (arguments after "ab"): exit status. */
int clb_ab(int argc, char **argv);

/* Buffers large enough for every one of n shapes' A, B and C (row-major, leading dimensions as
 * issued), filled with moderate values; and their release. */
typedef struct clb_gemm_bufs {
    cl_mem a, b, c;
} clb_gemm_bufs;
clb_gemm_bufs clb_gemm_bufs_alloc(rn_ctx *ctx, const rn_gemm_shape *s, int n);
void clb_gemm_bufs_free(clb_gemm_bufs *g);

/* rn_buffer for a section that cannot run without the buffer: after rn_buffer's sentence,
 * cl_bench exits with RN_ERR_INPUT, as for any allocation the device refuses. */
cl_mem clb_buffer(rn_ctx *ctx, size_t bytes);

/* The process's resident memory in MiB from /proc/self/status: now (VmRSS) or its peak (VmHWM);
 * 0 where the file or the field is missing. clb_rss_reset_peak restarts the peak at the current
 * size (Linux's clear_refs "5"); it returns 0, or -1 where the kernel refuses. A reset also
 * lowers the process's ru_maxrss; clb_rss_process_peak_mib is the peak since the process began
 * all the same (the highest VmHWM before any reset, or now). */
double clb_rss_mib(void);
double clb_rss_peak_mib(void);
int clb_rss_reset_peak(void);
double clb_rss_process_peak_mib(void);

/* Printing helpers: a section title with a rule, and "x.x" or "-" when a share is unknown. */
void clb_title(const char *title);
const char *clb_pct(char *buf, size_t len, double part, double whole);

/* Warm-up count before timing, and timed repeats for costly items (whole-model steps). */
#define CLB_WARMUP 1

#endif
