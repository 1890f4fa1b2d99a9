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

/* one JSON line per query: the answer's object j with its counts, printed and freed */
static void print_json_line(cJSON *j, const ua_search_answer *a)
{
    cJSON_AddNumberToObject(j, "scored", a->n_scored);
    cJSON_AddNumberToObject(j, "seconds", a->seconds);
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s ? s : "{}");
    free(s);
    cJSON_Delete(j);
}

static const char *word_of(const ua_vocab *v, int id) { return id >= 0 && id < v->n ? v->words[id] : "?"; }

/* a text query's answer: its results and, with attention, each word's most attended region */
static void print_text_answer(const ua_search_answer *a, const char *text, const int *tok, const ua_vocab *v, int json)
{
    if (!json) {
        printf("query: %s\n%-5s %-8s %s\n", text, "rank", "score", "image");
        for (int k = 0; k < a->n; k++) {
            printf("%-5d %-8.4f %d\n", k + 1, a->scores[k], a->ids[k]);
            if (!a->region) continue;
            printf("      ");
            for (int w = 0; w < a->n_words; w++) {
                const int r = a->region[(size_t)k * a->n_words + w];
                if (r < 0) printf(" %s:-", word_of(v, tok[w]));
                else printf(" %s:r%d(%.2f)", word_of(v, tok[w]), r, a->weight[(size_t)k * a->n_words + w]);
            }
            printf("\n");
        }
        return;
    }
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "results");
    cJSON_AddStringToObject(j, "query", text);
    for (int k = 0; k < a->n; k++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "rank", k + 1);
        cJSON_AddNumberToObject(r, "image", a->ids[k]);
        cJSON_AddNumberToObject(r, "score", a->scores[k]);
        cJSON *words = a->region ? cJSON_AddArrayToObject(r, "attention") : NULL;
        for (int w = 0; words && w < a->n_words; w++) {
            const int reg = a->region[(size_t)k * a->n_words + w];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "word", word_of(v, tok[w]));
            if (reg < 0) {
                cJSON_AddBoolToObject(o, "relevant", 0);   /* below the threshold: no attention */
            } else {
                cJSON_AddNumberToObject(o, "region", reg);
                cJSON_AddNumberToObject(o, "weight", a->weight[(size_t)k * a->n_words + w]);
            }
            cJSON_AddItemToArray(words, o);
        }
        cJSON_AddItemToArray(arr, r);
    }
    print_json_line(j, a);
}

/* an image query's answer: its captions, with their texts when the index holds them */
static void print_image_answer(const ua_search_answer *a, int row, const cJSON *texts, int json)
{
    cJSON *j = json ? cJSON_CreateObject() : NULL, *arr = j ? cJSON_AddArrayToObject(j, "results") : NULL;
    if (j) cJSON_AddNumberToObject(j, "image_row", row);
    else printf("%-5s %-8s %s\n", "rank", "score", "caption");
    for (int k = 0; k < a->n; k++) {
        const cJSON *t = texts ? cJSON_GetArrayItem(texts, a->ids[k]) : NULL;
        const char *text = t && cJSON_IsString(t) ? t->valuestring : NULL;
        if (j) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "rank", k + 1);
            cJSON_AddNumberToObject(r, "caption", a->ids[k]);
            cJSON_AddNumberToObject(r, "score", a->scores[k]);
            if (text) cJSON_AddStringToObject(r, "text", text);
            cJSON_AddItemToArray(arr, r);
        } else {
            printf("%-5d %-8.4f %d%s%s\n", k + 1, a->scores[k], a->ids[k], text ? "  " : "", text ? text : "");
        }
    }
    if (j) print_json_line(j, a);
}

/* what each index says of its place in a sharded gallery */
typedef struct shard_meta {
    int shard, n_shards, gallery_images, first_image, n_img, n_cap;
} shard_meta;
#define META_INTS 6

static shard_meta meta_of(const ua_gallery *g)
{
    return (shard_meta){g->shard, g->n_shards, g->gallery_images, g->first_image, g->n_img, g->n_cap};
}

/* the indexes of one search are the shards of one gallery, each once: shards 0..n-1 of n */
static int check_shards(const shard_meta *m, int n, const char *const *paths, ua_err *err)
{
    int seen[UA_MULTI_MAX] = {0};
    for (int k = 0; k < n; k++) {
        if (m[k].n_shards != n || m[k].gallery_images != m[0].gallery_images)
            return ua_fail(err, "%s is shard %d/%d of a gallery of %d images, but %d indexes were given with %s's "
                           "gallery of %d images: give every shard of one gallery, once", paths[k], m[k].shard,
                           m[k].n_shards, m[k].gallery_images, n, paths[0], m[0].gallery_images);
        if (seen[m[k].shard]++)
            return ua_fail(err, "%s: shard %d/%d is given twice", paths[k], m[k].shard, m[k].n_shards);
    }
    return 0;
}

/* Under mpirun, rank r answers on the r-th --index alone; rank 0 gathers every rank's answer and
 * merges them. Integers travel as floats (ua_dist has float collectives): exact below 2^24, which
 * search refuses to exceed. */
#define EXACT_IN_FLOAT (1 << 24)

/* every rank's meta, on every rank */
static int gather_metas(const ua_dist *d, shard_meta mine, shard_meta *all, ua_err *err)
{
    float buf[META_INTS * UA_MULTI_MAX];
    size_t counts[UA_MULTI_MAX];
    for (int r = 0; r < d->size; r++) counts[r] = META_INTS;
    const int v[META_INTS] = {mine.shard, mine.n_shards, mine.gallery_images, mine.first_image, mine.n_img, mine.n_cap};
    for (int i = 0; i < META_INTS; i++) buf[META_INTS * d->rank + i] = (float)v[i];
    if (ua_dist_allgather_f32(d, buf, counts, err)) return -1;
    for (int r = 0; r < d->size; r++) {
        const float *x = buf + META_INTS * r;
        all[r] = (shard_meta){(int)x[0], (int)x[1], (int)x[2], (int)x[3], (int)x[4], (int)x[5]};
    }
    return 0;
}

/* this rank's answer (at most top_k results; n_words words of attention, or 0) into rank 0's
 * parts[r]. One answer travels as [n_scored, n, seconds, ids[top_k], scores[top_k],
 * regions[top_k * n_words], weights[top_k * n_words]]. */
static int gather_answers(const ua_dist *d, const ua_search_answer *mine, int top_k, int n_words,
                          ua_search_answer *parts, ua_err *err)
{
    const size_t nw = (size_t)n_words, at_ids = 3, at_scores = at_ids + top_k, at_regions = at_scores + top_k,
                 at_weights = at_regions + (size_t)top_k * nw, per = at_weights + (size_t)top_k * nw;
    float *buf = calloc(per * (size_t)d->size, sizeof(float));
    size_t counts[UA_MULTI_MAX];
    if (!buf) return ua_fail(err, "out of memory for %d answers of %d results", d->size, top_k);
    for (int r = 0; r < d->size; r++) counts[r] = per;
    float *b = buf + per * (size_t)d->rank;
    b[0] = (float)mine->n_scored;
    b[1] = (float)mine->n;
    b[2] = (float)mine->seconds;
    for (int k = 0; k < mine->n; k++) {
        b[at_ids + k] = (float)mine->ids[k];
        b[at_scores + k] = mine->scores[k];
        for (size_t w = 0; mine->region && w < nw; w++) {
            b[at_regions + k * nw + w] = (float)mine->region[k * nw + w];
            b[at_weights + k * nw + w] = mine->weight[k * nw + w];
        }
    }
    int rc = ua_dist_gather_f32(d, buf, counts, err);
    for (int r = 0; !rc && d->rank == 0 && r < d->size; r++) {
        const float *x = buf + per * (size_t)r;
        ua_search_answer *a = &parts[r];
        ua_search_answer_free(a);
        a->n_scored = (int)x[0];
        a->n = (int)x[1];
        a->seconds = x[2];
        a->ids = malloc(((size_t)a->n + 1) * sizeof(int));
        a->scores = malloc(((size_t)a->n + 1) * sizeof(float));
        if (nw > 0) {
            a->n_words = n_words;
            a->region = malloc(((size_t)a->n * nw + 1) * sizeof(int));
            a->weight = malloc(((size_t)a->n * nw + 1) * sizeof(float));
        }
        if (!a->ids || !a->scores || (nw > 0 && (!a->region || !a->weight))) {
            rc = ua_fail(err, "out of memory for the gathered answers");
            break;
        }
        for (int k = 0; k < a->n; k++) {
            a->ids[k] = (int)x[at_ids + k];
            a->scores[k] = x[at_scores + k];
            for (size_t w = 0; w < nw; w++) {
                a->region[k * nw + w] = (int)x[at_regions + k * nw + w];
                a->weight[k * nw + w] = x[at_weights + k * nw + w];
            }
        }
    }
    free(buf);
    return rc;
}

/* the shards of one search: every one of them opened here, or under mpirun this rank's alone */
typedef struct shard_set {
    const ua_dist *d;
    int ranks;     /* under mpirun: each rank opens one shard, the --index of its rank */
    int n_index;   /* the shards of the gallery, every rank's */
    int n_local;   /* those opened here: 1 under mpirun, else n_index */
    int n_open, n_items;
    ua_searcher s[UA_MULTI_MAX];
    ua_search_answer part[UA_MULTI_MAX];
    shard_meta meta[UA_MULTI_MAX];
    int first[UA_MULTI_MAX];
} shard_set;

/* S over d's ranks (S->d set, the rest zero): open the shards, apply the given inference flags to
 * each, and check that they are one gallery's. *usage is set where the error is the caller's (exit 2). */
static int open_shards(shard_set *S, const ua_multi *index, const char *ckpt, int skip, int image_query,
                       const char *vocab_path, int verify, ua_options *flags, const ua_cmd_spec *spec,
                       int *usage, ua_err *err)
{
    const ua_dist *d = S->d;
    S->ranks = d->size > 1;
    S->n_index = index->n;
    S->n_local = S->ranks ? 1 : index->n;
    if (S->ranks && index->n != d->size) {
        *usage = 1;
        return ua_fail(err, "under mpirun, give one --index per rank: %d given for %d ranks", index->n, d->size);
    }
    for (int k = 0; k < S->n_local; k++) {
        ua_searcher *se = &S->s[k];
        const char *path = index->v[S->ranks ? d->rank : k];
        if (ua_searcher_open(se, ckpt, path, skip, !image_query, vocab_path, err)) return -1;
        S->n_open = k + 1;   /* closed by close_shards from here on */
        if (k == 0 && se->m.unverified && d->rank == 0) ua_cli_warn_no_checksum("search", ckpt);
        if (ua_cli_inference_flags(&se->o, &se->m, flags, NULL, spec, ckpt, err)) {
            *usage = 1;
            return -1;
        }
        int verified = verify ? ua_gallery_verify(&se->g, err) : 0;
        if (verified < 0) return -1;
        if (verified == 1) ua_cli_warn_no_checksum("search", path);
        if (S->ranks && se->g.gallery_images >= EXACT_IN_FLOAT)
            return ua_fail(err, "%s: a gallery of %d images is beyond what search under mpirun gathers exactly (2^24)",
                           path, se->g.gallery_images);
        S->meta[k] = meta_of(&se->g);
    }
    if (S->ranks && gather_metas(d, S->meta[0], S->meta, err)) return -1;
    for (int k = 0; k < index->n; k++) {
        S->first[k] = S->meta[k].first_image;
        S->n_items += image_query ? S->meta[k].n_cap : S->meta[k].n_img;
    }
    return index->n > 1 ? check_shards(S->meta, index->n, (const char *const *)index->v, err) : 0;
}

/* one text query on every shard, merged into *a (one index: its own answer, with gallery ids).
 * Under mpirun each rank answers its shard and rank 0 merges. 1: this rank holds no answer. */
static int answer_shards(shard_set *S, const int *ids, int len, int top_k, int shortlist, int attention,
                         ua_search_answer *a, ua_err *err)
{
    ua_search_answer_free(a);
    for (int k = 0; k < S->n_local; k++) {
        ua_search_answer_free(&S->part[k]);
        if (ua_searcher_answer_text(&S->s[k], NULL, ids, len, top_k, shortlist, attention, &S->part[k], err)) return -1;
    }
    if (S->ranks) {
        ua_search_answer mine = S->part[0];
        S->part[0] = (ua_search_answer){0};
        int bad = gather_answers(S->d, &mine, top_k, attention ? mine.n_words : 0, S->part, err);
        ua_search_answer_free(&mine);
        if (bad) return -1;
        if (S->d->rank != 0) return 1;
    }
    if (ua_search_merge(S->part, S->first, S->n_index, top_k, a, err)) return -1;
    if (S->ranks) {   /* the shards ran at once: the query took its slowest shard's time */
        a->seconds = 0;
        for (int k = 0; k < S->n_index; k++) a->seconds = fmax(a->seconds, S->part[k].seconds);
    }
    return 0;
}

static void close_shards(shard_set *S)
{
    for (int k = 0; k < S->n_index; k++) ua_search_answer_free(&S->part[k]);
    for (int k = 0; k < S->n_open; k++) ua_searcher_close(&S->s[k]);
}

int cmd_search(int argc, char **argv)
{
    ua_multi index = {0};
    const char *ckpt = NULL, *query = NULL, *queries = NULL, *vocab_path = NULL, *skip = "on";
    int image_row = -1, top_k = 5, json = 0, threads = 0, shortlist = 0, attention = 0, verify = 0;
    ua_options flags;
    ua_options_default(&flags);
    const ua_opt own[] = {
        {"index", UA_OPT_MULTI, &index, NULL, "a gallery made by uarda index; once per shard for a sharded gallery "
         "(uarda index --shard K/N): text queries are answered on every shard and merged", 0},
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
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cli_flags opts = {0};
    ua_cli_flags_add(&opts, own);
    ua_cli_flags_add_options(&opts, &flags, UA_OC_SHAPE);
    /* the scoring options that the index's embeddings do not depend on */
    ua_cli_flags_add_option(&opts, &flags, "agg-func");
    ua_cli_flags_add_option(&opts, &flags, "lambda-lse");
    ua_cli_flags_add_option(&opts, &flags, "lambda-softmax");
    ua_cmd_spec spec = {"search", "Top-k images for text queries, or top-k captions for an image, against an index.",
                        "usage: uarda search --index G --checkpoint C (--query TEXT | --queries FILE | --image-row N)\n"
                        "                    [--top-k 5] [--shortlist K] [--attention] [--json] [--verify]",
                        ua_cli_flags_done(&opts), 0};
    ua_cli_annotate_inference(&spec);
    spec.epilog = ua_cli_limits_help();
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (!index.n || !ckpt || (query != NULL) + (queries != NULL) + (image_row >= 0) != 1) {
        fprintf(stderr, "uarda search: --index, --checkpoint and exactly one of --query / --queries / --image-row are required\n");
        return 2;
    }
    if (top_k < 1) { fprintf(stderr, "uarda search: --top-k %d must be >= 1\n", top_k); return 2; }
    if (shortlist < 0) { fprintf(stderr, "uarda search: --shortlist %d must be >= 0 (0: no shortlist)\n", shortlist); return 2; }
    if (attention && image_row >= 0) { fprintf(stderr, "uarda search: --attention is for text queries\n"); return 2; }
    if (index.n > 1 && image_row >= 0) {
        fprintf(stderr, "uarda search: --image-row queries one index (the one that holds the image's captions)\n");
        return 2;
    }
    ua_cli_set_threads(threads);
    double t0 = ua_now();
    ua_err err;
    ua_captions caps = {0};
    ua_search_answer a = {0};
    cJSON *texts = NULL;
    char **lines = NULL;
    int n_lines = 0, rc = 1, usage = 0;
    const ua_dist *d = ua_cli_dist();
    shard_set shards = {.d = d}, *S = &shards;
    if (open_shards(S, &index, ckpt, strcmp(skip, "on") == 0, image_row >= 0, vocab_path, verify, &flags, &spec,
                    &usage, &err)) {
        rc = usage ? 2 : 1;
        goto fail;
    }
    const ua_searcher *s0 = &S->s[0];
    double total = 0;
    int answered = 0;
    if (image_row >= 0) {
        const char *meta = ua_st_meta(&s0->g.f, "captions");
        texts = cJSON_Parse(meta ? meta : "[]");
        if (ua_searcher_answer_image(s0, NULL, image_row, top_k, shortlist, &a, &err)) goto fail;
        print_image_answer(&a, image_row, texts, json);
        total = a.seconds;
        answered = 1;
    } else {
        if (queries) {
            if (!(lines = ua_cli_read_lines(queries, &n_lines, &err))) goto fail;
            if (n_lines == 0) { ua_fail(&err, "%s: no queries", queries); goto fail; }
        }
        const char *one[1] = {query};
        if (ua_captions_from_lines(&caps, queries ? (const char *const *)lines : one, queries ? n_lines : 1,
                                   queries ? queries : "--query", &s0->v, s0->tok, &err))
            goto fail;
        for (int q = 0; q < caps.n; q++) {
            const int *ids = ua_caption_ids(&caps, q);
            int got = answer_shards(S, ids, ua_caption_len(&caps, q), top_k, shortlist, attention, &a, &err);
            if (got < 0) goto fail;
            if (got > 0) continue;
            print_text_answer(&a, queries ? lines[q] : query, ids, &s0->v, json);
            total += a.seconds;
            answered++;
        }
    }
    if (!json && d->rank == 0)
        fprintf(stderr, "uarda search: %d quer%s, %.1f ms per query (%s), %.1f ms in all (loading included)\n", answered,
                answered == 1 ? "y" : "ies", 1e3 * total / answered,
                shortlist > 0 && shortlist < S->n_items ? "shortlist" : "exhaustive", 1e3 * (ua_now() - t0));
    rc = 0;
    goto done;
fail:
    ua_cli_error("search", &err);
    if (rc == 0) rc = 1;
done:
    cJSON_Delete(texts);
    ua_search_answer_free(&a);
    close_shards(S);
    ua_cli_free_lines(lines, n_lines);
    ua_captions_free(&caps);
    return rc;
}
