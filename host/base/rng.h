/* Small deterministic random numbers (xoshiro256**, seeded through splitmix64) with a plain-struct
 * state. Streams derived from (seed, stream) are independent, so the loader can give every
 * (epoch, step) its own stream and a resumed run replays exactly the same randomness. */
#ifndef RN_BASE_RNG_H
#define RN_BASE_RNG_H

#include <stdint.h>

typedef struct rn_rng {
    uint64_t s[4];
} rn_rng;

/* Seeds the state from (seed, stream); different streams give unrelated sequences. */
void rn_rng_seed(rn_rng *r, uint64_t seed, uint64_t stream);

/* Combines several numbers (e.g. epoch and step) into one stream id. */
uint64_t rn_rng_mix(uint64_t a, uint64_t b);

uint64_t rn_rng_u64(rn_rng *r);
/* Uniform in [0, 1), 24 random bits. */
float rn_rng_uniform(rn_rng *r);
/* Uniform integer in [0, n), without modulo bias; n must be > 0. */
uint32_t rn_rng_below(rn_rng *r, uint32_t n);
/* Standard normal (Box-Muller, one value per call). */
float rn_rng_normal(rn_rng *r);

#endif
