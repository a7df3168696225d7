/* Public face of rn50cl: version and the exit/status codes that every subcommand and library call
 * uses, so a script driving rn50cl can tell a user mistake (2) from an internal failure (1). */
#ifndef RN50CL_RN50CL_H
#define RN50CL_RN50CL_H

#ifndef RN50CL_VERSION
#define RN50CL_VERSION "0.1.0"
#endif

enum rn_status {
    RN_OK = 0,
    RN_ERR_INTERNAL = 1, /* a bug or an OpenCL failure we did not expect */
    RN_ERR_INPUT = 2,    /* bad user input: options, files, device selection, memory for batch */
    RN_ERR_DIVERGED = 3, /* training produced a NaN/inf loss */
    RN_ERR_INTERRUPTED = 130 /* Ctrl-C: state was saved, then we stopped */
};

#endif
