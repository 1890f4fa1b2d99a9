/* The search service (serve.h): requests in, replies out, over one searcher shared read-only
 * and a pool of query workspaces. */
#include "serve/serve.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/pictures.h"
#include "serve/web_assets.h"
#include "uarda/clock.h"
#include "uarda/options.h"
#include "uarda/searcher.h"

struct ua_service {
    ua_searcher se;
    int workers;
    ua_search_work *work;          /* [workers] */
    int *free_work, n_free;        /* the workspaces not in use */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ready;
    cJSON *texts_json;             /* the index's caption texts */
    const char **texts;            /* [n_cap] into texts_json, or NULL */
    ua_pictures pic;
    char *info;                    /* /api/info's body, made once */
    size_t info_len;
};

/* ---- replies --------------------------------------------------------------------------- */

static const char JSON_TYPE[] = "application/json; charset=utf-8";
static const char OOM_BODY[] = "{\"error\":\"out of memory\",\"status\":503}";

void ua_serve_reply_free(ua_serve_reply *rp)
{
    if (rp->owned) free((void *)rp->body);
    if (rp->fd >= 0) close(rp->fd);
    rp->body = NULL;
    rp->owned = 0;
    rp->fd = -1;
}

static void reply_static(ua_serve_reply *rp, int status, const char *type, const void *body, size_t len)
{
    rp->status = status;
    rp->type = type;
    rp->body = body;
    rp->len = len;
    rp->owned = 0;
}

/* the reply j (freed here) as compact JSON */
static void reply_json(ua_serve_reply *rp, int status, cJSON *j)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) {
        reply_static(rp, 503, JSON_TYPE, OOM_BODY, sizeof OOM_BODY - 1);
        return;
    }
    rp->status = status;
    rp->type = JSON_TYPE;
    rp->body = text;
    rp->len = strlen(text);
    rp->owned = 1;
}

static void reply_error(ua_serve_reply *rp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply_error(ua_serve_reply *rp, int status, const char *fmt, ...)
{
    char msg[UA_ERR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject();
    if (j && (!cJSON_AddStringToObject(j, "error", msg) || !cJSON_AddNumberToObject(j, "status", status))) {
        cJSON_Delete(j);
        j = NULL;
    }
    reply_json(rp, status, j);
    rp->cache = "no-store";
}

/* ---- opening --------------------------------------------------------------------------- */

/* the options of /api/info: the checkpoint's, without the paths of the machine that trained it */
static cJSON *public_options(const ua_options *o)
{
    char *text = ua_options_to_json(o);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    static const char *const private_keys[] = {"data_path", "vocab_path", "logger_name", "model_name"};
    for (size_t i = 0; j && i < sizeof private_keys / sizeof *private_keys; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(j, private_keys[i]);
    return j;
}

static int make_info(ua_service *s, ua_err *err)
{
    const ua_searcher *se = &s->se;
    const ua_attn_opts *a = &se->m.opt.attn;
    cJSON *j = cJSON_CreateObject(), *g = cJSON_CreateObject(), *p = cJSON_CreateObject(), *l = cJSON_CreateObject();
    cJSON *opt = public_options(&se->o);
    if (!j || !g || !p || !l || !opt) goto oom;
    const char *kind = se->o.model_kind[0] ? se->o.model_kind : "scan";
    cJSON_AddStringToObject(j, "model", kind);
    cJSON_AddStringToObject(j, "direction", ua_direction_name(a->direction));
    cJSON_AddStringToObject(j, "score", ua_score_name(a->score));
    const int thresholded = ua_attn_thresholded(a);
    cJSON_AddBoolToObject(j, "thresholded", thresholded);
    if (thresholded) cJSON_AddNumberToObject(j, "threshold", se->m.t_test);
    else cJSON_AddNullToObject(j, "threshold");
    cJSON_AddItemToObject(j, "options", opt);
    opt = NULL;
    cJSON_AddNumberToObject(g, "images", se->g.n_img);
    cJSON_AddNumberToObject(g, "captions", se->g.n_cap);
    cJSON_AddNumberToObject(g, "regions", se->g.R);
    cJSON_AddNumberToObject(g, "embed_size", se->g.E);
    cJSON_AddStringToObject(g, "dtype", se->g.half ? "f16" : "f32");
    const char *fp = ua_st_meta(&se->g.f, "checkpoint_fingerprint"), *xxh = ua_st_meta(&se->g.f, "data_xxh3");
    cJSON_AddStringToObject(g, "fingerprint", fp ? fp : "");
    if (xxh) cJSON_AddStringToObject(g, "data_xxh3", xxh);
    else cJSON_AddNullToObject(g, "data_xxh3");
    cJSON_AddItemToObject(j, "gallery", g);
    g = NULL;
    cJSON_AddBoolToObject(p, "boxes", s->pic.boxes != NULL);
    cJSON_AddBoolToObject(p, "boxes_unit", s->pic.boxes_unit);
    cJSON_AddBoolToObject(p, "images", s->pic.dir_fd >= 0);
    cJSON_AddBoolToObject(p, "names", s->pic.names != NULL);
    cJSON_AddItemToObject(j, "pictures", p);
    p = NULL;
    cJSON_AddNumberToObject(l, "k", UA_SERVE_MAX_K);
    cJSON_AddNumberToObject(l, "query_bytes", UA_SERVE_MAX_QUERY_BYTES);
    cJSON_AddItemToObject(j, "limits", l);
    l = NULL;
    cJSON_AddNumberToObject(j, "workers", s->workers);
    s->info = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s->info) return ua_fail(err, "out of memory");
    s->info_len = strlen(s->info);
    return 0;
oom:
    cJSON_Delete(j); cJSON_Delete(g); cJSON_Delete(p); cJSON_Delete(l); cJSON_Delete(opt);
    return ua_fail(err, "out of memory");
}

/* the caption texts an index records (uarda index --captions) */
static int load_texts(ua_service *s, ua_err *err)
{
    const ua_gallery *g = &s->se.g;
    const char *meta = ua_st_meta(&g->f, "captions");
    if (!meta || g->n_cap == 0) return 0;
    s->texts_json = cJSON_Parse(meta);
    if (!cJSON_IsArray(s->texts_json)) return ua_fail(err, "%s: the captions' texts are not a JSON array", g->f.path);
    s->texts = calloc((size_t)g->n_cap, sizeof *s->texts);
    if (!s->texts) return ua_fail(err, "out of memory");
    int j = 0;
    for (const cJSON *t = s->texts_json->child; t && j < g->n_cap; t = t->next, j++)
        s->texts[j] = cJSON_IsString(t) ? t->valuestring : NULL;
    return 0;
}

int ua_service_open(ua_service **out, ua_serve_config *cfg, ua_err *err)
{
    *out = NULL;
    ua_service *s = calloc(1, sizeof *s);
    if (!s) {
        ua_pictures_free_names(cfg);
        return ua_fail(err, "out of memory");
    }
    s->pic.dir_fd = -1;
    if (cfg->workers < 1) cfg->workers = 1;
    s->workers = cfg->workers;
    if (ua_searcher_open(&s->se, cfg->checkpoint, cfg->index, 1, 1, cfg->vocab_path, err)) {
        free(s);
        ua_pictures_free_names(cfg);
        return -1;
    }
    int rc = ua_pictures_open(&s->pic, cfg, &s->se.g, err);   /* takes the names over */
    if (!rc) rc = load_texts(s, err);
    if (!rc) {
        s->work = calloc((size_t)s->workers, sizeof *s->work);
        s->free_work = calloc((size_t)s->workers, sizeof *s->free_work);
        if (!s->work || !s->free_work) rc = ua_fail(err, "out of memory for %d workers", s->workers);
    }
    for (int i = 0; !rc && i < s->workers; i++) {
        rc = ua_search_work_init(&s->work[i], &s->se, err);
        s->free_work[s->n_free++] = i;
    }
    if (!rc && (pthread_mutex_init(&s->mu, NULL) || pthread_cond_init(&s->cv, NULL)))
        rc = ua_fail(err, "cannot make the workers' lock");
    if (!rc) s->sync_ready = 1;
    if (!rc) rc = make_info(s, err);
    if (rc) {
        ua_service_close(s);
        return -1;
    }
    /* every worker runs its query on its own thread: OpenBLAS's own threads would only compete */
    openblas_set_num_threads(1);
    *out = s;
    return 0;
}

void ua_service_close(ua_service *s)
{
    if (!s) return;
    for (int i = 0; s->work && i < s->workers; i++) ua_search_work_free(&s->work[i]);
    free(s->work);
    free(s->free_work);
    if (s->sync_ready) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    free(s->texts);
    cJSON_Delete(s->texts_json);
    ua_pictures_close(&s->pic);
    free(s->info);
    ua_searcher_close(&s->se);
    free(s);
}

void ua_service_describe(const ua_service *s, char *buf, size_t cap)
{
    const ua_attn_opts *a = &s->se.m.opt.attn;
    char t[64] = "";
    if (ua_attn_thresholded(a)) snprintf(t, sizeof t, ", threshold %.4g", s->se.m.t_test);
    snprintf(buf, cap, "%d images, %d captions, %s %s%s, %d worker%s%s", s->se.g.n_img, s->se.g.n_cap,
             s->se.o.model_kind[0] ? s->se.o.model_kind : "scan", ua_direction_name(a->direction), t, s->workers,
             s->workers == 1 ? "" : "s", s->pic.boxes ? ", boxes" : "");
}

/* ---- the workers' workspaces ----------------------------------------------------------- */

static ua_search_work *work_take(ua_service *s, int *slot)
{
    pthread_mutex_lock(&s->mu);
    while (s->n_free == 0) pthread_cond_wait(&s->cv, &s->mu);
    *slot = s->free_work[--s->n_free];
    pthread_mutex_unlock(&s->mu);
    /* this thread answers with one thread (OpenMP's setting is per thread) */
    static _Thread_local int single;
    if (!single) {
        omp_set_num_threads(1);
        single = 1;
    }
    return &s->work[*slot];
}

static void work_give(ua_service *s, int slot)
{
    pthread_mutex_lock(&s->mu);
    s->free_work[s->n_free++] = slot;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- arguments ------------------------------------------------------------------------- */

static const ua_serve_arg *arg(const ua_serve_request *rq, const char *key)
{
    for (int i = 0; i < rq->n_args; i++)
        if (strcmp(rq->args[i].key, key) == 0) return &rq->args[i];
    return NULL;
}

/* every argument one of `known` (a NULL-terminated list), none twice; else a 400 reply */
static int check_args(const ua_serve_request *rq, const char *const *known, const char *known_text, ua_serve_reply *rp)
{
    if (rq->too_many_args) {
        reply_error(rp, 400, "more than %d arguments", UA_SERVE_MAX_ARGS);
        return -1;
    }
    for (int i = 0; i < rq->n_args; i++) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++) ok = strcmp(rq->args[i].key, *k) == 0;
        if (!ok) {
            char name[64];
            snprintf(name, sizeof name, "%.48s%s", rq->args[i].key, strlen(rq->args[i].key) > 48 ? "..." : "");
            for (char *c = name; *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
            reply_error(rp, 400, "unknown argument '%s' (%s)", name, known_text);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(rq->args[i].key, rq->args[j].key) == 0) {
                reply_error(rp, 400, "%s is given twice", rq->args[i].key);
                return -1;
            }
    }
    return 0;
}

/* a decimal integer argument in [lo, hi] (def when absent); else a 400 reply */
static int int_arg(const ua_serve_request *rq, const char *key, long lo, long hi, long def, long *out, ua_serve_reply *rp)
{
    const ua_serve_arg *a = arg(rq, key);
    *out = def;
    if (!a) return 0;
    const char *v = a->value ? a->value : "";
    int ok = a->len >= 1 && a->len <= 10;
    long x = 0;
    for (size_t i = 0; ok && i < a->len; i++) {
        ok = v[i] >= '0' && v[i] <= '9';
        x = x * 10 + (v[i] - '0');
    }
    if (!ok || x < lo || x > hi) {
        reply_error(rp, 400, "%s must be a whole number from %ld to %ld", key, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* a 0/1 argument: 1, true, 0, false (absent: 0) */
static int bool_arg(const ua_serve_request *rq, const char *key, int *out, ua_serve_reply *rp)
{
    const ua_serve_arg *a = arg(rq, key);
    *out = 0;
    if (!a) return 0;
    const char *v = a->value ? a->value : "";
    const int text = strlen(v) == a->len;   /* no NUL byte inside */
    if (text && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)) *out = 1;
    else if (!text || (strcmp(v, "0") != 0 && strcmp(v, "false") != 0)) {
        reply_error(rp, 400, "%s must be 0 or 1", key);
        return -1;
    }
    return 0;
}

/* ---- answers --------------------------------------------------------------------------- */

static double round4(double v) { return round(v * 1e4) / 1e4; }

/* a result's picture: its name, image URL and boxes, as the service has them */
static void add_picture(const ua_service *s, cJSON *r, int row)
{
    if (s->pic.names) cJSON_AddStringToObject(r, "name", s->pic.names[row]);
    if (s->pic.dir_fd >= 0) {
        char url[48];
        snprintf(url, sizeof url, "/api/image/%d", row);
        cJSON_AddStringToObject(r, "image_url", url);
    }
    if (s->pic.boxes) {
        const int R = s->se.g.R;
        cJSON *b = cJSON_AddArrayToObject(r, "boxes");
        const float *x = s->pic.boxes + (size_t)row * R * 4;
        for (int k = 0; b && k < R; k++) {
            double v[4];
            for (int c = 0; c < 4; c++) v[c] = round4(x[4 * k + c]);
            cJSON_AddItemToArray(b, cJSON_CreateDoubleArray(v, 4));
        }
    }
}

static void answer_text(ua_service *s, const ua_serve_arg *q, long k, long shortlist, int attention, ua_serve_reply *rp)
{
    if (q->len > UA_SERVE_MAX_QUERY_BYTES) {
        reply_error(rp, 400, "q: %zu bytes, more than the limit of %d", q->len, UA_SERVE_MAX_QUERY_BYTES);
        return;
    }
    size_t bad = 0;
    if (!q->value || memchr(q->value, '\0', q->len)) {
        reply_error(rp, 400, "q holds a NUL byte");
        return;
    }
    if (!ua_utf8_valid(q->value, q->len, &bad)) {
        reply_error(rp, 400, "q is not valid UTF-8 (byte %zu)", bad);
        return;
    }
    const ua_searcher *se = &s->se;
    const int R = se->g.R;
    int slot;
    ua_search_work *w = work_take(s, &slot);
    ua_err err;
    cJSON *j = NULL;
    int len = ua_searcher_tokenize(se, w, q->value, q->len, "q", &err);
    if (len < 0) {
        work_give(s, slot);
        reply_error(rp, 400, "%s", err.msg);
        return;
    }
    const int *ids = ua_caption_ids(&w->caps, 0);
    double t0 = ua_now();
    int n = ua_searcher_rank_text(se, w, ids, len, (int)shortlist, (int)k, &err);
    double secs = ua_now() - t0;
    if (n < 0) {
        work_give(s, slot);
        reply_error(rp, 500, "%s", err.msg);
        return;
    }
    const int k_max = k < n ? (int)k : n;
    j = cJSON_CreateObject();
    cJSON *words = j ? cJSON_AddArrayToObject(j, "words") : NULL, *arr = j ? cJSON_CreateArray() : NULL;
    if (!words || !arr) goto oom;
    cJSON_AddStringToObject(j, "query", q->value);
    cJSON_AddNumberToObject(j, "k", (double)k);
    for (int x = 0; x < len; x++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) goto oom;
        const char *text = x == 0 ? "<start>" : x == len - 1 ? "<end>" : w->tokens.tok[x - 1];
        cJSON_AddStringToObject(o, "text", text);
        if (x > 0 && x < len - 1) cJSON_AddBoolToObject(o, "known", ids[x] != UA_UNK);
        cJSON_AddItemToArray(words, o);
    }
    for (int r = 0; r < k_max; r++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) goto oom;
        cJSON_AddItemToArray(arr, o);
        cJSON_AddNumberToObject(o, "rank", r + 1);
        cJSON_AddNumberToObject(o, "image", w->ids[r]);
        cJSON_AddNumberToObject(o, "score", w->scores[r]);
        add_picture(s, o, w->ids[r]);
        if (!attention) continue;
        if (ua_searcher_attention(se, w, w->ids[r], &err)) {
            work_give(s, slot);
            cJSON_Delete(arr);
            cJSON_Delete(j);
            reply_error(rp, 500, "%s", err.msg);
            return;
        }
        cJSON *att = cJSON_AddArrayToObject(o, "attention");
        for (int x = 0; att && x < len; x++) {
            cJSON *a = cJSON_CreateObject();
            if (!a) goto oom;
            cJSON_AddItemToArray(att, a);
            const float *row = w->attn + (size_t)x * R;
            const int relevant = ua_search_word_relevant(w, R, x);
            cJSON_AddBoolToObject(a, "relevant", relevant);
            cJSON_AddNumberToObject(a, "max_sim", w->max_sim[x]);
            if (!relevant) continue;
            int best = 0;
            double v[UA_MAX_REGIONS];
            for (int y = 0; y < R; y++) {
                if (row[y] > row[best]) best = y;
                v[y] = round4(row[y]);
            }
            cJSON_AddNumberToObject(a, "region", best);
            cJSON_AddNumberToObject(a, "weight", row[best]);
            cJSON_AddItemToObject(a, "weights", cJSON_CreateDoubleArray(v, R));
        }
    }
    work_give(s, slot);
    cJSON_AddNumberToObject(j, "scored", n);
    cJSON_AddNumberToObject(j, "seconds", secs);
    cJSON_AddItemToObject(j, "results", arr);
    reply_json(rp, 200, j);
    rp->cache = "no-store";
    return;
oom:
    work_give(s, slot);
    cJSON_Delete(arr);
    cJSON_Delete(j);
    reply_static(rp, 503, JSON_TYPE, OOM_BODY, sizeof OOM_BODY - 1);
}

static void answer_image(ua_service *s, long row, long k, long shortlist, ua_serve_reply *rp)
{
    const ua_searcher *se = &s->se;
    if (row >= se->g.n_img) {
        reply_error(rp, 404, "image %ld: the gallery has %d images (0..%d)", row, se->g.n_img, se->g.n_img - 1);
        return;
    }
    if (se->g.n_cap == 0) {
        reply_error(rp, 409, "the index holds no captions (index the gallery with --captions for image queries)");
        return;
    }
    int slot;
    ua_search_work *w = work_take(s, &slot);
    ua_err err;
    double t0 = ua_now();
    int n = ua_searcher_rank_image(se, w, (int)row, (int)shortlist, (int)k, &err);
    double secs = ua_now() - t0;
    if (n < 0) {
        work_give(s, slot);
        reply_error(rp, 500, "%s", err.msg);
        return;
    }
    const int k_max = k < n ? (int)k : n;
    cJSON *j = cJSON_CreateObject(), *arr = j ? cJSON_AddArrayToObject(j, "results") : NULL;
    for (int r = 0; arr && r < k_max; r++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(arr, o);
        cJSON_AddNumberToObject(o, "rank", r + 1);
        cJSON_AddNumberToObject(o, "caption", w->ids[r]);
        cJSON_AddNumberToObject(o, "score", w->scores[r]);
        if (s->texts && s->texts[w->ids[r]]) cJSON_AddStringToObject(o, "text", s->texts[w->ids[r]]);
    }
    work_give(s, slot);
    if (!arr) {
        cJSON_Delete(j);
        reply_static(rp, 503, JSON_TYPE, OOM_BODY, sizeof OOM_BODY - 1);
        return;
    }
    cJSON_AddNumberToObject(j, "image_row", (double)row);
    cJSON_AddNumberToObject(j, "k", (double)k);
    add_picture(s, j, (int)row);
    cJSON_AddNumberToObject(j, "scored", n);
    cJSON_AddNumberToObject(j, "seconds", secs);
    reply_json(rp, 200, j);
    rp->cache = "no-store";
}

static void api_search(ua_service *s, const ua_serve_request *rq, ua_serve_reply *rp)
{
    static const char *const known[] = {"q", "image", "k", "shortlist", "attention", NULL};
    if (check_args(rq, known, "the search takes q or image, k, shortlist and attention", rp)) return;
    const ua_serve_arg *q = arg(rq, "q");
    const int by_image = arg(rq, "image") != NULL;
    long k, shortlist, row = -1;
    int attention;
    if (!q && !by_image) {
        reply_error(rp, 400, "give q=TEXT (a text query) or image=ROW (an image of the gallery)");
        return;
    }
    if (q && by_image) {
        reply_error(rp, 400, "give q or image, not both");
        return;
    }
    if (int_arg(rq, "k", 1, UA_SERVE_MAX_K, UA_SERVE_DEFAULT_K, &k, rp) ||
        int_arg(rq, "shortlist", 0, 1000000000, 0, &shortlist, rp) || bool_arg(rq, "attention", &attention, rp))
        return;
    if (by_image) {
        if (attention) {
            reply_error(rp, 400, "attention is for text queries");
            return;
        }
        if (int_arg(rq, "image", 0, 1000000000, 0, &row, rp)) return;
        answer_image(s, row, k, shortlist, rp);
        return;
    }
    answer_text(s, q, k, shortlist, attention, rp);
}

/* /api/image/ROW */
static void api_image(ua_service *s, const char *row_text, ua_serve_reply *rp)
{
    char *end;
    errno = 0;
    long row = strtol(row_text, &end, 10);
    if (!*row_text || *end || errno || row_text[0] < '0' || row_text[0] > '9' || strlen(row_text) > 10) {
        reply_error(rp, 404, "no such image: an image is /api/image/ROW with ROW a gallery row");
        return;
    }
    if (row >= s->se.g.n_img) {
        reply_error(rp, 404, "image %ld: the gallery has %d images (0..%d)", row, s->se.g.n_img, s->se.g.n_img - 1);
        return;
    }
    if (s->pic.dir_fd < 0) {
        reply_error(rp, 404, "no pictures: the server was started without --images-dir and --image-names");
        return;
    }
    ua_err err;
    int status = ua_pictures_file(&s->pic, (int)row, &rp->fd, &rp->fd_size, &rp->type, &err);
    if (status != 200) {
        reply_error(rp, status, "%s", err.msg);
        return;
    }
    rp->status = 200;
    rp->cache = "public, max-age=3600";
}

void ua_service_handle(ua_service *s, const ua_serve_request *rq, ua_serve_reply *rp)
{
    memset(rp, 0, sizeof *rp);
    rp->fd = -1;
    rp->cache = "no-cache";
    const char *path = rq->path ? rq->path : "";
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
        reply_error(rp, 405, "%s is not served: the service answers GET and HEAD", rq->method);
        rp->allow = "GET, HEAD";
        return;
    }
    if (rq->has_body) {
        reply_error(rp, 400, "a GET request carries no body");
        return;
    }
    ua_web_asset page;
    if (ua_web_asset_for(path, &page)) {
        reply_static(rp, 200, page.type, page.data, page.len);
        rp->page = 1;
        return;
    }
    if (strcmp(path, "/api/search") == 0) {
        api_search(s, rq, rp);
    } else if (strcmp(path, "/api/health") == 0) {
        static const char ok[] = "{\"status\":\"ok\"}";
        reply_static(rp, 200, JSON_TYPE, ok, sizeof ok - 1);
        rp->cache = "no-store";
    } else if (strcmp(path, "/api/info") == 0) {
        reply_static(rp, 200, JSON_TYPE, s->info, s->info_len);
    } else if (strncmp(path, "/api/image/", 11) == 0) {
        api_image(s, path + 11, rp);
    } else {
        char shown[80];
        snprintf(shown, sizeof shown, "%.64s%s", path, strlen(path) > 64 ? "..." : "");
        for (char *c = shown; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
        reply_error(rp, 404, "no such path: %s (the API: /api/search, /api/info, /api/health, /api/image/ROW)", shown);
    }
}
