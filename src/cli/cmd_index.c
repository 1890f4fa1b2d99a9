/* uarda index / uarda search: encode a gallery once, then answer queries against it.
 * The index is a safetensors file: img_emb [n_images, R, E], img_gram [n_images, R, R] (each
 * image's region Gram matrix, which t2i attention needs and which costs a search more than its
 * word-region products), and, with --captions, cap_emb [words, E] + cap_len I32 [n_captions]
 * and the caption texts; with the fingerprint of the checkpoint that made it, so that a query is
 * never scored with another model. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/npy.h"
#include "uarda/safetensors.h"

/* FNV-1a over the parameters and the options that shape the similarity */
static void fingerprint(const ua_model *m, char out[17])
{
    /* the parameters' bits, a 32-bit word at a time in 16 independent FNV-1a-32 lanes (a loop
     * that vectorizes: a search at full dims hashes 10 M parameters), then the lanes and the
     * attention cfg into one FNV-1a-64 */
    enum { LANES = 16 };
    uint32_t lane[LANES];
    for (int k = 0; k < LANES; k++) lane[k] = 2166136261u ^ (uint32_t)k;
    const float *w = m->params;
    size_t n = m->n_params, e = 0;
    for (; e + LANES <= n; e += LANES) {
        uint32_t b[LANES];
        memcpy(b, w + e, sizeof b);
        for (int k = 0; k < LANES; k++) lane[k] = (lane[k] ^ b[k]) * 16777619u;
    }
    for (int k = 0; e < n; e++, k++) {
        uint32_t b;
        memcpy(&b, w + e, 4);
        lane[k] = (lane[k] ^ b) * 16777619u;
    }
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)lane;
    for (size_t j = 0; j < sizeof lane; j++) h = (h ^ p[j]) * 1099511628211ULL;
    uint64_t count = n;
    p = (const unsigned char *)&count;
    for (size_t j = 0; j < sizeof count; j++) h = (h ^ p[j]) * 1099511628211ULL;
    const ua_attn_cfg *a = &m->opt.attn;
    double vals[] = {a->direction, a->norm, a->agg, a->lambda_softmax, a->lambda_lse, a->clip, a->mask, a->logit,
                     a->irr, a->threshold};
    p = (const unsigned char *)vals;
    for (size_t i = 0; i < sizeof vals; i++) h = (h ^ p[i]) * 1099511628211ULL;
    snprintf(out, 17, "%016" PRIx64, h);
}

static char **read_lines(const char *path, int *n, ua_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) { ua_fail(err, "%s: cannot open", path); return NULL; }
    char **lines = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int count = 0, room = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (count == room) {
            room = room ? 2 * room : 256;
            char **nl = realloc(lines, (size_t)room * sizeof *nl);
            if (!nl) break;
            lines = nl;
        }
        lines[count++] = strdup(line);
    }
    free(line);
    fclose(f);
    *n = count;
    return lines;
}

static void free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

int cmd_index(int argc, char **argv)
{
    const char *ckpt = NULL, *images = NULL, *captions = NULL, *output = NULL, *vocab_path = NULL;
    int threads = 0;
    ua_opt opts[] = {
        {"checkpoint", UA_OPT_STR, &ckpt, NULL, "model", 0},
        {"images", UA_OPT_STR, &images, NULL, "gallery region features, float32 .npy [n, regions, img_dim]", 0},
        {"captions", UA_OPT_STR, &captions, NULL, "gallery captions, one per line (for image queries)", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary .json (default: the checkpoint's)", 0},
        {"output", UA_OPT_STR, &output, NULL, "the index file (.safetensors)", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"index", "Encode a gallery of images (and captions) once with a checkpoint, for uarda search.",
                        "usage: uarda index --checkpoint C --images X.npy [--captions caps.txt] --output G.safetensors", opts, 0};
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (!ckpt || !images || !output) { fprintf(stderr, "uarda index: --checkpoint, --images and --output are required\n"); return 2; }
    ua_cli_set_threads(threads);
    ua_err err;
    ua_options o;
    ua_options_default(&o);
    ua_model m = {0};
    ua_vocab v = {0};
    ua_npy x = {0};
    ua_captions caps = {0};
    ua_embeddings e = {0};
    ua_tokenizer *tok = NULL;
    char **lines = NULL, *vocab_file = NULL, *caps_json = NULL;
    int n_lines = 0, rc = 1;
    int32_t *cap_len = NULL;
    float *gram = NULL;
    if (ua_checkpoint_load(ckpt, &o, &m, NULL, NULL, NULL, &err) || ua_npy_open(&x, images, &err)) goto fail;
    if (x.ndim != 3 || x.shape[2] != m.opt.img_dim || x.shape[0] < 1) {
        ua_fail(&err, "%s: expected region features [n, regions, %d]", images, m.opt.img_dim);
        goto fail;
    }
    if (captions) {
        vocab_file = ua_cli_vocab_file(vocab_path ? vocab_path : o.vocab_path, o.data_name);
        if (ua_vocab_load(&v, vocab_file, &err) || !(tok = ua_tokenizer_new(&err))) goto fail;
        if (!(lines = read_lines(captions, &n_lines, &err))) goto fail;
        if (ua_captions_from_lines(&caps, (const char *const *)lines, n_lines, &v, tok, &err)) goto fail;
    }
    double t0 = ua_now();
    if (ua_encode(&m, x.data, (int)x.shape[0], (int)x.shape[1], captions ? &caps : NULL, &e, &err)) goto fail;
    char fp[17];
    fingerprint(&m, fp);
    gram = malloc((size_t)e.n_img * e.R * e.R * sizeof(float) + 1);
    if (!gram) { ua_fail(&err, "out of memory for %d Gram matrices", e.n_img); goto fail; }
    for (int i = 0; i < e.n_img; i++)
        ua_gram(e.img + (size_t)i * e.R * e.E, e.R, e.E, gram + (size_t)i * e.R * e.R);
    ua_st_entry t[4] = {{"img_emb", UA_ST_F32, 3, {e.n_img, e.R, e.E}, e.img},
                        {"img_gram", UA_ST_F32, 3, {e.n_img, e.R, e.R}, gram}};
    size_t nt = 2;
    if (captions) {
        cap_len = malloc((size_t)e.n_cap * sizeof(int32_t));
        for (int j = 0; j < e.n_cap; j++) cap_len[j] = e.cap_len[j];
        t[nt++] = (ua_st_entry){"cap_emb", UA_ST_F32, 2, {e.cap_offset[e.n_cap], e.E}, e.cap};
        t[nt++] = (ua_st_entry){"cap_len", UA_ST_I32, 1, {e.n_cap}, cap_len};
        cJSON *arr = cJSON_CreateStringArray((const char *const *)lines, n_lines);
        caps_json = cJSON_PrintUnformatted(arr);
        cJSON_Delete(arr);
    }
    const char *keys[] = {"format", "checkpoint_fingerprint", "checkpoint", "images", "captions"};
    const char *vals[] = {"uarda-index-2", fp, ckpt, images, caps_json ? caps_json : "[]"};
    if (ua_st_write(output, t, nt, keys, vals, 5, &err)) goto fail;
    fprintf(stderr, "uarda index: %d images%s encoded in %.2f s -> %s\n", e.n_img, captions ? " and captions" : "",
            ua_now() - t0, output);
    rc = 0;
    goto done;
fail:
    ua_cli_error("index", &err);
done:
    free(cap_len);
    free(gram);
    free(caps_json);
    free_lines(lines, n_lines);
    ua_embeddings_free(&e);
    ua_captions_free(&caps);
    ua_tokenizer_free(tok);
    ua_npy_close(&x);
    ua_vocab_free(&v);
    ua_model_free(&m);
    free(vocab_file);
    return rc;
}

typedef struct { float score; int id; } hit;

static int by_score(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id - y->id;
}

int cmd_search(int argc, char **argv)
{
    const char *index = NULL, *ckpt = NULL, *query = NULL, *vocab_path = NULL, *skip = "on";
    int image_row = -1, top_k = 5, json = 0, threads = 0;
    ua_opt opts[] = {
        {"index", UA_OPT_STR, &index, NULL, "a gallery made by uarda index", 0},
        {"checkpoint", UA_OPT_STR, &ckpt, NULL, "the model that made the index", 0},
        {"query", UA_OPT_STR, &query, NULL, "a text query: returns the best images", 0},
        {"image-row", UA_OPT_INT, &image_row, NULL, "an image of the index as the query: returns the best captions", 0},
        {"top-k", UA_OPT_INT, &top_k, NULL, "how many results", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary .json (default: the checkpoint's)", 0},
        {"skip", UA_OPT_CHOICE, &skip, "on|off", "UARDA: skip irrelevant queries (exact)", 0},
        {"json", UA_OPT_BOOL, &json, NULL, "print JSON", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"search", "Top-k images for a text query, or top-k captions for an image, against an index.",
                        "usage: uarda search --index G --checkpoint C (--query TEXT | --image-row N) [--top-k 5] [--json]",
                        opts, 0};
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (!index || !ckpt || (!query) == (image_row < 0) || top_k < 1) {
        fprintf(stderr, "uarda search: --index, --checkpoint and exactly one of --query / --image-row are required\n");
        return 2;
    }
    ua_cli_set_threads(threads);
    double t0 = ua_now();
    ua_err err;
    ua_options o;
    ua_options_default(&o);
    ua_model m = {0};
    ua_st_file f = {0};
    ua_vocab v = {0};
    ua_tokenizer *tok = NULL;
    ua_captions caps = {0};
    ua_embeddings q = {0}, g = {0};
    float *sims = NULL;
    int *offsets = NULL, rc = 1;
    cJSON *texts = NULL;
    char *vocab_file = NULL;
    if (ua_checkpoint_load(ckpt, &o, &m, NULL, NULL, NULL, &err) || ua_st_open(&f, index, &err)) goto fail;
    ua_attn_set_skip(&m.opt.attn, strcmp(skip, "on") == 0);
    char fp[17];
    fingerprint(&m, fp);
    const char *ifp = ua_st_meta(&f, "checkpoint_fingerprint");
    if (!ifp || strcmp(ifp, fp) != 0) {
        ua_fail(&err, "%s was not made with %s (fingerprint %s, the checkpoint's is %s): run uarda index again", index,
                ckpt, ifp ? ifp : "missing", fp);
        goto fail;
    }
    const ua_st_tensor *ti = ua_st_find(&f, "img_emb");
    if (!ti || ti->ndim != 3 || ti->dtype != UA_ST_F32 || ti->shape[2] != m.opt.embed_size) {
        ua_fail(&err, "%s: no usable img_emb", index);
        goto fail;
    }
    /* the gallery side points into the mapped index: nothing is copied */
    int n_img = (int)ti->shape[0], R = (int)ti->shape[1], E = m.opt.embed_size;
    ua_st_prefault(&f, ti->data, ti->n_elems * sizeof(float));
    const float *gram = NULL;  /* indexes made before img_gram: computed by the similarity */
    if (ua_st_find(&f, "img_gram")) {
        const ua_st_tensor *tg = ua_st_find(&f, "img_gram");
        if (tg->ndim != 3 || tg->dtype != UA_ST_F32 || tg->shape[0] != n_img || tg->shape[1] != R || tg->shape[2] != R) {
            ua_fail(&err, "%s: img_gram must be F32 [%d, %d, %d] like img_emb", index, n_img, R, R);
            goto fail;
        }
        gram = tg->data;
    }
    hit *hits = NULL;
    int n_hits = 0;
    if (query) {
        vocab_file = ua_cli_vocab_file(vocab_path ? vocab_path : o.vocab_path, o.data_name);
        if (ua_vocab_load(&v, vocab_file, &err) || !(tok = ua_tokenizer_new(&err))) goto fail;
        const char *lines[1] = {query};
        if (ua_captions_from_lines(&caps, lines, 1, &v, tok, &err) || ua_encode(&m, NULL, 0, R, &caps, &q, &err)) goto fail;
        q.img = (float *)ti->data;
        q.img_gram = gram;
        q.n_img = n_img;
        q.R = R;
        q.E = E;
        sims = malloc((size_t)n_img * sizeof(float));
        if (ua_similarity_matrix(&m.opt.attn, &q, sims, &err)) { q.img = NULL; goto fail; }
        q.img = NULL;
        n_hits = n_img;
        hits = malloc((size_t)n_hits * sizeof *hits);
        for (int i = 0; i < n_img; i++) hits[i] = (hit){sims[i], i};
    } else {
        const ua_st_tensor *tc = ua_st_find(&f, "cap_emb"), *tl = ua_st_find(&f, "cap_len");
        if (!tc || !tl || tl->dtype != UA_ST_I32 || tc->dtype != UA_ST_F32) {
            ua_fail(&err, "%s holds no captions (index it with --captions for image queries)", index);
            goto fail;
        }
        if (image_row >= n_img) { ua_fail(&err, "--image-row %d: the index has %d images", image_row, n_img); goto fail; }
        int n_cap = (int)tl->shape[0];
        const int32_t *len = tl->data;
        offsets = malloc(((size_t)n_cap + 1) * sizeof(int));
        g.cap_len = malloc((size_t)n_cap * sizeof(int));
        offsets[0] = 0;
        for (int j = 0; j < n_cap; j++) {
            g.cap_len[j] = len[j];
            offsets[j + 1] = offsets[j] + len[j];
            if (len[j] > g.max_len) g.max_len = len[j];
        }
        g.cap_offset = offsets;
        g.cap = (float *)tc->data;
        g.n_cap = n_cap;
        g.img = (float *)ti->data + (size_t)image_row * R * E;
        g.n_img = 1;
        g.R = R;
        g.E = E;
        sims = malloc((size_t)n_cap * sizeof(float));
        int bad = ua_similarity_matrix(&m.opt.attn, &g, sims, &err);
        g.img = NULL; g.cap = NULL; g.cap_offset = NULL;
        if (bad) goto fail;
        n_hits = n_cap;
        hits = malloc((size_t)n_hits * sizeof *hits);
        for (int j = 0; j < n_cap; j++) hits[j] = (hit){sims[j], j};
        texts = cJSON_Parse(ua_st_meta(&f, "captions") ? ua_st_meta(&f, "captions") : "[]");
    }
    qsort(hits, (size_t)n_hits, sizeof *hits, by_score);
    if (top_k > n_hits) top_k = n_hits;
    double secs = ua_now() - t0;
    if (json) {
        cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "results");
        cJSON_AddStringToObject(j, query ? "query" : "image_query", query ? query : "");
        if (!query) cJSON_AddNumberToObject(j, "image_row", image_row);
        for (int k = 0; k < top_k; k++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "rank", k + 1);
            cJSON_AddNumberToObject(r, query ? "image" : "caption", hits[k].id);
            cJSON_AddNumberToObject(r, "score", hits[k].score);
            const cJSON *t = texts ? cJSON_GetArrayItem(texts, hits[k].id) : NULL;
            if (t && cJSON_IsString(t)) cJSON_AddStringToObject(r, "text", t->valuestring);
            cJSON_AddItemToArray(arr, r);
        }
        cJSON_AddNumberToObject(j, "seconds", secs);
        char *s = cJSON_Print(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%-5s %-8s %s\n", "rank", "score", query ? "image" : "caption");
        for (int k = 0; k < top_k; k++) {
            const cJSON *t = texts ? cJSON_GetArrayItem(texts, hits[k].id) : NULL;
            printf("%-5d %-8.4f %d%s%s\n", k + 1, hits[k].score, hits[k].id, t && cJSON_IsString(t) ? "  " : "",
                   t && cJSON_IsString(t) ? t->valuestring : "");
        }
        fprintf(stderr, "uarda search: %d %s ranked in %.1f ms (loading included)\n", n_hits, query ? "images" : "captions",
                1e3 * secs);
    }
    free(hits);
    rc = 0;
    goto done;
fail:
    ua_cli_error("search", &err);
done:
    cJSON_Delete(texts);
    free(sims);
    free(offsets);
    free(g.cap_len);
    ua_embeddings_free(&q);
    ua_captions_free(&caps);
    ua_tokenizer_free(tok);
    ua_vocab_free(&v);
    ua_st_close(&f);
    ua_model_free(&m);
    free(vocab_file);
    return rc;
}
