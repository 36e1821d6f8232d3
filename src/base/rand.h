/* rand.h — splitmix64, the one seeding generator the project uses: it turns any 64-bit seed
 * into well-mixed words (the sampler's xoshiro256** state, the random-model weights), with a
 * state that is trivially seekable and never stuck at zero.
 */
#ifndef GPTOSS_BASE_RAND_H
#define GPTOSS_BASE_RAND_H

#include <stdint.h>

/* Advances *state and returns the next output. */
static inline uint64_t rand_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
