/* uarda vocab: build a SCAN vocabulary from caption files (count threshold, as SCAN's
 * vocab.py: train + dev, threshold 4), or report out-of-vocabulary rates with --oov. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "uarda/atomic.h"
#include "uarda/precomp.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"

typedef struct { int id; long long count; const char *word; } word_count;

static int by_count_then_word(const void *a, const void *b)
{
    const word_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

/* tokenizes every line of path, counting tokens by id in `all` (which grows) */
static int count_file(const char *path, ua_vocab *all, long long **counts, int *cap, ua_tokenizer *tok, ua_err *err)
{
    /* ua_captions_load checks UTF-8 and tokenizes as training does; the ids it returns refer
     * to `all` as it was, so count with the tokens instead: read the lines ourselves. */
    FILE *f = fopen(path, "rb");
    if (!f) return ua_fail(err, "%s: cannot open captions", path);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    int lineno = 0, rc = 0;
    ua_tokens tokens = {0};
    while ((got = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        size_t bad;
        if (!ua_utf8_valid(line, (size_t)got, &bad)) {
            rc = ua_fail(err, "%s: line %d: invalid UTF-8 at byte %zu of the line", path, lineno, bad);
            break;
        }
        if (ua_tokenize(tok, line, (size_t)got, &tokens, err)) { rc = ua_fail_prefix(err, "%s: line %d", path, lineno); break; }
        for (int i = 0; i < tokens.n; i++) {
            int id = ua_vocab_add(all, tokens.tok[i], err);
            if (id < 0) { rc = -1; break; }
            if (id >= *cap) {
                int nc = *cap ? *cap * 2 : 4096;
                while (nc <= id) nc *= 2;
                long long *c = realloc(*counts, (size_t)nc * sizeof *c);
                if (!c) { rc = ua_fail(err, "out of memory"); break; }
                memset(c + *cap, 0, (size_t)(nc - *cap) * sizeof *c);
                *counts = c;
                *cap = nc;
            }
            (*counts)[id]++;
        }
        if (rc) break;
    }
    ua_tokens_free(&tokens);
    free(line);
    fclose(f);
    return rc;
}

static int report_oov(const char *vocab_file, int n_files, char **files)
{
    ua_err err;
    ua_vocab v;
    if (ua_vocab_load(&v, vocab_file, &err)) return ua_cli_error("vocab", &err);
    printf("%s: %d words\n", vocab_file, v.n);
    ua_tokenizer *tok = ua_tokenizer_new(&err);
    if (!tok) { ua_vocab_free(&v); return ua_cli_error("vocab", &err); }
    int rc = 0;
    for (int i = 0; i < n_files; i++) {
        ua_captions c;
        if (ua_captions_load(&c, files[i], &v, tok, &err)) { rc = ua_cli_error("vocab", &err); break; }
        printf("%s: %d captions, %lld tokens, %lld out of vocabulary (%.2f%%)\n", files[i], c.n, c.n_tokens,
               c.n_unk, c.n_tokens ? 100.0 * (double)c.n_unk / (double)c.n_tokens : 0.0);
        ua_captions_free(&c);
    }
    ua_tokenizer_free(tok);
    ua_vocab_free(&v);
    return rc;
}

int cmd_vocab(int argc, char **argv)
{
    const char *data_path = "./data/", *data_name = "precomp", *vocab_path = "./vocab/", *splits = "train,dev";
    const char *output = NULL;
    int threshold = 4, oov = 0;
    ua_opt opts[] = {
        {"data-path", UA_OPT_STR, &data_path, NULL, "root of the <data-name> folder", 0},
        {"data-name", UA_OPT_STR, &data_name, NULL, "dataset folder, e.g. f30k_precomp", 0},
        {"splits", UA_OPT_STR, &splits, NULL, "comma-separated splits whose captions are counted", 0},
        {"threshold", UA_OPT_INT, &threshold, NULL, "keep words seen at least this often", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary folder (file <data-name>_vocab.json) or .json file", 0},
        {"output", UA_OPT_STR, &output, NULL, "where to write the vocabulary (default: the --vocab-path file)", 0},
        {"oov", UA_OPT_BOOL, &oov, NULL, "instead of building, report the OOV rate of the caption FILEs against --vocab-path", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"vocab", "Build a SCAN vocabulary (<pad>=0 <start>=1 <end>=2 <unk>=3, then words by count) from\n"
                        "the captions of --splits, or with --oov report out-of-vocabulary rates of caption files.",
                        "usage: uarda vocab [--data-path DIR --data-name NAME --splits train,dev --threshold 4]\n"
                        "       uarda vocab --oov --vocab-path FILE CAPS.txt...", opts, 64};
    int n_pos = 0, st = ua_cli_parse(&spec, argc, argv, &n_pos);
    if (st >= 0) return st;
    char *vocab_file = ua_vocab_file(vocab_path, data_name);
    if (oov) {
        if (n_pos == 0) { fprintf(stderr, "uarda vocab: --oov needs caption files\n"); free(vocab_file); return 2; }
        int rc = report_oov(vocab_file, n_pos, argv + 1);
        free(vocab_file);
        return rc;
    }
    if (n_pos) { fprintf(stderr, "uarda vocab: caption files are only taken with --oov\n"); free(vocab_file); return 2; }
    if (threshold < 1) { fprintf(stderr, "uarda vocab: --threshold must be at least 1\n"); free(vocab_file); return 2; }
    ua_err err;
    ua_vocab all, out;
    ua_tokenizer *tok = NULL;
    long long *counts = NULL;
    int cap = 0, rc = 1;
    word_count *wc = NULL;
    char *list = strdup(splits);
    if (ua_vocab_init(&all, &err) || ua_vocab_init(&out, &err)) { free(list); free(vocab_file); return ua_cli_error("vocab", &err); }
    if (!(tok = ua_tokenizer_new(&err))) { ua_cli_error("vocab", &err); goto done; }
    for (char *sp = strtok(list, ","); sp; sp = strtok(NULL, ",")) {
        char *path = ua_split_path(data_path, data_name, sp, "caps.txt");
        int r = count_file(path, &all, &counts, &cap, tok, &err);
        free(path);
        if (r) { ua_cli_error("vocab", &err); goto done; }
    }
    wc = malloc((size_t)all.n * sizeof *wc);
    int n_wc = 0;
    for (int id = 4; id < all.n; id++) {
        long long c = id < cap ? counts[id] : 0;
        if (c >= threshold) wc[n_wc++] = (word_count){id, c, all.words[id]};
    }
    qsort(wc, (size_t)n_wc, sizeof *wc, by_count_then_word);
    for (int i = 0; i < n_wc; i++)
        if (ua_vocab_add(&out, wc[i].word, &err) < 0) { ua_cli_error("vocab", &err); goto done; }
    const char *target = output ? output : vocab_file;
    if (ua_mkdir_parent(target, &err) || ua_vocab_save(&out, target, &err)) { ua_cli_error("vocab", &err); goto done; }
    printf("%s: %d words (%d distinct tokens seen, threshold %d)\n", target, out.n, all.n - 4, threshold);
    rc = 0;
done:
    free(wc);
    free(counts);
    free(list);
    free(vocab_file);
    ua_tokenizer_free(tok);
    ua_vocab_free(&all);
    ua_vocab_free(&out);
    return rc;
}
