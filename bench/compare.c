/* `cl_bench compare A.json B.json …`: reads cl_bench JSON files (each may hold several runs, one
 * per device), flattens every number to a dotted path, and prints the runs side by side with the
 * ratio of each later run to the first (B/A) for every figure all of them share. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_bench.h"
#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"

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

typedef struct parser {
    const char *s;
    int err;
    run *runs;
    int *nruns; /* runs of the file being parsed, counted as "runs.<i>" is entered */
    int room;   /* how many more runs fit in runs[] */
} parser;

static void skip_ws(parser *p)
{
    while (isspace((unsigned char)*p->s)) p->s++;
}

/* A string token into buf (escapes kept simple: \" \\ \/ and \uXXXX become '?'). */
static void parse_string(parser *p, char *buf, size_t len)
{
    size_t n = 0;
    if (*p->s != '"') {
        p->err = 1;
        return;
    }
    p->s++;
    while (*p->s && *p->s != '"') {
        char c = *p->s++;
        if (c == '\\') {
            c = *p->s++;
            if (c == 'u') {
                for (int i = 0; i < 4 && *p->s; i++) p->s++;
                c = '?';
            } else if (c == 'n' || c == 't' || c == 'r') {
                c = ' ';
            }
        }
        if (n + 1 < len) buf[n++] = c;
    }
    buf[n] = 0;
    if (*p->s != '"') p->err = 1;
    else p->s++;
}

/* Which run a path belongs to ("runs.<i>.rest"), and the rest; NULL if it is not in a run. */
static run *run_of(parser *p, const char *path, const char **rest)
{
    int i, used = 0;
    if (sscanf(path, "runs.%d.%n", &i, &used) != 1 || !used || i < 0 || i >= *p->nruns) return NULL;
    *rest = path + used;
    return &p->runs[i];
}

static void add_figure(parser *p, const char *path, double v)
{
    const char *rest;
    run *r = run_of(p, path, &rest);
    if (!r) return;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->f = realloc(r->f, (size_t)r->cap * sizeof *r->f);
        if (!r->f) abort();
    }
    snprintf(r->f[r->n].path, sizeof r->f[0].path, "%s", rest);
    r->f[r->n++].v = v;
}

static void add_string(parser *p, const char *path, const char *s)
{
    const char *rest;
    run *r = run_of(p, path, &rest);
    if (!r) return;
    if (!strcmp(rest, "environment.device")) snprintf(r->device, sizeof r->device, "%s", s);
    if (!strcmp(rest, "environment.date")) snprintf(r->date, sizeof r->date, "%s", s);
    if (!strcmp(rest, "environment.tuned_gemm")) snprintf(r->tuned, sizeof r->tuned, "%s", s);
}

static void parse_value(parser *p, const char *path);

static void child_path(char *out, size_t len, const char *path, const char *key)
{
    snprintf(out, len, "%s%s%s", path, *path ? "." : "", key);
}

/* Steps over an opening bracket; 1 when its container is empty (closing bracket consumed). */
static int open_empty(parser *p, char close)
{
    p->s++;
    skip_ws(p);
    if (*p->s != close) return 0;
    p->s++;
    return 1;
}

/* After a member or element: 1 when a ',' says another follows, 0 at the closing bracket (then
 * consumed) or on an error (p->err set). */
static int more_items(parser *p, char close)
{
    skip_ws(p);
    if (*p->s == ',' || *p->s == close) return *p->s++ == ',';
    p->err = 1;
    return 0;
}

static void parse_object(parser *p, const char *path)
{
    if (open_empty(p, '}')) return;
    do {
        char key[192], sub[512];
        skip_ws(p);
        parse_string(p, key, sizeof key);
        skip_ws(p);
        if (p->err || *p->s != ':') {
            p->err = 1;
            return;
        }
        p->s++;
        child_path(sub, sizeof sub, path, key);
        parse_value(p, sub);
    } while (!p->err && more_items(p, '}'));
}

static void parse_array(parser *p, const char *path)
{
    if (open_empty(p, ']')) return;
    int i = 0;
    do {
        char idx[16], sub[512];
        snprintf(idx, sizeof idx, "%d", i++);
        child_path(sub, sizeof sub, path, idx);
        if (!strcmp(path, "runs")) {
            if (*p->nruns >= p->room) {
                p->err = 1;
                return;
            }
            (*p->nruns)++;
        }
        parse_value(p, sub);
    } while (!p->err && more_items(p, ']'));
}

static void parse_value(parser *p, const char *path)
{
    skip_ws(p);
    if (*p->s == '{') {
        parse_object(p, path);
    } else if (*p->s == '[') {
        parse_array(p, path);
    } else if (*p->s == '"') {
        char buf[512];
        parse_string(p, buf, sizeof buf);
        add_string(p, path, buf);
    } else if (!strncmp(p->s, "true", 4) || !strncmp(p->s, "null", 4)) {
        add_string(p, path, *p->s == 't' ? "yes" : "null");
        p->s += 4;
    } else if (!strncmp(p->s, "false", 5)) {
        add_string(p, path, "no");
        p->s += 5;
    } else {
        char *end;
        double v = strtod(p->s, &end);
        if (end == p->s) {
            p->err = 1;
            return;
        }
        p->s = end;
        add_figure(p, path, v);
    }
}

/* Parses one file; its runs are appended to runs[*nruns..]. Returns 0 or -1. */
static int load(const char *file, run *runs, int *nruns)
{
    size_t size;
    char *text = rn_read_file(file, &size);
    if (!text) {
        fprintf(stderr, "cl_bench: error: cannot read %s.\n", file);
        return -1;
    }
    int first = *nruns;
    /* the runs of this file are parsed as runs.<i> with i counted from this file's first run */
    int local = 0;
    parser p = {text, 0, runs + first, &local, MAX_RUNS - first};
    parse_value(&p, "");
    free(text);
    if (p.err || local == 0) {
        fprintf(stderr, "cl_bench: error: %s is not a cl_bench JSON file with runs.\n", file);
        return -1;
    }
    for (int i = 0; i < local; i++) {
        run *r = &runs[first + i];
        const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        for (int k = 0; k < r->n; k++)
            if (!strcmp(r->f[k].path, "environment.batch"))
                snprintf(r->batch, sizeof r->batch, "%g", r->f[k].v);
        if (local > 1) snprintf(r->label, sizeof r->label, "%s[%d]", base, i);
        else snprintf(r->label, sizeof r->label, "%s", base);
    }
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
    if (nfiles < 2) {
        fprintf(stderr, "cl_bench: error: compare needs at least two JSON files.\n"
                        "usage: cl_bench compare A.json B.json ...\n");
        return RN_ERR_INPUT;
    }
    static run runs[MAX_RUNS];
    int nruns = 0, rc = RN_OK;
    for (int i = 0; i < nfiles && !rc; i++)
        if (load(files[i], runs, &nruns)) rc = RN_ERR_INPUT;
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
