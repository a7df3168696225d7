/* Enumerates every OpenCL device under one index, prints them, and resolves user selections.
 * Errors here are user-facing (no ICD installed, a selection matching nothing): one sentence,
 * exit 2. */
#include "runtime/device.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rn50cl/rn50cl.h"
#include "base/json.h"
#include "runtime/clcheck.h"

static void dev_str(cl_device_id d, cl_device_info what, char *buf, size_t len)
{
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, len, buf, NULL) != CL_SUCCESS) snprintf(buf, len, "?");
    buf[len - 1] = 0;
}

static void fill_info(rn_device_info *di, cl_platform_id p, cl_device_id d)
{
    memset(di, 0, sizeof *di);
    di->platform = p;
    di->device = d;
    CL_CHECK(
        clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof di->platform_name, di->platform_name, NULL));
    CL_CHECK(clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof di->platform_version,
                               di->platform_version, NULL));
    dev_str(d, CL_DEVICE_NAME, di->name, sizeof di->name);
    dev_str(d, CL_DEVICE_VENDOR, di->vendor, sizeof di->vendor);
    dev_str(d, CL_DRIVER_VERSION, di->driver_version, sizeof di->driver_version);
    dev_str(d, CL_DEVICE_VERSION, di->device_version, sizeof di->device_version);
    dev_str(d, CL_DEVICE_OPENCL_C_VERSION, di->c_version, sizeof di->c_version);
    CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof di->type, &di->type, NULL));
    CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof di->compute_units,
                             &di->compute_units, NULL));
    CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof di->clock_mhz, &di->clock_mhz,
                             NULL));
    CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof di->global_mem, &di->global_mem,
                             NULL));
    CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof di->max_alloc, &di->max_alloc,
                             NULL));
    CL_CHECK(
        clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof di->local_mem, &di->local_mem, NULL));
    CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof di->max_work_group,
                             &di->max_work_group, NULL));
    CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof di->base_align_bits,
                             &di->base_align_bits, NULL));
    CL_CHECK(clGetDeviceInfo(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof di->pref_vec_float,
                             &di->pref_vec_float, NULL));
    char ext[8192];
    dev_str(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    di->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    di->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
}

int rn_devices_enumerate(rn_device_info **devs, size_t *n)
{
    *devs = NULL;
    *n = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0)) {
        fprintf(stderr,
                "rn50cl: error: no OpenCL platform is installed; install an OpenCL driver "
                "(on Debian: apt-get install pocl-opencl-icd for the CPU) and try again.\n");
        return RN_ERR_INPUT;
    }
    CL_CHECK(err);
    cl_platform_id *plats = calloc(np, sizeof *plats);
    CL_CHECK(clGetPlatformIDs(np, plats, NULL));
    size_t cap = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue; /* a platform with no usable device is not an error */
        cl_device_id *ids = calloc(nd, sizeof *ids);
        CL_CHECK(clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL));
        for (cl_uint d = 0; d < nd; d++) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 8;
                *devs = realloc(*devs, cap * sizeof **devs);
            }
            fill_info(&(*devs)[*n], plats[p], ids[d]);
            (*devs)[*n].index = (int)*n;
            (*n)++;
        }
        free(ids);
    }
    free(plats);
    if (*n == 0) {
        fprintf(stderr, "rn50cl: error: OpenCL is installed but reports no device; install a "
                        "driver for your hardware (on Debian: apt-get install pocl-opencl-icd).\n");
        return RN_ERR_INPUT;
    }
    return RN_OK;
}

const char *rn_device_type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "ACCEL";
    return "OTHER";
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t ln = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < ln && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == ln) return 1;
    }
    return ln == 0;
}

static void list_names(const rn_device_info *devs, size_t n)
{
    fprintf(stderr, " Available:");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s %zu = %s (%s, %s)", i ? ";" : "", i, devs[i].name,
                rn_device_type_name(devs[i].type), devs[i].platform_name);
    fprintf(stderr, ".\n");
}

static int type_of_word(const char *s, cl_device_type *t)
{
    if (!strcasecmp(s, "gpu")) *t = CL_DEVICE_TYPE_GPU;
    else if (!strcasecmp(s, "cpu")) *t = CL_DEVICE_TYPE_CPU;
    else if (!strcasecmp(s, "accel") || !strcasecmp(s, "accelerator"))
        *t = CL_DEVICE_TYPE_ACCELERATOR;
    else return 0;
    return 1;
}

int rn_device_select(const rn_device_info *devs, size_t n, const char *sel, const char *from,
                     size_t *idx)
{
    const char *source = from ? from : "--device";
    if (!sel || !*sel) {
        for (size_t i = 0; i < n; i++)
            if (devs[i].type & CL_DEVICE_TYPE_GPU) {
                *idx = i;
                return RN_OK;
            }
        *idx = 0;
        return RN_OK;
    }
    char *end;
    long v = strtol(sel, &end, 10);
    if (end != sel && *end == 0) {
        if (v >= 0 && (size_t)v < n) {
            *idx = (size_t)v;
            return RN_OK;
        }
        fprintf(stderr,
                "rn50cl: error: %s %s is out of range: there %s %zu OpenCL device%s "
                "(indices 0-%zu).",
                source, sel, n == 1 ? "is" : "are", n, n == 1 ? "" : "s", n - 1);
        list_names(devs, n);
        return RN_ERR_INPUT;
    }
    cl_device_type t;
    if (type_of_word(sel, &t)) {
        for (size_t i = 0; i < n; i++)
            if (devs[i].type & t) {
                *idx = i;
                return RN_OK;
            }
        fprintf(stderr, "rn50cl: error: %s %s matches no device of that type.", source, sel);
        list_names(devs, n);
        return RN_ERR_INPUT;
    }
    for (size_t i = 0; i < n; i++)
        if (contains_ci(devs[i].name, sel) || contains_ci(devs[i].platform_name, sel)) {
            *idx = i;
            return RN_OK;
        }
    fprintf(stderr, "rn50cl: error: %s \"%s\" matches no device name.", source, sel);
    list_names(devs, n);
    return RN_ERR_INPUT;
}

void rn_devices_print_table(FILE *f, const rn_device_info *devs, size_t n)
{
    fprintf(f, "%-3s %-22s %-34s %-5s %4s %6s %9s %9s %8s %-14s %-4s %-4s %s\n", "#", "platform",
            "device", "type", "CUs", "MHz", "global", "max-alloc", "local", "OpenCL C", "fp16",
            "fp64", "driver");
    for (size_t i = 0; i < n; i++) {
        const rn_device_info *d = &devs[i];
        const char *cv = strncmp(d->c_version, "OpenCL C ", 9) ? d->c_version : d->c_version + 9;
        fprintf(
            f,
            "%-3d %-22.22s %-34.34s %-5s %4u %6u %7.2fGB %7.2fGB %6.0fKB %-14.14s %-4s %-4s %s\n",
            d->index, d->platform_name, d->name, rn_device_type_name(d->type), d->compute_units,
            d->clock_mhz, d->global_mem / 1e9, d->max_alloc / 1e9, d->local_mem / 1024.0, cv,
            d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no", d->driver_version);
    }
}

void rn_devices_print_json(FILE *f, const rn_device_info *devs, size_t n)
{
    rn_jw j;
    rn_jw_open(&j, f, 1); /* one device per line */
    rn_jw_arr(&j, NULL);
    for (size_t i = 0; i < n; i++) {
        const rn_device_info *d = &devs[i];
        rn_jw_obj(&j, NULL);
        rn_jw_int(&j, "index", d->index);
        rn_jw_str(&j, "platform", d->platform_name);
        rn_jw_str(&j, "platform_version", d->platform_version);
        rn_jw_str(&j, "name", d->name);
        rn_jw_str(&j, "vendor", d->vendor);
        rn_jw_str(&j, "type", rn_device_type_name(d->type));
        rn_jw_uint(&j, "compute_units", d->compute_units);
        rn_jw_uint(&j, "max_clock_mhz", d->clock_mhz);
        rn_jw_uint(&j, "global_mem_bytes", d->global_mem);
        rn_jw_uint(&j, "max_alloc_bytes", d->max_alloc);
        rn_jw_uint(&j, "local_mem_bytes", d->local_mem);
        rn_jw_str(&j, "opencl_c_version", d->c_version);
        rn_jw_bool(&j, "fp16", d->fp16);
        rn_jw_bool(&j, "fp64", d->fp64);
        rn_jw_str(&j, "driver_version", d->driver_version);
        rn_jw_end(&j);
    }
    rn_jw_end(&j);
}
