/* libFuzzer target: ua_npy_parse on arbitrary bytes must fail cleanly or give an array whose
 * every element lies inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "uarda/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ua_npy a;
    ua_err err;
    if (ua_npy_parse(&a, data, size, "fuzz.npy", &err) == 0) {
        /* touch every element: ASan reports any read outside the input */
        volatile float sink = 0;
        for (size_t i = 0; i < a.n_elems; i++) sink += a.data[i];
        (void)sink;
        if (a.ndim < 0 || a.ndim > UA_NPY_MAX_DIMS) __builtin_trap();
        ua_npy_close(&a);
    } else {
        /* one line that names the input */
        if (strncmp(err.msg, "fuzz.npy: ", 10) != 0 || strchr(err.msg, '\n')) __builtin_trap();
    }
    return 0;
}
