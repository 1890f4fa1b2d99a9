/* safetensors reader: memory-mapped, validated (the writers: safetensors_write.c). */
#include "io/mapfile.h"
#include "io/st_internal.h"
#include "uarda/safetensors.h"
#include "uarda/finite.h"
#include "uarda/half.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "uarda's safetensors code reads and writes little-endian tensors in place"
#endif


const char *ua_st_dtype_name(ua_st_dtype d)
{
    switch (d) {
    case UA_ST_F32: return "F32";
    case UA_ST_F64: return "F64";
    case UA_ST_I32: return "I32";
    case UA_ST_I64: return "I64";
    case UA_ST_F16: return "F16";
    }
    return "?";
}

size_t ua_st_dtype_size(ua_st_dtype d)
{
    return (d == UA_ST_F64 || d == UA_ST_I64) ? 8 : d == UA_ST_F16 ? 2 : 4;
}

/* "[1024, 2048]" */
static void format_shape(char *out, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = 0;
    int w = snprintf(out, cap, "[");
    if (w > 0) used = (size_t)w;
    for (int i = 0; i < ndim && used < cap; i++) {
        w = snprintf(out + used, cap - used, "%s%" PRId64, i ? ", " : "", shape[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (used < cap) snprintf(out + used, cap - used, "]");
}

static char *dup_str(const char *s, ua_err *err)
{
    size_t n = strlen(s) + 1;
    char *d = ua_malloc(n, err);
    if (d) memcpy(d, s, n);
    return d;
}

/* a JSON number that is a non-negative integer no larger than max */
static int json_uint(const cJSON *v, double max, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d != floor(d) || d > max) return -1;
    *out = (uint64_t)d;
    return 0;
}

void ua_st_close(ua_st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    if (f->map) munmap(f->map, f->map_len);
    memset(f, 0, sizeof *f);
}

typedef struct {
    uint64_t begin, end;
    size_t index;
} st_span;

static int span_cmp(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* first name that appears twice in names[0..n), or NULL */
static const char *find_duplicate(char **names, size_t n, ua_err *err, int *failed)
{
    *failed = 0;
    if (n < 2) return NULL;
    char **sorted = ua_malloc(n * sizeof *sorted, err);
    if (!sorted) { *failed = 1; return NULL; }
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, str_cmp);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) dup = sorted[i];
    free(sorted);
    return dup;
}

static int parse_meta(ua_st_file *f, const cJSON *meta, const char *name, ua_err *err)
{
    if (!cJSON_IsObject(meta)) return ua_fail(err, "%s: __metadata__ is not a JSON object", name);
    size_t n = (size_t)cJSON_GetArraySize(meta);
    f->meta_keys = ua_calloc(n, sizeof *f->meta_keys, err);
    f->meta_values = ua_calloc(n, sizeof *f->meta_values, err);
    if (!f->meta_keys || !f->meta_values) return ua_fail_prefix(err, "%s", name);
    for (const cJSON *m = meta->child; m; m = m->next) {
        const char *key = m->string ? m->string : "";
        if (!cJSON_IsString(m) || !m->valuestring)
            return ua_fail(err, "%s: __metadata__ value of '%.*s' is not a string", name, ST_NAME_SHOW, key);
        f->meta_keys[f->n_meta] = dup_str(key, err);
        f->meta_values[f->n_meta] = dup_str(m->valuestring, err);
        if (!f->meta_keys[f->n_meta] || !f->meta_values[f->n_meta]) {
            f->n_meta++;
            return ua_fail_prefix(err, "%s", name);
        }
        f->n_meta++;
    }
    int failed;
    const char *dup = find_duplicate(f->meta_keys, f->n_meta, err, &failed);
    if (failed) return ua_fail_prefix(err, "%s", name);
    if (dup) return ua_fail(err, "%s: __metadata__ key '%.*s' appears twice", name, ST_NAME_SHOW, dup);
    return 0;
}

static int parse_tensor(ua_st_tensor *t, const cJSON *e, const unsigned char *data, size_t data_len,
                        size_t data_file_offset, uint64_t *begin_out, uint64_t *end_out,
                        const char *name, ua_err *err)
{
    const char *tn = e->string ? e->string : "";
    if (!cJSON_IsObject(e))
        return ua_fail(err, "%s: entry for tensor '%.*s' is not a JSON object", name, ST_NAME_SHOW, tn);
    t->name = dup_str(tn, err);
    if (!t->name) return ua_fail_prefix(err, "%s", name);

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!dt) return ua_fail(err, "%s: tensor '%.*s' has no dtype", name, ST_NAME_SHOW, tn);
    if (!cJSON_IsString(dt) || !dt->valuestring)
        return ua_fail(err, "%s: tensor '%.*s' has a dtype that is not a string", name, ST_NAME_SHOW, tn);
    const char *ds = dt->valuestring;
    if (strcmp(ds, "F32") == 0) t->dtype = UA_ST_F32;
    else if (strcmp(ds, "F64") == 0) t->dtype = UA_ST_F64;
    else if (strcmp(ds, "I32") == 0) t->dtype = UA_ST_I32;
    else if (strcmp(ds, "I64") == 0) t->dtype = UA_ST_I64;
    else if (strcmp(ds, "F16") == 0) t->dtype = UA_ST_F16;
    else
        return ua_fail(err, "%s: tensor '%.*s' has dtype %.40s, which is not supported (F32, F64, I32, I64, F16)",
                       name, ST_NAME_SHOW, tn, ds);
    size_t esize = ua_st_dtype_size(t->dtype);

    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!sh) return ua_fail(err, "%s: tensor '%.*s' has no shape", name, ST_NAME_SHOW, tn);
    if (!cJSON_IsArray(sh))
        return ua_fail(err, "%s: tensor '%.*s' has a shape that is not a JSON array", name, ST_NAME_SHOW, tn);
    int nd = 0;
    for (const cJSON *d = sh->child; d; d = d->next) {
        if (nd >= UA_ST_MAX_DIMS)
            return ua_fail(err, "%s: tensor '%.*s' has more than %d dimensions", name, ST_NAME_SHOW, tn,
                           UA_ST_MAX_DIMS);
        uint64_t v;
        if (json_uint(d, 9007199254740992.0, &v) != 0)
            return ua_fail(err, "%s: tensor '%.*s' has a shape entry that is not a non-negative integer",
                           name, ST_NAME_SHOW, tn);
        t->shape[nd++] = (int64_t)v;
    }
    t->ndim = nd;
    char shape_txt[256];
    format_shape(shape_txt, sizeof shape_txt, t->ndim, t->shape);
    size_t n_bytes;
    if (ua_st_shape_bytes(t->ndim, t->shape, esize, &t->n_elems, &n_bytes) != 0)
        return ua_fail(err, "%s: tensor '%.*s' has shape %s, too many elements (size overflows)",
                       name, ST_NAME_SHOW, tn, shape_txt);

    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!off) return ua_fail(err, "%s: tensor '%.*s' has no data_offsets", name, ST_NAME_SHOW, tn);
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || json_uint(off->child, 1.8e19, &b) != 0 ||
        json_uint(off->child->next, 1.8e19, &en) != 0)
        return ua_fail(err, "%s: tensor '%.*s' has data_offsets that are not [begin, end] non-negative integers",
                       name, ST_NAME_SHOW, tn);
    if (b > en)
        return ua_fail(err, "%s: tensor '%.*s' has data_offsets [%" PRIu64 ", %" PRIu64 "] with begin after end",
                       name, ST_NAME_SHOW, tn, b, en);
    if (en > data_len)
        return ua_fail(err, "%s: tensor '%.*s' has data_offsets [%" PRIu64 ", %" PRIu64 "] past the end of the data (%zu bytes)",
                       name, ST_NAME_SHOW, tn, b, en, data_len);
    if (en - b != n_bytes)
        return ua_fail(err, "%s: tensor '%.*s' has data_offsets [%" PRIu64 ", %" PRIu64 "] of %" PRIu64 " bytes, but shape %s of %s needs %zu",
                       name, ST_NAME_SHOW, tn, b, en, en - b, shape_txt, ua_st_dtype_name(t->dtype), n_bytes);
    const unsigned char *p = data + b;
    if (n_bytes > 0 && (uintptr_t)p % esize != 0)
        return ua_fail(err, "%s: tensor '%.*s' data at file offset %zu is not aligned to its %zu-byte elements",
                       name, ST_NAME_SHOW, tn, data_file_offset + (size_t)b, esize);
    t->data = p;
    *begin_out = b;
    *end_out = en;
    return 0;
}

static int parse_into(ua_st_file *f, const unsigned char *b, size_t len, const char *name, ua_err *err)
{
    if (len < 8)
        return ua_fail(err, "%s: truncated file: %zu bytes, a safetensors file starts with an 8-byte header length",
                       name, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (hlen > ST_MAX_HEADER)
        return ua_fail(err, "%s: bad header length %" PRIu64 " (more than %" PRIu64 " bytes; not a safetensors file?)",
                       name, hlen, ST_MAX_HEADER);
    if (hlen > len - 8)
        return ua_fail(err, "%s: truncated header: header length says %" PRIu64 " bytes, the file has %zu after it",
                       name, hlen, len - 8);
    if (hlen < 2) return ua_fail(err, "%s: header is not a JSON object (%" PRIu64 " bytes)", name, hlen);

    /* cJSON gets its own NUL-terminated copy, so that it can never read past the header */
    char *text = ua_malloc((size_t)hlen + 1, err);
    if (!text) return ua_fail_prefix(err, "%s", name);
    memcpy(text, b + 8, (size_t)hlen);
    text[hlen] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + hlen ? (size_t)(end - text) : 0;
        free(text);
        return ua_fail(err, "%s: header is not valid JSON (error near header byte %zu)", name, at);
    }
    size_t tail = end && end >= text && end <= text + hlen ? (size_t)(end - text) : (size_t)hlen;
    for (; tail < hlen; tail++) {
        char c = text[tail];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    }
    free(text);
    int rc = -1;
    if (tail < hlen) {
        ua_fail(err, "%s: header has junk after the JSON object at header byte %zu", name, tail);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        ua_fail(err, "%s: header is not a JSON object", name);
        goto done;
    }

    size_t data_off = 8 + (size_t)hlen;
    const unsigned char *data = b + data_off;
    size_t data_len = len - data_off;
    f->data_section = data;
    f->data_len = data_len;
    size_t n_entries = (size_t)cJSON_GetArraySize(root);
    f->tensors = ua_calloc(n_entries, sizeof *f->tensors, err);
    st_span *spans = ua_calloc(n_entries, sizeof *spans, err);
    if (!f->tensors || !spans) {
        free(spans);
        ua_fail_prefix(err, "%s", name);
        goto done;
    }
    int n_meta_objs = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e->string && strcmp(e->string, "__metadata__") == 0) {
            if (n_meta_objs++) {
                ua_fail(err, "%s: __metadata__ appears twice", name);
                goto fail_spans;
            }
            if (parse_meta(f, e, name, err) != 0) goto fail_spans;
            continue;
        }
        size_t i = f->n_tensors++;
        if (parse_tensor(&f->tensors[i], e, data, data_len, data_off, &spans[i].begin, &spans[i].end,
                         name, err) != 0)
            goto fail_spans;
        spans[i].index = i;
    }

    /* unique names */
    {
        char **names = ua_malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *names, err);
        if (!names) {
            ua_fail_prefix(err, "%s", name);
            goto fail_spans;
        }
        for (size_t i = 0; i < f->n_tensors; i++) names[i] = f->tensors[i].name;
        int failed;
        const char *dup = find_duplicate(names, f->n_tensors, err, &failed);
        if (failed) ua_fail_prefix(err, "%s", name);
        else if (dup) ua_fail(err, "%s: tensor '%.*s' appears twice", name, ST_NAME_SHOW, dup);
        free(names);
        if (failed || dup) goto fail_spans;
    }

    /* no two tensors share a byte */
    qsort(spans, f->n_tensors, sizeof *spans, span_cmp);
    {
        uint64_t max_end = 0, max_begin = 0;
        size_t max_idx = 0;
        int any = 0;
        for (size_t k = 0; k < f->n_tensors; k++) {
            const st_span *s = &spans[k];
            if (s->begin == s->end) continue;
            if (any && s->begin < max_end) {
                ua_fail(err, "%s: tensors '%.*s' [%" PRIu64 ", %" PRIu64 "] and '%.*s' [%" PRIu64 ", %" PRIu64 "] overlap",
                        name, ST_NAME_SHOW, f->tensors[max_idx].name, max_begin, max_end, ST_NAME_SHOW,
                        f->tensors[s->index].name, s->begin, s->end);
                goto fail_spans;
            }
            if (!any || s->end > max_end) {
                max_end = s->end;
                max_begin = s->begin;
                max_idx = s->index;
            }
            any = 1;
        }
    }
    free(spans);
    rc = 0;
    goto done;

fail_spans:
    free(spans);
done:
    cJSON_Delete(root);
    return rc;
}

int ua_st_parse(ua_st_file *f, const void *buf, size_t len, const char *name, ua_err *err)
{
    memset(f, 0, sizeof *f);
    if (!name) name = "<safetensors>";
    if (!buf) len = 0;
    static const unsigned char empty[8];
    f->path = dup_str(name, err);
    if (!f->path) return -1;
    if (parse_into(f, buf ? buf : empty, len, name, err) != 0) {
        ua_st_close(f);
        return -1;
    }
    return 0;
}

int ua_st_open(ua_st_file *f, const char *path, ua_err *err)
{
    memset(f, 0, sizeof *f);
    void *map;
    size_t len;
    if (ua_map_file(path, 8, "a safetensors file starts with an 8-byte header length", &map, &len, err)) return -1;
    if (ua_st_parse(f, map, len, path, err) != 0) {
        munmap(map, len);
        return -1;
    }
    f->map = map;
    f->map_len = len;
    return 0;
}

void ua_st_prefault(const ua_st_file *f, const void *p, size_t n)
{
#ifdef MADV_POPULATE_READ
    const char *base = f ? (const char *)f->map : NULL, *q = p;
    if (!base || !q || n == 0 || q < base || q > base + f->map_len || n > (size_t)(base + f->map_len - q)) return;
    const uintptr_t page = 4096, start = (uintptr_t)q / page * page;
    (void)madvise((void *)start, (uintptr_t)q + n - start, MADV_POPULATE_READ);
#else
    (void)f; (void)p; (void)n;
#endif
}

const ua_st_tensor *ua_st_find(const ua_st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const float *ua_st_get_f32(const ua_st_file *f, const char *name, int ndim, const int64_t *shape,
                           ua_err *err)
{
    const char *file = f && f->path ? f->path : "<safetensors>";
    const ua_st_tensor *t = ua_st_find(f, name);
    if (!t) {
        ua_fail(err, "%s: no tensor '%.*s'", file, ST_NAME_SHOW, name ? name : "(null)");
        return NULL;
    }
    if (t->dtype != UA_ST_F32) {
        ua_fail(err, "%s: tensor '%.*s' has dtype %s, expected F32", file, ST_NAME_SHOW, name,
                ua_st_dtype_name(t->dtype));
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        if (t->shape[i] != shape[i]) same = 0;
    if (!same) {
        char have[256], want[256];
        format_shape(have, sizeof have, t->ndim, t->shape);
        if (ndim < 0 || ndim > UA_ST_MAX_DIMS) snprintf(want, sizeof want, "(%d dimensions)", ndim);
        else format_shape(want, sizeof want, ndim, shape);
        ua_fail(err, "%s: tensor '%.*s' has shape %s, expected %s", file, ST_NAME_SHOW, name, have, want);
        return NULL;
    }
    return (const float *)t->data;
}

const char *ua_st_meta(const ua_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

/* ---- integrity ---- */

/* the recorded checksum: exactly 16 hex digits */
static int parse_checksum(const char *v, uint64_t *out)
{
    uint64_t x = 0;
    int n = 0;
    for (; v[n]; n++) {
        char c = v[n];
        int d = -1;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        if (d < 0 || n >= 16) return -1;
        x = x << 4 | (uint64_t)d;
    }
    if (n != 16) return -1;
    *out = x;
    return 0;
}

int ua_st_verify(const ua_st_file *f, ua_err *err)
{
    const char *file = f && f->path ? f->path : "<safetensors>";
    const char *v = ua_st_meta(f, UA_ST_CHECKSUM_KEY);
    if (!v) return 1;
    uint64_t want;
    if (parse_checksum(v, &want) != 0)
        return ua_fail(err, "%s: __metadata__ %s = \"%.40s\" is not 16 hex digits (corrupt header?)", file,
                       UA_ST_CHECKSUM_KEY, v);
    uint64_t have = XXH3_64bits(f->data_section, f->data_len);
    if (have != want)
        return ua_fail(err, "%s: corrupt: the tensor data's checksum (%s) is %016" PRIx64 ", the file records %016" PRIx64,
                       file, UA_ST_CHECKSUM_KEY, have, want);
    return 0;
}

int ua_st_check_finite(const ua_st_file *f, const ua_st_tensor *t, ua_err *err)
{
    if (t->dtype != UA_ST_F32 && t->dtype != UA_ST_F64 && t->dtype != UA_ST_F16) return 0;
    long long found = -1;
    if (t->dtype == UA_ST_F16) {
        const uint16_t *h = t->data;
        for (size_t i = 0; i < t->n_elems && found < 0; i++)
            if (!ua_half_finite(h[i])) found = (long long)i;
    } else {
        found = t->dtype == UA_ST_F32 ? ua_first_nonfinite(t->data, t->n_elems) : ua_first_nonfinite_f64(t->data, t->n_elems);
    }
    if (found < 0) return 0;
    size_t at = (size_t)found;
    double v = t->dtype == UA_ST_F32   ? (double)((const float *)t->data)[at]
               : t->dtype == UA_ST_F16 ? (double)ua_half_to_float(((const uint16_t *)t->data)[at])
                                       : ((const double *)t->data)[at];
    /* the element's coordinates too, for a tensor of more than one dimension */
    char coords[256] = "";
    if (t->ndim > 1) {
        int64_t idx[UA_ST_MAX_DIMS];
        size_t r = at;
        for (int d = t->ndim - 1; d >= 0; d--) {
            idx[d] = (int64_t)(r % (size_t)t->shape[d]);
            r /= (size_t)t->shape[d];
        }
        char shape[200];
        format_shape(shape, sizeof shape, t->ndim, idx);
        snprintf(coords, sizeof coords, " %s", shape);
    }
    return ua_fail(err, "%s: tensor '%.*s' element %zu%s is %s (the file is corrupt or was written from a diverged model)",
                   f && f->path ? f->path : "<safetensors>", ST_NAME_SHOW, t->name, at, coords,
                   isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
}
