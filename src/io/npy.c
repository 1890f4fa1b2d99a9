/* NumPy .npy reader (memory-mapped, validated) and atomic writer. */
#include "io/mapfile.h"
#include "uarda/npy.h"
#include "uarda/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "uarda's .npy code reads and writes little-endian float32 in place"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21

/* "(2, 3)", "(5,)", "()" as numpy writes a shape */
static void format_shape(char *out, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = 0;
    int w = snprintf(out, cap, "(");
    if (w > 0) used = (size_t)w;
    for (int i = 0; i < ndim && used < cap; i++) {
        w = snprintf(out + used, cap - used, "%s%" PRId64, i ? ", " : "", shape[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (used < cap) snprintf(out + used, cap - used, ndim == 1 ? ",)" : ")");
}

/* ---- header dict parser: a Python literal such as
 *      {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                    ---- */

typedef struct {
    const char *s;     /* header text (not NUL-terminated) */
    size_t n, pos;
    const char *name;  /* file name for messages */
    ua_err *err;
} hdr_parser;

static void skip_ws(hdr_parser *p)
{
    while (p->pos < p->n &&
           (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int syntax(hdr_parser *p, const char *expected)
{
    if (p->pos >= p->n)
        return ua_fail(p->err, "%s: bad .npy header: expected %s, header ended", p->name, expected);
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        return ua_fail(p->err, "%s: bad .npy header: expected %s at header byte %zu, found '%c'",
                       p->name, expected, p->pos, c);
    return ua_fail(p->err, "%s: bad .npy header: expected %s at header byte %zu, found byte 0x%02x",
                   p->name, expected, p->pos, c);
}

/* a quoted Python string; *str / *len point into the header (raw, escapes kept) */
static int parse_string(hdr_parser *p, const char **str, size_t *len)
{
    skip_ws(p);
    if (p->pos >= p->n || (p->s[p->pos] != '\'' && p->s[p->pos] != '"'))
        return syntax(p, "a quoted string");
    char q = p->s[p->pos++];
    size_t start = p->pos;
    while (p->pos < p->n && p->s[p->pos] != q) {
        if (p->s[p->pos] == '\n')
            return ua_fail(p->err, "%s: bad .npy header: unterminated string at header byte %zu",
                           p->name, start - 1);
        if (p->s[p->pos] == '\\') p->pos++;
        p->pos++;
    }
    if (p->pos >= p->n)
        return ua_fail(p->err, "%s: bad .npy header: unterminated string at header byte %zu",
                       p->name, start - 1);
    *str = p->s + start;
    *len = p->pos - start;
    p->pos++;
    return 0;
}

static int match_word(hdr_parser *p, const char *w)
{
    size_t k = strlen(w);
    if (p->n - p->pos < k || memcmp(p->s + p->pos, w, k) != 0) return 0;
    /* not a prefix of a longer identifier */
    if (p->pos + k < p->n) {
        char c = p->s[p->pos + k];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            return 0;
    }
    p->pos += k;
    return 1;
}

static int parse_bool(hdr_parser *p, int *out)
{
    skip_ws(p);
    if (match_word(p, "True")) { *out = 1; return 0; }
    if (match_word(p, "False")) { *out = 0; return 0; }
    return syntax(p, "True or False for 'fortran_order'");
}

static int parse_shape(hdr_parser *p, int *ndim, int64_t *shape)
{
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '(') return syntax(p, "'(' starting the shape tuple");
    p->pos++;
    int n = 0, saw_comma = 0;
    for (;;) {
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ')') { p->pos++; break; }
        if (p->pos < p->n && p->s[p->pos] == '-')
            return ua_fail(p->err, "%s: bad .npy header: negative dimension in shape at header byte %zu",
                           p->name, p->pos);
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return syntax(p, "a dimension or ')' in the shape tuple");
        int64_t v = 0;
        size_t start = p->pos;
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            int d = p->s[p->pos] - '0';
            if (v > (INT64_MAX - d) / 10)
                return ua_fail(p->err, "%s: bad .npy header: dimension at header byte %zu overflows 64 bits",
                               p->name, start);
            v = v * 10 + d;
            p->pos++;
        }
        if (p->pos < p->n && p->s[p->pos] == 'L') p->pos++; /* Python 2 long, e.g. (3L, 4L) */
        if (n >= UA_NPY_MAX_DIMS)
            return ua_fail(p->err, "%s: shape has more than %d dimensions", p->name, UA_NPY_MAX_DIMS);
        shape[n++] = v;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') { p->pos++; saw_comma = 1; continue; }
        if (p->pos < p->n && p->s[p->pos] == ')') { p->pos++; saw_comma = 0; break; }
        return syntax(p, "',' or ')' in the shape tuple");
    }
    if (n == 1 && !saw_comma)
        return ua_fail(p->err, "%s: bad .npy header: shape (%" PRId64 ") is not a tuple (a 1-d shape is written (%" PRId64 ",))",
                       p->name, shape[0], shape[0]);
    *ndim = n;
    return 0;
}

typedef struct {
    int have_descr, have_fortran, have_shape;
    const char *descr;
    size_t descr_len;
    int fortran;
    int ndim;
    int64_t shape[UA_NPY_MAX_DIMS];
} npy_header;

static int parse_header(hdr_parser *p, npy_header *h)
{
    memset(h, 0, sizeof *h);
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '{') return syntax(p, "'{' starting the header dict");
    p->pos++;
    for (;;) {
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == '}') { p->pos++; break; }
        const char *key;
        size_t klen;
        size_t key_pos = p->pos;
        if (parse_string(p, &key, &klen) != 0) return -1;
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != ':') return syntax(p, "':' after a key");
        p->pos++;
        int *seen;
        if (klen == 5 && memcmp(key, "descr", 5) == 0) {
            seen = &h->have_descr;
            if (*seen) goto duplicate;
            skip_ws(p);
            if (p->pos < p->n && p->s[p->pos] == '[')
                return ua_fail(p->err, "%s: structured dtype (a list in 'descr') is not supported; need little-endian float32 '<f4'",
                               p->name);
            if (parse_string(p, &h->descr, &h->descr_len) != 0) return -1;
        } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) {
            seen = &h->have_fortran;
            if (*seen) goto duplicate;
            if (parse_bool(p, &h->fortran) != 0) return -1;
        } else if (klen == 5 && memcmp(key, "shape", 5) == 0) {
            seen = &h->have_shape;
            if (*seen) goto duplicate;
            if (parse_shape(p, &h->ndim, h->shape) != 0) return -1;
        } else {
            return ua_fail(p->err, "%s: bad .npy header: unexpected key '%.*s' at header byte %zu",
                           p->name, (int)(klen > 64 ? 64 : klen), key, key_pos);
        }
        *seen = 1;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->n && p->s[p->pos] == '}') { p->pos++; break; }
        return syntax(p, "',' or '}' in the header dict");
    duplicate:
        return ua_fail(p->err, "%s: bad .npy header: key '%.*s' appears twice", p->name, (int)klen, key);
    }
    skip_ws(p);
    if (p->pos < p->n) {
        /* numpy pads with spaces and ends with '\n'; some writers pad with NULs */
        size_t k = p->pos;
        while (k < p->n && p->s[k] == 0) k++;
        if (k < p->n) return syntax(p, "only padding after the header dict");
    }
    if (!h->have_descr) return ua_fail(p->err, "%s: bad .npy header: no 'descr' key", p->name);
    if (!h->have_fortran) return ua_fail(p->err, "%s: bad .npy header: no 'fortran_order' key", p->name);
    if (!h->have_shape) return ua_fail(p->err, "%s: bad .npy header: no 'shape' key", p->name);
    return 0;
}

static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) return 0;
    return 1;
}

int ua_npy_parse(ua_npy *a, const void *buf, size_t len, const char *name, ua_err *err)
{
    memset(a, 0, sizeof *a);
    if (!name) name = "<npy>";
    const unsigned char *b = buf;
    if (len == 0 || !b) return ua_fail(err, "%s: truncated file: empty, a .npy file starts with a 10-byte preamble", name);
    if (len < NPY_MAGIC_LEN || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        if (len < NPY_MAGIC_LEN && memcmp(b, NPY_MAGIC, len) == 0)
            return ua_fail(err, "%s: truncated file: %zu bytes, a .npy file starts with a 10-byte preamble",
                           name, len);
        return ua_fail(err, "%s: not a .npy file: wrong magic (expected \\x93NUMPY)", name);
    }
    if (len < 8)
        return ua_fail(err, "%s: truncated file: %zu bytes, a .npy file starts with a 10-byte preamble",
                       name, len);
    int major = b[6], minor = b[7];
    size_t prefix;
    if (major == 1 && minor == 0) prefix = 10;
    else if ((major == 2 || major == 3) && minor == 0) prefix = 12;
    else return ua_fail(err, "%s: unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are read)",
                        name, major, minor);
    if (len < prefix)
        return ua_fail(err, "%s: truncated file: %zu bytes, a version %d.0 .npy file starts with a %zu-byte preamble",
                       name, len, major, prefix);
    size_t hlen = prefix == 10 ? (size_t)b[8] | (size_t)b[9] << 8
                               : (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    if (hlen > len - prefix)
        return ua_fail(err, "%s: truncated header: header length says %zu bytes, the file has %zu after the preamble",
                       name, hlen, len - prefix);

    hdr_parser p = { (const char *)b + prefix, hlen, 0, name, err };
    npy_header h;
    if (parse_header(&p, &h) != 0) return -1;

    if (!(h.descr_len == 3 && memcmp(h.descr, "<f4", 3) == 0)) {
        size_t show = h.descr_len > 40 ? 40 : h.descr_len;
        if (printable(h.descr, show))
            return ua_fail(err, "%s: dtype '%.*s'%s is not supported: need little-endian float32 '<f4'",
                           name, (int)show, h.descr, show < h.descr_len ? "..." : "");
        return ua_fail(err, "%s: dtype (non-printable, %zu bytes) is not supported: need little-endian float32 '<f4'",
                       name, h.descr_len);
    }
    char shape_txt[256];
    format_shape(shape_txt, sizeof shape_txt, h.ndim, h.shape);
    if (h.fortran)
        return ua_fail(err, "%s: Fortran-order (column-major) array of shape %s is not supported; save it C-ordered (numpy.ascontiguousarray)",
                       name, shape_txt);

    size_t n = 1;
    int has_zero = 0;
    for (int i = 0; i < h.ndim; i++)
        if (h.shape[i] == 0) has_zero = 1;
    if (has_zero) {
        n = 0;
    } else {
        for (int i = 0; i < h.ndim; i++) {
            uint64_t d = (uint64_t)h.shape[i];
            if (d > SIZE_MAX / sizeof(float) || n > SIZE_MAX / sizeof(float) / d)
                return ua_fail(err, "%s: shape %s has too many elements (size overflows)", name, shape_txt);
            n *= (size_t)d;
        }
    }
    size_t start = prefix + hlen;
    size_t want = n * sizeof(float), have = len - start;
    if (have < want)
        return ua_fail(err, "%s: truncated: shape %s needs %zu data bytes, the file has %zu",
                       name, shape_txt, want, have);
    if (have > want)
        return ua_fail(err, "%s: has %zu extra bytes: shape %s needs %zu data bytes, the file has %zu",
                       name, have - want, shape_txt, want, have);
    if (((uintptr_t)(b + start)) % sizeof(float) != 0)
        return ua_fail(err, "%s: float32 data starts at byte %zu, which is not 4-byte aligned", name, start);

    a->ndim = h.ndim;
    for (int i = 0; i < h.ndim; i++) a->shape[i] = h.shape[i];
    a->n_elems = n;
    a->data = (const float *)(const void *)(b + start);
    a->map = NULL;
    a->map_len = 0;
    return 0;
}

int ua_npy_open(ua_npy *a, const char *path, ua_err *err)
{
    memset(a, 0, sizeof *a);
    void *map;
    size_t len;
    if (ua_map_file(path, 1, "a .npy file starts with a 10-byte preamble", &map, &len, err)) return -1;
    if (ua_npy_parse(a, map, len, path, err) != 0) {
        munmap(map, len);
        memset(a, 0, sizeof *a);
        return -1;
    }
    /* no madvise: images are read both in order (evaluation) and in shuffled batches
     * (training), and the kernel's default read-ahead suits both */
    a->map = map;
    a->map_len = len;
    return 0;
}

void ua_npy_close(ua_npy *a)
{
    if (!a) return;
    if (a->map) munmap(a->map, a->map_len);
    memset(a, 0, sizeof *a);
}

/* Validates a shape for writing and builds the .npy preamble (magic, version, header length,
 * header dict padded with spaces and '\n' to a multiple of 64 bytes, as numpy does). */
static int build_preamble(const char *path, int ndim, const int64_t *shape, unsigned char *pre,
                          size_t cap, size_t *pre_len, size_t *n_elems, ua_err *err)
{
    if (ndim < 0 || ndim > UA_NPY_MAX_DIMS)
        return ua_fail(err, "%s: cannot write a %d-d array (0 to %d dimensions)", path, ndim, UA_NPY_MAX_DIMS);
    if (ndim > 0 && !shape) return ua_fail(err, "%s: cannot write: no shape", path);
    size_t n = 1;
    int has_zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return ua_fail(err, "%s: cannot write: dimension %d is negative (%" PRId64 ")", path, i, shape[i]);
        if (shape[i] == 0) has_zero = 1;
    }
    char shape_txt[256];
    format_shape(shape_txt, sizeof shape_txt, ndim, shape);
    if (has_zero) {
        n = 0;
    } else {
        for (int i = 0; i < ndim; i++) {
            uint64_t d = (uint64_t)shape[i];
            if (d > SIZE_MAX / sizeof(float) || n > SIZE_MAX / sizeof(float) / d)
                return ua_fail(err, "%s: cannot write: shape %s has too many elements", path, shape_txt);
            n *= (size_t)d;
        }
    }
    char dict[512];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape_txt);
    if (dl < 0 || (size_t)dl >= sizeof dict) return ua_fail(err, "%s: cannot write: header too long", path);
    /* version 1.0 (2-byte header length) when the padded header fits, else 2.0; like numpy
     * (>= 1.23), leave room for 21 more digits so that the shape can grow in place */
    size_t prefix = 10, min_len = (size_t)dl + NPY_GROWTH_DIGITS + 1;
    size_t total = (prefix + min_len + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    if (total - prefix > 65535) {
        prefix = 12;
        total = (prefix + min_len + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    }
    if (total > cap) return ua_fail(err, "%s: cannot write: header too long", path);
    size_t hlen = total - prefix;
    memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
    pre[6] = prefix == 10 ? 1 : 2;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8 & 0xff);
    if (prefix == 12) {
        pre[10] = (unsigned char)(hlen >> 16 & 0xff);
        pre[11] = (unsigned char)(hlen >> 24 & 0xff);
    }
    memcpy(pre + prefix, dict, (size_t)dl);
    memset(pre + prefix + dl, ' ', total - prefix - (size_t)dl - 1);
    pre[total - 1] = '\n';
    *pre_len = total;
    *n_elems = n;
    return 0;
}

#define NPY_PRE_CAP 640

/* Failed appends and commits abort the writer (the temp file is removed); ua_npy_writer_abort
 * afterwards is a harmless no-op. */
int ua_npy_writer_open(ua_npy_writer *w, const char *path, int ndim, const int64_t *shape, ua_err *err)
{
    memset(w, 0, sizeof *w);
    unsigned char pre[NPY_PRE_CAP];
    size_t pre_len = 0, n = 0;
    if (build_preamble(path, ndim, shape, pre, sizeof pre, &pre_len, &n, err) != 0) return -1;
    size_t plen = strlen(path) + 1;
    ua_atomic_file *f = ua_malloc(sizeof *f, err);
    w->path = ua_malloc(plen, err);
    if (!f || !w->path) {
        free(f);
        free(w->path);
        w->path = NULL;
        return ua_fail_prefix(err, "%s", path);
    }
    memcpy(w->path, path, plen);
    if (ua_atomic_open(f, path, err) != 0) {
        free(f);
        free(w->path);
        w->path = NULL;
        return -1;
    }
    w->file = f;
    w->n_expected = n;
    w->n_written = 0;
    if (fwrite(pre, 1, pre_len, f->fp) != pre_len) {
        int e = errno;
        ua_fail(err, "%s: writing the header failed: %s", path, strerror(e));
        ua_npy_writer_abort(w);
        return -1;
    }
    return 0;
}

int ua_npy_writer_append(ua_npy_writer *w, const float *data, size_t n, ua_err *err)
{
    if (!w->file) return ua_fail(err, "%s: append to a writer that is not open", w->path ? w->path : "npy writer");
    if (n > w->n_expected - w->n_written) {
        ua_fail(err, "%s: appending %zu floats after %zu would exceed the shape's %zu", w->path, n,
                w->n_written, w->n_expected);
        ua_npy_writer_abort(w);
        return -1;
    }
    if (n == 0) return 0;
    ua_atomic_file *f = w->file;
    if (!data) {
        ua_fail(err, "%s: cannot write: no data for %zu floats", w->path, n);
        ua_npy_writer_abort(w);
        return -1;
    }
    if (fwrite(data, sizeof(float), n, f->fp) != n) {
        int e = errno;
        ua_fail(err, "%s: writing %zu floats failed: %s", w->path, n, strerror(e));
        ua_npy_writer_abort(w);
        return -1;
    }
    w->n_written += n;
    return 0;
}

int ua_npy_writer_commit(ua_npy_writer *w, ua_err *err)
{
    if (!w->file) return ua_fail(err, "%s: commit of a writer that is not open", w->path ? w->path : "npy writer");
    if (w->n_written != w->n_expected) {
        ua_fail(err, "%s: %zu of the shape's %zu floats were written; not saved", w->path, w->n_written,
                w->n_expected);
        ua_npy_writer_abort(w);
        return -1;
    }
    ua_atomic_file *f = w->file;
    int rc = ua_atomic_commit(f, err);
    free(f);
    free(w->path);
    memset(w, 0, sizeof *w);
    return rc;
}

void ua_npy_writer_abort(ua_npy_writer *w)
{
    if (!w) return;
    if (w->file) {
        ua_atomic_abort(w->file);
        free(w->file);
    }
    free(w->path);
    memset(w, 0, sizeof *w);
}

int ua_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, ua_err *err)
{
    ua_npy_writer w;
    if (ua_npy_writer_open(&w, path, ndim, shape, err) != 0) return -1;
    if (ua_npy_writer_append(&w, data, w.n_expected, err) != 0) return -1;
    return ua_npy_writer_commit(&w, err);
}

const char *ua_npy_shape_str(const ua_npy *a, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0) return buf;
    buf[0] = 0;
    n += (size_t)snprintf(buf, cap, "(");
    for (int k = 0; k < a->ndim && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", k ? ", " : "", (long long)a->shape[k]);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, a->ndim == 1 ? ",)" : ")");
    return buf;
}
