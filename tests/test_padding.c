/* The model's padding option end to end (the ops themselves are proven in test_conv/test_pool):
 * rn_model_set_padding gives each layer MindSpore's 'same' padding without changing any output
 * size, it changes the logits, a checkpoint records it ("padding" metadata) and loading reads it
 * back (the logits of the loaded model are the saved model's, bit for bit), a file that records
 * none is symmetric for a strict load and leaves a --pretrained load as it was, and an unknown
 * value is refused without touching the model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"
#include "model/resnet50.h"
#include "rn50cl/rn50cl.h"
#include "testutil.h"
#include "train/checkpoint.h"

enum { BATCH = 2 };

/* The logits of the fixed input in inference mode, malloc'd. */
static float *logits(rn_model *m, cl_mem input)
{
    rn_model_forward(m, input, BATCH, 0);
    return tu_download_new(m->logits, (size_t)BATCH * m->classes);
}

static const char *meta_of(const char *path, char *buf, size_t len)
{
    rn_st_file f;
    snprintf(buf, len, "(unreadable)");
    if (rn_st_open(&f, path) != RN_OK) return buf;
    const char *v = rn_st_meta(&f, "padding");
    snprintf(buf, len, "%s", v ? v : "(none)");
    rn_st_close(&f);
    return buf;
}

/* The model's tensors as a safetensors file whose only metadata is padding (none when NULL), as
 * a foreign tool would write it. */
static void write_foreign(rn_model *m, const char *path, const char *padding)
{
    float *w = malloc(m->param_floats * sizeof *w), *b = malloc(m->buffer_floats * sizeof *b);
    rn_model_download(m, w, b);
    rn_st_writer *wr = rn_st_writer_new();
    int64_t nbt = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        const rn_entry *e = &m->e[i];
        if (e->kind == RN_COUNTER) rn_st_add(wr, e->name, RN_ST_I64, 0, e->shape, &nbt);
        else
            rn_st_add(wr, e->name, RN_ST_F32, e->ndim, e->shape,
                      (e->kind == RN_PARAM ? w : b) + e->off);
    }
    if (padding) rn_st_add_meta(wr, "padding", padding);
    TU_CHECK(rn_st_write(wr, path) == RN_OK, "wrote %s", path);
    rn_st_writer_free(wr);
    free(w);
    free(b);
}

/* Each layer class gets the padding MindSpore computes at 32×32 and keeps its output size. */
static void check_layers(rn_model *m)
{
    rn_conv stem = rn_cbr_conv(&m->stem, 1), l2 = rn_cbr_conv(&m->blocks[3].c2, 1);
    rn_conv l1 = rn_cbr_conv(&m->blocks[0].c2, 1), down = rn_cbr_conv(&m->blocks[3].down, 1);
    rn_conv l4 = rn_cbr_conv(&m->blocks[13].c2, 1);
    rn_pool pool = rn_model_maxpool(m, 1);
    TU_CHECK(stem.pad_h == 2 && stem.pad_w == 2 && stem.Ho == 16,
             "'same' stem 7x7/2: 2 rows above (3 below), 16x16 out (%d, %d)", stem.pad_h, stem.Ho);
    TU_CHECK(pool.pad_h == 0 && pool.pad_w == 0 && pool.Ho == 8,
             "'same' max-pool 3x3/2: none above (1 below), 8x8 out (%d, %d)", pool.pad_h, pool.Ho);
    TU_CHECK(l2.pad_h == 0 && l2.Ho == 4 && l4.pad_h == 0 && l4.Ho == 1,
             "'same' 3x3/2 of layer2.0 and layer4.0: none above, 4x4 and 1x1 out (%d %d, %d %d)",
             l2.pad_h, l2.Ho, l4.pad_h, l4.Ho);
    TU_CHECK(l1.pad_h == 1 && l1.Ho == 8, "'same' 3x3/1: 1 above and below (%d)", l1.pad_h);
    TU_CHECK(down.pad_h == 0 && down.Ho == 4 && !rn_conv_is_dense(&down),
             "'same' 1x1/2 shortcut: no padding, 4x4 out (%d, %d)", down.pad_h, down.Ho);
}

int main(void)
{
    rn_ctx *ctx = tu_ctx();
    const char *dir = tu_tmpdir("test_padding");
    char p_same[4096], p_sym[4096], p_none[4096], p_bad[4096], meta[64];
    snprintf(p_same, sizeof p_same, "%s/same.safetensors", dir);
    snprintf(p_sym, sizeof p_sym, "%s/symmetric.safetensors", dir);
    snprintf(p_none, sizeof p_none, "%s/none.safetensors", dir);
    snprintf(p_bad, sizeof p_bad, "%s/bad.safetensors", dir);

    rn_model *m = calloc(1, sizeof *m), *m2 = calloc(1, sizeof *m2);
    rn_model_init(m, 10);
    rn_model_init(m2, 10);
    TU_CHECK(m->padding == RN_PAD_SYMMETRIC, "a new model pads symmetrically");
    TU_CHECK(rn_model_alloc(m, ctx, BATCH, (size_t)8 << 20) == RN_OK &&
                 rn_model_alloc(m2, ctx, BATCH, (size_t)8 << 20) == RN_OK,
             "two models allocate at batch %d", BATCH);
    rn_model_init_params(m, 7, 0);
    rn_model_init_params(m2, 8, 0);
    tu_seed(3);
    float *x = malloc((size_t)3 * BATCH * 1024 * sizeof *x);
    tu_fill_uniform(x, (size_t)3 * BATCH * 1024, -2, 2);
    cl_mem input = tu_upload(x, (size_t)3 * BATCH * 1024);
    const size_t nl = (size_t)BATCH * 10;

    float *l_sym = logits(m, input);
    rn_model_set_padding(m, RN_PAD_SAME);
    check_layers(m);
    float *l_same = logits(m, input);
    double diff = 0;
    for (size_t i = 0; i < nl; i++) diff += fabsf(l_same[i] - l_sym[i]);
    TU_CHECK(diff > 1e-3, "'same' padding changes the logits (summed |difference| %.3g)", diff);

    /* save 'same', load into a symmetric model with other weights: padding and logits come back */
    TU_CHECK(rn_checkpoint_save(m, p_same, NULL, 0) == RN_OK, "saved the 'same' model");
    TU_CHECK(!strcmp(meta_of(p_same, meta, sizeof meta), "same"),
             "its metadata records \"padding\": \"same\" (%s)", meta);
    TU_CHECK(rn_checkpoint_load(m2, p_same, NULL, 0) == RN_OK && m2->padding == RN_PAD_SAME,
             "loading it makes the model 'same'");
    float *l2 = logits(m2, input);
    TU_CHECK(!memcmp(l2, l_same, nl * sizeof *l2),
             "the loaded model's logits are the saved model's, bit for bit");
    free(l2);

    /* and back: a symmetric file makes a 'same' model symmetric */
    rn_model_set_padding(m, RN_PAD_SYMMETRIC);
    TU_CHECK(rn_checkpoint_save(m, p_sym, NULL, 0) == RN_OK, "saved the symmetric model");
    TU_CHECK(!strcmp(meta_of(p_sym, meta, sizeof meta), "symmetric"),
             "its metadata records \"padding\": \"symmetric\" (%s)", meta);
    TU_CHECK(rn_checkpoint_load(m2, p_sym, NULL, 0) == RN_OK && m2->padding == RN_PAD_SYMMETRIC,
             "loading it makes the 'same' model symmetric");
    l2 = logits(m2, input);
    TU_CHECK(!memcmp(l2, l_sym, nl * sizeof *l2), "with the symmetric logits, bit for bit");
    free(l2);

    /* no metadata (torchvision's files): symmetric for a strict load, kept by --pretrained */
    write_foreign(m, p_none, NULL);
    rn_model_set_padding(m2, RN_PAD_SAME);
    TU_CHECK(rn_checkpoint_load(m2, p_none, NULL, 0) == RN_OK && m2->padding == RN_PAD_SYMMETRIC,
             "a file without \"padding\" loads as symmetric");
    rn_model_set_padding(m2, RN_PAD_SAME);
    TU_CHECK(rn_checkpoint_load_pretrained(m2, p_none, 1) == RN_OK && m2->padding == RN_PAD_SAME,
             "--pretrained weights without \"padding\" leave the model's rule");
    TU_CHECK(rn_checkpoint_load_pretrained(m2, p_sym, 1) == RN_OK &&
                 m2->padding == RN_PAD_SYMMETRIC,
             "--pretrained weights that record a rule set it");

    /* an unknown rule is refused before anything is loaded */
    write_foreign(m, p_bad, "diagonal");
    rn_model_set_padding(m2, RN_PAD_SAME);
    float *before = logits(m2, input);
    fprintf(stderr, "(an error about 'diagonal' padding is expected next)\n");
    TU_CHECK(rn_checkpoint_load(m2, p_bad, NULL, 0) == RN_ERR_INPUT,
             "a file recording padding 'diagonal' is refused");
    l2 = logits(m2, input);
    TU_CHECK(m2->padding == RN_PAD_SAME && !memcmp(l2, before, nl * sizeof *l2),
             "and the model is left as it was");
    free(l2);
    free(before);

    rn_release(&input);
    rn_model_free(m);
    rn_model_free(m2);
    free(m), free(m2), free(x), free(l_sym), free(l_same);
    return tu_finish("test_padding");
}
