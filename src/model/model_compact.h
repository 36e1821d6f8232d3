/* model_compact.h — compact checkpoints: a Hub checkpoint whose embedding and unembedding keep
 * rows only for the tokens a small model uses (see model_compact.c), as the demo model ships.
 */
#ifndef GPTOSS_MODEL_COMPACT_H
#define GPTOSS_MODEL_COMPACT_H

#include "gptoss.h"

/* Reads compact_dir (config.json, optional generation_config.json, model.compact.safetensors)
 * and writes the Hub checkpoint into out_dir (created if needed): the two configs and
 * model.safetensors, which is renamed into place last. Errors name the file and tensor. */
enum gptoss_status model_compact_expand(const char *compact_dir, const char *out_dir);

#endif
