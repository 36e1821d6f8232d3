/* kv_internal.h — inspection hooks on the KV block manager, for tests: one block's state and a
 * full walk of the free lists and hash maps that checks every invariant kv.c relies on.
 */
#ifndef GPTOSS_KV_INTERNAL_H
#define GPTOSS_KV_INTERNAL_H

#include "kv/kv.h"

#include <stdbool.h>
#include <stdint.h>

/* References held on `block` of `group` (0: on the free list). */
uint32_t kv_manager_block_refs(const struct kv_manager *m, enum kv_group group, uint32_t block);

/* Whether `block` of `group` carries a hash that prefix lookups can find. */
bool kv_manager_block_cached(const struct kv_manager *m, enum kv_group group, uint32_t block);

/* Walks every pool in O(n_blocks) and aborts (GPTOSS_ASSERT) on an inconsistency: a broken free
 * list link, a free count that does not match, a cached block missing from its map or a map
 * entry for an uncached block. */
void kv_manager_check(const struct kv_manager *m);

#endif
