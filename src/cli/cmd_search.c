/* uarda search: text queries against an indexed gallery's images, or an indexed image against
 * its captions; exhaustive or with a shortlist (include/uarda/gallery.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/checkpoint.h"
#include "uarda/gallery.h"
#include "uarda/precomp.h"

typedef struct search_ctx {
    const ua_gallery *g;
    const ua_model *m;
    const ua_vocab *v;
    const cJSON *texts;     /* the indexed caption texts (image queries), or NULL */
    int top_k, shortlist, json, attention;
    int *ids;
    float *scores;
    float *attn;            /* [max words * R] */
} search_ctx;

/* one JSON line per query: the answer j with its counts, printed and freed */
static void print_answer(cJSON *j, int n, double secs)
{
    cJSON_AddNumberToObject(j, "scored", n);
    cJSON_AddNumberToObject(j, "seconds", secs);
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s ? s : "{}");
    free(s);
    cJSON_Delete(j);
}

/* one text query: the caption ids[len] (with <start>/<end>) */
static int answer_text(search_ctx *c, const char *text, const int *tok, int len, double *secs, ua_err *err)
{
    const ua_gallery *g = c->g;
    ua_captions caps = {1, (int[]){0, len}, (int *)tok, len, 0, len};
    ua_embeddings q;
    double t0 = ua_now();
    if (ua_encode(c->m, NULL, 0, g->R, &caps, &q, NULL, err)) return -1;
    int n = ua_gallery_rank_images(g, &c->m->opt.attn, &q, c->shortlist, c->ids, c->scores, err);
    *secs = ua_now() - t0;
    if (n < 0) { ua_embeddings_free(&q); return -1; }
    const int k_max = c->top_k < n ? c->top_k : n;
    cJSON *j = c->json ? cJSON_CreateObject() : NULL, *arr = j ? cJSON_AddArrayToObject(j, "results") : NULL;
    if (j) cJSON_AddStringToObject(j, "query", text);
    else printf("query: %s\n%-5s %-8s %s\n", text, "rank", "score", "image");
    for (int k = 0; k < k_max; k++) {
        cJSON *r = j ? cJSON_CreateObject() : NULL;
        if (r) {
            cJSON_AddNumberToObject(r, "rank", k + 1);
            cJSON_AddNumberToObject(r, "image", c->ids[k]);
            cJSON_AddNumberToObject(r, "score", c->scores[k]);
        } else {
            printf("%-5d %-8.4f %d\n", k + 1, c->scores[k], c->ids[k]);
        }
        if (c->attention) {
            /* each word's attention over the regions of this image: the region it attends most */
            const float *img = g->img + (size_t)c->ids[k] * g->R * g->E;
            if (ua_attention_of_pair(&c->m->opt.attn, img, g->R, q.cap, len, g->E, c->attn, NULL, err)) {
                cJSON_Delete(r);
                cJSON_Delete(j);
                ua_embeddings_free(&q);
                return -1;
            }
            cJSON *words = r ? cJSON_AddArrayToObject(r, "attention") : NULL;
            if (!r) printf("      ");
            for (int w = 0; w < len; w++) {
                const float *a = c->attn + (size_t)w * g->R;
                int best = 0;
                for (int x = 1; x < g->R; x++) if (a[x] > a[best]) best = x;
                const char *word = tok[w] >= 0 && tok[w] < c->v->n ? c->v->words[tok[w]] : "?";
                if (words) {
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddStringToObject(o, "word", word);
                    if (isnan(a[0])) {
                        cJSON_AddBoolToObject(o, "relevant", 0);   /* below the threshold: no attention */
                    } else {
                        cJSON_AddNumberToObject(o, "region", best);
                        cJSON_AddNumberToObject(o, "weight", a[best]);
                    }
                    cJSON_AddItemToArray(words, o);
                } else if (isnan(a[0])) {
                    printf(" %s:-", word);
                } else {
                    printf(" %s:r%d(%.2f)", word, best, a[best]);
                }
            }
            if (!r) printf("\n");
        }
        if (r) cJSON_AddItemToArray(arr, r);
    }
    if (j) print_answer(j, n, *secs);
    ua_embeddings_free(&q);
    return 0;
}

static int answer_image(search_ctx *c, int row, double *secs, ua_err *err)
{
    double t0 = ua_now();
    int n = ua_gallery_rank_captions(c->g, &c->m->opt.attn, row, c->shortlist, c->ids, c->scores, err);
    *secs = ua_now() - t0;
    if (n < 0) return -1;
    const int k_max = c->top_k < n ? c->top_k : n;
    cJSON *j = c->json ? cJSON_CreateObject() : NULL, *arr = j ? cJSON_AddArrayToObject(j, "results") : NULL;
    if (j) cJSON_AddNumberToObject(j, "image_row", row);
    else printf("%-5s %-8s %s\n", "rank", "score", "caption");
    for (int k = 0; k < k_max; k++) {
        const cJSON *t = c->texts ? cJSON_GetArrayItem(c->texts, c->ids[k]) : NULL;
        const char *text = t && cJSON_IsString(t) ? t->valuestring : NULL;
        if (j) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "rank", k + 1);
            cJSON_AddNumberToObject(r, "caption", c->ids[k]);
            cJSON_AddNumberToObject(r, "score", c->scores[k]);
            if (text) cJSON_AddStringToObject(r, "text", text);
            cJSON_AddItemToArray(arr, r);
        } else {
            printf("%-5d %-8.4f %d%s%s\n", k + 1, c->scores[k], c->ids[k], text ? "  " : "", text ? text : "");
        }
    }
    if (j) print_answer(j, n, *secs);
    return 0;
}

int cmd_search(int argc, char **argv)
{
    const char *index = NULL, *ckpt = NULL, *query = NULL, *queries = NULL, *vocab_path = NULL, *skip = "on";
    int image_row = -1, top_k = 5, json = 0, threads = 0, shortlist = 0, attention = 0, verify = 0;
    ua_options flags;
    ua_options_default(&flags);
    ua_model_flags f;
    ua_cli_model_flags_from(&flags, &f);
    ua_opt opts[] = {
        {"index", UA_OPT_STR, &index, NULL, "a gallery made by uarda index", 0},
        {"checkpoint", UA_OPT_STR, &ckpt, NULL, "the model that made the index", 0},
        {"query", UA_OPT_STR, &query, NULL, "a text query: returns the best images", 0},
        {"queries", UA_OPT_STR, &queries, NULL, "a file of text queries, one per line (answered in order)", 0},
        {"image-row", UA_OPT_INT, &image_row, NULL, "an image of the index as the query: returns the best captions", 0},
        {"top-k", UA_OPT_INT, &top_k, NULL, "how many results", 0},
        {"shortlist", UA_OPT_INT, &shortlist, NULL,
         "two stages: the K best by global embedding, then cross attention on those (0: every item)", 0},
        {"attention", UA_OPT_BOOL, &attention, NULL, "text queries: each word's most attended region in each result", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary .json (default: the checkpoint's)", 0},
        {"skip", UA_OPT_CHOICE, &skip, "on|off", "UARDA: skip irrelevant queries (exact)", 0},
        {"verify", UA_OPT_BOOL, &verify, NULL, "read the whole index first: its checksum and every value finite", 0},
        {"json", UA_OPT_BOOL, &json, NULL, "print one JSON object per query", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        UA_SHAPE_FLAG_OPTS(flags, f),
        /* the scoring options that the index's embeddings do not depend on */
        {"agg-func", UA_OPT_CHOICE, &f.agg_func, "LogSumExp|Mean|Max|Sum", "aggregation of the relevances", 0},
        {"lambda-lse", UA_OPT_FLOAT, &flags.model.attn.lambda_lse, NULL, "LogSumExp temperature (lambda_2)", 0},
        {"lambda-softmax", UA_OPT_FLOAT, &flags.model.attn.lambda_softmax, NULL, "attention inverse temperature (lambda_1)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"search", "Top-k images for text queries, or top-k captions for an image, against an index.",
                        "usage: uarda search --index G --checkpoint C (--query TEXT | --queries FILE | --image-row N)\n"
                        "                    [--top-k 5] [--shortlist K] [--attention] [--json] [--verify]",
                        opts, 0};
    ua_cli_annotate_inference(&spec);
    spec.epilog = ua_cli_limits_help();
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (!index || !ckpt || (query != NULL) + (queries != NULL) + (image_row >= 0) != 1) {
        fprintf(stderr, "uarda search: --index, --checkpoint and exactly one of --query / --queries / --image-row are required\n");
        return 2;
    }
    if (top_k < 1) { fprintf(stderr, "uarda search: --top-k %d must be >= 1\n", top_k); return 2; }
    if (shortlist < 0) { fprintf(stderr, "uarda search: --shortlist %d must be >= 0 (0: no shortlist)\n", shortlist); return 2; }
    if (attention && image_row >= 0) { fprintf(stderr, "uarda search: --attention is for text queries\n"); return 2; }
    ua_cli_set_threads(threads);
    double t0 = ua_now();
    ua_err err;
    ua_searcher se;
    ua_captions caps = {0};
    search_ctx c = {0};
    cJSON *texts = NULL;
    char **lines = NULL;
    int n_lines = 0, rc = 1;
    if (ua_searcher_open(&se, ckpt, index, strcmp(skip, "on") == 0, image_row < 0, vocab_path, &err)) {
        ua_cli_error("search", &err);
        return 1;
    }
    if (se.m.unverified) ua_cli_warn_no_checksum("search", ckpt);
    if (ua_cli_inference_flags(&se.o, &se.m, &flags, &f, &spec, ckpt, &err)) {
        ua_cli_error("search", &err);
        ua_searcher_close(&se);
        return 2;
    }
    int verified = verify ? ua_gallery_verify(&se.g, &err) : 0;
    if (verified < 0) goto fail;
    if (verified == 1) ua_cli_warn_no_checksum("search", index);
    const ua_gallery *g = &se.g;
    c = (search_ctx){g, &se.m, &se.v, NULL, top_k, shortlist, json, attention, NULL, NULL, NULL};
    const int n_items = image_row >= 0 ? g->n_cap : g->n_img;
    c.ids = malloc((size_t)(n_items > 0 ? n_items : 1) * sizeof(int));
    c.scores = malloc((size_t)(n_items > 0 ? n_items : 1) * sizeof(float));
    if (!c.ids || !c.scores) { ua_fail(&err, "out of memory for %d scores", n_items); goto fail; }
    double secs = 0, total = 0;
    int answered = 0;
    if (image_row >= 0) {
        const char *meta = ua_st_meta(&g->f, "captions");
        texts = cJSON_Parse(meta ? meta : "[]");
        c.texts = texts;
        if (answer_image(&c, image_row, &secs, &err)) goto fail;
        total = secs;
        answered = 1;
    } else {
        if (queries) {
            if (!(lines = ua_cli_read_lines(queries, &n_lines, &err))) goto fail;
            if (n_lines == 0) { ua_fail(&err, "%s: no queries", queries); goto fail; }
        }
        const char *one[1] = {query};
        if (ua_captions_from_lines(&caps, queries ? (const char *const *)lines : one, queries ? n_lines : 1,
                                   queries ? queries : "--query", &se.v, se.tok, &err))
            goto fail;
        c.attn = attention ? malloc((size_t)caps.max_len * g->R * sizeof(float)) : NULL;
        if (attention && !c.attn) { ua_fail(&err, "out of memory"); goto fail; }
        for (int q = 0; q < caps.n; q++) {
            const int *ids = caps.ids + caps.offsets[q];
            if (answer_text(&c, queries ? lines[q] : query, ids, caps.offsets[q + 1] - caps.offsets[q], &secs, &err))
                goto fail;
            total += secs;
            answered++;
        }
    }
    if (!json)
        fprintf(stderr, "uarda search: %d quer%s, %.1f ms per query (%s), %.1f ms in all (loading included)\n", answered,
                answered == 1 ? "y" : "ies", 1e3 * total / answered,
                shortlist > 0 && shortlist < n_items ? "shortlist" : "exhaustive", 1e3 * (ua_now() - t0));
    rc = 0;
    goto done;
fail:
    ua_cli_error("search", &err);
done:
    cJSON_Delete(texts);
    free(c.ids);
    free(c.scores);
    free(c.attn);
    ua_cli_free_lines(lines, n_lines);
    ua_captions_free(&caps);
    ua_searcher_close(&se);
    return rc;
}
