/* Training curves: gathering (trainer, checkpoint history, --log files) and drawing them as one
 * PNG with three panels (loss, accuracy, learning rate against epochs), with the built-in font,
 * so a run can be judged at a glance without a plotting library. */
#include "train/curves.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "format/png.h"
#include "rn50cl/rn50cl.h"

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) n *= 2;
    p = realloc(p, n * elem);
    if (!p) abort();
    *cap = n;
    return p;
}

void rn_curves_add_epoch(rn_curves *c, const rn_epoch_rec *r)
{
    while (c->nep && c->ep[c->nep - 1].epoch >= r->epoch) c->nep--;
    c->ep = grow(c->ep, &c->cap_ep, c->nep + 1, sizeof *c->ep);
    c->ep[c->nep++] = *r;
}

void rn_curves_add_lr(rn_curves *c, double x, double lr)
{
    while (c->nlr && c->lr_x[c->nlr - 1] >= x) c->nlr--; /* a resumed run repeats steps */
    size_t cap = c->cap_lr;
    c->lr_x = grow(c->lr_x, &cap, c->nlr + 1, sizeof *c->lr_x);
    c->lr_y = grow(c->lr_y, &c->cap_lr, c->nlr + 1, sizeof *c->lr_y);
    c->lr_x[c->nlr] = x;
    c->lr_y[c->nlr++] = lr;
}

void rn_curves_free(rn_curves *c)
{
    free(c->ep);
    free(c->lr_x);
    free(c->lr_y);
    memset(c, 0, sizeof *c);
}

char *rn_curves_history(const rn_curves *c)
{
    size_t cap = 3 + c->nep * 96, len = 0;
    char *s = malloc(cap);
    if (!s) abort();
    s[len++] = '[';
    for (size_t i = 0; i < c->nep; i++) {
        const rn_epoch_rec *r = &c->ep[i];
        len += (size_t)snprintf(s + len, cap - len, "%s[%d,%.9g,%.6f,%.9g,%.6f]", i ? "," : "",
                                r->epoch, r->train_loss, r->train_acc, r->test_loss, r->test_acc);
    }
    snprintf(s + len, cap - len, "]");
    return s;
}

int rn_curves_parse_history(rn_curves *c, const char *json)
{
    rn_json_doc d;
    if (rn_json_parse(&d, json, strlen(json))) return -1;
    int ok = d.v[0].type == RN_JSON_ARRAY;
    for (const rn_json *e = rn_json_child(&d.v[0]); ok && e; e = rn_json_next(&d.v[0], e)) {
        double v[5];
        size_t k = 0;
        ok = e->type == RN_JSON_ARRAY && e->n == 5;
        for (const rn_json *x = rn_json_child(e); ok && x; x = rn_json_next(e, x))
            if ((ok = x->type == RN_JSON_NUMBER)) v[k++] = x->num;
        ok = ok && v[0] >= 1 && v[0] <= 1e6;
        if (ok) rn_curves_add_epoch(c, &(rn_epoch_rec){(int)v[0], v[1], v[2], v[3], v[4]});
    }
    rn_json_free(&d);
    if (!ok) c->nep = 0;
    return ok ? 0 : -1;
}

/* ---- reading a --log file ---- */

static double num(const rn_json *obj, const char *key, int *ok)
{
    const rn_json *v = rn_json_get(obj, key);
    if (!v || v->type != RN_JSON_NUMBER) *ok = 0;
    return v && v->type == RN_JSON_NUMBER ? v->num : 0;
}

/* One line's record into c (epoch records) or steps (x = epoch - 1, step, lr). 0, or -1 when the
 * line is not a JSON object with the fields its type needs. */
static int take_line(rn_curves *c, rn_curves *steps, const char *line, size_t len)
{
    rn_json_doc d;
    if (rn_json_parse(&d, line, len)) return -1;
    const rn_json *o = &d.v[0], *type = rn_json_get(o, "type");
    int ok = o->type == RN_JSON_OBJECT && type && type->type == RN_JSON_STRING;
    if (ok && !strcmp(type->str, "epoch")) {
        rn_epoch_rec r = {(int)num(o, "epoch", &ok), num(o, "train_loss", &ok),
                          num(o, "train_accuracy", &ok), num(o, "test_loss", &ok),
                          num(o, "test_accuracy", &ok)};
        if (ok && r.epoch >= 1) rn_curves_add_epoch(c, &r);
        else ok = 0;
    } else if (ok && !strcmp(type->str, "step")) {
        double e = num(o, "epoch", &ok), s = num(o, "step", &ok), lr = num(o, "lr", &ok);
        if (ok && e >= 1 && s >= 1) rn_curves_add_lr(steps, (e - 1) * 1e7 + s, lr);
        else ok = 0;
    }
    rn_json_free(&d);
    return ok ? 0 : -1;
}

int rn_curves_read_log(rn_curves *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rn50cl: error: cannot open the log %s (%s).\n", path, strerror(errno));
        return RN_ERR_INPUT;
    }
    rn_curves steps = {0}; /* x encodes (epoch, step) until the steps per epoch are known */
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = RN_OK;
    while (rc == RN_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (len && take_line(c, &steps, line, (size_t)len)) {
            fprintf(stderr,
                    "rn50cl: error: line %zu of %s is not a record of `rn50cl train --log` "
                    "(a JSON object with \"type\" and its fields); pass such a log.\n",
                    lineno, path);
            rc = RN_ERR_INPUT;
        }
    }
    free(line);
    fclose(f);
    double spe = 1; /* steps in a full epoch: the largest step number seen */
    for (size_t i = 0; i < steps.nlr; i++) spe = fmax(spe, fmod(steps.lr_x[i], 1e7));
    for (size_t i = 0; rc == RN_OK && i < steps.nlr; i++)
        rn_curves_add_lr(c, floor(steps.lr_x[i] / 1e7) + fmod(steps.lr_x[i], 1e7) / spe,
                         steps.lr_y[i]);
    rn_curves_free(&steps);
    if (rc == RN_OK && !c->nep && !c->nlr) {
        fprintf(stderr,
                "rn50cl: error: %s has no epoch or step records; pass the file that "
                "`rn50cl train --log FILE` wrote.\n",
                path);
        rc = RN_ERR_INPUT;
    }
    return rc;
}

/* ---- drawing ---- */

enum { W = 1320, H = 460, PANEL_W = 440, LEFT = 84, RIGHT = 20, TOP = 56, BOTTOM = 80 };

typedef struct canvas {
    uint8_t *rgb;
} canvas;

typedef struct rgb3 {
    uint8_t r, g, b;
} rgb3;

static const rgb3 BLACK = {0, 0, 0}, GRID = {225, 225, 225}, TRAIN = {31, 119, 180},
                  TEST = {230, 100, 10}, LR = {44, 160, 44};

static void px(canvas *cv, int x, int y, rgb3 c)
{
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    uint8_t *p = cv->rgb + ((size_t)y * W + (size_t)x) * 3;
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
}

static void rect(canvas *cv, int x0, int y0, int x1, int y1, rgb3 c)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) px(cv, x, y, c);
}

/* A line `thick` pixels wide (Bresenham, a square brush). */
static void line(canvas *cv, int x0, int y0, int x1, int y1, int thick, rgb3 c)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy, h = thick / 2;
    for (;;) {
        rect(cv, x0 - h, y0 - h, x0 - h + thick - 1, y0 - h + thick - 1, c);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

static void text(canvas *cv, int x, int y, const char *s, int scale, rgb3 c)
{
    rn_draw_text(cv->rgb, W, H, x, y, s, scale, c.r, c.g, c.b);
}

/* A tick step of 1, 2 or 5 × 10^k giving at most `most` intervals over span. */
static double tick_step(double span, int most)
{
    double p = pow(10, floor(log10(span / most)));
    const double m[] = {1, 2, 5, 10};
    for (int i = 0; i < 4; i++)
        if (span / (m[i] * p) <= most) return m[i] * p;
    return 10 * p;
}

typedef struct panel {
    int x0;            /* left edge of the panel in the canvas */
    double xmax, ymax; /* axes from 0 */
    double yscale;     /* value shown = value × yscale (accuracy in %) */
} panel;

static int sx(const panel *p, double x)
{
    return p->x0 + LEFT + (int)lround(x / p->xmax * (PANEL_W - LEFT - RIGHT));
}

static int sy(const panel *p, double y)
{
    return H - BOTTOM - (int)lround(y / p->ymax * (H - TOP - BOTTOM));
}

static void axes(canvas *cv, const panel *p, const char *title)
{
    int l = sx(p, 0), r = sx(p, p->xmax), t = sy(p, p->ymax), b = sy(p, 0);
    char buf[32];
    double ys = tick_step(p->ymax * p->yscale, 5) / p->yscale;
    for (int i = 0; i * ys <= p->ymax * (1 + 1e-9); i++) {
        int y = sy(p, i * ys);
        line(cv, l, y, r, y, 1, GRID);
        snprintf(buf, sizeof buf, "%.4g", i * ys * p->yscale);
        text(cv, l - 8 - rn_text_width(buf, 2), y - RN_FONT_HEIGHT, buf, 2, BLACK);
    }
    double xs = fmax(1, tick_step(p->xmax, 10)); /* whole epochs */
    for (int i = 0; i * xs <= p->xmax * (1 + 1e-9); i++) {
        int x = sx(p, i * xs);
        line(cv, x, b, x, b + 5, 2, BLACK);
        snprintf(buf, sizeof buf, "%.4g", i * xs);
        text(cv, x - rn_text_width(buf, 2) / 2, b + 10, buf, 2, BLACK);
    }
    line(cv, l, t, l, b, 2, BLACK);
    line(cv, l, b, r, b, 2, BLACK);
    text(cv, (l + r - rn_text_width(title, 3)) / 2, 14, title, 3, BLACK);
    text(cv, (l + r - rn_text_width("EPOCH", 2)) / 2, b + 34, "EPOCH", 2, BLACK);
}

static void legend(canvas *cv, const panel *p, int row, const char *name, rgb3 c)
{
    int x = sx(p, p->xmax) - 112, y = sy(p, p->ymax) + 8 + row * 22;
    rect(cv, x, y + 3, x + 18, y + 9, c);
    text(cv, x + 26, y, name, 2, BLACK);
}

/* The epoch records' field at byte offset `field`, as a line with a marker at each epoch end. */
static void series(canvas *cv, const panel *p, const rn_curves *c, size_t field, rgb3 col)
{
    for (size_t i = 0; i < c->nep; i++) {
        double v = *(const double *)((const char *)&c->ep[i] + field);
        int x = sx(p, c->ep[i].epoch), y = sy(p, fmin(fmax(v, 0), p->ymax));
        rect(cv, x - 4, y - 4, x + 4, y + 4, col);
        if (i) {
            double u = *(const double *)((const char *)&c->ep[i - 1] + field);
            line(cv, sx(p, c->ep[i - 1].epoch), sy(p, fmin(fmax(u, 0), p->ymax)), x, y, 3, col);
        }
    }
}

static void draw(canvas *cv, const rn_curves *c)
{
    double xmax = 1, lmax = 0, rmax = 0;
    for (size_t i = 0; i < c->nep; i++) {
        xmax = fmax(xmax, c->ep[i].epoch);
        lmax = fmax(lmax, fmax(c->ep[i].train_loss, c->ep[i].test_loss));
    }
    for (size_t i = 0; i < c->nlr; i++) {
        xmax = fmax(xmax, ceil(c->lr_x[i] - 1e-9));
        rmax = fmax(rmax, c->lr_y[i]);
    }
    panel loss = {0, xmax, lmax > 0 && isfinite(lmax) ? lmax * 1.1 : 1, 1};
    panel acc = {PANEL_W, xmax, 1, 100};
    panel lr = {2 * PANEL_W, xmax, rmax > 0 && isfinite(rmax) ? rmax * 1.1 : 1, 1};
    axes(cv, &loss, "LOSS");
    series(cv, &loss, c, offsetof(rn_epoch_rec, train_loss), TRAIN);
    series(cv, &loss, c, offsetof(rn_epoch_rec, test_loss), TEST);
    axes(cv, &acc, "ACCURACY %");
    series(cv, &acc, c, offsetof(rn_epoch_rec, train_acc), TRAIN);
    series(cv, &acc, c, offsetof(rn_epoch_rec, test_acc), TEST);
    for (int k = 0; k < 2; k++) {
        const panel *p = k ? &acc : &loss;
        legend(cv, p, 0, "TRAIN", TRAIN);
        legend(cv, p, 1, "TEST", TEST);
    }
    axes(cv, &lr, "LEARNING RATE");
    for (size_t i = 1; i < c->nlr; i++)
        line(cv, sx(&lr, c->lr_x[i - 1]), sy(&lr, c->lr_y[i - 1]), sx(&lr, c->lr_x[i]),
             sy(&lr, c->lr_y[i]), 3, LR);
    if (c->nlr == 1)
        rect(cv, sx(&lr, c->lr_x[0]) - 3, sy(&lr, c->lr_y[0]) - 3, sx(&lr, c->lr_x[0]) + 3,
             sy(&lr, c->lr_y[0]) + 3, LR);
}

int rn_curves_png(const rn_curves *c, const char *path)
{
    canvas cv = {malloc((size_t)W * H * 3)};
    if (!cv.rgb) abort();
    memset(cv.rgb, 255, (size_t)W * H * 3);
    draw(&cv, c);
    int rc = rn_png_write(path, W, H, cv.rgb);
    free(cv.rgb);
    return rc;
}
