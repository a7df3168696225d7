/* cl_bench helpers shared by every section: timing statistics, the streaming JSON writer and the
 * table-printing helpers. */
#include <math.h>
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

void clb_json_open(clb_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->first[0] = 1;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* Comma, newline and indentation before a member, then its key if it has one. */
static void member(clb_json *j, const char *key)
{
    if (!j->first[j->depth]) fputc(',', j->f);
    j->first[j->depth] = 0;
    if (j->depth > 0) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    if (key) {
        put_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void open_nest(clb_json *j, const char *key, char c)
{
    if (!j->f) return;
    member(j, key);
    fputc(c, j->f);
    j->depth++;
    j->first[j->depth] = 1;
}

static void close_nest(clb_json *j, char c)
{
    if (!j->f) return;
    int empty = j->first[j->depth];
    j->depth--;
    if (!empty) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(c, j->f);
    if (j->depth == 0) fputc('\n', j->f);
}

void clb_json_obj(clb_json *j, const char *key)
{
    open_nest(j, key, '{');
}

void clb_json_arr(clb_json *j, const char *key)
{
    open_nest(j, key, '[');
}

void clb_json_end_obj(clb_json *j)
{
    close_nest(j, '}');
}

void clb_json_end_arr(clb_json *j)
{
    close_nest(j, ']');
}

void clb_json_num(clb_json *j, const char *key, double v)
{
    if (!j->f) return;
    member(j, key);
    if (isfinite(v)) fprintf(j->f, "%.6g", v);
    else fputs("null", j->f); /* JSON has no inf/NaN; the test treats null as a failure */
}

void clb_json_int(clb_json *j, const char *key, long v)
{
    if (!j->f) return;
    member(j, key);
    fprintf(j->f, "%ld", v);
}

void clb_json_str(clb_json *j, const char *key, const char *s)
{
    if (!j->f) return;
    member(j, key);
    put_string(j->f, s);
}

void clb_json_bool(clb_json *j, const char *key, int v)
{
    if (!j->f) return;
    member(j, key);
    fputs(v ? "true" : "false", j->f);
}

void clb_json_stats(clb_json *j, const char *key, clb_stats s)
{
    clb_json_obj(j, key);
    clb_json_num(j, "median", s.med);
    clb_json_num(j, "min", s.min);
    clb_json_num(j, "max", s.max);
    clb_json_end_obj(j);
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
