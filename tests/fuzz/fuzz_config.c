/* fuzz_config.c — config.json and generation_config.json: every field's type and bounds (a
 * config with absurd sizes must be refused before anything is allocated for it). */
#include "fuzz_common.h"

#include "base/error.h"
#include "model/model_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model_config c;
    if (model_config_parse((const char *)data, size, "config.json", &c) == GPTOSS_OK)
        (void)model_config_parse_generation((const char *)data, size, "generation_config.json", &c);
    error_clear();
    return 0;
}
