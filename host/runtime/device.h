/* OpenCL platform/device enumeration with one global index across all platforms, the
 * `--list-devices` table/JSON, and the selection rules (index, cpu|gpu|accel, name substring). */
#ifndef RN_DEVICE_H
#define RN_DEVICE_H

#include <CL/cl.h>
#include <stddef.h>
#include <stdio.h>

typedef struct rn_device_info {
    int index;
    cl_platform_id platform;
    cl_device_id device;
    cl_device_type type;
    char platform_name[128];
    char platform_version[128];
    char name[256];
    char vendor[128];
    char driver_version[128];
    char device_version[128];
    char c_version[128];
    cl_uint compute_units;
    cl_uint clock_mhz;
    cl_ulong global_mem;
    cl_ulong max_alloc;
    cl_ulong local_mem;
    size_t max_work_group;
    cl_uint base_align_bits;
    /* CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT: 1 where the compiler vectorises scalar kernels
     * across work-items (GPUs, Intel's CPU runtime), more where kernels should hold vectors or
     * several items per work-item themselves (PoCL) */
    cl_uint pref_vec_float;
    int fp16, fp64;
} rn_device_info;

/* Fills *devs (malloc'd, caller frees) with every device of every platform. Returns 0, or
 * RN_ERR_INPUT after printing one sentence when there is no OpenCL platform or device at all. */
int rn_devices_enumerate(rn_device_info **devs, size_t *n);

/* Resolves a selection string: "N", "gpu"/"cpu"/"accel", or a case-insensitive substring of the
 * device or platform name. NULL or "" means the first GPU, else device 0. Returns 0 and sets
 * *idx, or prints one sentence naming the selection by `from` (NULL: "--device"; the CLI passes
 * "RN50CL_DEVICE" for the variable's value), lists the devices and returns RN_ERR_INPUT. */
int rn_device_select(const rn_device_info *devs, size_t n, const char *sel, const char *from,
                     size_t *idx);

const char *rn_device_type_name(cl_device_type t);
void rn_devices_print_table(FILE *f, const rn_device_info *devs, size_t n);
void rn_devices_print_json(FILE *f, const rn_device_info *devs, size_t n);

#endif
