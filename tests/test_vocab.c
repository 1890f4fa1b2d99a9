/* Vocabulary: SCAN's JSON files, malformed files, building, caption -> ids. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/precomp.h"
#include "uarda/vocab.h"

static void test_load_scan_vocabularies(void **state)
{
    (void)state;
    char *f30k = th_shared_path("data/vocab/f30k_precomp_vocab.json");
    char *coco = th_shared_path("data/vocab/coco_precomp_vocab.json");
    ua_vocab v;
    ua_err err;
    if (ua_vocab_load(&v, f30k, &err)) {
        if (strstr(err.msg, "cannot open")) { free(f30k); free(coco); skip(); }
        fail_msg("%s", err.msg);
    }
    assert_int_equal(v.n, 8481);
    assert_string_equal(v.words[0], "<pad>");
    assert_string_equal(v.words[1], "<start>");
    assert_string_equal(v.words[2], "<end>");
    assert_string_equal(v.words[3], "<unk>");
    assert_int_equal(ua_vocab_find(&v, "<unk>"), 3);
    int dog = ua_vocab_find(&v, "dog");
    assert_true(dog > 3);
    assert_string_equal(v.words[dog], "dog");
    assert_true(ua_vocab_find(&v, "``") > 3);       /* NLTK's opening quote is in SCAN's vocabulary */
    assert_int_equal(ua_vocab_find(&v, "\""), -1);  /* the raw double quote is not */
    assert_int_equal(ua_vocab_find(&v, "qwertyuiop"), -1);
    ua_vocab_free(&v);
    assert_int_equal(ua_vocab_load(&v, coco, &err), 0);
    assert_int_equal(v.n, 11353);
    ua_vocab_free(&v);
    free(f30k);
    free(coco);
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = th_tmpdir();
    char *path = th_path(dir, "v.json");
    ua_vocab v, w;
    ua_err err;
    assert_int_equal(ua_vocab_init(&v, &err), 0);
    const char *words[] = {"dog", "a", "café", "``", "\"quoted\"", "back\\slash", "x"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) assert_int_equal(ua_vocab_add(&v, words[i], &err), (int)i + 4);
    assert_int_equal(ua_vocab_add(&v, "dog", &err), 4);  /* no duplicates */
    /* many words, to grow the hash table */
    char buf[32];
    for (int i = 0; i < 5000; i++) { snprintf(buf, sizeof buf, "w%d", i); ua_vocab_add(&v, buf, &err); }
    assert_int_equal(ua_vocab_save(&v, path, &err), 0);
    assert_int_equal(ua_vocab_load(&w, path, &err), 0);
    assert_int_equal(w.n, v.n);
    for (int i = 0; i < v.n; i++) {
        assert_string_equal(v.words[i], w.words[i]);
        assert_int_equal(ua_vocab_find(&w, v.words[i]), i);
    }
    ua_vocab_free(&v);
    ua_vocab_free(&w);
    th_rmrf(dir);
    free(dir);
    free(path);
}

/* writes text to a temp file, loads it, expects failure with both `file` and `what` in the message */
static void expect_bad(const char *text, const char *what)
{
    char *dir = th_tmpdir();
    char *path = th_path(dir, "bad_vocab.json");
    assert_int_equal(th_write(path, text, strlen(text)), 0);
    ua_vocab v;
    ua_err err;
    assert_int_equal(ua_vocab_load(&v, path, &err), -1);
    if (!strstr(err.msg, "bad_vocab.json") || !strstr(err.msg, what)) fail_msg("message '%s' lacks '%s'", err.msg, what);
    assert_null(strchr(err.msg, '\n'));
    th_rmrf(dir);
    free(dir);
    free(path);
}

#define SPECIALS_W2I "\"<pad>\": 0, \"<start>\": 1, \"<end>\": 2, \"<unk>\": 3"
#define SPECIALS_I2W "\"0\": \"<pad>\", \"1\": \"<start>\", \"2\": \"<end>\", \"3\": \"<unk>\""

static void test_malformed(void **state)
{
    (void)state;
    expect_bad("{\"word2idx\": {\"<pad>\": 0,", "not valid JSON");
    expect_bad("", "not valid JSON");
    expect_bad("[1, 2]", "not a SCAN vocabulary");
    expect_bad("{\"idx\": 4}", "no \"word2idx\"");
    expect_bad("{\"word2idx\": {\"<pad>\": 0, \"<start>\": 1, \"<end>\": 2, \"dog\": 3}, \"idx\": 4}", "<unk>");
    /* found by fuzz_vocab: an id far outside int's range, and fewer than four words */
    expect_bad("{\"word2idx\": {" SPECIALS_W2I ", \"dog\": 3.3e66}}", "out of range");
    expect_bad("{\"word2idx\": {\"<pad>\": 0, \"<start>\": 1}}", "<end> must have id 2 (found nothing)");
    expect_bad("{\"word2idx\": {\"dog\": 0, \"<start>\": 1, \"<end>\": 2, \"<unk>\": 3}}", "<pad>");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I ", \"dog\": 9}}", "out of range");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I ", \"dog\": 3}}", "given to both");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I ", \"dog\": \"4\"}}", "not an integer");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I ", \"dog\": 4.5}}", "not an integer");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I "}, \"idx\": 7}", "\"idx\" is 7");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I "}, \"idx2word\": {\"0\": \"<pad>\", \"1\": \"<start>\", \"2\": \"<end>\", \"3\": \"cat\"}}",
               "idx2word[\"3\"]");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I "}, \"idx2word\": {" SPECIALS_I2W ", \"4\": \"x\"}}", "idx2word");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I ", \"caf\xc3\": 4}}", "invalid UTF-8");
    expect_bad("{\"word2idx\": {" SPECIALS_W2I ", \"a\\u0000b\": 4, \"a\\u0000c\": 5}}", "appears twice");
}

static void test_missing_file(void **state)
{
    (void)state;
    ua_vocab v;
    ua_err err;
    assert_int_equal(ua_vocab_load(&v, "/nonexistent/v.json", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/v.json"));
}

static void test_encode(void **state)
{
    (void)state;
    ua_vocab v;
    ua_err err;
    assert_int_equal(ua_vocab_init(&v, &err), 0);
    int dog = ua_vocab_add(&v, "dog", &err), a = ua_vocab_add(&v, "a", &err);
    char t0[] = "a", t1[] = "purple", t2[] = "dog";
    char *toks[] = {t0, t1, t2};
    ua_tokens tokens = {.n = 3, .tok = toks};
    int ids[5], n_unk = -1;
    assert_int_equal(ua_vocab_encode(&v, &tokens, ids, &n_unk), 5);
    int want[5] = {UA_START, a, UA_UNK, dog, UA_END};
    assert_memory_equal(ids, want, sizeof want);
    assert_int_equal(n_unk, 1);
    ua_tokens empty = {0};
    assert_int_equal(ua_vocab_encode(&v, &empty, ids, NULL), 2);
    assert_int_equal(ids[0], UA_START);
    assert_int_equal(ids[1], UA_END);
    ua_vocab_free(&v);
}

/* The OOV rate of the Flickr30K test captions against SCAN's vocabulary, with SCAN's
 * tokenization. The same figure is what `uarda vocab --oov` prints (tests/cli/vocab.sh). */
static void test_f30k_test_oov_rate(void **state)
{
    (void)state;
    char *vpath = th_shared_path("data/vocab/f30k_precomp_vocab.json");
    char *cpath = th_shared_path("data/f30k_precomp/test_caps.txt");
    ua_vocab v;
    ua_err err;
    if (ua_vocab_load(&v, vpath, &err)) { free(vpath); free(cpath); skip(); }
    ua_tokenizer *tok = ua_tokenizer_new(&err);
    assert_non_null(tok);
    ua_captions c;
    if (ua_captions_load(&c, cpath, &v, tok, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.n, 5000);
    double rate = 100.0 * (double)c.n_unk / (double)c.n_tokens;
    printf("f30k test: %lld tokens, %lld OOV (%.3f%%)\n", c.n_tokens, c.n_unk, rate);
    /* whitespace splitting gives 1.07% (most of it the raw '"'); NLTK's rules turn quotes
     * into `` and '', which SCAN's vocabulary holds, so the rate must be well below that */
    assert_true(rate > 0.2 && rate < 1.0);
    /* exact counts with SCAN's tokenization (the tokenizer agrees with NLTK on every line) */
    assert_int_equal(c.n_tokens, 67442);
    assert_int_equal(c.n_unk, 658);
    ua_captions_free(&c);
    ua_tokenizer_free(tok);
    ua_vocab_free(&v);
    free(vpath);
    free(cpath);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_scan_vocabularies),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_f30k_test_oov_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
