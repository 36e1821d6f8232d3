/* base.h — the face of the base layer: everything every other layer may use.
 *
 * base needs nothing but libc: error reporting (error.h), aborting small allocations
 * (xalloc.h), growable byte and id buffers (buf.h), a bump arena (arena.h), read-only file
 * mappings (file.h), UTF-8 helpers (utf8.h) and logging (log.h).
 */
#ifndef GPTOSS_BASE_H
#define GPTOSS_BASE_H

#include "arena.h"
#include "buf.h"
#include "error.h"
#include "file.h"
#include "log.h"
#include "pages.h"
#include "rand.h"
#include "utf8.h"
#include "xalloc.h"

#endif
