/* SCAN vocabulary: JSON load/save, hash lookup, caption -> ids. */
#include "uarda/vocab.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/atomic.h"

static const char *const SPECIALS[4] = {"<pad>", "<start>", "<end>", "<unk>"};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int rehash(ua_vocab *v, size_t n_slots, ua_err *err)
{
    int *slots = malloc(n_slots * sizeof *slots);
    if (!slots) return ua_fail(err, "out of memory growing the vocabulary table");
    for (size_t i = 0; i < n_slots; i++) slots[i] = -1;
    for (int id = 0; id < v->n; id++) {
        size_t k = fnv1a(v->words[id]) & (n_slots - 1);
        while (slots[k] >= 0) k = (k + 1) & (n_slots - 1);
        slots[k] = id;
    }
    free(v->slots);
    v->slots = slots;
    v->n_slots = n_slots;
    return 0;
}

int ua_vocab_find(const ua_vocab *v, const char *word)
{
    if (!v->n_slots) return -1;
    size_t k = fnv1a(word) & (v->n_slots - 1);
    while (v->slots[k] >= 0) {
        if (strcmp(v->words[v->slots[k]], word) == 0) return v->slots[k];
        k = (k + 1) & (v->n_slots - 1);
    }
    return -1;
}

/* appends word with id v->n; the caller has checked it is new */
static int append_word(ua_vocab *v, const char *word, ua_err *err)
{
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 64;
        char **w = realloc(v->words, (size_t)cap * sizeof *w);
        if (!w) return ua_fail(err, "out of memory growing the vocabulary");
        v->words = w;
        v->cap = cap;
    }
    if ((size_t)(v->n + 1) * 2 > v->n_slots && rehash(v, v->n_slots ? 2 * v->n_slots : 128, err)) return -1;
    char *copy = strdup(word);
    if (!copy) return ua_fail(err, "out of memory adding a word");
    int id = v->n++;
    v->words[id] = copy;
    size_t k = fnv1a(word) & (v->n_slots - 1);
    while (v->slots[k] >= 0) k = (k + 1) & (v->n_slots - 1);
    v->slots[k] = id;
    return id;
}

int ua_vocab_add(ua_vocab *v, const char *word, ua_err *err)
{
    int id = ua_vocab_find(v, word);
    return id >= 0 ? id : append_word(v, word, err);
}

int ua_vocab_init(ua_vocab *v, ua_err *err)
{
    memset(v, 0, sizeof *v);
    for (int i = 0; i < 4; i++)
        if (append_word(v, SPECIALS[i], err) < 0) { ua_vocab_free(v); return -1; }
    return 0;
}

void ua_vocab_free(ua_vocab *v)
{
    if (!v) return;
    for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

int ua_vocab_parse(ua_vocab *v, const char *json, size_t len, const char *name, ua_err *err)
{
    memset(v, 0, sizeof *v);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - json) : 0;
        return ua_fail(err, "%s: not valid JSON (parse error near byte %zu)", name, at);
    }
    int rc = -1;
    char **by_id = NULL;
    const cJSON *w2i = cJSON_GetObjectItemCaseSensitive(root, "word2idx");
    const cJSON *i2w = cJSON_GetObjectItemCaseSensitive(root, "idx2word");
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(root, "idx");
    if (!cJSON_IsObject(root)) { ua_fail(err, "%s: not a SCAN vocabulary (top level is not a JSON object)", name); goto out; }
    if (!cJSON_IsObject(w2i)) { ua_fail(err, "%s: not a SCAN vocabulary (no \"word2idx\" object)", name); goto out; }
    int n = cJSON_GetArraySize(w2i);
    if (n <= 0) { ua_fail(err, "%s: \"word2idx\" is empty", name); goto out; }
    by_id = calloc((size_t)n, sizeof *by_id);
    if (!by_id) { ua_fail(err, "out of memory reading %s", name); goto out; }
    const cJSON *it;
    cJSON_ArrayForEach(it, w2i) {
        /* range before the cast: converting a double outside int's range is undefined */
        if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble)) {
            ua_fail(err, "%s: word2idx[\"%.60s\"] is not an integer id", name, it->string);
            goto out;
        }
        if (!(it->valuedouble >= 0 && it->valuedouble < (double)n)) {
            ua_fail(err, "%s: word2idx[\"%.60s\"] = %.0f is out of range [0, %d) (ids must be 0..n-1)", name, it->string,
                    it->valuedouble, n);
            goto out;
        }
        int id = (int)it->valuedouble;
        if (by_id[id]) {
            ua_fail(err, "%s: id %d is given to both \"%.60s\" and \"%.60s\"", name, id, by_id[id], it->string);
            goto out;
        }
        by_id[id] = it->string;
    }
    for (int i = 0; i < 4; i++) {
        const char *w = i < n ? by_id[i] : NULL;  /* a vocabulary of fewer than 4 words lacks some */
        if (!w || strcmp(w, SPECIALS[i]) != 0) {
            ua_fail(err, "%s: special token %s must have id %d (found %s%.60s%s)", name, SPECIALS[i], i,
                    w ? "\"" : "", w ? w : "nothing", w ? "\"" : "");
            goto out;
        }
    }
    if (idx && (!cJSON_IsNumber(idx) || idx->valuedouble != (double)n)) {
        ua_fail(err, "%s: \"idx\" is %g but word2idx has %d words", name, cJSON_IsNumber(idx) ? idx->valuedouble : -1.0, n);
        goto out;
    }
    if (i2w) {
        if (!cJSON_IsObject(i2w) || cJSON_GetArraySize(i2w) != n) {
            ua_fail(err, "%s: \"idx2word\" does not have the %d entries of word2idx", name, n);
            goto out;
        }
        char key[32];
        for (int id = 0; id < n; id++) {
            snprintf(key, sizeof key, "%d", id);
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(i2w, key);
            if (!cJSON_IsString(w) || strcmp(w->valuestring, by_id[id]) != 0) {
                ua_fail(err, "%s: idx2word[\"%d\"] disagrees with word2idx (\"%.60s\")", name, id, by_id[id]);
                goto out;
            }
        }
    }
    for (int id = 0; id < n; id++) {
        /* JSON keys are distinct, but "\u0000" ends a C string early: two keys can collide */
        if (ua_vocab_find(v, by_id[id]) >= 0) {
            ua_fail(err, "%s: the word \"%.60s\" appears twice (a NUL inside a key?)", name, by_id[id]);
            goto out;
        }
        if (append_word(v, by_id[id], err) < 0) goto out;
    }
    rc = 0;
out:
    if (rc) ua_vocab_free(v);
    free(by_id);
    cJSON_Delete(root);
    return rc;
}

int ua_vocab_load(ua_vocab *v, const char *path, ua_err *err)
{
    memset(v, 0, sizeof *v);
    FILE *f = fopen(path, "rb");
    if (!f) return ua_fail(err, "%s: cannot open vocabulary: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return ua_fail(err, "%s: cannot seek", path); }
    long n = ftell(f);
    rewind(f);
    if (n < 0 || n > (1L << 30)) { fclose(f); return ua_fail(err, "%s: unreasonable vocabulary size", path); }
    char *buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); return ua_fail(err, "%s: out of memory", path); }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) { free(buf); return ua_fail(err, "%s: read error", path); }
    buf[n] = 0;
    size_t bad;
    int rc;
    if (!ua_utf8_valid(buf, (size_t)n, &bad)) rc = ua_fail(err, "%s: invalid UTF-8 at byte %zu", path, bad);
    else rc = ua_vocab_parse(v, buf, (size_t)n, path, err);
    free(buf);
    return rc;
}

int ua_vocab_save(const ua_vocab *v, const char *path, ua_err *err)
{
    cJSON *root = cJSON_CreateObject(), *i2w = cJSON_CreateObject(), *w2i = cJSON_CreateObject();
    int rc = -1;
    if (!root || !i2w || !w2i) { cJSON_Delete(i2w); cJSON_Delete(w2i); goto out; }
    cJSON_AddItemToObject(root, "idx2word", i2w);
    cJSON_AddItemToObject(root, "word2idx", w2i);
    char key[32];
    for (int id = 0; id < v->n; id++) {
        snprintf(key, sizeof key, "%d", id);
        if (!cJSON_AddStringToObject(i2w, key, v->words[id]) || !cJSON_AddNumberToObject(w2i, v->words[id], id))
            goto out;
    }
    if (!cJSON_AddNumberToObject(root, "idx", v->n)) goto out;
    char *text = cJSON_PrintUnformatted(root);
    if (!text) goto out;
    rc = ua_write_file_atomic(path, text, strlen(text), err);
    free(text);
    cJSON_Delete(root);
    return rc;
out:
    cJSON_Delete(root);
    return ua_fail(err, "%s: out of memory writing the vocabulary", path);
}

int ua_vocab_encode(const ua_vocab *v, const ua_tokens *tokens, int *ids, int *n_unk)
{
    int unk = 0, k = 0;
    ids[k++] = UA_START;
    for (int i = 0; i < tokens->n; i++) {
        int id = ua_vocab_find(v, tokens->tok[i]);
        if (id < 0) { id = UA_UNK; unk++; }
        ids[k++] = id;
    }
    ids[k++] = UA_END;
    if (n_unk) *n_unk = unk;
    return k;
}

char *ua_vocab_file(const char *vocab_path, const char *data_name)
{
    size_t n = strlen(vocab_path);
    if (n >= 5 && strcmp(vocab_path + n - 5, ".json") == 0) return strdup(vocab_path);
    size_t cap = n + strlen(data_name) + 16;
    char *p = malloc(cap);
    if (p) snprintf(p, cap, "%s/%s_vocab.json", vocab_path, data_name);
    return p;
}

int ua_vocab_load_for_model(ua_vocab *v, const char *vocab_path, const char *data_name, int vocab_size,
                            const char *owner, ua_err *err)
{
    memset(v, 0, sizeof *v);
    char *file = ua_vocab_file(vocab_path, data_name);
    if (!file) return ua_fail(err, "out of memory");
    int rc = ua_vocab_load(v, file, err);
    if (!rc && v->n != vocab_size) {
        rc = ua_fail(err, "%s has %d words but %s was trained with %d", file, v->n, owner, vocab_size);
        ua_vocab_free(v);
    }
    free(file);
    return rc;
}
