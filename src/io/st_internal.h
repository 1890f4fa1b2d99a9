/* What the safetensors reader (safetensors.c) and writers (safetensors_write.c) share
 * (internal to src/io). */
#ifndef UARDA_IO_ST_INTERNAL_H
#define UARDA_IO_ST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
#define ST_NAME_SHOW 200 /* longest tensor name quoted in a message */

/* elements of a shape, and bytes at elem_size each; -1 on overflow */
static inline int ua_st_shape_bytes(int ndim, const int64_t *shape, size_t elem_size, size_t *n_elems, size_t *n_bytes)
{
    size_t n = 1;
    int has_zero = 0;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) has_zero = 1;
    if (has_zero) {
        n = 0;
    } else {
        for (int i = 0; i < ndim; i++) {
            uint64_t d = (uint64_t)shape[i];
            if (d > SIZE_MAX / elem_size || n > SIZE_MAX / elem_size / d) return -1;
            n *= (size_t)d;
        }
    }
    *n_elems = n;
    *n_bytes = n * elem_size;
    return 0;
}

#endif
