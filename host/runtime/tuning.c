/* Stored CLBlast GEMM parameters: the per-device text file (format, parse, validity rules), and
 * applying it at start-up with CLBlastOverrideParameters. The search that writes it lives above
 * the model, in host/tune/. */
#include "runtime/tuning.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fsutil.h"
#include "rn50cl/rn50cl.h"

#ifndef RN50CL_CLBLAST_VERSION
#define RN50CL_CLBLAST_VERSION "unknown"
#endif

const char *const rn_tune_xgemm_names[RN_TUNE_XGEMM_N] = {
    "GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
    "NDIMC", "NWG",  "SA",  "SB",  "STRM",  "STRN",  "VWM", "VWN"};
const char *const rn_tune_direct_names[RN_TUNE_DIRECT_N] = {
    "KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"};

static const char *const routine_names[1] = {"XGEMM_MIN_INDIRECT_SIZE"};
enum {
    OWN_TA,
    OWN_TB,
    OWN_M,
    OWN_N,
    OWN_K,
    OWN_LDA,
    OWN_LDB,
    OWN_LDC,
    OWN_BETA,
    OWN_TILE,
    OWN_MFAST,
    OWN_KC
};
static const char *const own_names[] = {"ta",  "tb",  "M",    "N",    "K",      "lda",
                                        "ldb", "ldc", "beta", "tile", "m_fast", "kc"};
#define OWN_NAMES ((int)(sizeof own_names / sizeof own_names[0]))
_Static_assert(OWN_NAMES <= RN_TUNE_XGEMM_N, "parse_kv tracks at most RN_TUNE_XGEMM_N names");

/* ---- parameter sets ---------------------------------------------------------------------- */

/* KWID=2, 8×8 threads, 1×1 values each, WGD=8: the smallest direct tile */
static const size_t direct_idle[RN_TUNE_DIRECT_N] = {2, 8, 8, 8, 8, 0, 0, 1, 1, 8};

const size_t *rn_tune_direct_idle(const rn_tune_params *p, const rn_device_info *d)
{
    const int never_runs = p->has_routine && p->min_indirect <= 1 && !p->has_direct;
    return never_runs && rn_tune_direct_valid(direct_idle, d) ? direct_idle : NULL;
}

int rn_tune_params_apply(rn_ctx *ctx, const rn_tune_params *p)
{
    CLBlastStatusCode st;
    cl_device_id d = ctx->info.device;
    const size_t *idle = rn_tune_direct_idle(p, &ctx->info);
    if (idle &&
        (st = CLBlastOverrideParameters(d, "XgemmDirect", CLBlastPrecisionSingle, RN_TUNE_DIRECT_N,
                                        (const char **)rn_tune_direct_names, idle)))
        return st;
    if (p->has_xgemm &&
        (st = CLBlastOverrideParameters(d, "Xgemm", CLBlastPrecisionSingle, RN_TUNE_XGEMM_N,
                                        (const char **)rn_tune_xgemm_names, p->xgemm)))
        return st;
    if (p->has_direct &&
        (st = CLBlastOverrideParameters(d, "XgemmDirect", CLBlastPrecisionSingle, RN_TUNE_DIRECT_N,
                                        (const char **)rn_tune_direct_names, p->direct)))
        return st;
    if (p->has_routine &&
        (st = CLBlastOverrideParameters(d, "GemmRoutine", CLBlastPrecisionSingle, 1,
                                        (const char **)routine_names, &p->min_indirect)))
        return st;
    return 0;
}

static size_t append(char *buf, size_t len, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t len, size_t at, const char *fmt, ...)
{
    if (at >= len) return at;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, len - at, fmt, ap);
    va_end(ap);
    return n < 0 ? at : at + (size_t)n;
}

void rn_tune_params_format(const rn_tune_params *p, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    if (p->has_xgemm) {
        at = append(buf, len, at, "Xgemm");
        for (int i = 0; i < RN_TUNE_XGEMM_N; i++)
            at = append(buf, len, at, " %s=%zu", rn_tune_xgemm_names[i], p->xgemm[i]);
    }
    if (p->has_direct) {
        at = append(buf, len, at, "%sXgemmDirect", at ? "\n" : "");
        for (int i = 0; i < RN_TUNE_DIRECT_N; i++)
            at = append(buf, len, at, " %s=%zu", rn_tune_direct_names[i], p->direct[i]);
    }
    if (p->has_routine)
        at = append(buf, len, at, "%sGemmRoutine XGEMM_MIN_INDIRECT_SIZE=%zu", at ? "\n" : "",
                    p->min_indirect);
    for (int i = 0; i < p->nown; i++) {
        const rn_gemm_own *o = &p->own[i];
        at = append(buf, len, at,
                    "%sOwn ta=%d tb=%d M=%zu N=%zu K=%zu lda=%zu ldb=%zu ldc=%zu beta=%d tile=%d "
                    "m_fast=%d kc=%zu",
                    at ? "\n" : "", o->s.ta, o->s.tb, o->s.M, o->s.N, o->s.K, o->s.lda, o->s.ldb,
                    o->s.ldc, (int)o->s.beta, o->tile, o->m_fast, o->kc);
    }
}

/* Parses "NAME=V NAME=V ..." into vals (names in `names` order); every name exactly once. */
static int parse_kv(const char *s, const char *const *names, int n, size_t *vals)
{
    int seen[RN_TUNE_XGEMM_N] = {0}, got = 0;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s || *s == '\n') break;
        const char *eq = strchr(s, '=');
        if (!eq) return -1;
        int idx = -1;
        for (int i = 0; i < n; i++)
            if (strlen(names[i]) == (size_t)(eq - s) && !strncmp(names[i], s, eq - s)) idx = i;
        if (idx < 0 || seen[idx]) return -1;
        char *end;
        unsigned long long v = strtoull(eq + 1, &end, 10);
        if (end == eq + 1 || (*end && *end != ' ' && *end != '\n') || v > 1u << 20) return -1;
        vals[idx] = (size_t)v;
        seen[idx] = 1;
        got++;
        s = end;
    }
    return got == n ? 0 : -1;
}

/* An "Own" line: beta is 0 or 1 (the only values the ops issue), the rest as the kernels allow. */
static int parse_own(const char *s, rn_tune_params *p)
{
    size_t v[OWN_NAMES];
    if (p->nown == RN_GEMM_MAX_OWN || parse_kv(s, own_names, OWN_NAMES, v) || v[OWN_BETA] > 1)
        return -1;
    rn_gemm_own o = {{(int)v[OWN_TA], (int)v[OWN_TB], v[OWN_M], v[OWN_N], v[OWN_K], v[OWN_LDA],
                      v[OWN_LDB], v[OWN_LDC], (float)v[OWN_BETA]},
                     (int)v[OWN_TILE],
                     (int)v[OWN_MFAST],
                     v[OWN_KC]};
    if (v[OWN_TA] > 1 || v[OWN_TB] > 1 || !rn_gemm_own_valid(&o)) return -1;
    for (int i = 0; i < p->nown; i++)
        if (rn_gemm_shape_equal(&p->own[i].s, &o.s)) return -1;
    p->own[p->nown++] = o;
    return 0;
}

/* ---- the stored file ------------------------------------------------------------------------ */

void rn_tune_path(const rn_ctx *ctx, char *buf, size_t len)
{
    char name[256];
    size_t i = 0;
    for (const char *c = ctx->info.name; *c && i + 1 < sizeof name; c++)
        name[i++] = (strchr("-_.", *c) || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
                     (*c >= 'A' && *c <= 'Z'))
                        ? *c
                        : '_';
    name[i] = 0;
    /* without a cache folder there is no stored file: "" opens and saves nothing */
    if (!ctx->cache_dir[0]) snprintf(buf, len, "%s", "");
    else snprintf(buf, len, "%s/tuning/%s.txt", ctx->cache_dir, i ? name : "device");
}

/* The value of a "key value" header line, or NULL (line must start with key + ' '). */
static const char *header_value(const char *line, const char *key)
{
    size_t n = strlen(key);
    return !strncmp(line, key, n) && line[n] == ' ' ? line + n + 1 : NULL;
}

int rn_tune_load(const rn_ctx *ctx, const char *path, rn_tune_params *p, char *tuned,
                 size_t tuned_len, char *why, size_t why_len)
{
    memset(p, 0, sizeof *p);
    if (tuned_len) tuned[0] = 0;
    size_t size;
    char *text = rn_read_file(path, &size);
    if (!text) {
        snprintf(why, why_len, "cannot be read");
        return -1;
    }
    int line_no = 0, have_end = 0, rc = 0;
    int have[3] = {0, 0, 0}; /* device, driver, clblast */
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !rc;
         line = strtok_r(NULL, "\n", &save), line_no++) {
        const char *v;
        if (have_end) {
            snprintf(why, why_len, "has text after its end line");
            rc = -1;
        } else if (line_no == 0) {
            char want[64];
            snprintf(want, sizeof want, "rn50cl-gemm-tuning %d", RN_TUNE_FORMAT);
            if (strcmp(line, want)) {
                snprintf(why, why_len, "is not an rn50cl tuning file of format %d", RN_TUNE_FORMAT);
                rc = -1;
            }
        } else if (line[0] == '#' || !line[0]) {
            continue;
        } else if ((v = header_value(line, "device"))) {
            have[0] = 1;
            if (strcmp(v, ctx->info.name)) {
                snprintf(why, why_len, "was tuned for device \"%s\"", v);
                rc = -1;
            }
        } else if ((v = header_value(line, "driver"))) {
            have[1] = 1;
            if (strcmp(v, ctx->info.driver_version)) {
                snprintf(why, why_len, "was tuned with driver version %s", v);
                rc = -1;
            }
        } else if ((v = header_value(line, "clblast"))) {
            have[2] = 1;
            if (strcmp(v, RN50CL_CLBLAST_VERSION)) {
                snprintf(why, why_len, "was tuned with CLBlast %s", v);
                rc = -1;
            }
        } else if ((v = header_value(line, "tuned"))) {
            if (tuned_len) snprintf(tuned, tuned_len, "%s", v);
        } else if (header_value(line, "batch") || header_value(line, "gflops_default") ||
                   header_value(line, "gflops_tuned") || header_value(line, "search")) {
            continue; /* informational */
        } else if ((v = header_value(line, "Xgemm"))) {
            rc = parse_kv(v, rn_tune_xgemm_names, RN_TUNE_XGEMM_N, p->xgemm);
            p->has_xgemm = 1;
        } else if ((v = header_value(line, "XgemmDirect"))) {
            rc = parse_kv(v, rn_tune_direct_names, RN_TUNE_DIRECT_N, p->direct);
            p->has_direct = 1;
        } else if ((v = header_value(line, "GemmRoutine"))) {
            rc = parse_kv(v, routine_names, 1, &p->min_indirect);
            p->has_routine = 1;
        } else if ((v = header_value(line, "Own"))) {
            rc = parse_own(v, p);
        } else if (!strcmp(line, "end")) {
            have_end = 1;
        } else {
            rc = -1;
        }
        if (rc && !why[0]) snprintf(why, why_len, "has a malformed line %d", line_no + 1);
    }
    free(text);
    if (!rc && (!have[0] || !have[1] || !have[2] || !have_end)) {
        snprintf(why, why_len, "is incomplete");
        rc = -1;
    }
    /* A file written by an older search, edited or imported may hold a set the search itself
     * would never run (one that corrupts memory inside CLBlast): it is not applied either. */
    if (!rc && ((p->has_xgemm && !rn_tune_xgemm_valid(p->xgemm, &ctx->info)) ||
                (p->has_direct && !rn_tune_direct_valid(p->direct, &ctx->info)))) {
        snprintf(why, why_len, "has GEMM parameters invalid on this device or unsafe with CLBlast");
        rc = -1;
    }
    if (rc) memset(p, 0, sizeof *p);
    return rc;
}

void rn_tune_apply(rn_ctx *ctx)
{
    if (ctx->no_tune) return;
    char path[4096], tuned[64], why[256] = "";
    rn_tune_path(ctx, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return; /* never tuned: CLBlast's own parameters */
    fclose(f);
    rn_tune_params p;
    if (rn_tune_load(ctx, path, &p, tuned, sizeof tuned, why, sizeof why)) {
        fprintf(stderr,
                "rn50cl: warning: GEMM parameters in %s ignored: the file %s (run `rn50cl tune` "
                "to redo them).\n",
                path, why);
        return;
    }
    if (!p.has_xgemm && !p.has_direct && !p.has_routine && !p.nown) return; /* CLBlast's own */
    int st = rn_tune_params_apply(ctx, &p);
    if (st) {
        fprintf(stderr,
                "rn50cl: warning: GEMM parameters in %s ignored: CLBlast refused them (%s).\n",
                path, rn_clblast_error_name(st));
        return;
    }
    ctx->nown = p.nown;
    memcpy(ctx->own, p.own, sizeof p.own[0] * (size_t)p.nown);
    snprintf(ctx->tuned_on, sizeof ctx->tuned_on, "%s", tuned);
    if (!ctx->quiet)
        fprintf(stderr,
                "rn50cl: GEMM choices from %s applied (tuned %s; %d shapes on rn50cl's "
                "own kernels)\n",
                path, tuned, p.nown);
}

int rn_tune_save(const rn_ctx *ctx, const char *path, const rn_tune_params *p,
                 const rn_tune_summary *r)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        if (rn_mkdirs(dir)) return -1;
    }
    char date[64], body[16384];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    rn_tune_params_format(p, body, sizeof body);
    char text[20480];
    int n = snprintf(
        text, sizeof text,
        "rn50cl-gemm-tuning %d\n"
        "# GEMM choices found by `rn50cl tune` (CLBlast parameters, shapes on rn50cl's own\n"
        "# kernels); delete to use CLBlast with its own parameters everywhere\n"
        "device %s\ndriver %s\nclblast %s\ntuned %s\nbatch %d\n"
        "gflops_default %.1f\ngflops_tuned %.1f\nsearch %d candidates, %.0f s\n"
        "%s%send\n",
        RN_TUNE_FORMAT, ctx->info.name, ctx->info.driver_version, RN50CL_CLBLAST_VERSION, date,
        r->batch, r->gflops_default, r->gflops_tuned, r->candidates, r->seconds, body,
        body[0] ? "\n" : "");
    if (n < 0 || n >= (int)sizeof text) return -1;
    return rn_write_file_atomic(path, text, (size_t)n);
}

static int mult(size_t x, size_t y)
{
    return y && x % y == 0;
}

int rn_tune_xgemm_valid(const size_t *v, const rn_device_info *d)
{
    size_t mdimc = v[XG_MDIMC], ndimc = v[XG_NDIMC], mdima = v[XG_MDIMA], ndimb = v[XG_NDIMB];
    if (!mult(v[XG_MWG], mdimc * v[XG_VWM]) || !mult(v[XG_NWG], ndimc * v[XG_VWN]) ||
        !mult(v[XG_MWG], mdima * v[XG_VWM]) || !mult(v[XG_NWG], ndimb * v[XG_VWN]))
        return 0;
    if (mdimc * ndimc > d->max_work_group) return 0;
    /* the per-work-item tile lives in private memory: keep it to what registers can hold */
    if ((v[XG_MWG] / mdimc) * (v[XG_NWG] / ndimc) > 256) return 0;
    if (v[XG_GEMMK] == 0) {
        if (!mult(v[XG_KWG], v[XG_KWI])) return 0;
        if (!mult(mdimc * ndimc, mdima) || !mult(v[XG_KWG], mdimc * ndimc / mdima)) return 0;
        if (!mult(mdimc * ndimc, ndimb) || !mult(v[XG_KWG], mdimc * ndimc / ndimb)) return 0;
        if (v[XG_KREG] != 1) return 0;
    } else {
        if (!mult(v[XG_KREG], v[XG_VWN]) || mdima != mdimc || ndimb != ndimc) return 0;
        if (v[XG_SA] || v[XG_SB] || v[XG_KWG] != 1 || v[XG_KWI] != 1) return 0;
        /* CLBlast's GEMMK=1 kernel mis-indexes its tiles when MWG != NWG (upstream issue #340,
         * fixed only in 2024 by pull request #543, after 1.5.3): it returns wrong results, reads
         * past its buffers and can write past them, which on a CPU device corrupts the host heap
         * and aborts the process later ("double free or corruption"). A result check cannot
         * catch that, so such sets are never run. */
        if (v[XG_MWG] != v[XG_NWG]) return 0;
    }
    if (4 * (v[XG_SA] * v[XG_KWG] * v[XG_MWG] + v[XG_SB] * v[XG_KWG] * v[XG_NWG]) > d->local_mem)
        return 0;
    return 1;
}

int rn_tune_direct_valid(const size_t *v, const rn_device_info *d)
{
    size_t wgd = v[XD_WGD], mc = v[XD_MDIMCD], nc = v[XD_NDIMCD], ma = v[XD_MDIMAD],
           nb = v[XD_NDIMBD];
    if (!mult(wgd, v[XD_KWID]) || !mult(wgd, mc * v[XD_VWMD]) || !mult(wgd, nc * v[XD_VWND]) ||
        !mult(wgd, ma * v[XD_VWMD]) || !mult(wgd, nb * v[XD_VWND]))
        return 0;
    if (!mult(mc * nc, ma) || !mult(wgd, mc * nc / ma) || !mult(mc * nc, nb) ||
        !mult(wgd, mc * nc / nb))
        return 0;
    if (mc * nc > d->max_work_group) return 0;
    if ((wgd / mc) * (wgd / nc) > 256) return 0;
    if (4 * (wgd * (wgd + v[XD_PADA]) + wgd * (wgd + v[XD_PADB])) > d->local_mem) return 0;
    return 1;
}
