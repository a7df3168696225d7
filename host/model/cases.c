/* The model's layer list turned into op cases: convolutions by name and shape, and the distinct
 * GEMM shapes of a step derived through the ops' own rn_conv_gemm_shapes / rn_fc_gemm_shapes, so
 * the lists follow any change of the topology or of how an op issues its GEMMs. */
#include "model/cases.h"

#include <stdio.h>
#include <stdlib.h>

#include "ops/fc.h"

static rn_conv_case conv_case(const char *name, const rn_cbr *c, int batch, int with_dx)
{
    rn_conv_case k;
    snprintf(k.name, sizeof k.name, "%s", name);
    k.conv = rn_conv_init(batch, c->cin, c->h, c->w, c->cout, c->k, c->stride, c->pad);
    k.with_dx = with_dx;
    return k;
}

int rn_model_conv_cases(const rn_model *m, int batch, rn_conv_case *out, int cap)
{
    int n = 0;
    if (n < cap) out[n] = conv_case("conv1", &m->stem, batch, 0);
    n++;
    static const char *const part[4] = {"conv1", "conv2", "conv3", "downsample.0"};
    for (int b = 0; b < m->nblocks; b++) {
        const rn_block *bl = &m->blocks[b];
        const rn_cbr *list[4] = {&bl->c1, &bl->c2, &bl->c3, bl->has_down ? &bl->down : NULL};
        for (int l = 0; l < 4; l++) {
            if (!list[l]) continue;
            char name[48];
            snprintf(name, sizeof name, "layer%d.%d.%s", bl->stage + 1, bl->index, part[l]);
            if (n < cap) out[n] = conv_case(name, list[l], batch, 1);
            n++;
        }
    }
    return n;
}

/* Adds one issued shape to the distinct list, counting repeats. */
static void add_use(rn_gemm_use *u, int *nu, int cap, const rn_gemm_shape *s, const char *layer,
                    const char *form)
{
    for (int i = 0; i < *nu; i++)
        if (rn_gemm_shape_equal(&u[i].s, s)) {
            u[i].count++;
            return;
        }
    if (*nu == cap) abort(); /* cap covers every shape of the network */
    rn_gemm_use *n = &u[(*nu)++];
    n->s = *s;
    snprintf(n->layer, sizeof n->layer, "%s", layer);
    n->form = form;
    n->count = 1;
}

int rn_model_gemm_uses(int batch, int classes, int train, size_t ws_bytes, rn_gemm_use **out)
{
    enum { CAP = 1024, MAXCONV = 64 };
    rn_model *m = malloc(sizeof *m);
    rn_conv_case *cc = malloc(MAXCONV * sizeof *cc);
    rn_gemm_use *u = malloc(CAP * sizeof *u);
    if (!m || !cc || !u) abort();
    rn_model_init(m, classes);
    int nc = rn_model_conv_cases(m, batch, cc, MAXCONV), nu = 0;
    if (nc > MAXCONV) abort();
    for (int i = 0; i < nc; i++) {
        rn_gemm_shape s[256];
        /* (ta, tb) = (0,0) forward, (0,1) weight gradient, (1,0) input gradient */
        int n = rn_conv_gemm_shapes(&cc[i].conv, ws_bytes / sizeof(float), train, cc[i].with_dx, s,
                                    256);
        if (n > 256) abort();
        for (int j = 0; j < n; j++)
            add_use(u, &nu, CAP, &s[j], cc[i].name,
                    !s[j].ta && !s[j].tb ? "fwd"
                    : s[j].tb            ? "wgrad"
                                         : "dgrad");
    }
    /* the classifier's GEMMs, told apart by asking for each form separately */
    rn_gemm_shape f[3], w[3], d[3];
    rn_fc_gemm_shapes(batch, 2048, classes, 0, 0, f, 3);
    add_use(u, &nu, CAP, &f[0], "fc", "fwd");
    if (train) {
        rn_fc_gemm_shapes(batch, 2048, classes, 1, 0, w, 3); /* forward, weight gradient */
        rn_fc_gemm_shapes(batch, 2048, classes, 1, 1, d, 3); /* forward, input and weight grad */
        add_use(u, &nu, CAP, &d[1], "fc", "dgrad");
        add_use(u, &nu, CAP, &w[1], "fc", "wgrad");
    }
    free(cc);
    free(m);
    *out = u;
    return nu;
}
