/* cl_bench helpers shared by every section: timing statistics, their JSON form, the process's
 * resident memory and the table-printing helpers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_bench.h"
#include "rn50cl/rn50cl.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

clb_stats clb_stats_of(double *x, int n)
{
    clb_stats s = {0, 0, 0};
    if (n <= 0) return s;
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    s.min = x[0];
    s.max = x[n - 1];
    s.med = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
    return s;
}

/* ---- JSON --------------------------------------------------------------------------------- */

void clb_json_stats(rn_jw *j, const char *key, clb_stats s)
{
    rn_jw_obj(j, key);
    rn_jw_num(j, "median", s.med, CLB_DIGITS);
    rn_jw_num(j, "min", s.min, CLB_DIGITS);
    rn_jw_num(j, "max", s.max, CLB_DIGITS);
    rn_jw_end(j);
}

/* ---- resident memory ---------------------------------------------------------------------- */

static double status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double kib = 0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') kib = strtod(line + n + 1, NULL);
    fclose(f);
    return kib;
}

double clb_rss_mib(void)
{
    return status_kib("VmRSS") / 1024;
}

double clb_rss_peak_mib(void)
{
    return status_kib("VmHWM") / 1024;
}

/* The highest VmHWM seen before a reset: a reset also lowers what the kernel reports as the
 * process's ru_maxrss. */
static double peak_before_resets;

double clb_rss_process_peak_mib(void)
{
    double now = clb_rss_peak_mib();
    return now > peak_before_resets ? now : peak_before_resets;
}

int clb_rss_reset_peak(void)
{
    peak_before_resets = clb_rss_process_peak_mib();
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int bad = fputs("5", f) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

/* ---- printing ------------------------------------------------------------------------------ */

cl_mem clb_buffer(rn_ctx *ctx, size_t bytes)
{
    cl_mem m = rn_buffer(ctx, bytes);
    if (!m) exit(RN_ERR_INPUT);
    return m;
}

void clb_title(const char *title)
{
    printf("\n== %s ", title);
    for (int i = (int)strlen(title); i < 96; i++) putchar('=');
    printf("\n");
}

const char *clb_pct(char *buf, size_t len, double part, double whole)
{
    if (whole > 0 && isfinite(part)) snprintf(buf, len, "%.1f", 100.0 * part / whole);
    else snprintf(buf, len, "-");
    return buf;
}
