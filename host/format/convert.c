/* Conversion goes through rn_tensors: every tensor is read once into a contiguous buffer (float32,
 * or int64 for counters) and written under the target's names. What cannot go into the target
 * (MindSpore has no batch-norm counters and no place for momentum) is left out and said. */
#include "format/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "format/msckpt.h"
#include "format/msnames.h"
#include "format/tensors.h"

typedef struct conv {
    void **data;      /* one contiguous buffer per tensor of ts */
    size_t converted; /* tensors whose dtype or layout changed */
} conv;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int read_all(const rn_tensors *ts, conv *c)
{
    if (!(c->data = calloc(ts->count + 1, sizeof *c->data))) return -1;
    for (size_t i = 0; i < ts->count; i++) {
        const rn_tensor *t = &ts->t[i];
        int fl = rn_tensor_is_float(t);
        if (!(c->data[i] = malloc((t->numel ? t->numel : 1) * (fl ? 4 : 8)))) return -1;
        if (fl) rn_tensor_read_f32(t, c->data[i]);
        else rn_tensor_read_i64(t, c->data[i]);
        c->converted += t->dtype != (fl ? RN_ST_F32 : RN_ST_I64);
    }
    return 0;
}

/* MindSpore batch-norms have no counter; torchvision's load_state_dict wants one per BN. */
static size_t add_counters(const rn_tensors *ts, rn_st_writer *w, const int64_t *zero)
{
    size_t added = 0;
    const char *suffix = ".running_mean";
    for (size_t i = 0; i < ts->count; i++) {
        const char *n = ts->t[i].name;
        if (!ends_with(n, suffix)) continue;
        char c[600];
        snprintf(c, sizeof c, "%.*snum_batches_tracked", (int)(strlen(n) - strlen(suffix) + 1), n);
        if (!rn_tensors_find(ts, c) && rn_st_add(w, c, RN_ST_I64, 0, NULL, zero) == RN_OK) added++;
    }
    return added;
}

static int to_safetensors(const rn_tensors *ts, const conv *c, const char *out)
{
    static const int64_t zero = 0;
    rn_st_writer *w = rn_st_writer_new();
    int rc = w ? RN_OK : RN_ERR_INPUT;
    for (size_t i = 0; i < ts->count && rc == RN_OK; i++) {
        const rn_tensor *t = &ts->t[i];
        if (rn_st_add(w, t->name, rn_tensor_is_float(t) ? RN_ST_F32 : RN_ST_I64, t->ndim, t->shape,
                      c->data[i]) != RN_OK)
            rc = RN_ERR_INPUT;
    }
    size_t added = rc == RN_OK && ts->source == RN_TS_MINDSPORE ? add_counters(ts, w, &zero) : 0;
    if (rc == RN_OK) {
        rn_st_add_meta(w, "format", "pt");
        rn_st_add_meta(w, "producer", "rn50cl " RN50CL_VERSION " convert");
        rn_st_add_meta(w, "converted_from", rn_ts_source_name(ts->source));
        /* the padding rule travels with the weights: MindSpore's layers pad 'same' */
        const char *pad = ts->source == RN_TS_MINDSPORE ? "same" : rn_tensors_meta(ts, "padding");
        if (pad) rn_st_add_meta(w, "padding", pad);
        rc = rn_st_write(w, out);
    } else {
        fprintf(stderr, "rn50cl: error: out of memory converting to %s.\n", out);
    }
    rn_st_writer_free(w);
    if (rc == RN_OK && added)
        printf("added %zu num_batches_tracked counters (0), which MindSpore does not keep\n",
               added);
    return rc;
}

static int to_mindspore(const rn_tensors *ts, const conv *c, const char *out, size_t *left)
{
    rn_ms_tensor *mt = calloc(ts->count + 1, sizeof *mt);
    char(*names)[512] = calloc(ts->count + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; mt && names && i < ts->count; i++) {
        const rn_tensor *t = &ts->t[i];
        if (!rn_tensor_is_float(t) || !strncmp(t->name, "momentum.", 9)) {
            (*left)++;
            continue;
        }
        rn_torchvision_to_ms(t->name, names[n], sizeof names[n]);
        mt[n] = (rn_ms_tensor){names[n], RN_ST_F32, t->ndim, t->shape, c->data[i]};
        n++;
    }
    int rc = mt && names ? rn_msckpt_write(out, mt, n) : RN_ERR_INPUT;
    if (!mt || !names) fprintf(stderr, "rn50cl: error: out of memory converting to %s.\n", out);
    free(mt);
    free(names);
    return rc;
}

int rn_convert(const char *in, const char *out)
{
    int to_st = ends_with(out, ".safetensors"), to_ms = ends_with(out, ".ckpt");
    if (!to_st && !to_ms) {
        fprintf(stderr,
                "rn50cl: error: cannot tell the output format from %s; name it *.safetensors "
                "(torchvision names) or *.ckpt (MindSpore).\n",
                out);
        return RN_ERR_INPUT;
    }
    rn_tensors ts;
    if (rn_tensors_open(&ts, in) != RN_OK) return RN_ERR_INPUT;
    conv c = {0};
    size_t left = 0;
    int rc = read_all(&ts, &c) == 0 ? RN_OK : RN_ERR_INPUT;
    if (rc != RN_OK) fprintf(stderr, "rn50cl: error: out of memory reading %s.\n", in);
    else rc = to_st ? to_safetensors(&ts, &c, out) : to_mindspore(&ts, &c, out, &left);
    if (rc == RN_OK) {
        printf("converted %zu tensors from %s (%s) to %s (%s)", ts.count - left, in,
               rn_ts_source_name(ts.source), out,
               to_st ? "safetensors, torchvision names" : "MindSpore .ckpt, tutorial names");
        if (c.converted) printf("; %zu converted to float32", c.converted);
        if (left)
            printf("; left out %zu counters and momentum buffers MindSpore has no place for", left);
        if (ts.ignored_count)
            printf("; ignored %zu non-weight entries (first: %s)", ts.ignored_count, ts.ignored[0]);
        printf("\n");
    }
    for (size_t i = 0; c.data && i < ts.count; i++) free(c.data[i]);
    free(c.data);
    rn_tensors_free(&ts);
    return rc;
}
