/* Error checking for OpenCL and CLBlast calls, and the one way out of the process for what should
 * never happen: a failed check or a broken internal invariant prints one line and exits with
 * RN_ERR_INTERNAL. Everything a user can cause returns a status to the caller instead. */
#ifndef RN_CLCHECK_H
#define RN_CLCHECK_H

#include <CL/cl.h>
#include <clblast_c.h>

const char *rn_cl_error_name(cl_int err);
const char *rn_clblast_error_name(CLBlastStatusCode st);
_Noreturn void rn_cl_fail(const char *expr, const char *name, const char *file, int line);

/* Prints "rn50cl: internal error: <message>" and exits with RN_ERR_INTERNAL; the only exit() in
 * the library, for bugs (a broken invariant) and OpenCL failures nobody could foresee. */
_Noreturn void rn_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Object creation uses the comma form: CL_CHECK((k = clCreateKernel(p, "x", &err), err)); */
#define CL_CHECK(expr)                                                                             \
    do {                                                                                           \
        cl_int rn_err_ = (expr);                                                                   \
        if (rn_err_ != CL_SUCCESS)                                                                 \
            rn_cl_fail(#expr, rn_cl_error_name(rn_err_), __FILE__, __LINE__);                      \
    } while (0)

#define CLBLAST_CHECK(expr)                                                                        \
    do {                                                                                           \
        CLBlastStatusCode rn_st_ = (expr);                                                         \
        if (rn_st_ != CLBlastSuccess)                                                              \
            rn_cl_fail(#expr, rn_clblast_error_name(rn_st_), __FILE__, __LINE__);                  \
    } while (0)

#endif
