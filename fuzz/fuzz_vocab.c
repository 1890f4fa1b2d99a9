/* libFuzzer target: ua_vocab_parse on arbitrary bytes must fail cleanly with one line naming
 * the input, or give a vocabulary whose every word round-trips through the lookup. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "uarda/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ua_vocab v;
    ua_err err;
    if (ua_vocab_parse(&v, (const char *)data, size, "fuzz.json", &err) == 0) {
        if (v.n < 4 || strcmp(v.words[UA_UNK], "<unk>") != 0) __builtin_trap();
        for (int i = 0; i < v.n; i++)
            if (ua_vocab_find(&v, v.words[i]) != i) __builtin_trap();
        ua_vocab_free(&v);
    } else if (strncmp(err.msg, "fuzz.json", 9) != 0 || strchr(err.msg, '\n')) {
        __builtin_trap();
    }
    return 0;
}
