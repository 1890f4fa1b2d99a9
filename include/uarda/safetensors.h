/* safetensors files (huggingface format): 8-byte little-endian header length N, N bytes of
 * JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str:
 * str}}, then the raw little-endian tensor bytes. The reader memory-maps the file and
 * validates every offset against the file, the shape against the byte count, overlaps and
 * alignment. The writer is atomic, pads the header with spaces to a multiple of 8 and lays
 * tensors out in the order given. */
#ifndef UARDA_SAFETENSORS_H
#define UARDA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "uarda/error.h"

#define UA_ST_MAX_DIMS 8

typedef enum { UA_ST_F32 = 0, UA_ST_F64, UA_ST_I32, UA_ST_I64 } ua_st_dtype;

typedef struct ua_st_tensor {
    char *name;
    ua_st_dtype dtype;
    int ndim;
    int64_t shape[UA_ST_MAX_DIMS];
    size_t n_elems;
    const void *data;      /* into the mapping */
} ua_st_tensor;

typedef struct ua_st_file {
    char *path;
    ua_st_tensor *tensors;
    size_t n_tensors;
    char **meta_keys, **meta_values;
    size_t n_meta;
    void *map;             /* private */
    size_t map_len;        /* private */
} ua_st_file;

int  ua_st_open(ua_st_file *f, const char *path, ua_err *err);
/* parse an in-memory image (the fuzzer's entry point); data pointers point into buf */
int  ua_st_parse(ua_st_file *f, const void *buf, size_t len, const char *name, ua_err *err);
void ua_st_close(ua_st_file *f);
const ua_st_tensor *ua_st_find(const ua_st_file *f, const char *name);
/* A hint: map the pages of [p, p + n) (inside f's mapping) in one call now, rather than a page
 * fault per 64 KiB later, for data that is about to be read whole (the parameters of a
 * checkpoint, a search's gallery). Without MADV_POPULATE_READ (Linux < 5.14) it does nothing. */
void ua_st_prefault(const ua_st_file *f, const void *p, size_t n);
/* The named tensor as F32 with exactly the given shape, or NULL and a message that names the
 * file, the tensor and what is wrong (missing, dtype, shape). */
const float *ua_st_get_f32(const ua_st_file *f, const char *name, int ndim, const int64_t *shape,
                           ua_err *err);
/* metadata value or NULL */
const char *ua_st_meta(const ua_st_file *f, const char *key);

typedef struct ua_st_entry {
    const char *name;
    ua_st_dtype dtype;
    int ndim;
    int64_t shape[UA_ST_MAX_DIMS];
    const void *data;
} ua_st_entry;

/* meta: n_meta (key, value) string pairs, may be NULL when n_meta is 0 */
int ua_st_write(const char *path, const ua_st_entry *tensors, size_t n_tensors,
                const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                ua_err *err);

#endif
