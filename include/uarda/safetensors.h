/* safetensors files (huggingface format): 8-byte little-endian header length N, N bytes of
 * JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str:
 * str}}, then the raw little-endian tensor bytes. The reader memory-maps the file and
 * validates every offset against the file, the shape against the byte count, overlaps and
 * alignment. Dtypes: F32, F64, I32, I64 and F16 (IEEE half, half.h). The writers are atomic,
 * pad the header with spaces to a multiple of 8, lay tensors out in the order given and record
 * a checksum of the data section (every byte after the header: the tensors as laid out, padding
 * included) in __metadata__[UA_ST_CHECKSUM_KEY], which ua_st_verify checks on demand (the reader
 * alone does not read the data). */
#ifndef UARDA_SAFETENSORS_H
#define UARDA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "uarda/error.h"

#define UA_ST_MAX_DIMS 8
/* XXH3-64 (libxxhash, seed 0) of the data section, as 16 lowercase hex digits */
#define UA_ST_CHECKSUM_KEY "data_xxh3"

typedef enum { UA_ST_F32 = 0, UA_ST_F64, UA_ST_I32, UA_ST_I64, UA_ST_F16 } ua_st_dtype;

/* "F32", ... as the header spells it, and the bytes of one element */
const char *ua_st_dtype_name(ua_st_dtype d);
size_t      ua_st_dtype_size(ua_st_dtype d);

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
    const unsigned char *data_section;  /* private: every byte after the header */
    size_t data_len;                    /* private */
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
/* Reads the whole data section and checks it against the checksum the file records: 0 when it
 * matches, 1 when the file records none (written before uarda recorded checksums: nothing to
 * check), -1 with a message naming the file and both checksums when it differs (or the recorded
 * value is not 16 hex digits). */
int ua_st_verify(const ua_st_file *f, ua_err *err);
/* 0 when every element of t (a tensor of f) is finite (integer tensors always are), else -1
 * with a message naming the file, the tensor, the element's index and its value. */
int ua_st_check_finite(const ua_st_file *f, const ua_st_tensor *t, ua_err *err);

typedef struct ua_st_entry {
    const char *name;
    ua_st_dtype dtype;
    int ndim;
    int64_t shape[UA_ST_MAX_DIMS];
    const void *data;
} ua_st_entry;

/* meta: n_meta (key, value) string pairs, may be NULL when n_meta is 0; UA_ST_CHECKSUM_KEY is
 * the writer's own (added to every file) and refused from the caller */
int ua_st_write(const char *path, const ua_st_entry *tensors, size_t n_tensors,
                const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                ua_err *err);

/* A file written piece by piece, for tensors too large to hold in memory at once (a gallery
 * index): the tensors' names, dtypes and shapes (their .data unused) and the metadata at open;
 * then each tensor's bytes, in order within the tensor, in pieces of any size, the tensors in
 * any order (ua_st_stream_write: the next n bytes of tensor i); commit checks that every byte
 * was written and writes the header, with the data's checksum, last. The file is the one
 * ua_st_write makes of the same tensors, byte for byte, and appears only at commit (atomic.h).
 * How: src/io/safetensors_write.c. Memory: the header and a 1 MiB buffer, whatever the data's
 * size. After a failed write only abort remains; commit and abort free the stream. */
typedef struct ua_st_stream ua_st_stream;
ua_st_stream *ua_st_stream_open(const char *path, const ua_st_entry *tensors, size_t n_tensors,
                                const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                                ua_err *err);
int  ua_st_stream_write(ua_st_stream *s, size_t tensor, const void *data, size_t n, ua_err *err);
int  ua_st_stream_commit(ua_st_stream *s, ua_err *err);
void ua_st_stream_abort(ua_st_stream *s);

#endif
