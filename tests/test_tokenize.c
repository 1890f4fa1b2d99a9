/* Tokenizer: agreement with NLTK 3.8's NLTKWordTokenizer on the committed sentences and on the
 * shared caption files (fixtures made by tools/make_tokenize_fixtures.py), single rules,
 * invalid UTF-8, buffer reuse. */
#include "helpers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uarda/tokenize.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

typedef struct lines {
    char *data;
    size_t n;
    char **p;    /* start of line i (not NUL-terminated) */
    size_t *len; /* its length, without the \n */
} lines;

/* Splits a file as SCAN reads it: on \n; a final \n does not start another line. */
static int lines_read(lines *L, const char *path)
{
    memset(L, 0, sizeof *L);
    size_t size;
    L->data = th_read(path, &size);
    if (!L->data) return -1;
    size_t cap = 1024;
    L->p = malloc(cap * sizeof *L->p);
    L->len = malloc(cap * sizeof *L->len);
    char *s = L->data, *end = L->data + size;
    while (s < end) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        if (L->n == cap) {
            cap *= 2;
            L->p = realloc(L->p, cap * sizeof *L->p);
            L->len = realloc(L->len, cap * sizeof *L->len);
        }
        L->p[L->n] = s;
        L->len[L->n++] = len;
        s = nl ? nl + 1 : end;
    }
    return 0;
}

static void lines_free(lines *L)
{
    free(L->data);
    free(L->p);
    free(L->len);
}

/* tokens joined by single spaces, into a growing buffer */
static const char *join(const ua_tokens *tk, char **buf, size_t *cap)
{
    size_t need = 1;
    for (int i = 0; i < tk->n; i++) need += strlen(tk->tok[i]) + 1;
    if (need > *cap) {
        *cap = need * 2;
        *buf = realloc(*buf, *cap);
    }
    char *w = *buf;
    for (int i = 0; i < tk->n; i++) {
        if (i) *w++ = ' ';
        size_t l = strlen(tk->tok[i]);
        memcpy(w, tk->tok[i], l);
        w += l;
    }
    *w = 0;
    return *buf;
}

static uint64_t fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001B3ULL;
    }
    return h;
}

/* tokenizes s and returns the joined tokens (static buffer) */
static const char *tok_str(ua_tokenizer *t, const char *s)
{
    static ua_tokens tk;
    static char *buf;
    static size_t cap;
    ua_err err;
    if (ua_tokenize(t, s, strlen(s), &tk, &err)) fail_msg("tokenize('%s'): %s", s, err.msg);
    return join(&tk, &buf, &cap);
}

static int setup(void **state)
{
    ua_err err;
    ua_tokenizer *t = ua_tokenizer_new(&err);
    if (!t) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    ua_tokenizer_free(*state);
    return 0;
}

/* ---- the committed sentence fixture ----------------------------------------------------------- */

static void test_sentences_fixture(void **state)
{
    ua_tokenizer *t = *state;
    lines in, want;
    assert_int_equal(lines_read(&in, "tests/fixtures/tokenize/sentences.txt"), 0);
    assert_int_equal(lines_read(&want, "tests/fixtures/tokenize/sentences.expected.txt"), 0);
    assert_int_equal(in.n, want.n);
    assert_true(in.n >= 250);
    ua_tokens tk = {0};
    char *buf = NULL;
    size_t cap = 0, agree = 0;
    ua_err err;
    for (size_t i = 0; i < in.n; i++) {
        if (ua_tokenize(t, in.p[i], in.len[i], &tk, &err)) fail_msg("line %zu: %s", i + 1, err.msg);
        const char *got = join(&tk, &buf, &cap);
        if (strlen(got) == want.len[i] && memcmp(got, want.p[i], want.len[i]) == 0) agree++;
        else
            print_message("sentences.txt line %zu: '%.*s'\n  nltk: '%.*s'\n  ours: '%s'\n", i + 1,
                          (int)in.len[i], in.p[i], (int)want.len[i], want.p[i], got);
    }
    print_message("sentences: %zu/%zu lines agree\n", agree, in.n);
    assert_int_equal(agree, in.n);
    free(buf);
    ua_tokens_free(&tk);
    lines_free(&in);
    lines_free(&want);
}

/* ---- the shared caption files ----------------------------------------------------------------- */

/* Every line of the caption file must tokenize as NLTK does: lines listed in the .diff.txt
 * fixture have their NLTK tokens there; every other line's tokens are lower().split(). The
 * header's line count and FNV-1a 64 of the whole expected output prove the two agree. */
static void check_caption_file(ua_tokenizer *t, const char *label, const char *rel, const char *diff_name)
{
    char *path = th_shared_path(rel);
    lines in;
    if (lines_read(&in, path)) {
        print_message("%s: %s not found, skipped (no ../shared)\n", label, path);
        free(path);
        skip();
    }
    char diff_path[256];
    snprintf(diff_path, sizeof diff_path, "tests/fixtures/tokenize/%s", diff_name);
    lines diff;
    assert_int_equal(lines_read(&diff, diff_path), 0);
    assert_true(diff.n >= 1);
    char head[128];
    snprintf(head, sizeof head, "%.*s", (int)diff.len[0], diff.p[0]);
    size_t want_lines;
    unsigned long long want_hash;
    assert_int_equal(sscanf(head, "lines\t%zu\tfnv1a64\t%llx", &want_lines, &want_hash), 2);
    assert_int_equal(in.n, want_lines);

    /* expected tokens of the listed lines */
    const char **special = calloc(in.n, sizeof *special);
    size_t *special_len = calloc(in.n, sizeof *special_len);
    for (size_t k = 1; k < diff.n; k++) {
        char *tab = memchr(diff.p[k], '\t', diff.len[k]);
        assert_non_null(tab);
        size_t idx = (size_t)strtoull(diff.p[k], NULL, 10);
        assert_true(idx < in.n);
        special[idx] = tab + 1;
        special_len[idx] = diff.len[k] - (size_t)(tab + 1 - diff.p[k]);
    }

    ua_tokens tk = {0};
    char *buf = NULL, *plain = malloc(1);
    size_t cap = 0, plain_cap = 1, agree = 0, shown = 0;
    uint64_t h = 0xCBF29CE484222325ULL;
    ua_err err;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < in.n; i++) {
        if (ua_tokenize(t, in.p[i], in.len[i], &tk, &err)) fail_msg("%s line %zu: %s", label, i + 1, err.msg);
        const char *got = join(&tk, &buf, &cap);
        size_t got_len = strlen(got);
        h = fnv1a64(h, got, got_len);
        h = fnv1a64(h, "\n", 1);
        const char *want = special[i];
        size_t want_len = special_len[i];
        if (!want) { /* lower().split(): ASCII lowercase, split on ASCII whitespace */
            if (in.len[i] + 1 > plain_cap) {
                plain_cap = 2 * in.len[i] + 1;
                plain = realloc(plain, plain_cap);
            }
            size_t w = 0;
            for (size_t k = 0; k < in.len[i]; k++) {
                unsigned char c = (unsigned char)in.p[i][k];
                if (c == ' ' || (c >= '\t' && c <= '\r')) {
                    if (w && plain[w - 1] != ' ') plain[w++] = ' ';
                } else {
                    plain[w++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                }
            }
            if (w && plain[w - 1] == ' ') w--;
            want = plain;
            want_len = w;
        }
        if (got_len == want_len && memcmp(got, want, want_len) == 0) agree++;
        else if (shown++ < 10)
            print_message("%s line %zu: '%.*s'\n  nltk: '%.*s'\n  ours: '%s'\n", label, i + 1,
                          (int)in.len[i], in.p[i], (int)want_len, want, got);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    print_message("%s: %zu/%zu lines agree (%zu lines differ from lower().split()); %.1f us/line\n", label,
                  agree, in.n, diff.n - 1, 1e6 * secs / (double)in.n);
    assert_int_equal(agree, in.n);
    assert_true(h == (uint64_t)want_hash);
    free(special);
    free(special_len);
    free(buf);
    free(plain);
    free(path);
    ua_tokens_free(&tk);
    lines_free(&in);
    lines_free(&diff);
}

static void test_f30k_test(void **state)
{
    check_caption_file(*state, "f30k test", "data/f30k_precomp/test_caps.txt", "f30k_test.diff.txt");
}

static void test_f30k_dev(void **state)
{
    check_caption_file(*state, "f30k dev", "data/f30k_precomp/dev_caps.txt", "f30k_dev.diff.txt");
}

static void test_coco_testall(void **state)
{
    check_caption_file(*state, "coco testall", "data/coco_precomp/testall_caps.txt", "coco_testall.diff.txt");
}

static void test_coco_test(void **state)
{
    check_caption_file(*state, "coco test", "data/coco_precomp/test_caps.txt", "coco_test.diff.txt");
}

/* ---- single rules ----------------------------------------------------------------------------- */

static void test_rules(void **state)
{
    ua_tokenizer *t = *state;
    static const char *cases[][2] = {
        /* the spec's example */
        {"a man's dog, \"running\" fast -- in the u.s. park.",
         "a man 's dog , `` running '' fast -- in the u.s. park ."},
        /* lowercasing: bytes A-Z only */
        {"THE DOG", "the dog"},
        {"\xC3\x89" "COLE", "\xC3\x89" "cole"},          /* É stays upper case */
        /* clitics */
        {"it's they're don't we'll i'd i've i'm", "it 's they 're do n't we 'll i 'd i 've i 'm"},
        {"cannot gonna gotta gimme lemme wanna go", "can not gon na got ta gim me lem me wan na go"},
        {"d'ye more'n 'tis 'twas", "d 'ye more 'n 't is 't was"},
        {"wannabe cannotx", "wannabe cannotx"},
        {"the dogs' toys", "the dogs ' toys"},
        /* Python's case-insensitive matching: i ~ U+0130/U+0131, s ~ U+017F */
        {"g\xC4\xB1mme", "g\xC4\xB1m me"},
        {"x '\xC5\xBF", "x '\xC5\xBF"},
        {"x 'z", "x ' z"},
        /* quotes */
        {"\"hi\"", "`` hi ''"},
        {"(\"hi\")", "( `` hi '' )"},
        {"\xE2\x80\x9Chi\xE2\x80\x9D", "\xE2\x80\x9C hi \xE2\x80\x9D"},
        {"``a''", "`` a ''"},
        /* punctuation */
        {"a,b 1,000 9:30 a: b", "a , b 1,000 9:30 a : b"},
        {"$5 50% a&b #1 @x", "$ 5 50 % a & b # 1 @ x"},
        {"wait... what?!", "wait ... what ? !"},
        {"u.s. e.g. mr. smith.", "u.s. e.g. mr. smith ."},
        {"a dog. a cat.", "a dog. a cat ."}, /* one sentence: only the final period splits */
        {"(a) [b] {c} <d>", "( a ) [ b ] { c } < d >"},
        {"a--b a-b a---b", "a -- b a-b a -- -b"},
        {"end.\")", "end . '' )"},
        /* Python's \s, \w, \d */
        {"a\xC2\xA0" "b\xE3\x80\x80" "c", "a b c"},  /* U+00A0, U+3000 split */
        {"a\x1F" "b", "a b"},                      /* U+001F is str.isspace() */
        {"a\xE2\x80\x8B" "b", "a\xE2\x80\x8B" "b"},  /* U+200B is not */
        {"1,\xD9\xA3 1,x", "1,\xD9\xA3 1 , x"},      /* U+0663 is \d */
        {"'e\xCC\x81", "' e\xCC\x81"},               /* U+0301 (Mn) is not \w */
        /* strip: ASCII whitespace only */
        {"  \t a b \r\n", "a b"},
        {"\t\"x\"", "`` x ''"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = tok_str(t, cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("case %zu: '%s'\n  want '%s'\n  got  '%s'", i, cases[i][0], cases[i][1], got);
    }
}

/* ---- UTF-8 -------------------------------------------------------------------------------------- */

static void test_invalid_utf8(void **state)
{
    ua_tokenizer *t = *state;
    static const struct {
        const char *s;
        size_t len;
        size_t bad;
        const char *what;
    } cases[] = {
        {"ab\xC0\xAF", 4, 2, "overlong 2-byte"},
        {"ab\xE0\x80\xAF", 5, 2, "overlong 3-byte"},
        {"\xF0\x80\x80\xAF", 4, 0, "overlong 4-byte"},
        {"x \xED\xA0\x80", 5, 2, "surrogate U+D800"},
        {"x \xED\xBF\xBF", 5, 2, "surrogate U+DFFF"},
        {"caf\xC3", 4, 3, "truncated at the end"},
        {"a\xE2\x82 b", 5, 1, "truncated before a space"},
        {"dog \x80 cat", 9, 4, "stray continuation byte"},
        {"\xF4\x90\x80\x80", 4, 0, "above U+10FFFF"},
        {"ok \xFF", 4, 3, "byte 0xFF"},
        {"  \xF5\x80\x80\x80", 6, 2, "lead byte 0xF5 after stripped spaces"},
    };
    ua_tokens tk = {0};
    ua_err err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t bad = 99;
        if (i != 10) { /* ua_utf8_valid does not strip */
            assert_int_equal(ua_utf8_valid(cases[i].s, cases[i].len, &bad), 0);
            assert_int_equal(bad, cases[i].bad);
        }
        assert_int_equal(ua_tokenize(t, cases[i].s, cases[i].len, &tk, &err), -1);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu ", cases[i].bad);
        if (!strstr(err.msg, "invalid UTF-8") || !strstr(err.msg, want))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].what, err.msg, want);
        assert_int_equal(tk.n, 0);
    }
    /* valid edge cases */
    static const char *ok[] = {"\xED\x9F\xBF", "\xEE\x80\x80", "\xF4\x8F\xBF\xBF", "\xF0\x9F\x98\x80",
                               "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xF0\x90\x80\x80"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(ua_utf8_valid(ok[i], strlen(ok[i]), NULL), 1);
        assert_int_equal(ua_tokenize(t, ok[i], strlen(ok[i]), &tk, &err), 0);
        assert_int_equal(tk.n, 1);
        assert_string_equal(tk.tok[0], ok[i]);
    }
    ua_tokens_free(&tk);
}

/* ---- buffers ------------------------------------------------------------------------------------ */

static void test_reuse_and_empty(void **state)
{
    ua_tokenizer *t = *state;
    ua_tokens tk = {0};
    ua_err err;
    assert_int_equal(ua_tokenize(t, "", 0, &tk, &err), 0);
    assert_int_equal(tk.n, 0);
    assert_int_equal(ua_tokenize(t, NULL, 0, &tk, &err), 0);
    assert_int_equal(tk.n, 0);
    assert_int_equal(ua_tokenize(t, " \t\r\n", 4, &tk, &err), 0);
    assert_int_equal(tk.n, 0);

    /* a long line (grows every buffer), then a short one, then the long one again */
    size_t n_words = 3000;
    char *line = malloc(n_words * 8 + 1), *w = line;
    for (size_t i = 0; i < n_words; i++) w += sprintf(w, "%s", i % 3 == 0 ? "dog's, " : i % 3 == 1 ? "(cat) " : "x. ");
    size_t len = (size_t)(w - line);
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(ua_tokenize(t, line, len, &tk, &err), 0);
        assert_int_equal(tk.n, 1000 * 3 + 1000 * 3 + 1000 * 1 + 1); /* the final "x." splits */
        assert_string_equal(tk.tok[0], "dog");
        assert_string_equal(tk.tok[1], "'s");
        assert_string_equal(tk.tok[2], ",");
        assert_string_equal(tk.tok[3], "(");
        assert_string_equal(tk.tok[tk.n - 2], "x");
        assert_string_equal(tk.tok[tk.n - 1], ".");
        assert_int_equal(ua_tokenize(t, "a b", 3, &tk, &err), 0);
        assert_int_equal(tk.n, 2);
        assert_string_equal(tk.tok[0], "a");
        assert_string_equal(tk.tok[1], "b");
    }
    /* the line needs no NUL: only len bytes are read */
    assert_int_equal(ua_tokenize(t, "dog.XYZ", 4, &tk, &err), 0);
    assert_int_equal(tk.n, 2);
    assert_string_equal(tk.tok[0], "dog");
    assert_string_equal(tk.tok[1], ".");
    /* an error leaves 0 tokens, and the next call works */
    assert_int_equal(ua_tokenize(t, "\x80", 1, &tk, &err), -1);
    assert_int_equal(tk.n, 0);
    assert_string_equal(tok_str(t, "It's"), "it 's");
    free(line);
    ua_tokens_free(&tk);
    ua_tokens_free(&tk); /* freeing twice is harmless */
}

static void test_two_tokenizers(void **state)
{
    (void)state;
    ua_err err;
    ua_tokenizer *a = ua_tokenizer_new(&err), *b = ua_tokenizer_new(&err);
    assert_non_null(a);
    assert_non_null(b);
    ua_tokens ta = {0}, tb = {0};
    assert_int_equal(ua_tokenize(a, "A dog's.", 8, &ta, &err), 0);
    assert_int_equal(ua_tokenize(b, "Cannot!", 7, &tb, &err), 0);
    assert_int_equal(ta.n, 4);
    assert_int_equal(tb.n, 3);
    assert_string_equal(tb.tok[1], "not");
    ua_tokenizer_free(a);
    ua_tokenizer_free(b);
    ua_tokenizer_free(NULL);
    ua_tokens_free(&ta);
    ua_tokens_free(&tb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentences_fixture), cmocka_unit_test(test_f30k_test),
        cmocka_unit_test(test_f30k_dev),          cmocka_unit_test(test_coco_testall),
        cmocka_unit_test(test_coco_test),         cmocka_unit_test(test_rules),
        cmocka_unit_test(test_invalid_utf8),      cmocka_unit_test(test_reuse_and_empty),
        cmocka_unit_test(test_two_tokenizers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
