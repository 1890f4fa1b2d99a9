/* libFuzzer target: ua_st_parse on arbitrary bytes must fail cleanly or give tensors whose
 * bytes all lie inside the input; verifying the checksum and the values then fails cleanly too. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "uarda/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t elem_size(ua_st_dtype d)
{
    return ua_st_dtype_size(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ua_st_file f;
    ua_err err;
    if (ua_st_parse(&f, data, size, "fuzz.safetensors", &err) == 0) {
        volatile unsigned sink = 0;
        for (size_t i = 0; i < f.n_tensors; i++) {
            const ua_st_tensor *t = &f.tensors[i];
            const uint8_t *p = t->data;
            size_t n = t->n_elems * elem_size(t->dtype);
            if (n && (p < data || p + n > data + size)) __builtin_trap();
            for (size_t k = 0; k < n; k++) sink += p[k];
            if (ua_st_find(&f, t->name) == NULL) __builtin_trap();
        }
        for (size_t i = 0; i < f.n_meta; i++)
            if (ua_st_meta(&f, f.meta_keys[i]) == NULL) __builtin_trap();
        /* the integrity checks read every byte of the data section and of each tensor */
        int v = ua_st_verify(&f, &err);
        if (v < -1 || v > 1 || (v == 1) != (ua_st_meta(&f, UA_ST_CHECKSUM_KEY) == NULL) ||
            (v < 0 && (strncmp(err.msg, "fuzz.safetensors: ", 18) != 0 || strchr(err.msg, '\n'))))
            __builtin_trap();
        for (size_t i = 0; i < f.n_tensors; i++)
            if (ua_st_check_finite(&f, &f.tensors[i], &err) &&
                (strncmp(err.msg, "fuzz.safetensors: ", 18) != 0 || strchr(err.msg, '\n')))
                __builtin_trap();
        (void)sink;
        ua_st_close(&f);
    } else {
        if (strncmp(err.msg, "fuzz.safetensors: ", 18) != 0 || strchr(err.msg, '\n')) __builtin_trap();
    }
    return 0;
}
