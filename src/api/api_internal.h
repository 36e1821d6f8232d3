/* api_internal.h — what the public API's files share: the layer object behind each handle. */
#ifndef GPTOSS_API_INTERNAL_H
#define GPTOSS_API_INTERNAL_H

#include "gptoss.h"
#include "tokenizer/tokenizer.h"

/* The layer tokenizer behind a public handle; lives as long as the handle. */
const struct tokenizer *api_tokenizer_inner(const struct gptoss_tokenizer *t);

#endif
