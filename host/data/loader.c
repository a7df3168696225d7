/* Double-buffered producer/consumer around rn_prepare_batch. The worker fills slot step%2 and the
 * caller drains it in step order; a mutex and two condition variables do all the waiting. */
#include "data/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "base/rng.h"

/* Stream tags keep the order stream and the per-step augmentation streams apart. */
#define STREAM_ORDER 0x6f72646572ULL /* "order" */
#define STREAM_AUG 0x617567ULL       /* "aug" */

typedef struct slot {
    float *x;
    int32_t *y;
    size_t n;
    int ready;
} slot;

struct rn_loader {
    const rn_cifar *d;
    size_t batch, steps;
    int augment;
    uint64_t seed, epoch;
    uint32_t *order;
    slot slots[2];
    size_t produce, consume; /* next step to fill / to hand out */
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t filled, drained;
    pthread_t thread;
};

static void make_order(uint32_t *order, size_t n, int shuffle, uint64_t seed, uint64_t epoch)
{
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    if (!shuffle) return;
    rn_rng r;
    rn_rng_seed(&r, seed, rn_rng_mix(STREAM_ORDER, epoch));
    for (size_t i = n; i > 1; i--) {
        size_t j = rn_rng_below(&r, (uint32_t)i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

static void fill_slot(rn_loader *l, slot *s, size_t step)
{
    size_t first = step * l->batch;
    size_t n = l->d->n - first < l->batch ? l->d->n - first : l->batch;
    rn_rng r;
    rn_rng_seed(&r, l->seed, rn_rng_mix(rn_rng_mix(STREAM_AUG, l->epoch), step));
    rn_prepare_batch(s->x, s->y, l->d, l->order + first, n, l->augment, &r);
    s->n = n;
}

static void *worker(void *arg)
{
    rn_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop && l->produce < l->steps) {
        slot *s = &l->slots[l->produce % 2];
        if (s->ready) {
            pthread_cond_wait(&l->drained, &l->mu);
            continue;
        }
        size_t step = l->produce;
        pthread_mutex_unlock(&l->mu);
        fill_slot(l, s, step);
        pthread_mutex_lock(&l->mu);
        s->ready = 1;
        l->produce++;
        pthread_cond_signal(&l->filled);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void free_loader(rn_loader *l)
{
    for (int i = 0; i < 2; i++) {
        free(l->slots[i].x);
        free(l->slots[i].y);
    }
    free(l->order);
    free(l);
}

/* The loader with its order and both slots allocated, or NULL. */
static rn_loader *alloc_loader(size_t n, size_t batch)
{
    rn_loader *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->order = malloc((n ? n : 1) * sizeof *l->order);
    int ok = l->order != NULL;
    for (int i = 0; i < 2 && ok; i++) {
        l->slots[i].x = malloc(batch * RN_CIFAR_IMAGE * sizeof(float));
        l->slots[i].y = malloc(batch * sizeof(int32_t));
        ok = l->slots[i].x && l->slots[i].y;
    }
    if (ok) return l;
    free_loader(l);
    return NULL;
}

rn_loader *rn_loader_create(const rn_cifar *d, size_t batch, int shuffle, int augment,
                            int drop_last, uint64_t seed, uint64_t epoch, size_t start_step)
{
    if (batch == 0) {
        fprintf(stderr, "rn50cl: error: the batch size must be at least 1.\n");
        return NULL;
    }
    rn_loader *l = alloc_loader(d->n, batch);
    if (!l) {
        fprintf(stderr,
                "rn50cl: error: out of memory for the data loader (batch %zu); use a smaller "
                "--batch.\n",
                batch);
        return NULL;
    }
    l->d = d;
    l->batch = batch;
    l->augment = augment;
    l->seed = seed;
    l->epoch = epoch;
    l->steps = drop_last ? d->n / batch : (d->n + batch - 1) / batch;
    l->produce = l->consume = start_step < l->steps ? start_step : l->steps;
    make_order(l->order, d->n, shuffle, seed, epoch);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->filled, NULL);
    pthread_cond_init(&l->drained, NULL);
    if (pthread_create(&l->thread, NULL, worker, l) != 0) {
        fprintf(stderr, "rn50cl: error: cannot start the data loader thread.\n");
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->filled);
        pthread_cond_destroy(&l->drained);
        free_loader(l);
        return NULL;
    }
    return l;
}

size_t rn_loader_steps(const rn_loader *l)
{
    return l->steps;
}

size_t rn_loader_next(rn_loader *l, float *dst, int32_t *labels)
{
    pthread_mutex_lock(&l->mu);
    if (l->consume >= l->steps) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    slot *s = &l->slots[l->consume % 2];
    while (!s->ready) pthread_cond_wait(&l->filled, &l->mu);
    pthread_mutex_unlock(&l->mu);

    /* The worker never touches a ready slot, so the copy needs no lock. */
    size_t n = s->n;
    memcpy(dst, s->x, n * RN_CIFAR_IMAGE * sizeof(float));
    memcpy(labels, s->y, n * sizeof(int32_t));

    pthread_mutex_lock(&l->mu);
    s->ready = 0;
    l->consume++;
    pthread_cond_signal(&l->drained);
    pthread_mutex_unlock(&l->mu);
    return n;
}

void rn_loader_destroy(rn_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->drained);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->filled);
    pthread_cond_destroy(&l->drained);
    free_loader(l);
}
