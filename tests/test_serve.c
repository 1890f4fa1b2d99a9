/* The searcher's query workspaces (searcher.h) and uarda serve's service (src/serve/serve.h),
 * without a network: threads that each answer through their own workspace get the bits that
 * one workspace gets alone, and the gallery's own ranking; tokenizing names what it refuses;
 * attention rows are distributions, or NaN for words below the threshold; the service answers
 * requests (errors as JSON with their status) from more threads than it has workers. The
 * fixture (a tiny synthetic set, a SCAN and a UARDA model, their indexes) is made with the
 * uarda binary. */
#include "helpers.h"
#include "serve/serve.h"
#include "uarda/searcher.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_dir, *g_scan, *g_uarda, *g_scan_idx, *g_uarda_idx, *g_caps;
static char **g_lines;
static int g_n_lines;

static int setup(void **state)
{
    (void)state;
    if (!(g_dir = th_tmpdir())) return -1;
    const char *B = th_bin();
    char out[4096];
    const char *train = "--data-path %s/data --data-name synth_tiny_precomp --vocab-path %s/vocab --embed-size 16 "
                        "--word-dim 8 --batch-size 32 --val-step 0 --threads 2 --quiet --num-epochs 1";
    char args[1024];
    snprintf(args, sizeof args, train, g_dir, g_dir);
    if (th_run(out, sizeof out, "%s synth --preset tiny --data-path %s/data --vocab-path %s/vocab --no-pictures", B, g_dir,
               g_dir) ||
        th_run(out, sizeof out, "%s train %s --model-name %s/scan --logger-name %s/scan", B, args, g_dir, g_dir) ||
        th_run(out, sizeof out, "%s train %s --model uarda --t-mode fixed --t-fixed 0.3 --model-name %s/uarda "
                                "--logger-name %s/uarda", B, args, g_dir, g_dir)) {
        fprintf(stderr, "fixture: %s\n", out);
        return -1;
    }
    g_scan = th_path(g_dir, "scan/model_best.safetensors");
    g_uarda = th_path(g_dir, "uarda/model_best.safetensors");
    g_scan_idx = th_path(g_dir, "scan.idx");
    g_uarda_idx = th_path(g_dir, "uarda.idx");
    g_caps = th_path(g_dir, "data/synth_tiny_precomp/test_caps.txt");
    const char *ims = "data/synth_tiny_precomp/test_ims.npy";
    if (th_run(out, sizeof out, "%s index --checkpoint %s --images %s/%s --captions %s --output %s", B, g_scan, g_dir, ims,
               g_caps, g_scan_idx) ||
        th_run(out, sizeof out, "%s index --checkpoint %s --images %s/%s --captions %s --output %s", B, g_uarda, g_dir, ims,
               g_caps, g_uarda_idx)) {
        fprintf(stderr, "fixture: %s\n", out);
        return -1;
    }
    char *text = th_read(g_caps, NULL);
    if (!text) return -1;
    g_lines = calloc(128, sizeof *g_lines);
    for (char *s = text, *nl; g_n_lines < 128 && (nl = strchr(s, '\n')); s = nl + 1) {
        *nl = 0;
        g_lines[g_n_lines++] = strdup(s);
    }
    free(text);
    return g_n_lines == 80 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    th_rmrf(g_dir);
    for (int i = 0; i < g_n_lines; i++) free(g_lines[i]);
    free(g_lines);
    free(g_dir); free(g_scan); free(g_uarda); free(g_scan_idx); free(g_uarda_idx); free(g_caps);
    return 0;
}

/* ---- workspaces ---------------------------------------------------------------------------- */

typedef struct answer {
    int ids[16];
    float scores[16];
    int n;
} answer;

typedef struct worker {
    const ua_searcher *s;
    int first;          /* answers the captions from `first` on, wrapping around */
    answer *got;        /* [80] */
    int failed;
    char msg[UA_ERR_MAX + 64];
} worker;

static int answer_caption(const ua_searcher *s, ua_search_work *w, int c, answer *a, ua_err *err)
{
    int len = ua_searcher_tokenize(s, w, g_lines[c], strlen(g_lines[c]), "caption", err);
    if (len < 0) return -1;
    a->n = ua_searcher_rank_text(s, w, ua_caption_ids(&w->caps, 0), len, 0, 0, err);
    if (a->n != 16) return -1;
    memcpy(a->ids, w->ids, sizeof a->ids);
    memcpy(a->scores, w->scores, sizeof a->scores);
    return 0;
}

static void *work_thread(void *arg)
{
    worker *k = arg;
    ua_search_work w;
    ua_err err = {""};
    if (ua_search_work_init(&w, k->s, &err)) {
        k->failed = 1;
        snprintf(k->msg, sizeof k->msg, "%s", err.msg);
        return NULL;
    }
    for (int i = 0; i < 80 && !k->failed; i++) {
        int c = (k->first + i * 7) % 80;
        if (answer_caption(k->s, &w, c, &k->got[c], &err)) {
            k->failed = 1;
            snprintf(k->msg, sizeof k->msg, "caption %d: %s", c, err.msg);
        }
    }
    ua_search_work_free(&w);
    return NULL;
}

/* four threads, four workspaces, one searcher: every answer is the one a lone workspace gives,
 * bit for bit, and the gallery's own ranking of the same encoding */
static void test_workspaces_in_threads(void **state)
{
    (void)state;
    ua_searcher s;
    ua_err err = {""};
    if (ua_searcher_open(&s, g_uarda, g_uarda_idx, 1, 1, NULL, &err)) fail_msg("%s", err.msg);
    static answer alone[80], got[4][80];
    ua_search_work w;
    if (ua_search_work_init(&w, &s, &err)) fail_msg("%s", err.msg);
    for (int c = 0; c < 80; c++) {
        if (answer_caption(&s, &w, c, &alone[c], &err)) fail_msg("caption %d: %s", c, err.msg);
        /* the gallery's ranking of the workspace's encoding */
        int ids[16];
        float scores[16];
        assert_int_equal(ua_gallery_rank_images(&s.g, TH_ATTN(s.m), &w.q, 0, 16, ids, scores, &err), 16);
        assert_memory_equal(ids, alone[c].ids, sizeof ids);
        assert_memory_equal(scores, alone[c].scores, sizeof scores);
    }
    ua_search_work_free(&w);
    pthread_t t[4];
    worker k[4];
    for (int i = 0; i < 4; i++) {
        k[i] = (worker){&s, i * 20, got[i], 0, ""};
        assert_int_equal(pthread_create(&t[i], NULL, work_thread, &k[i]), 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        if (k[i].failed) fail_msg("thread %d: %s", i, k[i].msg);
        for (int c = 0; c < 80; c++) {
            assert_memory_equal(got[i][c].ids, alone[c].ids, sizeof alone[c].ids);
            assert_memory_equal(got[i][c].scores, alone[c].scores, sizeof alone[c].scores);
        }
    }
    ua_searcher_close(&s);
}

static void test_tokenize_and_attention(void **state)
{
    (void)state;
    ua_err err = {""};
    for (int model = 0; model < 2; model++) {
        ua_searcher s;
        if (ua_searcher_open(&s, model ? g_uarda : g_scan, model ? g_uarda_idx : g_scan_idx, 1, 1, NULL, &err))
            fail_msg("%s", err.msg);
        ua_search_work w;
        if (ua_search_work_init(&w, &s, &err)) fail_msg("%s", err.msg);
        /* refused, with the input named */
        assert_int_equal(ua_searcher_tokenize(&s, &w, "a\0dog", 5, "q", &err), -1);
        assert_string_equal(err.msg, "q: a NUL byte at byte 1");
        assert_int_equal(ua_searcher_tokenize(&s, &w, "  ", 2, "q", &err), -1);
        assert_non_null(strstr(err.msg, "q: line 1: blank caption"));
        assert_int_equal(ua_searcher_tokenize(&s, &w, "a \xff dog", 7, "q", &err), -1);
        assert_non_null(strstr(err.msg, "q: line 1"));
        assert_int_equal(ua_searcher_attention(&s, &w, 0, &err), -1);   /* nothing ranked yet */
        /* the tokens as written, the ids as the vocabulary has them */
        const char *q = "A Zebroid next to the MAN.";
        int len = ua_searcher_tokenize(&s, &w, q, strlen(q), "q", &err);
        assert_int_equal(len, 2 + 7);
        assert_string_equal(w.tokens.tok[1], "zebroid");
        assert_string_equal(w.tokens.tok[6], ".");
        const int *ids = ua_caption_ids(&w.caps, 0);
        assert_int_equal(ids[0], UA_START);
        assert_int_equal(ids[2], UA_UNK);
        assert_int_equal(ids[len - 1], UA_END);
        assert_int_equal(ua_searcher_rank_text(&s, &w, ids, len, 0, 0, &err), 16);
        assert_int_equal(ua_searcher_attention(&s, &w, 16, &err), -1);
        assert_non_null(strstr(err.msg, "image row 16: the index has 16 images"));
        int skipped = 0, relevant = 0;
        for (int r = 0; r < 16; r++) {
            if (ua_searcher_attention(&s, &w, w.ids[r], &err)) fail_msg("%s", err.msg);
            for (int x = 0; x < len; x++) {
                const float *a = w.attn + (size_t)x * s.g.R;
                if (!ua_search_word_relevant(&w, s.g.R, x)) {
                    skipped++;
                    assert_true(w.max_sim[x] <= 0.3f + 1e-6f);
                    continue;
                }
                relevant++;
                double sum = 0;
                for (int y = 0; y < s.g.R; y++) {
                    assert_true(a[y] >= 0);
                    sum += a[y];
                }
                assert_true(fabs(sum - 1) < 1e-4);
                if (model) assert_true(w.max_sim[x] > 0.3f - 1e-6f);
            }
        }
        if (model == 0) assert_int_equal(skipped, 0);          /* SCAN: every word attends */
        else assert_true(skipped > 0 && relevant > 0);        /* UARDA at t = 0.3: some of each */
        ua_search_work_free(&w);
        ua_searcher_close(&s);
    }
}

/* ---- the service --------------------------------------------------------------------------- */

static ua_service *open_service(const char *ckpt, const char *idx, int workers)
{
    ua_serve_config cfg = {ckpt, idx, NULL, NULL, NULL, NULL, 0, NULL, workers};
    ua_service *s;
    ua_err err = {""};
    if (ua_service_open(&s, &cfg, &err)) fail_msg("%s", err.msg);
    return s;
}

/* the reply to GET path?args (args: "k=v" pairs, values without NUL bytes) */
static ua_serve_reply get(ua_service *s, const char *method, const char *path, int n, const char *const *kv)
{
    ua_serve_arg args[UA_SERVE_MAX_ARGS];
    char keys[UA_SERVE_MAX_ARGS][64];
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        snprintf(keys[i], sizeof keys[i], "%.*s", (int)(eq - kv[i]), kv[i]);
        args[i] = (ua_serve_arg){keys[i], eq + 1, strlen(eq + 1)};
    }
    ua_serve_request rq = {method, path, args, n, 0, 0};
    ua_serve_reply rp;
    ua_service_handle(s, &rq, &rp);
    return rp;
}

/* the reply is a JSON error of that status whose message holds msg */
static void expect_error(ua_serve_reply *rp, int status, const char *msg)
{
    assert_int_equal(rp->status, status);
    assert_string_equal(rp->type, "application/json; charset=utf-8");
    char *body = strndup(rp->body, rp->len);
    cJSON *j = cJSON_Parse(body);
    if (!j) fail_msg("not JSON: %s", body);
    const cJSON *e = cJSON_GetObjectItem(j, "error"), *st = cJSON_GetObjectItem(j, "status");
    if (!cJSON_IsString(e) || !strstr(e->valuestring, msg) || !cJSON_IsNumber(st) || st->valueint != status)
        fail_msg("expected a %d error with '%s', got %s", status, msg, body);
    cJSON_Delete(j);
    free(body);
    ua_serve_reply_free(rp);
}

static void test_service_errors(void **state)
{
    (void)state;
    ua_service *s = open_service(g_scan, g_scan_idx, 1);
    ua_serve_reply rp = get(s, "GET", "/api/health", 0, NULL);
    assert_int_equal(rp.status, 200);
    assert_memory_equal(rp.body, "{\"status\":\"ok\"}", rp.len);
    ua_serve_reply_free(&rp);
    rp = get(s, "GET", "/", 0, NULL);
    assert_int_equal(rp.status, 200);
    assert_true(rp.page);
    assert_non_null(strstr(rp.type, "text/html"));
    ua_serve_reply_free(&rp);
    rp = get(s, "GET", "/api/search", 0, NULL);
    expect_error(&rp, 400, "give q=TEXT");
    rp = get(s, "GET", "/api/search", 2, (const char *const[]){"q=a dog", "k=101"});
    expect_error(&rp, 400, "k must be a whole number from 1 to 100");
    rp = get(s, "GET", "/api/search", 2, (const char *const[]){"q=a dog", "k="});
    expect_error(&rp, 400, "k must be");
    rp = get(s, "GET", "/api/search", 2, (const char *const[]){"q=a dog", "k=99999999999"});
    expect_error(&rp, 400, "k must be");
    rp = get(s, "GET", "/api/search", 1, (const char *const[]){"q=a \xc3\x28 dog"});
    expect_error(&rp, 400, "q is not valid UTF-8 (byte 2)");
    rp = get(s, "GET", "/api/search", 1, (const char *const[]){"image=16"});
    expect_error(&rp, 404, "image 16: the gallery has 16 images");
    rp = get(s, "GET", "/api/image/0", 0, NULL);
    expect_error(&rp, 404, "no pictures");
    rp = get(s, "PUT", "/api/search", 0, NULL);
    assert_string_equal(rp.allow, "GET, HEAD");
    expect_error(&rp, 405, "PUT is not served");
    rp = get(s, "GET", "/nope\x01", 0, NULL);
    expect_error(&rp, 404, "no such path: /nope? ");
    ua_serve_request body = {"GET", "/api/health", NULL, 0, 0, 1};
    ua_service_handle(s, &body, &rp);
    expect_error(&rp, 400, "a GET request carries no body");
    ua_serve_request many = {"GET", "/api/search", NULL, 0, 1, 0};
    ua_service_handle(s, &many, &rp);
    expect_error(&rp, 400, "more than 8 arguments");
    ua_service_close(s);

    /* names that leave the images folder are refused at start */
    char **names = calloc(16, sizeof *names);
    for (int i = 0; i < 16; i++) names[i] = strdup(i == 9 ? "a/../../b.png" : "x.png");
    ua_serve_config cfg = {g_scan, g_scan_idx, NULL, NULL, g_dir, names, 16, "names.txt", 1};
    ua_err err = {""};
    assert_int_equal(ua_service_open(&s, &cfg, &err), -1);
    assert_string_equal(err.msg, "names.txt: line 10: 'a/../../b.png' is not a file name inside the images folder");
    assert_null(cfg.image_names);   /* taken over (and freed) */
}

typedef struct client {
    ua_service *s;
    int first, failed;
    char *got[80];
} client;

static void *client_thread(void *arg)
{
    client *c = arg;
    for (int i = 0; i < 80; i++) {
        int q = (c->first + i * 3) % 80;
        const char *kv[3] = {NULL, "k=10", "attention=1"};
        char qa[512];
        snprintf(qa, sizeof qa, "q=%s", g_lines[q]);
        kv[0] = qa;
        ua_serve_reply rp = get(c->s, "GET", "/api/search", 3, kv);
        if (rp.status != 200) c->failed = 1;
        /* the answer without its timing */
        char *b = strndup(rp.body, rp.len), *t = strstr(b, ",\"seconds\":"), *end = t ? strchr(t + 1, ',') : NULL;
        if (end) memmove(t, end, strlen(end) + 1);
        else c->failed = 1;
        c->got[q] = b;
        ua_serve_reply_free(&rp);
    }
    return NULL;
}

/* six threads against two workers: every answer is the one given alone */
static void test_service_threads(void **state)
{
    (void)state;
    ua_service *s = open_service(g_uarda, g_uarda_idx, 2);
    client alone = {s, 0, 0, {0}};
    client_thread(&alone);
    assert_false(alone.failed);
    int skipped = 0;
    for (int q = 0; q < 80; q++) skipped += strstr(alone.got[q], "\"relevant\":false") != NULL;
    assert_true(skipped > 0);
    client c[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        c[i] = (client){s, i * 13, 0, {0}};
        assert_int_equal(pthread_create(&t[i], NULL, client_thread, &c[i]), 0);
    }
    for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 6; i++) {
        assert_false(c[i].failed);
        for (int q = 0; q < 80; q++) {
            assert_string_equal(c[i].got[q], alone.got[q]);
            free(c[i].got[q]);
        }
    }
    for (int q = 0; q < 80; q++) free(alone.got[q]);
    ua_service_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workspaces_in_threads),
        cmocka_unit_test(test_tokenize_and_attention),
        cmocka_unit_test(test_service_errors),
        cmocka_unit_test(test_service_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
