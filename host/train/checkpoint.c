/* Saving and loading models in safetensors with torchvision names, every mismatch reported by
 * tensor name. Saving maps the slabs (on a CPU device that is the device memory itself, no copy)
 * and writes each entry as a view into them; loading goes entry by entry through one buffer. */
#include "train/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "format/safetensors.h"
#include "format/tensors.h"

typedef struct host_slabs {
    float *w, *b, *v;
} host_slabs;

static float *map_slab(rn_model *m, cl_mem slab, size_t floats)
{
    cl_int err;
    float *p = clEnqueueMapBuffer(m->ctx->queue, slab, CL_TRUE, CL_MAP_READ, 0,
                                  floats * sizeof(float), 0, NULL, NULL, &err);
    CL_CHECK(err);
    return p;
}

static void unmap_slab(rn_model *m, cl_mem slab, float *p)
{
    if (p) CL_CHECK(clEnqueueUnmapMemObject(m->ctx->queue, slab, p, 0, NULL, NULL));
}

/* The weight and buffer slabs (and momentum) mapped for reading; a copy would be as large again. */
static host_slabs slabs_map(rn_model *m, int with_momentum)
{
    host_slabs h = {map_slab(m, m->wslab, m->param_floats), map_slab(m, m->bslab, m->buffer_floats),
                    with_momentum ? map_slab(m, m->vslab, m->param_floats) : NULL};
    return h;
}

static void slabs_unmap(rn_model *m, host_slabs *h)
{
    unmap_slab(m, m->wslab, h->w);
    unmap_slab(m, m->bslab, h->b);
    unmap_slab(m, m->vslab, h->v);
    CL_CHECK(clFinish(m->ctx->queue));
}

static void meta_num(rn_st_writer *w, const char *key, double v, const char *fmt)
{
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    rn_st_add_meta(w, key, buf);
}

int rn_checkpoint_save(rn_model *m, const char *path, const rn_train_state *st, int with_momentum)
{
    host_slabs h = slabs_map(m, with_momentum);
    rn_st_writer *w = rn_st_writer_new();
    int64_t nbt = m->num_batches_tracked;
    char(*mnames)[96] = calloc(m->nentries, sizeof *mnames);
    for (size_t i = 0; i < m->nentries; i++) {
        const rn_entry *e = &m->e[i];
        if (e->kind == RN_COUNTER) rn_st_add(w, e->name, RN_ST_I64, 0, e->shape, &nbt);
        else
            rn_st_add(w, e->name, RN_ST_F32, e->ndim, e->shape,
                      (e->kind == RN_PARAM ? h.w : h.b) + e->off);
    }
    if (with_momentum)
        for (size_t i = 0; i < m->nentries; i++) {
            const rn_entry *e = &m->e[i];
            if (e->kind != RN_PARAM) continue;
            snprintf(mnames[i], sizeof mnames[i], "%s%s", RN_MOMENTUM_PREFIX, e->name);
            rn_st_add(w, mnames[i], RN_ST_F32, e->ndim, e->shape, h.v + e->off);
        }
    rn_st_add_meta(w, "format", "pt");
    rn_st_add_meta(w, "producer", "rn50cl " RN50CL_VERSION);
    rn_st_add_meta(w, "model", "torchvision.models.resnet50");
    rn_st_add_meta(w, "padding", rn_padding_name(m->padding));
    meta_num(w, "classes", m->classes, "%.0f");
    if (st) {
        meta_num(w, "epoch", st->epoch, "%.0f");
        meta_num(w, "step_in_epoch", st->step_in_epoch, "%.0f");
        meta_num(w, "global_step", (double)st->global_step, "%.0f");
        meta_num(w, "accuracy", st->accuracy, "%.6f");
        meta_num(w, "best_accuracy", st->best_accuracy, "%.6f");
        char seed[32];
        snprintf(seed, sizeof seed, "%" PRIu64, st->seed);
        rn_st_add_meta(w, "seed", seed);
        meta_num(w, "epoch_loss_sum", st->epoch_loss_sum, "%.17g");
        meta_num(w, "epoch_correct", (double)st->epoch_correct, "%.0f");
        meta_num(w, "epoch_seen", (double)st->epoch_seen, "%.0f");
        if (st->history) rn_st_add_meta(w, "history", st->history);
    }
    int rc = rn_st_write(w, path);
    rn_st_writer_free(w);
    free(mnames);
    slabs_unmap(m, &h);
    return rc;
}

static int shape_matches(const rn_entry *e, const rn_tensor *t)
{
    if (e->ndim != t->ndim) return 0;
    for (int d = 0; d < e->ndim; d++)
        if (e->shape[d] != t->shape[d]) return 0;
    return 1;
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

rn_ts_source rn_checkpoint_source(const char *path)
{
    uint8_t head[16];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    return rn_ts_detect(head, n);
}

int rn_checkpoint_classes(const char *path)
{
    rn_tensors ts;
    if (rn_tensors_open(&ts, path) != RN_OK) return -1;
    const rn_tensor *t = rn_tensors_find(&ts, "fc.weight");
    int k = (t && t->ndim == 2 && t->shape[0] > 0 && t->shape[0] < 1000000) ? (int)t->shape[0] : -1;
    if (k < 0)
        fprintf(stderr,
                "rn50cl: error: %s has no usable fc.weight tensor, so it is not a "
                "ResNet50 checkpoint; pass a file written by rn50cl, torchvision or MindSpore.\n",
                path);
    rn_tensors_free(&ts);
    return k;
}

/* Floats for a parameter or buffer, an integer for a counter: anything else is refused. */
static int read_entry(const rn_tensor *t, const char *path, float *dst, int64_t *counter)
{
    if (rn_tensor_is_float(t) == !counter) {
        if (counter) rn_tensor_read_i64(t, counter);
        else rn_tensor_read_f32(t, dst);
        return RN_OK;
    }
    fprintf(stderr, "rn50cl: error: %s: tensor %s is %s where the model needs %s.\n", path,
            t->original, rn_st_dtype_name(t->dtype), counter ? "an integer" : "floating point");
    return RN_ERR_INPUT;
}

/* Reads one entry's tensor `name` into dst; complains about absence or shape. A MindSpore or
 * PyTorch file without batch-norm counters (MindSpore has none) loads them as 0. */
static int load_tensor(const rn_tensors *ts, const char *path, const char *name, const rn_entry *e,
                       float *dst, int64_t *counter)
{
    const rn_tensor *t = rn_tensors_find(ts, name);
    if (!t && counter && ts->source != RN_TS_SAFETENSORS) {
        *counter = 0;
        return RN_OK;
    }
    if (!t) {
        fprintf(stderr,
                "rn50cl: error: %s has no tensor %s; it is not a complete ResNet50 "
                "checkpoint (for partial weights use --pretrained).\n",
                path, name);
        return RN_ERR_INPUT;
    }
    if (!shape_matches(e, t)) {
        char want[96], got[96];
        shape_str(want, sizeof want, e->ndim, e->shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        fprintf(stderr, "rn50cl: error: %s: tensor %s has shape %s but the model needs %s.\n", path,
                t->original, got, want);
        return RN_ERR_INPUT;
    }
    return read_entry(t, path, dst, counter);
}

static double meta_double(const rn_tensors *ts, const char *key, double dflt)
{
    const char *v = rn_tensors_meta(ts, key);
    return v ? strtod(v, NULL) : dflt;
}

/* The padding rule a file records (rn50cl writes "padding"; a file without it, such as
 * torchvision's, is symmetric). *recorded tells whether the file says. */
static int meta_padding(const rn_tensors *ts, const char *path, rn_padding *p, int *recorded)
{
    const char *v = rn_tensors_meta(ts, "padding");
    *p = RN_PAD_SYMMETRIC;
    *recorded = v != NULL;
    if (!v && ts->source == RN_TS_MINDSPORE) { /* trained with MindSpore's pad_mode='same' */
        *p = RN_PAD_SAME;
        *recorded = 1;
        return RN_OK;
    }
    if (v && rn_padding_parse(v, p)) {
        fprintf(stderr,
                "rn50cl: error: %s records the padding '%s', which rn50cl does not know "
                "(same or symmetric).\n",
                path, v);
        return RN_ERR_INPUT;
    }
    return RN_OK;
}

/* A host buffer for the largest entry: loading goes entry by entry through it. */
static float *entry_buffer(const rn_model *m)
{
    size_t most = 0;
    for (size_t i = 0; i < m->nentries; i++)
        if (m->e[i].numel > most) most = m->e[i].numel;
    float *p = malloc(most * sizeof *p);
    if (!p) abort();
    return p;
}

/* Every entry (and with_momentum its momentum) from ts through buf. With write == 0 this only
 * checks that the file has all of them, readable and of the right shapes, so that a failed load
 * leaves the model as it was; the writing pass then cannot fail. */
static int load_pass(rn_model *m, const rn_tensors *ts, const char *path, int with_momentum,
                     float *buf, int write)
{
    int rc = RN_OK;
    int64_t nbt = 0;
    for (size_t i = 0; i < m->nentries && rc == RN_OK; i++) {
        const rn_entry *e = &m->e[i];
        size_t bytes = e->numel * sizeof(float);
        rc = load_tensor(ts, path, e->name, e, buf, e->kind == RN_COUNTER ? &nbt : NULL);
        if (rc == RN_OK && write && e->kind != RN_COUNTER) rn_write(m->ctx, e->w, 0, bytes, buf);
        if (rc == RN_OK && with_momentum && e->kind == RN_PARAM) {
            char name[96];
            snprintf(name, sizeof name, "%s%s", RN_MOMENTUM_PREFIX, e->name);
            if (!rn_tensors_find(ts, name)) {
                fprintf(stderr,
                        "rn50cl: error: %s has no momentum buffers, so training cannot be "
                        "resumed from it; resume from resnet50-last.safetensors.\n",
                        path);
                rc = RN_ERR_INPUT;
            } else {
                rc = load_tensor(ts, path, name, e, buf, NULL);
                if (rc == RN_OK && write) rn_write(m->ctx, e->v, 0, bytes, buf);
            }
        }
    }
    if (rc == RN_OK && write) m->num_batches_tracked = nbt;
    return rc;
}

int rn_checkpoint_load(rn_model *m, const char *path, rn_train_state *st, int with_momentum)
{
    rn_tensors ts;
    if (rn_tensors_open(&ts, path) != RN_OK) return RN_ERR_INPUT;
    float *buf = entry_buffer(m);
    rn_padding pad;
    int recorded;
    int rc = meta_padding(&ts, path, &pad, &recorded);
    if (rc == RN_OK) rc = load_pass(m, &ts, path, with_momentum, buf, 0);
    if (rc == RN_OK) {
        load_pass(m, &ts, path, with_momentum, buf, 1);
        rn_model_set_padding(m, pad);
        if (st) {
            st->epoch = (int)meta_double(&ts, "epoch", 0);
            st->step_in_epoch = (int)meta_double(&ts, "step_in_epoch", 0);
            st->global_step = (int64_t)meta_double(&ts, "global_step", 0);
            st->accuracy = meta_double(&ts, "accuracy", -1);
            st->best_accuracy = meta_double(&ts, "best_accuracy", -1);
            const char *s = rn_tensors_meta(&ts, "seed");
            st->seed = s ? strtoull(s, NULL, 10) : 0;
            st->epoch_loss_sum = meta_double(&ts, "epoch_loss_sum", 0);
            st->epoch_correct = (int64_t)meta_double(&ts, "epoch_correct", 0);
            st->epoch_seen = (int64_t)meta_double(&ts, "epoch_seen", 0);
            const char *h = rn_tensors_meta(&ts, "history");
            st->history = h ? strdup(h) : NULL;
        }
    }
    free(buf);
    rn_tensors_free(&ts);
    return rc;
}

typedef struct pretrained_tally {
    int loaded, head_reinit;
    size_t wanted;
} pretrained_tally;

/* Every entry whose name and shape match, from ts through buf; with write == 0 only checks that
 * they read, as load_pass does. */
static int pretrained_pass(rn_model *m, const rn_tensors *ts, const char *path, float *buf,
                           int write, pretrained_tally *n)
{
    int counter_loaded = 0, rc = RN_OK;
    memset(n, 0, sizeof *n);
    for (size_t i = 0; i < m->nentries && rc == RN_OK; i++) {
        const rn_entry *e = &m->e[i];
        const rn_tensor *t = rn_tensors_find(ts, e->name);
        if (e->kind == RN_COUNTER) { /* all counters are equal; take the first one present */
            if (write && t && t->ndim == 0 && !counter_loaded && !rn_tensor_is_float(t)) {
                rn_tensor_read_i64(t, &m->num_batches_tracked);
                counter_loaded = 1;
            }
            continue;
        }
        n->wanted++;
        if (!t) continue;
        if (!shape_matches(e, t)) {
            if (!strncmp(e->name, "fc.", 3)) n->head_reinit = 1;
            continue;
        }
        rc = read_entry(t, path, buf, NULL);
        if (rc == RN_OK && write) rn_write(m->ctx, e->w, 0, e->numel * sizeof(float), buf);
        n->loaded++;
    }
    return rc;
}

static int model_has(const rn_model *m, const char *name)
{
    for (size_t i = 0; i < m->nentries; i++)
        if (!strcmp(m->e[i].name, name)) return 1;
    return 0;
}

/* What the file holds that the model does not take: optimizer state and other entries. */
static void report_ignored(const rn_model *m, const rn_tensors *ts)
{
    size_t n = ts->ignored_count, shown = 0;
    char list[400] = "";
    for (size_t i = 0; i < ts->count; i++) n += !model_has(m, ts->t[i].name);
    if (!n) return;
    for (size_t i = 0; i < ts->ignored_count + ts->count && shown < 4; i++) {
        const char *name =
            i < ts->ignored_count ? ts->ignored[i] : ts->t[i - ts->ignored_count].original;
        if (i >= ts->ignored_count && model_has(m, ts->t[i - ts->ignored_count].name)) continue;
        size_t o = strlen(list);
        snprintf(list + o, sizeof list - o, "%s%s", shown++ ? ", " : "", name);
    }
    fprintf(stderr,
            "rn50cl: ignored %zu entries of the file that are not ResNet50 weights (%s%s)\n", n,
            list, n > shown ? ", ..." : "");
}

int rn_checkpoint_load_pretrained(rn_model *m, const char *path, uint64_t seed)
{
    rn_tensors ts;
    if (rn_tensors_open(&ts, path) != RN_OK) return RN_ERR_INPUT;
    float *buf = entry_buffer(m);
    pretrained_tally n;
    rn_padding pad;
    int recorded;
    int rc = meta_padding(&ts, path, &pad, &recorded);
    if (rc == RN_OK) rc = pretrained_pass(m, &ts, path, buf, 0, &n);
    if (rc == RN_OK && n.loaded == 0) {
        fprintf(stderr,
                "rn50cl: error: %s shares no tensor name and shape with ResNet50; pass "
                "torchvision- or MindSpore-named resnet50 weights.\n",
                path);
        rc = RN_ERR_INPUT;
    }
    if (rc == RN_OK) {
        pretrained_pass(m, &ts, path, buf, 1, &n);
        fprintf(stderr, "rn50cl: loaded %d of %zu tensors from %s (%s)\n", n.loaded, n.wanted, path,
                rn_ts_source_name(ts.source));
        report_ignored(m, &ts);
        if (recorded) rn_model_set_padding(m, pad);
        if (n.head_reinit) {
            rn_model_init_head(m, seed);
            fprintf(stderr,
                    "rn50cl: the checkpoint's classifier has another class count; fc was "
                    "re-initialised for %d classes\n",
                    m->classes);
        }
    }
    free(buf);
    rn_tensors_free(&ts);
    return rc;
}
