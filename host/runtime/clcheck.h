/* Error checking for OpenCL and CLBlast calls: an unexpected failure prints the expression, the
 * status name, file and line, then exits with RN_ERR_INTERNAL (internal invariants may abort). */
#ifndef RN_CLCHECK_H
#define RN_CLCHECK_H

#include <CL/cl.h>
#include <clblast_c.h>

const char *rn_cl_error_name(cl_int err);
const char *rn_clblast_error_name(CLBlastStatusCode st);
_Noreturn void rn_cl_fail(const char *expr, const char *name, const char *file, int line);

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
