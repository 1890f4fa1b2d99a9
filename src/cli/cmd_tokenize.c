/* uarda tokenize: prints each input line's tokens as SCAN makes them (strip, ASCII lowercase,
 * NLTK word_tokenize rules), separated by single spaces, one output line per input line; or,
 * with --ids, the caption's id sequence (<start> tokens <end>) in a SCAN vocabulary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"

typedef struct run_state {
    ua_tokenizer *tok;
    ua_tokens tokens;
    const ua_vocab *vocab; /* NULL: print tokens */
    int *ids;
    int ids_cap;
} run_state;

static int print_line(run_state *st, FILE *out, ua_err *err)
{
    if (!st->vocab) {
        for (int i = 0; i < st->tokens.n; i++) {
            if (i) putc(' ', out);
            fputs(st->tokens.tok[i], out);
        }
        putc('\n', out);
        return 0;
    }
    if (st->tokens.n + 2 > st->ids_cap) {
        int cap = st->tokens.n + 2 > 64 ? st->tokens.n + 2 : 64;
        int *p = realloc(st->ids, (size_t)cap * sizeof *p);
        if (!p) return ua_fail(err, "out of memory for %d ids", cap);
        st->ids = p;
        st->ids_cap = cap;
    }
    int n = ua_vocab_encode(st->vocab, &st->tokens, st->ids, NULL);
    for (int i = 0; i < n; i++) fprintf(out, i ? " %d" : "%d", st->ids[i]);
    putc('\n', out);
    return 0;
}

static int tokenize_stream(run_state *st, FILE *in, const char *name, ua_err *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    errno = 0;
    while ((got = getline(&line, &cap, in)) >= 0) {
        lineno++;
        /* ua_tokenize strips the trailing \n or \r\n with the other ASCII whitespace */
        if (ua_tokenize(st->tok, line, (size_t)got, &st->tokens, err)) {
            rc = ua_fail_prefix(err, "%s: line %ld", name, lineno);
            break;
        }
        if (print_line(st, stdout, err)) {
            rc = -1;
            break;
        }
    }
    if (!rc && ferror(in)) rc = ua_fail(err, "%s: read error after line %ld: %s", name, lineno, strerror(errno));
    free(line);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    int ids = 0;
    const char *vocab_path = NULL;
    ua_opt opts[] = {
        {"ids", UA_OPT_BOOL, &ids, NULL, "print each caption's id sequence (<start> ... <end>) instead of its tokens", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "SCAN vocabulary JSON file (with --ids)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {
        "tokenize",
        "Tokenizes each line as SCAN does (strip, lowercase A-Z, NLTK word_tokenize rules on the whole\n"
        "line) and prints its tokens separated by single spaces, one output line per input line.\n"
        "Reads the FILEs in turn, or standard input when none is given or FILE is '-'.",
        "usage: uarda tokenize [--ids --vocab-path FILE] [FILE...]",
        opts,
        1 << 20,
    };
    int n_pos = 0;
    int st_rc = ua_cli_parse(&spec, argc, argv, &n_pos);
    if (st_rc >= 0) return st_rc;
    if (ids != (vocab_path != NULL)) {
        fprintf(stderr, "uarda tokenize: --ids and --vocab-path go together (see uarda tokenize --help)\n");
        return 2;
    }

    ua_err err;
    ua_vocab vocab;
    run_state st = {0};
    if (vocab_path) {
        if (ua_vocab_load(&vocab, vocab_path, &err)) return ua_cli_error("tokenize", &err);
        st.vocab = &vocab;
    }
    int rc = 0;
    st.tok = ua_tokenizer_new(&err);
    if (!st.tok) {
        rc = ua_cli_error("tokenize", &err);
        goto done;
    }
    if (n_pos == 0) {
        if (tokenize_stream(&st, stdin, "<stdin>", &err)) rc = ua_cli_error("tokenize", &err);
    }
    for (int i = 0; i < n_pos && !rc; i++) {
        const char *path = argv[1 + i];
        if (strcmp(path, "-") == 0) {
            if (tokenize_stream(&st, stdin, "<stdin>", &err)) rc = ua_cli_error("tokenize", &err);
            continue;
        }
        FILE *f = fopen(path, "rb");
        if (!f) {
            ua_fail(&err, "%s: cannot open: %s", path, strerror(errno));
            rc = ua_cli_error("tokenize", &err);
            break;
        }
        if (tokenize_stream(&st, f, path, &err)) rc = ua_cli_error("tokenize", &err);
        fclose(f);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        ua_fail(&err, "cannot write the output: %s", strerror(errno));
        if (!rc) rc = ua_cli_error("tokenize", &err);
    }
done:
    ua_tokenizer_free(st.tok);
    ua_tokens_free(&st.tokens);
    free(st.ids);
    if (st.vocab) ua_vocab_free(&vocab);
    return rc;
}
