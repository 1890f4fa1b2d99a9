/* NumPy .npy arrays. The reader memory-maps a little-endian float32 C-order array (format
 * versions 1.0, 2.0 and 3.0) and validates magic, header, dtype, order and that the shape
 * matches the file size; nothing is copied, so a 30 GB feature file costs no private memory.
 * The writer is atomic (see atomic.h) and writes version 1.0 when the header fits. */
#ifndef UARDA_NPY_H
#define UARDA_NPY_H

#include <stddef.h>
#include <stdint.h>
#include "uarda/error.h"

#define UA_NPY_MAX_DIMS 8

typedef struct ua_npy {
    int ndim;
    int64_t shape[UA_NPY_MAX_DIMS];
    size_t n_elems;        /* product of shape (1 for a 0-d array) */
    const float *data;     /* points into the mapping; valid until ua_npy_close */
    void *map;             /* private */
    size_t map_len;        /* private */
} ua_npy;

int  ua_npy_open(ua_npy *a, const char *path, ua_err *err);
void ua_npy_close(ua_npy *a);
/* Parses an in-memory .npy image (used by ua_npy_open and the fuzzer); on success a->data
 * points into buf and a->map is NULL. */
int  ua_npy_parse(ua_npy *a, const void *buf, size_t len, const char *name, ua_err *err);
/* "(4, 36, 2048)": a's shape as numpy prints it, into buf; returns buf */
const char *ua_npy_shape_str(const ua_npy *a, char *buf, size_t cap);
int  ua_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, ua_err *err);


/* Streaming writer for arrays larger than memory (the synthetic f30k preset writes 8.5 GB):
 * open with the full shape, append the elements in C order in any number of pieces, commit.
 * Atomic like ua_npy_write_f32; commit fails unless exactly product(shape) floats came. */
typedef struct ua_npy_writer {
    void *file;            /* private: ua_atomic_file* */
    size_t n_expected, n_written;
    char *path;
} ua_npy_writer;

int  ua_npy_writer_open(ua_npy_writer *w, const char *path, int ndim, const int64_t *shape, ua_err *err);
int  ua_npy_writer_append(ua_npy_writer *w, const float *data, size_t n, ua_err *err);
int  ua_npy_writer_commit(ua_npy_writer *w, ua_err *err);
void ua_npy_writer_abort(ua_npy_writer *w);

#endif
