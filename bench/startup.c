/* Section 5, start-up: time from process start to "all programs ready", read from the
 * "start-up:" line of `rn50cl info` run as a subprocess, with the program caches cold (fresh
 * RN50CL_CACHE_DIR and a fresh POCL_CACHE_DIR, so PoCL's own kernel cache cannot help either),
 * with only rn50cl's cache cold (PoCL's warm), and with both warm. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl_bench.h"

/* rn50cl: $RN50CL_BIN, else next to cl_bench, else one folder up (build/bench/cl_bench sits
 * below build/rn50cl). */
static int find_rn50cl(char *out, size_t len)
{
    const char *env = getenv("RN50CL_BIN");
    if (env && *env && access(env, X_OK) == 0) {
        snprintf(out, len, "%s", env);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return -1;
    *slash = 0;
    const char *cand[2] = {"%s/rn50cl", "%s/../rn50cl"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, len, cand[i], self);
        if (access(out, X_OK) == 0) return 0;
    }
    return -1;
}

typedef struct info_run {
    double startup_s; /* rn50cl's own "start-up:" figure */
    double process_s; /* the whole process, exit included */
    int from_cache;   /* programs loaded from rn50cl's cache */
} info_run;

/* Runs `rn50cl info` with the given cache folders. Returns 0, or -1 (output shown on stderr). */
static int run_info(const char *bin, int device, const char *rn_cache, const char *pocl_cache,
                    info_run *r)
{
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "env -u RN50CL_NO_CACHE RN50CL_CACHE_DIR='%s' POCL_CACHE_DIR='%s' '%s' info "
             "--device %d 2>&1",
             rn_cache, pocl_cache, bin, device);
    double t0 = rn_now();
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512], all[4096] = "";
    int built = -1, total = -1;
    r->startup_s = -1;
    r->from_cache = -1;
    while (fgets(line, sizeof line, p)) {
        if (strlen(all) + strlen(line) < sizeof all) strcat(all, line);
        sscanf(line, "start-up: %lf", &r->startup_s);
        if (sscanf(line, "programs: %d (%d from cache, %d built)", &total, &r->from_cache,
                   &built) == 3)
            continue;
    }
    int st = pclose(p);
    r->process_s = rn_now() - t0;
    if (st != 0 || r->startup_s < 0) {
        fprintf(stderr, "cl_bench: `%s` failed:\n%s", cmd, all);
        return -1;
    }
    return 0;
}

static void row(rn_jw *j, const char *key, const char *what, clb_stats s, clb_stats p, int hits)
{
    printf("%-46s %10.3f %10.3f %10.3f %10.3f %6d\n", what, s.med, s.min, s.max, p.med, hits);
    rn_jw_obj(j, key);
    clb_json_stats(j, "startup_s", s);
    rn_jw_num(j, "process_s", p.med, CLB_DIGITS);
    rn_jw_end(j);
}

/* One cold start: a fresh rn50cl cache folder each time (rm + mkdir), PoCL's as given. */
static int cold(const char *bin, int dev, const char *root, const char *tag, const char *pocl,
                info_run *r)
{
    char rn[PATH_MAX + 64], cmd[2 * PATH_MAX + 64];
    snprintf(rn, sizeof rn, "%s/%s", root, tag);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", rn, rn);
    if (system(cmd) != 0) return -1;
    return run_info(bin, dev, rn, pocl, r);
}

int clb_section_startup(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j)
{
    clb_title("5. start-up (`rn50cl info`: process start to all programs ready)");
    char bin[PATH_MAX];
    if (find_rn50cl(bin, sizeof bin)) {
        printf("(skipped: rn50cl not found next to cl_bench; set RN50CL_BIN)\n");
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    char root[PATH_MAX], pocl[PATH_MAX + 16], warm_rn[PATH_MAX + 16];
    snprintf(root, sizeof root, "%s/cl_bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        printf("(skipped: cannot create a temporary folder)\n");
        return -1;
    }
    snprintf(pocl, sizeof pocl, "%s/pocl", root);
    snprintf(warm_rn, sizeof warm_rn, "%s/rn-cold", root);
    int dev = ctx->info.index, rc = -1;
    info_run c1, c2, w[64];
    double ws[64], wp[64];
    int n = cfg->repeats > 64 ? 64 : cfg->repeats;
    /* cold first (both caches fresh), then rn50cl's cache fresh again with PoCL's now warm, then
     * the folder the first run filled, repeatedly */
    char mk[PATH_MAX + 32];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", pocl);
    if (system(mk) == 0 && !cold(bin, dev, root, "rn-cold", pocl, &c1) &&
        !cold(bin, dev, root, "rn-cold2", pocl, &c2)) {
        rc = 0;
        for (int i = 0; i < n && !rc; i++) {
            rc = run_info(bin, dev, warm_rn, pocl, &w[i]);
            ws[i] = w[i].startup_s;
            wp[i] = w[i].process_s;
        }
    }
    if (!rc) {
        printf("%-46s %10s %10s %10s %10s %6s\n", "caches", "start-up s", "min", "max", "process s",
               "cached");
        rn_jw_obj(j, "startup");
        clb_stats s1 = {c1.startup_s, c1.startup_s, c1.startup_s};
        clb_stats p1 = {c1.process_s, c1.process_s, c1.process_s};
        clb_stats s2 = {c2.startup_s, c2.startup_s, c2.startup_s};
        clb_stats p2 = {c2.process_s, c2.process_s, c2.process_s};
        row(j, "cold", "cold (fresh RN50CL_CACHE_DIR and POCL_CACHE_DIR)", s1, p1, c1.from_cache);
        row(j, "rn50cl_cold_pocl_warm", "rn50cl cache cold, PoCL kernel cache warm", s2, p2,
            c2.from_cache);
        int hits = w[0].from_cache;
        row(j, "warm", "warm (both caches filled)", clb_stats_of(ws, n), clb_stats_of(wp, n), hits);
        rn_jw_end(j);
        printf("(\"cached\": programs rn50cl loaded from its own binary cache; POCL_CACHE_DIR only "
               "matters on PoCL)\n");
    }
    char rm[PATH_MAX + 16];
    snprintf(rm, sizeof rm, "rm -rf '%s'", root);
    if (system(rm) != 0) fprintf(stderr, "cl_bench: warning: could not remove %s\n", root);
    return rc;
}
