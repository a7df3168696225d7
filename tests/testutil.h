/* Helpers every ctest executable shares: checks that count failures, seeded random inputs,
 * NaN-poisoned device buffers, tolerance comparison against double references, temp folders,
 * and the closing "N passed, N failed" line. */
#ifndef RN_TESTUTIL_H
#define RN_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "model/cases.h"
#include "runtime/rt.h"

/* Records one check; prints "FAIL: <what>" with file:line when cond is false. */
#define TU_CHECK(cond, ...) tu_check((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)
void tu_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints "<name>: N passed, N failed" and returns the process exit code (0 iff none failed). */
int tu_finish(const char *name);

/* Deterministic random numbers (xorshift64*), independent of libc. */
void tu_seed(uint64_t s);
double tu_uniform(double lo, double hi);
void tu_fill_uniform(float *x, size_t n, double lo, double hi);
/* Uniform in [lo,hi] but never closer than `gap` to zero in magnitude (keeps ReLU off its kink). */
void tu_fill_away_from_zero(float *x, size_t n, double lo, double hi, double gap);

/* Compares n values: passes iff every |got-ref| <= atol + rtol·|ref| and got is finite.
 * Records one check named `what`, printing the worst element on failure. Returns 1 if it passed. */
int tu_compare(const char *what, const float *got, const double *ref, size_t n, double atol,
               double rtol);
int tu_compare_dd(const char *what, const double *got, const double *ref, size_t n, double atol,
                  double rtol);

/* A check's name, printf-formatted into one of 8 rotating static buffers (256 bytes), so it can
 * be built in the call: tu_compare(tu_name("dx N%d", N), ...). Valid until 8 more calls. */
const char *tu_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Central difference (f(v+h) − f(v−h)) / 2h of f with respect to the one value *v that f reads
 * through arg. *v is restored exactly afterwards, so the next element is perturbed from the same
 * point the analytic gradient was taken at. */
double tu_central_diff(double *v, double h, double (*f)(void *arg), void *arg);

/* Device helpers around a shared context created on first use with tu_ctx_options(): the
 * environment's options, as rn50cl reads them (device from $RN50CL_DEVICE, ...), made quiet. A
 * test may change those fields before the context's first use. */
rn_ctx_options *tu_ctx_options(void);
rn_ctx *tu_ctx(void);
cl_mem tu_upload(const float *x, size_t n);
cl_mem tu_poisoned(size_t n); /* n floats, all NaN: an element nobody writes fails the compare */
void tu_download(cl_mem m, float *x, size_t n);
float *tu_download_new(cl_mem m, size_t n); /* malloc'd */

/* 1 when $RN50CL_TEST_SMALL is set (to anything but "0"): the op tests then check only their small
 * shapes and skip the model's, so they finish on a simulated device (tests/oclgrind.sh). */
int tu_small(void);

/* The model's op cases of kind op at `batch` (rn_model_cases of a 10-class ResNet50), one per
 * distinct shape, in forward order: the model shapes every op test checks. *out is malloc'd. */
int tu_model_cases(enum rn_op op, int batch, rn_opcase **out);

/* A fresh empty folder under $RN50CL_TEST_TMP (or /tmp) for this test; path valid until exit. */
const char *tu_tmpdir(const char *tag);

/* Runs a shell command, returns its exit status (-1 if it could not run); output captured into
 * *out (malloc'd, may be NULL) when out is non-NULL. */
int tu_run(const char *cmd, char **out);

#endif
