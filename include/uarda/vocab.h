/* SCAN vocabulary: JSON {"word2idx": {word: id}, "idx2word": {"id": word}, "idx": n} with
 * <pad>=0, <start>=1, <end>=2, <unk>=3. */
#ifndef UARDA_VOCAB_H
#define UARDA_VOCAB_H

#include <stddef.h>
#include "uarda/error.h"
#include "uarda/tokenize.h"

enum { UA_PAD = 0, UA_START = 1, UA_END = 2, UA_UNK = 3 };

typedef struct ua_vocab {
    int n;              /* number of words (= SCAN's len(vocab), the model's vocab_size) */
    char **words;       /* id -> word */
    /* private: open-addressing hash word -> id */
    int *slots;
    size_t n_slots;
    int cap;
} ua_vocab;

/* an empty vocabulary holding the four special tokens */
int  ua_vocab_init(ua_vocab *v, ua_err *err);
int  ua_vocab_load(ua_vocab *v, const char *path, ua_err *err);
/* SCAN's vocabulary file of a dataset: vocab_path itself when it ends in ".json", else
 * "<vocab_path>/<data_name>_vocab.json" (malloc'ed; NULL without memory) */
char *ua_vocab_file(const char *vocab_path, const char *data_name);
/* The vocabulary of a model trained with vocab_size words (its checkpoint named owner in the
 * message): loaded from ua_vocab_file(vocab_path, data_name) and refused when its size differs */
int  ua_vocab_load_for_model(ua_vocab *v, const char *vocab_path, const char *data_name, int vocab_size,
                             const char *owner, ua_err *err);
/* parse a JSON text (the fuzzer's entry point); name is used in messages */
int  ua_vocab_parse(ua_vocab *v, const char *json, size_t len, const char *name, ua_err *err);
int  ua_vocab_save(const ua_vocab *v, const char *path, ua_err *err);
void ua_vocab_free(ua_vocab *v);
/* id of word, or -1 */
int  ua_vocab_find(const ua_vocab *v, const char *word);
/* id of word, adding it if new; -1 on allocation failure */
int  ua_vocab_add(ua_vocab *v, const char *word, ua_err *err);
/* ids for a caption: <start>, each token (unknown -> <unk>), <end>. ids must hold
 * tokens->n + 2 entries. Returns the count; *n_unk (may be NULL) gets the unknown count. */
int  ua_vocab_encode(const ua_vocab *v, const ua_tokens *tokens, int *ids, int *n_unk);

#endif
