/* Searchers (searcher.h). */
#include "uarda/searcher.h"

#include <string.h>

#include "uarda/checkpoint.h"

int ua_searcher_open(ua_searcher *s, const char *ckpt, const char *index, int skip, int with_text,
                     const char *vocab_path, ua_err *err)
{
    memset(s, 0, sizeof *s);
    ua_options_default(&s->o);
    if (ua_checkpoint_open(ckpt, &s->o, &s->m, err)) return -1;
    if (ua_gallery_open(&s->g, index, &s->m, err)) {
        ua_model_free(&s->m);
        return -1;
    }
    ua_attn_set_skip(&s->m.opt.attn, skip);
    if (with_text && (ua_vocab_load_for_model(&s->v, vocab_path ? vocab_path : s->o.vocab_path, s->o.data_name,
                                              s->m.opt.vocab_size, ckpt, err) ||
                      !(s->tok = ua_tokenizer_new(err)))) {
        ua_searcher_close(s);
        return -1;
    }
    return 0;
}

void ua_searcher_close(ua_searcher *s)
{
    ua_tokenizer_free(s->tok);
    ua_vocab_free(&s->v);
    ua_gallery_close(&s->g);
    ua_model_free(&s->m);
    memset(s, 0, sizeof *s);
}

int ua_searcher_encode(ua_searcher *s, const char *const *lines, int n, const char *source, ua_captions *caps,
                       ua_embeddings *e, ua_err *err)
{
    memset(e, 0, sizeof *e);
    if (ua_captions_from_lines(caps, lines, n, source, &s->v, s->tok, err)) return -1;
    return ua_encode(&s->m, NULL, 0, s->g.R, caps, e, NULL, err);
}
