/* xoshiro256** generator with splitmix64 seeding (public-domain algorithms by Blackman and Vigna).
 * Everything here is bit-reproducible across platforms: the data order, augmentation and model
 * initialisation of a run depend on nothing but its seed. */
#include "base/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rn_rng_mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ 0x6a09e667f3bcc909ULL;
    uint64_t h = splitmix64(&x);
    x = h ^ b;
    return splitmix64(&x);
}

void rn_rng_seed(rn_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = rn_rng_mix(seed, stream);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rn_rng_u64(rn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rn_rng_uniform(rn_rng *r)
{
    return (float)(rn_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

uint32_t rn_rng_below(rn_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased and needs no division in the common case. */
    uint64_t m = (rn_rng_u64(r) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (rn_rng_u64(r) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float rn_rng_normal(rn_rng *r)
{
    /* 1 - u keeps the log argument in (0, 1], so the result is always finite. */
    double u1 = 1.0 - (double)(rn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
