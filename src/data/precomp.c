/* SCAN precomp splits: captions (read, checked, tokenized, mapped to ids) and memory-mapped
 * region features, with SCAN's caption -> image mapping. */
#include "uarda/precomp.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ua_split_path(const char *data_path, const char *data_name, const char *split, const char *suffix)
{
    size_t n = strlen(data_path) + strlen(data_name) + strlen(split) + strlen(suffix) + 4;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s/%s_%s", data_path, data_name, split, suffix);
    return p;
}

void ua_captions_free(ua_captions *c)
{
    if (!c) return;
    free(c->offsets);
    free(c->ids);
    memset(c, 0, sizeof *c);
}

static int is_space(unsigned char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; }

/* appends one caption (line[0..len), not necessarily NUL-terminated); *cap_ids is the room in
 * c->ids */
static int add_caption(ua_captions *c, size_t *cap_ids, const char *line, size_t len, const ua_vocab *v,
                       ua_tokenizer *tok, ua_tokens *tokens, const char *name, int lineno, ua_err *err)
{
    while (len && is_space((unsigned char)line[0])) { line++; len--; }
    while (len && is_space((unsigned char)line[len - 1])) len--;
    size_t bad;
    if (!ua_utf8_valid(line, len, &bad))
        return ua_fail(err, "%s: line %d: invalid UTF-8 at byte %zu of the line", name, lineno, bad);
    const char *nul = memchr(line, 0, len);
    if (nul)
        return ua_fail(err, "%s: line %d: a NUL byte at byte %zu of the line (not a text file?)", name, lineno,
                       (size_t)(nul - line));
    if (ua_tokenize(tok, line, len, tokens, err)) return ua_fail_prefix(err, "%s: line %d", name, lineno);
    /* no tokens: an empty line, or one of (Unicode) whitespace only */
    if (tokens->n == 0) return ua_fail(err, "%s: line %d: blank caption (empty or whitespace only)", name, lineno);
    if (tokens->n > UA_MAX_CAPTION_TOKENS)
        return ua_fail(err, "%s: line %d: a caption of %d tokens, more than the limit of %d", name, lineno, tokens->n,
                       UA_MAX_CAPTION_TOKENS);
    int at = c->offsets[c->n];
    if (at > INT_MAX - tokens->n - 2)
        return ua_fail(err, "%s: line %d: more than %d tokens in all", name, lineno, INT_MAX);
    size_t need = (size_t)at + (size_t)tokens->n + 2;
    if (need > *cap_ids) {
        size_t cap = *cap_ids ? *cap_ids : 1024;
        while (cap < need) cap *= 2;
        int *ids = realloc(c->ids, cap * sizeof *ids);
        if (!ids) return ua_fail(err, "%s: out of memory", name);
        c->ids = ids;
        *cap_ids = cap;
    }
    int n_unk;
    int len_ids = ua_vocab_encode(v, tokens, c->ids + at, &n_unk);
    c->n_tokens += tokens->n;
    c->n_unk += n_unk;
    if (len_ids > c->max_len) c->max_len = len_ids;
    c->offsets[c->n + 1] = at + len_ids;
    c->n++;
    return 0;
}

static int captions_begin(ua_captions *c, int n_lines, const char *name, ua_err *err)
{
    memset(c, 0, sizeof *c);
    c->offsets = malloc(((size_t)n_lines + 1) * sizeof *c->offsets);
    if (!c->offsets) return ua_fail(err, "%s: out of memory", name);
    c->offsets[0] = 0;
    return 0;
}

int ua_captions_from_lines(ua_captions *c, const char *const *lines, int n, const char *source, const ua_vocab *v,
                           ua_tokenizer *tok, ua_err *err)
{
    if (!source) source = "captions";
    if (n < 0) return ua_fail(err, "%s: %d lines", source, n);
    if (captions_begin(c, n, source, err)) return -1;
    ua_tokens tokens = {0};
    size_t cap_ids = 0;
    for (int i = 0; i < n; i++)
        if (add_caption(c, &cap_ids, lines[i], strlen(lines[i]), v, tok, &tokens, source, i + 1, err)) {
            ua_tokens_free(&tokens);
            ua_captions_free(c);
            return -1;
        }
    ua_tokens_free(&tokens);
    return 0;
}

int ua_captions_parse(ua_captions *c, const char *buf, size_t len, const char *name, const ua_vocab *v,
                      ua_tokenizer *tok, ua_err *err)
{
    memset(c, 0, sizeof *c);
    /* count lines: a final line without '\n' counts, an empty tail after the last '\n' does not */
    size_t n_lines = 0;
    for (const char *p = buf, *e = buf + len; p < e && (p = memchr(p, '\n', (size_t)(e - p))); p++) n_lines++;
    if (len && buf[len - 1] != '\n') n_lines++;
    if (n_lines == 0) return ua_fail(err, "%s: no captions (empty file)", name);
    if (n_lines > INT_MAX - 1) return ua_fail(err, "%s: more than %d lines", name, INT_MAX - 1);
    if (captions_begin(c, (int)n_lines, name, err)) return -1;
    ua_tokens tokens = {0};
    size_t cap_ids = 0, start = 0;
    int rc = 0;
    for (int line = 0; line < (int)n_lines; line++) {
        const char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if ((rc = add_caption(c, &cap_ids, buf + start, end - start, v, tok, &tokens, name, line + 1, err))) break;
        start = end + 1;
    }
    ua_tokens_free(&tokens);
    if (rc) ua_captions_free(c);
    return rc;
}

int ua_captions_load(ua_captions *c, const char *path, const ua_vocab *v, ua_tokenizer *tok, ua_err *err)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) return ua_fail(err, "%s: cannot open captions: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? 2 * cap : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return ua_fail(err, "%s: out of memory", path); }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int read_error = ferror(f);
    fclose(f);
    if (read_error) { free(buf); return ua_fail(err, "%s: read error", path); }
    int rc = ua_captions_parse(c, buf, len, path, v, tok, err);
    free(buf);
    return rc;
}

/* "(4, 2048)", NumPy's way of writing a shape */
int ua_regions_check(const ua_npy *x, const char *path, int img_dim, ua_err *err)
{
    char shape[256];
    ua_npy_shape_str(x, shape, sizeof shape);
    if (x->ndim != 3)
        return ua_fail(err, "%s: expected region features of shape (images, regions, dims), got shape %s", path, shape);
    if (x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] < 1)
        return ua_fail(err, "%s: region features of shape %s: no %s", path, shape,
                       x->shape[0] < 1 ? "images" : x->shape[1] < 1 ? "regions" : "dims");
    if (x->shape[1] > UA_MAX_REGIONS)
        return ua_fail(err, "%s: %lld regions per image (shape %s), more than the limit of %d", path,
                       (long long)x->shape[1], shape, UA_MAX_REGIONS);
    if (x->shape[0] > (1 << 28) || x->shape[2] > (1 << 20))
        return ua_fail(err, "%s: unusable shape %s (at most %d images of %d dims)", path, shape, 1 << 28, 1 << 20);
    if (img_dim > 0 && x->shape[2] != img_dim)
        return ua_fail(err, "%s: region features of %lld dims (shape %s), but the model expects img_dim %d", path,
                       (long long)x->shape[2], shape, img_dim);
    return 0;
}

void ua_split_close(ua_split *s)
{
    if (!s) return;
    ua_npy_close(&s->ims);
    ua_captions_free(&s->caps);
    free(s->name);
    free(s->ims_path);
    memset(s, 0, sizeof *s);
}

int ua_split_open(ua_split *s, const char *data_path, const char *data_name, const char *split,
                  const ua_vocab *v, int full_dev, ua_err *err)
{
    memset(s, 0, sizeof *s);
    char *ims_path = ua_split_path(data_path, data_name, split, "ims.npy");
    char *caps_path = ua_split_path(data_path, data_name, split, "caps.txt");
    ua_tokenizer *tok = NULL;
    int rc = -1;
    if (!ims_path || !caps_path || !(s->name = strdup(split))) { ua_fail(err, "out of memory"); goto out; }
    if (ua_npy_open(&s->ims, ims_path, err)) goto out;
    if (ua_regions_check(&s->ims, ims_path, 0, err)) goto out;
    s->n_images = (int)s->ims.shape[0];
    s->n_regions = (int)s->ims.shape[1];
    s->img_dim = (int)s->ims.shape[2];
    if (!(tok = ua_tokenizer_new(err))) goto out;
    if (ua_captions_load(&s->caps, caps_path, v, tok, err)) goto out;
    if (s->caps.n == 5 * s->n_images) s->im_div = 5;
    else if (s->caps.n == s->n_images) s->im_div = 1;
    else {
        ua_fail(err, "%s: %d captions for the %d images of %s: expected 5 per image (%d) or 1 per image",
                caps_path, s->caps.n, s->n_images, ims_path, 5 * s->n_images);
        goto out;
    }
    s->n_items = s->caps.n;
    s->ims_path = ims_path;   /* kept: messages about a region name the file */
    ims_path = NULL;
    if (!full_dev && strcmp(split, "dev") == 0 && s->n_items > 5000) s->n_items = 5000;
    rc = 0;
out:
    if (rc) ua_split_close(s);
    ua_tokenizer_free(tok);
    free(ims_path);
    free(caps_path);
    return rc;
}
