/* safetensors writers (safetensors.h): ua_st_write, every tensor in memory at once, and
 * ua_st_stream, a file written piece by piece (a gallery index of many GB). Both lay the file out
 * the same way and build the same header, so that the same tensors give the same bytes.
 *
 * The stream knows the layout before any data (the tensors' names, dtypes and shapes are given at
 * open), and the header's length does not depend on the data: its one data-dependent value, the
 * checksum, is always 16 hex digits. So the stream reserves the header's bytes, writes each piece
 * of data at its final offset in the temporary file (pwrite), and writes the header last, over the
 * reserved bytes, once the checksum is known; then fsync and rename (atomic.h). The checksum's
 * XXH3 state takes the data section in file order: a piece that continues the tensor being hashed
 * (the first tensor not yet wholly hashed) is hashed as it is written; the tensors written out of
 * that order (a gallery's Gram matrices and global embeddings, written beside its region
 * embeddings block by block) are read back from the file at commit, in order, a chunk at a time. */
#include "io/st_internal.h"
#include "uarda/atomic.h"
#include "uarda/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"') sb_put(b, "\\\"", 2);
        else if (*p == '\\') sb_put(b, "\\\\", 2);
        else if (*p == '\n') sb_put(b, "\\n", 2);
        else if (*p == '\t') sb_put(b, "\\t", 2);
        else if (*p == '\r') sb_put(b, "\\r", 2);
        else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_str(b, esc);
        } else sb_put(b, (const char *)p, 1);
    }
    sb_put(b, "\"", 1);
}

static int dtype_valid(ua_st_dtype d)
{
    return d == UA_ST_F32 || d == UA_ST_F64 || d == UA_ST_I32 || d == UA_ST_I64 || d == UA_ST_F16;
}

/* Checks the metadata and the tensors (names, dtypes, shapes; their data too when with_data) and
 * lays the tensors out: tensor i at data-section offset begins[i], sizes[i] bytes, each at a
 * multiple of its element size. *total: the data section's length. */
static int layout(const char *path, const ua_st_entry *tensors, size_t n_tensors, const char *const *meta_keys,
                  const char *const *meta_values, size_t n_meta, int with_data, uint64_t *begins, size_t *sizes,
                  uint64_t *total, ua_err *err)
{
    if (n_tensors > 0 && !tensors) return ua_fail(err, "%s: cannot write: no tensor list", path);
    if (n_meta > 0 && (!meta_keys || !meta_values)) return ua_fail(err, "%s: cannot write: no metadata lists", path);
    for (size_t i = 0; i < n_meta; i++) {
        if (!meta_keys[i] || !meta_values[i])
            return ua_fail(err, "%s: cannot write: metadata entry %zu has no key or value", path, i);
        if (strcmp(meta_keys[i], UA_ST_CHECKSUM_KEY) == 0)
            return ua_fail(err, "%s: cannot write: metadata key '%s' is the writer's own (the data's checksum)", path,
                           UA_ST_CHECKSUM_KEY);
        for (size_t j = 0; j < i; j++)
            if (strcmp(meta_keys[i], meta_keys[j]) == 0)
                return ua_fail(err, "%s: cannot write: metadata key '%.*s' given twice", path, ST_NAME_SHOW,
                               meta_keys[i]);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        const ua_st_entry *t = &tensors[i];
        if (!t->name || !*t->name) return ua_fail(err, "%s: cannot write: tensor %zu has no name", path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return ua_fail(err, "%s: cannot write: '__metadata__' is not a tensor name", path);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->name, tensors[j].name) == 0)
                return ua_fail(err, "%s: cannot write: tensor '%.*s' given twice", path, ST_NAME_SHOW, t->name);
        if (!dtype_valid(t->dtype))
            return ua_fail(err, "%s: cannot write: tensor '%.*s' has an unknown dtype (%d)", path, ST_NAME_SHOW,
                           t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > UA_ST_MAX_DIMS)
            return ua_fail(err, "%s: cannot write: tensor '%.*s' has %d dimensions (0 to %d)", path, ST_NAME_SHOW,
                           t->name, t->ndim, UA_ST_MAX_DIMS);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0)
                return ua_fail(err, "%s: cannot write: tensor '%.*s' has negative dimension %" PRId64, path,
                               ST_NAME_SHOW, t->name, t->shape[d]);
        size_t esize = ua_st_dtype_size(t->dtype), n;
        if (ua_st_shape_bytes(t->ndim, t->shape, esize, &n, &sizes[i]) != 0 || sizes[i] > UINT64_MAX / 2 - off)
            return ua_fail(err, "%s: cannot write: tensor '%.*s' is too large", path, ST_NAME_SHOW, t->name);
        if (with_data && sizes[i] > 0 && !t->data)
            return ua_fail(err, "%s: cannot write: tensor '%.*s' has no data", path, ST_NAME_SHOW, t->name);
        /* each tensor starts at a multiple of its element size (only a wider tensor after an odd
         * number of narrower elements needs padding) */
        off = (off + esize - 1) / esize * esize;
        begins[i] = off;
        off += sizes[i];
    }
    *total = off;
    return 0;
}

/* The header JSON (padded with spaces so that the data starts at a multiple of 8) with the
 * checksum's 16 hex digits; *checksum_at: where they stand in it. */
static int build_header(const char *path, const ua_st_entry *tensors, size_t n_tensors, const char *const *meta_keys,
                        const char *const *meta_values, size_t n_meta, const uint64_t *begins, const size_t *sizes,
                        const char checksum[17], sbuf *hb, size_t *checksum_at, ua_err *err)
{
    sb_str(hb, "{\"__metadata__\":{");
    for (size_t i = 0; i < n_meta; i++) {
        sb_json_string(hb, meta_keys[i]);
        sb_str(hb, ":");
        sb_json_string(hb, meta_values[i]);
        sb_str(hb, ",");
    }
    sb_json_string(hb, UA_ST_CHECKSUM_KEY);
    sb_str(hb, ":");
    if (checksum_at) *checksum_at = hb->len + 1;
    sb_json_string(hb, checksum);
    sb_str(hb, "}");
    for (size_t i = 0; i < n_tensors; i++) {
        const ua_st_entry *t = &tensors[i];
        char num[64];
        sb_str(hb, ",");
        sb_json_string(hb, t->name);
        sb_str(hb, ":{\"dtype\":\"");
        sb_str(hb, ua_st_dtype_name(t->dtype));
        sb_str(hb, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            sb_str(hb, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", begins[i],
                 begins[i] + (uint64_t)sizes[i]);
        sb_str(hb, num);
    }
    sb_str(hb, "}");
    while (!hb->oom && (8 + hb->len) % 8 != 0) sb_str(hb, " ");
    if (hb->oom) return ua_fail(err, "%s: cannot write: out of memory building the header", path);
    if (hb->len > ST_MAX_HEADER) return ua_fail(err, "%s: cannot write: header of %zu bytes is too long", path, hb->len);
    return 0;
}

static void header_length_bytes(size_t len, unsigned char out[8])
{
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)len >> (8 * i));
}

/* ---- every tensor in memory ------------------------------------------------------------------ */

/* XXH3-64 of the data section as the writer lays it out (tensor i at begins[i], zeros between),
 * as 16 hex digits */
static int data_checksum(const ua_st_entry *tensors, size_t n_tensors, const uint64_t *begins, const size_t *sizes,
                         char out[17])
{
    XXH3_state_t *h = XXH3_createState();
    if (!h || XXH3_64bits_reset(h) != XXH_OK) {
        XXH3_freeState(h);
        return -1;
    }
    static const unsigned char zeros[8];
    uint64_t pos = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        if (begins[i] > pos) (void)XXH3_64bits_update(h, zeros, (size_t)(begins[i] - pos));
        if (sizes[i] > 0) (void)XXH3_64bits_update(h, tensors[i].data, sizes[i]);
        pos = begins[i] + sizes[i];
    }
    snprintf(out, 17, "%016" PRIx64, (uint64_t)XXH3_64bits_digest(h));
    XXH3_freeState(h);
    return 0;
}

int ua_st_write(const char *path, const ua_st_entry *tensors, size_t n_tensors,
                const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                ua_err *err)
{
    uint64_t *begins = ua_calloc(n_tensors, sizeof *begins, err), total;
    size_t *sizes = ua_calloc(n_tensors, sizeof *sizes, err);
    if (!begins || !sizes) {
        free(begins);
        free(sizes);
        return ua_fail_prefix(err, "%s", path);
    }
    int rc = -1;
    sbuf hb = {0};
    if (layout(path, tensors, n_tensors, meta_keys, meta_values, n_meta, 1, begins, sizes, &total, err)) goto out;
    char checksum[17];
    if (data_checksum(tensors, n_tensors, begins, sizes, checksum) != 0) {
        ua_fail(err, "%s: cannot write: out of memory for the checksum", path);
        goto out;
    }
    if (build_header(path, tensors, n_tensors, meta_keys, meta_values, n_meta, begins, sizes, checksum, &hb, NULL, err))
        goto out;

    ua_atomic_file f;
    if (ua_atomic_open(&f, path, err) != 0) goto out;
    unsigned char lenb[8];
    header_length_bytes(hb.len, lenb);
    int ok = fwrite(lenb, 1, 8, f.fp) == 8 && fwrite(hb.s, 1, hb.len, f.fp) == hb.len;
    uint64_t pos = 0;
    static const unsigned char zeros[8];
    for (size_t i = 0; ok && i < n_tensors; i++) {
        if (begins[i] > pos) ok = fwrite(zeros, 1, (size_t)(begins[i] - pos), f.fp) == begins[i] - pos;
        if (ok && sizes[i] > 0) ok = fwrite(tensors[i].data, 1, sizes[i], f.fp) == sizes[i];
        pos = begins[i] + sizes[i];
    }
    if (!ok) {
        int e = errno;
        ua_atomic_abort(&f);
        ua_fail(err, "%s: writing failed: %s", path, strerror(e));
        goto out;
    }
    rc = ua_atomic_commit(&f, err);
out:
    free(hb.s);
    free(begins);
    free(sizes);
    return rc;
}

/* ---- a file written piece by piece ----------------------------------------------------------- */

struct ua_st_stream {
    ua_atomic_file f;
    int fd;
    char *path;
    size_t n_tensors;
    char **names;
    uint64_t *begins;
    size_t *sizes;
    uint64_t *written;       /* bytes of each tensor written so far (in order within the tensor) */
    uint64_t data_start;     /* 8 + the header's length */
    uint64_t data_len;
    sbuf header;
    size_t checksum_at;      /* the checksum's 16 digits in the header */
    XXH3_state_t *xxh;
    size_t hash_tensor;      /* the first tensor not wholly hashed (n_tensors: all are) */
    uint64_t hash_pos;       /* data-section bytes hashed so far (padding included) */
    int failed;              /* a write failed: only abort remains */
};

static const unsigned char k_zeros[64];

/* hashes the padding before tensor i (from hash_pos to begins[i]) */
static void hash_padding(ua_st_stream *s, size_t i)
{
    while (s->hash_pos < s->begins[i]) {
        size_t n = s->begins[i] - s->hash_pos < sizeof k_zeros ? (size_t)(s->begins[i] - s->hash_pos) : sizeof k_zeros;
        (void)XXH3_64bits_update(s->xxh, k_zeros, n);
        s->hash_pos += n;
    }
}

/* bytes of tensor i hashed so far */
static uint64_t hashed_of(const ua_st_stream *s, size_t i)
{
    return s->hash_pos > s->begins[i] ? s->hash_pos - s->begins[i] : 0;
}

/* moves the hash past the tensors that are wholly hashed, and past empty ones (their padding) */
static void hash_advance(ua_st_stream *s)
{
    while (s->hash_tensor < s->n_tensors &&
           (s->sizes[s->hash_tensor] == 0 || hashed_of(s, s->hash_tensor) == s->sizes[s->hash_tensor])) {
        hash_padding(s, s->hash_tensor);
        s->hash_tensor++;
    }
}

static void stream_free(ua_st_stream *s)
{
    if (!s) return;
    for (size_t i = 0; s->names && i < s->n_tensors; i++) free(s->names[i]);
    free(s->names);
    free(s->begins);
    free(s->sizes);
    free(s->written);
    free(s->header.s);
    free(s->path);
    if (s->xxh) XXH3_freeState(s->xxh);
    free(s);
}

ua_st_stream *ua_st_stream_open(const char *path, const ua_st_entry *tensors, size_t n_tensors,
                                const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                                ua_err *err)
{
    ua_st_stream *s = calloc(1, sizeof *s);
    if (!s) {
        ua_fail(err, "%s: out of memory", path);
        return NULL;
    }
    s->n_tensors = n_tensors;
    s->fd = -1;
    s->path = malloc(strlen(path) + 1);
    s->names = calloc(n_tensors + 1, sizeof *s->names);
    s->begins = calloc(n_tensors + 1, sizeof *s->begins);
    s->sizes = calloc(n_tensors + 1, sizeof *s->sizes);
    s->written = calloc(n_tensors + 1, sizeof *s->written);
    s->xxh = XXH3_createState();
    if (!s->path || !s->names || !s->begins || !s->sizes || !s->written || !s->xxh || XXH3_64bits_reset(s->xxh) != XXH_OK) {
        ua_fail(err, "%s: out of memory", path);
        goto fail;
    }
    strcpy(s->path, path);
    if (layout(path, tensors, n_tensors, meta_keys, meta_values, n_meta, 0, s->begins, s->sizes, &s->data_len, err))
        goto fail;
    for (size_t i = 0; i < n_tensors; i++) {
        s->names[i] = malloc(strlen(tensors[i].name) + 1);
        if (!s->names[i]) {
            ua_fail(err, "%s: out of memory", path);
            goto fail;
        }
        strcpy(s->names[i], tensors[i].name);
    }
    /* the header as it will be, but for the checksum's digits */
    if (build_header(path, tensors, n_tensors, meta_keys, meta_values, n_meta, s->begins, s->sizes, "0000000000000000",
                     &s->header, &s->checksum_at, err))
        goto fail;
    s->data_start = 8 + s->header.len;
    if (ua_atomic_open(&s->f, path, err)) goto fail;
    s->fd = fileno(s->f.fp);
    hash_advance(s);
    return s;
fail:
    stream_free(s);
    return NULL;
}

/* n bytes at file offset `at`, all of them (pwrite may write fewer) */
static int pwrite_all(int fd, const void *data, size_t n, uint64_t at)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
        at += (uint64_t)w;
    }
    return 0;
}

int ua_st_stream_write(ua_st_stream *s, size_t tensor, const void *data, size_t n, ua_err *err)
{
    if (s->failed) return ua_fail(err, "%s: an earlier write to this file failed", s->path);
    if (tensor >= s->n_tensors) return ua_fail(err, "%s: cannot write: no tensor %zu (the file has %zu)", s->path, tensor, s->n_tensors);
    if (n > s->sizes[tensor] - s->written[tensor])
        return ua_fail(err, "%s: cannot write %zu more bytes to tensor '%.*s': %" PRIu64 " of its %zu are written", s->path,
                       n, ST_NAME_SHOW, s->names[tensor], s->written[tensor], s->sizes[tensor]);
    if (n == 0) return 0;
    const uint64_t pos = s->begins[tensor] + s->written[tensor];
    if (pwrite_all(s->fd, data, n, s->data_start + pos)) {
        int e = errno;
        s->failed = 1;
        return ua_fail(err, "%s: writing failed: %s", s->path, strerror(e ? e : EIO));
    }
    /* the next bytes of the tensor being hashed, all of whose earlier bytes were hashed: hashed now */
    if (tensor == s->hash_tensor && hashed_of(s, tensor) == s->written[tensor]) {
        hash_padding(s, tensor);
        (void)XXH3_64bits_update(s->xxh, data, n);
        s->hash_pos = pos + n;
        s->written[tensor] += n;
        hash_advance(s);
        return 0;
    }
    s->written[tensor] += n;
    return 0;
}

/* hashes the rest of the data section, read back from the file */
static int hash_rest(ua_st_stream *s, ua_err *err)
{
    enum { CHUNK = 1 << 20 };
    if (s->hash_tensor == s->n_tensors) return 0;
    /* the temporary file is open for writing only: read it through a descriptor of its own */
    int fd = open(s->f.tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ua_fail(err, "%s: cannot read the written data back for its checksum: %s", s->path, strerror(errno));
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return ua_fail(err, "%s: out of memory for the checksum", s->path);
    }
    while (s->hash_tensor < s->n_tensors) {
        const size_t i = s->hash_tensor;
        hash_padding(s, i);
        const uint64_t end = s->begins[i] + s->sizes[i];
        while (s->hash_pos < end) {
            size_t want = end - s->hash_pos < CHUNK ? (size_t)(end - s->hash_pos) : CHUNK;
            ssize_t got = pread(fd, buf, want, (off_t)(s->data_start + s->hash_pos));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                int e = got < 0 ? errno : EIO;
                free(buf);
                close(fd);
                return ua_fail(err, "%s: reading the written data back for its checksum failed: %s", s->path, strerror(e));
            }
            (void)XXH3_64bits_update(s->xxh, buf, (size_t)got);
            s->hash_pos += (uint64_t)got;
        }
        hash_advance(s);
    }
    free(buf);
    close(fd);
    return 0;
}

int ua_st_stream_commit(ua_st_stream *s, ua_err *err)
{
    int rc = -1;
    if (s->failed) {
        ua_fail(err, "%s: an earlier write to this file failed", s->path);
        goto out;
    }
    for (size_t i = 0; i < s->n_tensors; i++)
        if (s->written[i] != s->sizes[i]) {
            ua_fail(err, "%s: cannot finish: tensor '%.*s' has %" PRIu64 " of its %zu bytes written", s->path,
                    ST_NAME_SHOW, s->names[i], s->written[i], s->sizes[i]);
            goto out;
        }
    if (fflush(s->f.fp) != 0 || ftruncate(s->fd, (off_t)(s->data_start + s->data_len)) != 0) {
        ua_fail(err, "%s: writing failed: %s", s->path, strerror(errno));
        goto out;
    }
    if (hash_rest(s, err)) goto out;
    char digits[17];
    snprintf(digits, sizeof digits, "%016" PRIx64, (uint64_t)XXH3_64bits_digest(s->xxh));
    memcpy(s->header.s + s->checksum_at, digits, 16);
    unsigned char lenb[8];
    header_length_bytes(s->header.len, lenb);
    if (pwrite_all(s->fd, lenb, 8, 0) || pwrite_all(s->fd, s->header.s, s->header.len, 8)) {
        ua_fail(err, "%s: writing the header failed: %s", s->path, strerror(errno ? errno : EIO));
        goto out;
    }
    rc = ua_atomic_commit(&s->f, err);   /* fsync, rename, fsync of the folder; removes the temp file on failure */
out:
    if (rc) ua_atomic_abort(&s->f);
    stream_free(s);
    return rc;
}

void ua_st_stream_abort(ua_st_stream *s)
{
    if (!s) return;
    ua_atomic_abort(&s->f);
    stream_free(s);
}
