/* libFuzzer target: the caption loader (ua_captions_parse, what ua_captions_load runs on a
 * file's bytes) on arbitrary bytes, against a small vocabulary. It must never crash; a failure
 * is one line that names the input; a success holds one caption per line (a final '\n' starts
 * none), each <start> ids <end> with ids in the vocabulary, at most UA_ATTN_SKIP_MAX long, with
 * consistent offsets and counts. Lines given in memory (ua_captions_from_lines, the search
 * queries' path) must give the same answer, message included. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/precomp.h"

static void fail_if(int bad)
{
    if (bad) abort();
}

/* the lines of buf as ua_captions_parse counts them (NUL-terminated copies), or -1 */
static int split_lines(const char *buf, size_t len, char ***out)
{
    int n = 0;
    for (size_t i = 0; i < len; i++) n += buf[i] == '\n';
    if (len && buf[len - 1] != '\n') n++;
    char **lines = calloc((size_t)n + 1, sizeof *lines);
    if (!lines) return -1;
    size_t start = 0;
    for (int k = 0; k < n; k++) {
        size_t end = start;
        while (end < len && buf[end] != '\n') end++;
        lines[k] = malloc(end - start + 1);
        if (!lines[k]) abort();
        memcpy(lines[k], buf + start, end - start);
        lines[k][end - start] = 0;
        start = end + 1;
    }
    *out = lines;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ua_tokenizer *tok;
    static ua_vocab v;
    ua_err err;
    if (!tok) {
        static const char *const words[] = {"a", "dog", "cat", "runs", ".", ",", "the", "man", "'s", "``"};
        if (!(tok = ua_tokenizer_new(&err)) || ua_vocab_init(&v, &err)) abort();
        for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
            if (ua_vocab_add(&v, words[k], &err) < 0) abort();
    }
    if (size > 4096) return 0; /* some NLTK rules backtrack quadratically, as in Python */
    const char *buf = (const char *)data;
    ua_captions c;
    err.msg[0] = 0;
    int rc = ua_captions_parse(&c, buf, size, "caps.txt", &v, tok, &err);
    char msg[UA_ERR_MAX];
    memcpy(msg, err.msg, sizeof msg);
    char **lines = NULL;
    int n_lines = split_lines(buf, size, &lines);
    fail_if(n_lines < 0);
    if (rc) {
        fail_if(rc != -1 || strncmp(msg, "caps.txt: ", 10) != 0 || strchr(msg, '\n') || c.offsets || c.ids);
    } else {
        fail_if(c.n != n_lines || c.n < 1 || c.offsets[0] != 0);
        int max_len = 0;
        long long inner = 0;
        for (int k = 0; k < c.n; k++) {
            int len = ua_caption_len(&c, k);
            const int *ids = ua_caption_ids(&c, k);
            fail_if(len < 3 || len > UA_ATTN_SKIP_MAX || ids[0] != UA_START || ids[len - 1] != UA_END);
            for (int t = 1; t < len - 1; t++) fail_if(ids[t] < 0 || ids[t] >= v.n);
            if (len > max_len) max_len = len;
            inner += len - 2;
        }
        fail_if(c.max_len != max_len || c.n_tokens != inner || c.n_unk < 0 || c.n_unk > c.n_tokens);
    }
    /* the same lines given in memory: the same answer (a NUL inside a line cannot be given so) */
    if (!memchr(buf, 0, size) && n_lines > 0) {
        ua_captions d;
        int rd = ua_captions_from_lines(&d, (const char *const *)lines, n_lines, "caps.txt", &v, tok, &err);
        fail_if(rd != rc);
        if (rc) fail_if(strcmp(err.msg, msg) != 0);
        else {
            fail_if(d.n != c.n || memcmp(d.offsets, c.offsets, ((size_t)c.n + 1) * sizeof(int)) != 0 ||
                    memcmp(d.ids, c.ids, (size_t)c.offsets[c.n] * sizeof(int)) != 0 || d.n_unk != c.n_unk);
            ua_captions_free(&d);
        }
    }
    for (int k = 0; k < n_lines; k++) free(lines[k]);
    free(lines);
    ua_captions_free(&c);
    return 0;
}
