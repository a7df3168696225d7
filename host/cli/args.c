/* Option parsing for subcommands: strict (unknown options and malformed numbers are refused with
 * the usage line) and self-documenting (--help is generated from the option table). */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"

static void print_help(const rn_opt *opts, const char *usage, const char *description)
{
    printf("%s\n%s\n\nOptions:\n", usage, description);
    for (const rn_opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

static int set_value(const rn_opt *o, const char *v, const char *usage)
{
    char *end;
    errno = 0;
    if (o->kind == RN_OPT_STR) {
        *(const char **)o->dst = v;
        return 0;
    }
    if (o->kind == RN_OPT_INT) {
        long x = strtol(v, &end, 10);
        if (end != v && *end == 0 && errno == 0 && x >= -2147483647L && x <= 2147483647L) {
            *(int *)o->dst = (int)x;
            return 0;
        }
        fprintf(stderr, "rn50cl: error: --%s needs a whole number, not '%s'.\n%s\n", o->name, v,
                usage);
        return RN_ERR_INPUT;
    }
    double x = strtod(v, &end);
    if (end != v && *end == 0 && errno == 0 && isfinite(x)) {
        *(double *)o->dst = x;
        return 0;
    }
    fprintf(stderr, "rn50cl: error: --%s needs a number, not '%s'.\n%s\n", o->name, v, usage);
    return RN_ERR_INPUT;
}

int rn_parse_opts(int argc, char **argv, const rn_opt *opts, const char *usage,
                  const char *description)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(opts, usage, description);
            return -1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "rn50cl: error: unexpected argument '%s'.\n%s\n", a, usage);
            return RN_ERR_INPUT;
        }
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const rn_opt *o = opts;
        while (o->name && !(strlen(o->name) == len && !strncmp(o->name, a + 2, len))) o++;
        if (!o->name) {
            fprintf(stderr, "rn50cl: error: unknown option '%.*s'.\n%s\n", (int)len + 2, a, usage);
            return RN_ERR_INPUT;
        }
        if (o->kind == RN_OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "rn50cl: error: --%s takes no value.\n%s\n", o->name, usage);
                return RN_ERR_INPUT;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "rn50cl: error: --%s needs a value.\n%s\n", o->name, usage);
            return RN_ERR_INPUT;
        }
        int rc = set_value(o, v, usage);
        if (rc) return rc;
    }
    return 0;
}
