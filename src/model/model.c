/* SCAN model: options, the parameter buffer and its named tensors, initialisation. */
#include "uarda/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/mem.h"
#include "uarda/rng.h"

int ua_model_opt_check(const ua_model_opt *o, ua_err *err)
{
    if (o->img_dim < 1 || o->img_dim > (1 << 20)) return ua_fail(err, "img_dim must be in [1, 2^20], got %d", o->img_dim);
    if (o->embed_size < 1 || o->embed_size > (1 << 16)) return ua_fail(err, "embed_size must be in [1, 65536], got %d", o->embed_size);
    if (o->word_dim < 1 || o->word_dim > (1 << 16)) return ua_fail(err, "word_dim must be in [1, 65536], got %d", o->word_dim);
    if (o->vocab_size < 5) return ua_fail(err, "vocab_size must be at least 5 (4 special tokens and a word), got %d", o->vocab_size);
    if (o->num_layers < 1 || o->num_layers > 8) return ua_fail(err, "num_layers must be in [1, 8], got %d", o->num_layers);
    if (o->attn.lambda_softmax <= 0 || o->attn.lambda_lse <= 0)
        return ua_fail(err, "lambda_softmax and lambda_lse must be positive");
    if ((unsigned)o->attn.direction > 1 || (unsigned)o->attn.norm > 6 || (unsigned)o->attn.agg > 3)
        return ua_fail(err, "invalid cross_attn / raw_feature_norm / agg_func");
    if (!(o->margin >= 0)) return ua_fail(err, "margin must be >= 0");
    return 0;
}

static ua_tensor_info *add_tensor(ua_model *m, const char *name, int ndim, int64_t d0, int64_t d1, size_t *offset)
{
    ua_tensor_info *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim > 1 ? d1 : 0;
    t->count = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1);
    t->offset = *offset;
    *offset += t->count;
    return t;
}

int ua_model_create(ua_model *m, const ua_model_opt *opt, ua_err *err)
{
    return ua_model_create_on(m, opt, NULL, NULL, NULL, err);
}

int ua_model_create_on(ua_model *m, const ua_model_opt *opt, float *params, void (*release)(void *), void *release_ctx,
                       ua_err *err)
{
    memset(m, 0, sizeof *m);
    if (ua_model_opt_check(opt, err)) return -1;
    m->opt = *opt;
    m->gru = (ua_gru_shape){opt->word_dim, opt->embed_size, opt->num_layers, opt->bi_gru ? 1 : 0};
    if (ua_gru_check_shape(&m->gru, err)) return -1;
    size_t off = 0;
    add_tensor(m, "txt_enc.embed.weight", 2, opt->vocab_size, opt->word_dim, &off);
    size_t rnn_off = off;
    for (int k = 0; k < ua_gru_n_tensors(&m->gru); k++) {
        char name[48], full[64];
        int ndim;
        int64_t shape[2];
        size_t o;
        ua_gru_tensor(&m->gru, k, name, sizeof name, &ndim, shape, &o);
        snprintf(full, sizeof full, "txt_enc.rnn.%s", name);
        size_t at = rnn_off + o;
        add_tensor(m, full, ndim, shape[0], shape[1], &at);
    }
    off = rnn_off + ua_gru_param_count(&m->gru);
    ua_tensor_info *w = add_tensor(m, "img_enc.fc.weight", 2, opt->embed_size, opt->img_dim, &off);
    ua_tensor_info *b = add_tensor(m, "img_enc.fc.bias", 1, opt->embed_size, 0, &off);
    m->n_params = off;
    m->params = params ? params : ua_alloc_big(off * sizeof(float));
    if (!m->params) return ua_fail(err, "out of memory for %zu parameters", off);
    m->release = params ? release : NULL;
    m->release_ctx = params ? release_ctx : NULL;
    m->borrowed = params != NULL;
    m->embed = m->params;
    m->rnn = m->params + rnn_off;
    m->fc_weight = m->params + w->offset;
    m->fc_bias = m->params + b->offset;
    return 0;
}

void ua_model_init_weights(ua_model *m, uint64_t seed)
{
    ua_rng r;
    ua_rng_seed(&r, seed, UA_RNG_INIT);
    size_t n_embed = (size_t)m->opt.vocab_size * m->opt.word_dim;
    for (size_t i = 0; i < n_embed; i++) m->embed[i] = ua_rng_range(&r, -0.1f, 0.1f);
    ua_gru_init(&m->gru, m->rnn, &r);
    float bound = (float)(sqrt(6.0) / sqrt((double)m->opt.img_dim + (double)m->opt.embed_size));
    size_t n_fc = (size_t)m->opt.embed_size * m->opt.img_dim;
    for (size_t i = 0; i < n_fc; i++) m->fc_weight[i] = ua_rng_range(&r, -bound, bound);
    memset(m->fc_bias, 0, (size_t)m->opt.embed_size * sizeof(float));
}

void ua_model_free(ua_model *m)
{
    if (!m) return;
    if (!m->borrowed) ua_free_big(m->params, m->n_params * sizeof(float));
    else if (m->release) m->release(m->release_ctx);
    memset(m, 0, sizeof *m);
}

const ua_tensor_info *ua_model_tensor(const ua_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

uint64_t ua_model_params_hash(const ua_model *m)
{
    if (m->params_hash_known) return m->params_hash;
    /* the parameters' bits, a 32-bit word at a time in 16 independent FNV-1a-32 lanes (a loop
     * that vectorizes), then the lanes and the count into one FNV-1a-64 */
    enum { LANES = 16 };
    uint32_t lane[LANES];
    for (int k = 0; k < LANES; k++) lane[k] = 2166136261u ^ (uint32_t)k;
    const float *w = m->params;
    size_t n = m->n_params, e = 0;
    for (; e + LANES <= n; e += LANES) {
        uint32_t b[LANES];
        memcpy(b, w + e, sizeof b);
        for (int k = 0; k < LANES; k++) lane[k] = (lane[k] ^ b[k]) * 16777619u;
    }
    for (int k = 0; e < n; e++, k++) {
        uint32_t b;
        memcpy(&b, w + e, 4);
        lane[k] = (lane[k] ^ b) * 16777619u;
    }
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)lane;
    for (size_t j = 0; j < sizeof lane; j++) h = (h ^ p[j]) * 1099511628211ULL;
    uint64_t count = n;
    p = (const unsigned char *)&count;
    for (size_t j = 0; j < sizeof count; j++) h = (h ^ p[j]) * 1099511628211ULL;
    return h;
}
