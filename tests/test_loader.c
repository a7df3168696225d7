/* Loader thread: each index exactly once per shuffled epoch, same seed -> same batches, a loader
 * started at start_step delivers exactly the batches of an uninterrupted epoch from there,
 * drop_last counts, file order without shuffle, and destroy mid-epoch returns. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/augment.h"
#include "data/loader.h"
#include "testutil.h"

#define N 103
#define BATCH 10
#define IMG_FLOATS ((size_t)BATCH * RN_CIFAR_IMAGE)

/* Image i carries its index in its first two red bytes (readable back without augmentation). */
static void make_data(rn_cifar *d)
{
    d->n = N;
    d->labels = malloc(N);
    d->pixels = malloc((size_t)N * RN_CIFAR_IMAGE);
    for (size_t i = 0; i < N; i++) {
        d->labels[i] = (uint8_t)(i % 10);
        uint8_t *img = d->pixels + i * RN_CIFAR_IMAGE;
        for (int k = 0; k < RN_CIFAR_IMAGE; k++) img[k] = (uint8_t)(tu_uniform(0, 255.99));
        img[0] = (uint8_t)(i & 0xff);
        img[1] = (uint8_t)(i >> 8);
    }
}

/* The dataset index of image b in a CNHW batch (no augmentation; red plane comes first). */
static size_t index_of(const float *x, size_t b)
{
    return rn_denormalize_pixel(x[b * 1024], 0) | (size_t)rn_denormalize_pixel(x[b * 1024 + 1], 0)
                                                      << 8;
}

/* All batches of one epoch, concatenated: images and labels, and the total count. */
typedef struct epoch {
    float *x;
    int32_t *y;
    size_t sizes[64];
    size_t steps, batches, total;
} epoch;

static void run_epoch(epoch *e, const rn_cifar *d, int shuffle, int augment, int drop_last,
                      uint64_t seed, uint64_t ep, size_t start)
{
    memset(e, 0, sizeof *e);
    e->x = malloc(sizeof(float) * 64 * IMG_FLOATS);
    e->y = malloc(sizeof(int32_t) * 64 * BATCH);
    rn_loader *l = rn_loader_create(d, BATCH, shuffle, augment, drop_last, seed, ep, start);
    if (!l) return;
    e->steps = rn_loader_steps(l);
    size_t n;
    while (e->batches < 64 &&
           (n = rn_loader_next(l, e->x + e->batches * IMG_FLOATS, e->y + e->batches * BATCH)) > 0) {
        e->sizes[e->batches++] = n;
        e->total += n;
    }
    TU_CHECK(rn_loader_next(l, e->x, e->y) == 0, "next keeps returning 0 after the epoch");
    rn_loader_destroy(l);
}

static void free_epoch(epoch *e)
{
    free(e->x);
    free(e->y);
}

static int same_batch(const epoch *a, size_t ia, const epoch *b, size_t ib)
{
    size_t n = a->sizes[ia];
    return n == b->sizes[ib] &&
           memcmp(a->x + ia * IMG_FLOATS, b->x + ib * IMG_FLOATS, n * RN_CIFAR_IMAGE * 4) == 0 &&
           memcmp(a->y + ia * BATCH, b->y + ib * BATCH, n * 4) == 0;
}

static void check_permutation(const rn_cifar *d)
{
    epoch e;
    run_epoch(&e, d, 1, 0, 0, 3, 0, 0);
    TU_CHECK(e.steps == 11 && e.batches == 11 && e.total == N && e.sizes[10] == 3,
             "103 images in batches of 10 keep the last partial batch (11 steps, last 3)");
    int count[N] = {0}, labels_ok = 1, in_order = 1;
    for (size_t s = 0; s < e.batches; s++)
        for (size_t b = 0; b < e.sizes[s]; b++) {
            size_t i = index_of(e.x + s * IMG_FLOATS, b);
            if (i < N) count[i]++;
            labels_ok &= i < N && e.y[s * BATCH + b] == (int32_t)(i % 10);
            in_order &= i == s * BATCH + b;
        }
    int once = 1;
    for (int i = 0; i < N; i++) once &= count[i] == 1;
    TU_CHECK(once, "with shuffle every index appears exactly once");
    TU_CHECK(labels_ok, "labels travel with their images");
    TU_CHECK(!in_order, "shuffle changes the order");
    free_epoch(&e);

    run_epoch(&e, d, 0, 0, 0, 3, 0, 0);
    in_order = e.total == N;
    for (size_t s = 0; s < e.batches; s++)
        for (size_t b = 0; b < e.sizes[s]; b++)
            in_order &= index_of(e.x + s * IMG_FLOATS, b) == s * BATCH + b;
    TU_CHECK(in_order, "without shuffle images come in file order");
    free_epoch(&e);

    run_epoch(&e, d, 1, 0, 1, 3, 0, 0);
    TU_CHECK(e.steps == 10 && e.batches == 10 && e.total == 100,
             "drop_last gives 10 full batches (got %zu steps, %zu images)", e.steps, e.total);
    int distinct[N] = {0}, dup = 0;
    for (size_t s = 0; s < e.batches; s++)
        for (size_t b = 0; b < e.sizes[s]; b++)
            dup |= distinct[index_of(e.x + s * IMG_FLOATS, b) % N]++;
    TU_CHECK(!dup, "drop_last epoch has no repeated index");
    free_epoch(&e);
}

static void check_determinism(const rn_cifar *d)
{
    epoch a, b, c;
    run_epoch(&a, d, 1, 1, 1, 9, 4, 0);
    run_epoch(&b, d, 1, 1, 1, 9, 4, 0);
    int same = a.batches == b.batches && a.batches == 10;
    for (size_t s = 0; same && s < a.batches; s++) same = same_batch(&a, s, &b, s);
    TU_CHECK(same, "same seed and epoch give identical augmented batches");

    run_epoch(&c, d, 1, 1, 1, 9, 5, 0);
    TU_CHECK(c.batches == 10 && !same_batch(&a, 0, &c, 0), "another epoch gives other batches");
    free_epoch(&c);

    run_epoch(&c, d, 1, 1, 1, 9, 4, 6);
    TU_CHECK(c.steps == 10 && c.batches == 4, "start_step 6 of 10 leaves 4 batches");
    same = c.batches == 4;
    for (size_t s = 0; same && s < c.batches; s++) same = same_batch(&a, 6 + s, &c, s);
    TU_CHECK(same, "resuming at step 6 gives exactly batches 6..9 of the full epoch");
    free_epoch(&c);

    run_epoch(&c, d, 1, 1, 1, 9, 4, 99);
    TU_CHECK(c.batches == 0, "start_step past the end gives no batches");
    free_epoch(&c);
    free_epoch(&a);
    free_epoch(&b);
}

/* Destroys a loader on a helper thread and says whether that returned within a minute: a destroy
 * that never wakes the worker hangs in its join, and a hung test would report nothing. */
typedef struct destroyer {
    rn_loader *l;
    int done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} destroyer;

static void *destroy_thread(void *arg)
{
    destroyer *t = arg;
    rn_loader_destroy(t->l);
    pthread_mutex_lock(&t->mu);
    t->done = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static int destroy_returns(rn_loader *l)
{
    destroyer *t = calloc(1, sizeof *t);
    t->l = l;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, destroy_thread, t) != 0) return 0;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&t->mu);
    int wait = 0;
    while (!t->done && wait == 0) wait = pthread_cond_timedwait(&t->cv, &t->mu, &deadline);
    int done = t->done;
    pthread_mutex_unlock(&t->mu);
    if (!done) return 0; /* the hung helper keeps t until the process exits */
    pthread_join(th, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
    return 1;
}

static void check_edges(const rn_cifar *d)
{
    float *x = malloc(sizeof(float) * IMG_FLOATS);
    int32_t y[BATCH];
    rn_loader *l = rn_loader_create(d, BATCH, 1, 1, 1, 1, 0, 0);
    TU_CHECK(l && rn_loader_next(l, x, y) == BATCH, "one batch before destroying mid-epoch");
    /* the worker is blocked on a full buffer here */
    TU_CHECK(destroy_returns(l), "destroy returns while the worker waits for a free slot");
    l = rn_loader_create(d, BATCH, 1, 1, 1, 1, 0, 0);
    /* and here it may be mid-batch */
    TU_CHECK(destroy_returns(l), "destroy returns while the worker may be mid-batch");
    rn_loader_destroy(NULL);

    rn_cifar small = *d;
    small.n = 7;
    l = rn_loader_create(&small, BATCH, 1, 0, 1, 1, 0, 0);
    TU_CHECK(l && rn_loader_steps(l) == 0 && rn_loader_next(l, x, y) == 0,
             "fewer images than a batch with drop_last: 0 steps");
    rn_loader_destroy(l);
    l = rn_loader_create(&small, BATCH, 0, 0, 0, 1, 0, 0);
    TU_CHECK(l && rn_loader_steps(l) == 1 && rn_loader_next(l, x, y) == 7,
             "... and without drop_last one short batch of 7");
    rn_loader_destroy(l);
    TU_CHECK(rn_loader_create(d, 0, 1, 0, 0, 1, 0, 0) == NULL, "batch 0 refused");
    free(x);
}

int main(void)
{
    tu_seed(5);
    rn_cifar d;
    make_data(&d);
    check_permutation(&d);
    check_determinism(&d);
    check_edges(&d);
    rn_cifar_free(&d);
    return tu_finish("test_loader");
}
