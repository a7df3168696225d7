/* `cl_bench compare A.json B.json …`: reads cl_bench JSON files (each may hold several runs, one
 * per device), flattens every number to a dotted path, and prints the runs side by side with the
 * ratio of each later run to the first (B/A) for every figure all of them share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_bench.h"
#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "base/json.h"

#define MAX_RUNS 16

typedef struct figure {
    char path[256];
    double v;
} figure;

typedef struct run {
    char label[160];
    char device[128], batch[16], date[32], tuned[8];
    figure *f;
    int n, cap;
} run;

static void add_figure(run *r, const char *path, double v)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->f = realloc(r->f, (size_t)r->cap * sizeof *r->f);
        if (!r->f) abort();
    }
    snprintf(r->f[r->n].path, sizeof r->f[0].path, "%s", path);
    r->f[r->n++].v = v;
}

static void add_string(run *r, const char *path, const char *s)
{
    if (!strcmp(path, "environment.device")) snprintf(r->device, sizeof r->device, "%s", s);
    if (!strcmp(path, "environment.date")) snprintf(r->date, sizeof r->date, "%s", s);
    if (!strcmp(path, "environment.tuned_gemm")) snprintf(r->tuned, sizeof r->tuned, "%s", s);
}

/* A string as it is; true, false and null as the header line shows them. */
static const char *text_of(const rn_json *v)
{
    if (v->type == RN_JSON_STRING) return v->str;
    return v->type == RN_JSON_TRUE ? "yes" : v->type == RN_JSON_FALSE ? "no" : "null";
}

/* Every number under container c as a figure at its dotted path ("gemm.square.256.gflops"; array
 * elements by index), and the strings the header line shows (booleans as yes/no). */
static void flatten(run *r, const rn_json *c, const char *path)
{
    size_t i = 0;
    for (const rn_json *m = rn_json_child(c); m; m = rn_json_next(c, m), i++) {
        char idx[24], sub[512];
        snprintf(idx, sizeof idx, "%zu", i);
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", m->key ? m->key : idx);
        if (m->type == RN_JSON_OBJECT || m->type == RN_JSON_ARRAY) flatten(r, m, sub);
        else if (m->type == RN_JSON_NUMBER) add_figure(r, sub, m->num);
        else add_string(r, sub, text_of(m));
    }
}

/* Reads one file; its runs ("runs": [...]) are appended to runs[*nruns..], none of them when
 * they would not all fit in MAX_RUNS. Returns 0 or -1. */
static int load(const char *file, run *runs, int *nruns)
{
    size_t size;
    char *text = rn_read_file(file, &size);
    if (!text) {
        fprintf(stderr, "cl_bench: error: cannot read %s.\n", file);
        return -1;
    }
    rn_json_doc doc;
    int parsed = rn_json_parse(&doc, text, size) == 0;
    free(text);
    const rn_json *list = parsed ? rn_json_get(doc.v, "runs") : NULL;
    size_t n = list && list->type == RN_JSON_ARRAY ? list->n : 0;
    int first = *nruns, local = (int)n;
    if (n == 0 || n > (size_t)(MAX_RUNS - first)) {
        fprintf(stderr, "cl_bench: error: %s is not a cl_bench JSON file with runs.\n", file);
        rn_json_free(&doc);
        return -1;
    }
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    int i = 0;
    for (const rn_json *e = rn_json_child(list); e; e = rn_json_next(list, e), i++) {
        run *r = &runs[first + i];
        flatten(r, e, "");
        for (int k = 0; k < r->n; k++)
            if (!strcmp(r->f[k].path, "environment.batch"))
                snprintf(r->batch, sizeof r->batch, "%g", r->f[k].v);
        if (local > 1) snprintf(r->label, sizeof r->label, "%s[%d]", base, i);
        else snprintf(r->label, sizeof r->label, "%s", base);
    }
    rn_json_free(&doc);
    *nruns = first + local;
    return 0;
}

static const figure *find(const run *r, const char *path)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].path, path)) return &r->f[i];
    return NULL;
}

/* 12 columns: large values in full (byte counts, FLOPs per work-item), others to 4 digits. */
static void print_num(double v)
{
    if (fabs(v) >= 1e4 && fabs(v) < 1e12) printf(" %12.0f", v);
    else printf(" %12.4g", v);
}

int clb_compare(int nfiles, char **files)
{
    static run runs[MAX_RUNS];
    int nruns = 0, rc = RN_OK;
    for (int i = 0; i < nfiles && !rc; i++)
        if (load(files[i], runs, &nruns)) rc = RN_ERR_INPUT;
    /* one file from `--device all` may hold every run to compare */
    if (!rc && nruns < 2) {
        fprintf(stderr, "cl_bench: error: compare needs at least two runs: two JSON files, or one "
                        "written by --device all on a machine with several devices.\n"
                        "usage: cl_bench compare A.json [B.json ...]\n");
        rc = RN_ERR_INPUT;
    }
    if (!rc) {
        for (int r = 0; r < nruns; r++)
            printf("%c: %s — %s, batch %s, tuned GEMM %s, %s\n", 'A' + r, runs[r].label,
                   runs[r].device, runs[r].batch, runs[r].tuned, runs[r].date);
        printf("\n%-64s", "figure");
        for (int r = 0; r < nruns; r++) printf(" %12c", 'A' + r);
        for (int r = 1; r < nruns; r++) printf("   %c/A", 'A' + r);
        printf("\n");
        int shared = 0;
        for (int k = 0; k < runs[0].n; k++) {
            const char *path = runs[0].f[k].path;
            const figure *f[MAX_RUNS];
            int all = 1;
            for (int r = 0; r < nruns && all; r++) all = (f[r] = find(&runs[r], path)) != NULL;
            if (!all || !strncmp(path, "environment.", 12)) continue;
            shared++;
            printf("%-64s", path);
            for (int r = 0; r < nruns; r++) print_num(f[r]->v);
            for (int r = 1; r < nruns; r++)
                if (f[0]->v != 0) printf(" %6.2f", f[r]->v / f[0]->v);
                else printf(" %6s", "-");
            printf("\n");
        }
        printf("\n%d shared figures\n", shared);
    }
    for (int r = 0; r < nruns; r++) free(runs[r].f);
    return rc;
}
