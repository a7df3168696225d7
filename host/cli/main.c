/* rn50cl's command line: parses arguments and dispatches to subcommands. Holds no logic a test
 * would need; every subcommand lives in the library and is reached from here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rn50cl/rn50cl.h"
#include "runtime/device.h"
#include "train/dist.h"

static const char *usage_line =
    "usage: rn50cl [--list-devices [--json]] [--help] [--version] <command> [options]\n";

static void print_help(void)
{
    printf("%s", usage_line);
    printf("\nrn50cl trains and evaluates ResNet50 on CIFAR-10 on any OpenCL device.\n\n"
           "Global options:\n"
           "  --list-devices        list every OpenCL device with its index and exit\n"
           "  --json                with --list-devices: print JSON instead of a table\n"
           "  --help, -h            show this help\n"
           "  --version             print the version\n\n"
           "Commands:\n");
    for (const rn_command *c = rn_commands; c->name; c++)
        printf("  %-20s  %s\n", c->name, c->summary);
    printf(
        "\nRun `rn50cl <command> --help` for a command's options.\n\n"
        "Environment:\n"
        "  RN50CL_DEVICE       default device selection (index, gpu|cpu|accel, or name part)\n"
        "  RN50CL_CACHE_DIR    cache folder (default ~/.cache/rn50cl)\n"
        "  RN50CL_NO_CACHE=1   do not read or write the program-binary cache\n"
        "  RN50CL_KERNEL_DIR   load kernel sources from this folder instead of the built-in ones\n"
        "  RN50CL_NO_TUNE=1    ignore the GEMM choices stored by `rn50cl tune`\n"
        "  RN50CL_DATA         CIFAR-10 folder (RN50CL_DATA_URL, RN50CL_DATA_MD5: download)\n"
        "  RN50CL_PROFILE=1    time every kernel and GEMM and print a table after train or eval\n");
}

static int list_devices(int json)
{
    rn_device_info *devs;
    size_t n;
    int rc = rn_devices_enumerate(&devs, &n);
    if (rc) return rc;
    if (json) rn_devices_print_json(stdout, devs, n);
    else rn_devices_print_table(stdout, devs, n);
    free(devs);
    return RN_OK;
}

static int run_command(const rn_command *c, int argc, char **argv)
{
    rn_env env;
    rn_env_read(&env);
    return c->run(argc, argv, &env);
}

int main(int argc, char **argv)
{
    int list = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help();
            return RN_OK;
        } else if (!strcmp(a, "--version")) {
            const char *mpi = rn_dist_build_info();
            printf("rn50cl %s%s%s\n", RN50CL_VERSION, mpi ? ", data-parallel with " : "",
                   mpi ? mpi : "");
            return RN_OK;
        } else if (!strcmp(a, "--list-devices")) {
            list = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (a[0] != '-') {
            for (const rn_command *c = rn_commands; c->name; c++)
                if (!strcmp(c->name, a)) return run_command(c, argc - i, argv + i);
            fprintf(stderr, "rn50cl: error: unknown command '%s'.\n%s", a, usage_line);
            return RN_ERR_INPUT;
        } else {
            fprintf(stderr, "rn50cl: error: unknown option '%s'.\n%s", a, usage_line);
            return RN_ERR_INPUT;
        }
    }
    if (list) return list_devices(json);
    if (json) {
        fprintf(stderr, "rn50cl: error: --json needs --list-devices.\n%s", usage_line);
        return RN_ERR_INPUT;
    }
    fprintf(stderr, "%s", usage_line);
    return RN_ERR_INPUT;
}
