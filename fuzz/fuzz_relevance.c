/* libFuzzer target: a checkpoint's relevance state (JSON under __metadata__["relevance"]) on
 * arbitrary bytes must fail cleanly with one line naming the input and leave the state as it
 * was, or load a state that writes back to JSON which loads again to the same text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/relevance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    cfg.ring_size = 8;
    cfg.min_samples = 4;
    ua_relevance_state s, t;
    ua_err err;
    if (ua_relevance_init(&s, &cfg, &err) || ua_relevance_init(&t, &cfg, &err)) __builtin_trap();
    char *before = ua_relevance_state_to_json(&s);
    if (ua_relevance_state_from_json(&s, (const char *)data, size, "fuzz.json", &err) == 0) {
        char *once = ua_relevance_state_to_json(&s);
        if (!once || ua_relevance_state_from_json(&t, once, strlen(once), "again", &err) != 0) __builtin_trap();
        char *twice = ua_relevance_state_to_json(&t);
        if (!twice || strcmp(once, twice) != 0) __builtin_trap();
        free(once);
        free(twice);
    } else {
        char *after = ua_relevance_state_to_json(&s);
        if (strncmp(err.msg, "fuzz.json", 9) != 0 || strchr(err.msg, '\n') || !after || strcmp(before, after) != 0)
            __builtin_trap();
        free(after);
    }
    free(before);
    ua_relevance_free(&s);
    ua_relevance_free(&t);
    return 0;
}
