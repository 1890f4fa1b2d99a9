/* Checkpoint files (see checkpoint.h). */
#include "uarda/checkpoint.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/safetensors.h"

int ua_checkpoint_save(const char *path, const ua_options *o, const ua_model *m, const float *exp_avg,
                       const float *exp_avg_sq, const ua_train_state *st, const ua_relevance_state *rel,
                       ua_err *err)
{
    int with_moments = exp_avg && exp_avg_sq;
    size_t n = (size_t)m->n_tensors * (with_moments ? 3 : 1);
    ua_st_entry *e = calloc(n, sizeof *e);
    char (*names)[96] = calloc(n, sizeof *names);
    char *opt = ua_options_to_json(o);
    if (!e || !names || !opt) {
        free(e); free(names); free(opt);
        return ua_fail(err, "%s: out of memory writing the checkpoint", path);
    }
    size_t k = 0;
    for (int pass = 0; pass < (with_moments ? 3 : 1); pass++) {
        const float *base = pass == 0 ? m->params : pass == 1 ? exp_avg : exp_avg_sq;
        const char *prefix = pass == 0 ? "" : pass == 1 ? "optim.exp_avg." : "optim.exp_avg_sq.";
        for (int t = 0; t < m->n_tensors; t++, k++) {
            const ua_tensor_info *ti = &m->tensors[t];
            snprintf(names[k], sizeof names[k], "%s%s", prefix, ti->name);
            e[k].name = names[k];
            e[k].dtype = UA_ST_F32;
            e[k].ndim = ti->ndim;
            e[k].shape[0] = ti->shape[0];
            e[k].shape[1] = ti->shape[1];
            e[k].data = base + ti->offset;
        }
    }
    char epoch[32], batch[32], iters[32], best[64], step[32];
    snprintf(epoch, sizeof epoch, "%d", st ? st->epoch : 0);
    snprintf(batch, sizeof batch, "%d", st ? st->batch : 0);
    snprintf(iters, sizeof iters, "%lld", st ? st->iters : 0);
    snprintf(best, sizeof best, "%.17g", st ? st->best_rsum : 0.0);
    snprintf(step, sizeof step, "%lld", st ? st->adam_step : 0);
    char *relj = rel ? ua_relevance_state_to_json(rel) : NULL;
    char hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, ua_model_params_hash(m));
    const char *keys[9] = {"format", "opt", "params_hash", "epoch", "batch", "Eiters", "best_rsum", "adam_step"};
    const char *vals[9] = {"uarda-checkpoint-1", opt, hash, epoch, batch, iters, best, step};
    size_t n_meta = with_moments || st ? 8 : 3;
    if (relj) { keys[n_meta] = "relevance"; vals[n_meta] = relj; n_meta++; }
    int rc = ua_st_write(path, e, k, keys, vals, n_meta, err);
    free(relj);
    free(e);
    free(names);
    free(opt);
    return rc;
}

static int meta_ll(const ua_st_file *f, const char *key, long long *out, const char *path, ua_err *err)
{
    const char *v = ua_st_meta(f, key);
    if (!v) return 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end) return ua_fail(err, "%s: metadata \"%s\" = \"%.40s\" is not an integer", path, key, v);
    *out = x;
    return 0;
}

static int load(const char *path, ua_options *o, ua_model *m, float **exp_avg, float **exp_avg_sq,
                ua_train_state *st, int in_place, ua_err *err);

/* the options stored in __metadata__["opt"], over *o */
static int read_opt(const ua_st_file *f, const char *path, ua_options *o, ua_err *err)
{
    const char *opt = ua_st_meta(f, "opt");
    if (!opt) return ua_fail(err, "%s: not a uarda/SCAN checkpoint (no \"opt\" in __metadata__)", path);
    return ua_options_from_json(o, opt, path, err);
}

int ua_checkpoint_read_options(const char *path, ua_options *o, ua_err *err)
{
    ua_st_file f;
    if (ua_st_open(&f, path, err)) return -1;
    int rc = read_opt(&f, path, o, err);
    ua_st_close(&f);
    return rc;
}

static void close_mapping(void *ctx)
{
    ua_st_close(ctx);
    free(ctx);
}

/* The model's parameters in place in the file: every tensor F32 with its shape, aligned, at the
 * model's offset from the first one (uarda writes them so). 1 when m now borrows them, 0 when
 * they lie otherwise (m untouched), -1 on error. */
static int borrow_params(ua_st_file *f, const ua_options *o, ua_model *m, ua_err *err)
{
    const ua_st_tensor *first = ua_st_find(f, "txt_enc.embed.weight");
    if (!first || first->dtype != UA_ST_F32 || (uintptr_t)first->data % sizeof(float)) return 0;
    ua_model v;
    if (ua_model_create_on(&v, &o->model, (float *)first->data, NULL, NULL, err)) return -1;
    int in_place = 1;
    for (int t = 0; t < v.n_tensors && in_place; t++) {
        const ua_tensor_info *ti = &v.tensors[t];
        const ua_st_tensor *x = ua_st_find(f, ti->name);
        in_place = x && x->dtype == UA_ST_F32 && x->n_elems == ti->count && x->ndim == ti->ndim &&
                   x->shape[0] == ti->shape[0] && (ti->ndim < 2 || x->shape[1] == ti->shape[1]) &&
                   (const float *)x->data == v.params + ti->offset;
    }
    if (!in_place) return 0;
    ua_st_prefault(f, v.params, v.n_params * sizeof(float));
    *m = v;
    return 1;
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* The tensors must be those the options imply: the model's, and, when the file holds any
 * optimizer moment, both moments of every one of them. A tensor under img_enc., txt_enc. or
 * optim. that the options do not imply is refused rather than ignored (reverse GRU tensors
 * under bi_gru false would mean running another model than the one trained), and so is a
 * missing one. Names outside those prefixes are not the model's and are left alone. */
static int check_tensor_set(const ua_st_file *f, const ua_model *m, const char *path, ua_err *err)
{
    static const char *const moment[2] = {"optim.exp_avg.", "optim.exp_avg_sq."};
    int moments = 0;
    for (size_t i = 0; i < f->n_tensors && !moments; i++) moments = starts_with(f->tensors[i].name, "optim.");
    const ua_model_opt *mo = &m->opt;
    char implied[96];
    snprintf(implied, sizeof implied, "its opt: bi_gru %s, num_layers %d", mo->bi_gru ? "true" : "false", mo->num_layers);
    for (int t = 0; t < m->n_tensors; t++) {
        const char *name = m->tensors[t].name;
        if (!ua_st_find(f, name)) return ua_fail(err, "%s: missing tensor '%s' (%s)", path, name, implied);
        for (int k = 0; k < 2 && moments; k++) {
            char full[128];
            snprintf(full, sizeof full, "%s%s", moment[k], name);
            if (!ua_st_find(f, full))
                return ua_fail(err, "%s: missing tensor '%s' (the file holds other optimizer moments)", path, full);
        }
    }
    for (size_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name, *param = NULL;
        if (starts_with(name, "img_enc.") || starts_with(name, "txt_enc.")) param = name;
        else if (starts_with(name, moment[1])) param = name + strlen(moment[1]);
        else if (starts_with(name, moment[0])) param = name + strlen(moment[0]);
        else if (starts_with(name, "optim.")) param = "";
        else continue;
        if (!ua_model_tensor(m, param))
            return ua_fail(err, "%s: tensor '%.200s' is not part of the model %s implies", path, name, implied);
    }
    return 0;
}

/* 16 hex digits */
static int parse_hash(const char *v, uint64_t *out)
{
    if (strlen(v) != 16) return -1;
    for (int i = 0; i < 16; i++)
        if (!isxdigit((unsigned char)v[i])) return -1;
    *out = strtoull(v, NULL, 16);
    return 0;
}

/* The parameters' hash against the params_hash the file records (uarda's files; a converted
 * SCAN checkpoint has none), which a borrowed model then keeps, so that nobody hashes them again */
static int check_params_hash(const ua_st_file *f, ua_model *m, const char *path, ua_err *err)
{
    const char *h = ua_st_meta(f, "params_hash");
    if (!h) return 0;
    uint64_t want;
    if (parse_hash(h, &want))
        return ua_fail(err, "%s: metadata \"params_hash\" = \"%.40s\" is not 16 hex digits", path, h);
    m->params_hash_known = 0;
    uint64_t have = ua_model_params_hash(m);
    if (have != want)
        return ua_fail(err, "%s: the parameters hash to %016" PRIx64 " but the file records params_hash %016" PRIx64
                       " (a corrupt or edited checkpoint)", path, have, want);
    if (m->borrowed) {
        m->params_hash = have;
        m->params_hash_known = 1;
    }
    return 0;
}

/* The one place an evaluation's threshold is set: m's test threshold from its checkpoint's
 * relevance state under the options o (the checkpoint's, with the flags given merged in) */
static void resolve_t_test(ua_model *m, const ua_options *o, const ua_relevance_state *rel)
{
    m->t_test = ua_options_thresholded(o) ? ua_relevance_t_test(rel, &o->rel) : 0.0;
}

int ua_checkpoint_load(const char *path, ua_options *o, ua_model *m, float **exp_avg, float **exp_avg_sq,
                       ua_train_state *st, ua_err *err)
{
    return load(path, o, m, exp_avg, exp_avg_sq, st, 0, err);
}

int ua_checkpoint_open(const char *path, ua_options *o, ua_model *m, ua_err *err)
{
    return load(path, o, m, NULL, NULL, NULL, 1, err);
}

static int load(const char *path, ua_options *o, ua_model *m, float **exp_avg, float **exp_avg_sq,
                ua_train_state *st, int in_place, ua_err *err)
{
    memset(m, 0, sizeof *m);
    if (exp_avg) *exp_avg = NULL;
    if (exp_avg_sq) *exp_avg_sq = NULL;
    /* on the heap: a model that borrows its parameters from the mapping keeps it until freed */
    ua_st_file *fp = calloc(1, sizeof *fp);
    if (!fp) return ua_fail(err, "%s: out of memory", path);
    if (ua_st_open(fp, path, err)) { free(fp); return -1; }
    int rc = -1, borrowed = 0;
    /* the whole file's bytes against its checksum first: nothing else is trusted before */
    const int verified = ua_st_verify(fp, err);
    if (verified < 0) goto out;
    if (read_opt(fp, path, o, err)) goto out;
    const ua_st_tensor *emb = ua_st_find(fp, "txt_enc.embed.weight");
    if (!emb) { ua_fail(err, "%s: missing tensor 'txt_enc.embed.weight'", path); goto out; }
    if (o->model.vocab_size <= 0 && emb->ndim == 2) o->model.vocab_size = (int)emb->shape[0];
    if (in_place && (borrowed = borrow_params(fp, o, m, err)) < 0) { ua_fail_prefix(err, "%s", path); goto out; }
    if (!borrowed && ua_model_create(m, &o->model, err)) { ua_fail_prefix(err, "%s", path); goto out; }
    if (check_tensor_set(fp, m, path, err)) goto out;
    for (int t = 0; t < m->n_tensors && !borrowed; t++) {  /* the parameters' pages, in one call each */
        const ua_st_tensor *st_t = ua_st_find(fp, m->tensors[t].name);
        if (st_t && st_t->dtype == UA_ST_F32) ua_st_prefault(fp, st_t->data, st_t->n_elems * sizeof(float));
    }
    for (int t = 0; t < m->n_tensors && !borrowed; t++) {
        const ua_tensor_info *ti = &m->tensors[t];
        const float *src = ua_st_get_f32(fp, ti->name, ti->ndim, ti->shape, err);
        if (!src) goto out;
        memcpy(m->params + ti->offset, src, ti->count * sizeof(float));
    }
    /* a NaN or Inf anywhere (a parameter, a moment) would make every score or step NaN */
    for (size_t i = 0; i < fp->n_tensors; i++)
        if (ua_st_check_finite(fp, &fp->tensors[i], err)) goto out;
    if (check_params_hash(fp, m, path, err)) goto out;
    int has_moments = ua_st_find(fp, "optim.exp_avg.img_enc.fc.weight") != NULL;
    if (has_moments && exp_avg && exp_avg_sq) {
        *exp_avg = malloc(m->n_params * sizeof(float));
        *exp_avg_sq = malloc(m->n_params * sizeof(float));
        if (!*exp_avg || !*exp_avg_sq) { ua_fail(err, "%s: out of memory for the optimizer state", path); goto out; }
        for (int pass = 1; pass <= 2; pass++)
            for (int t = 0; t < m->n_tensors; t++) {
                const ua_tensor_info *ti = &m->tensors[t];
                char name[96];
                snprintf(name, sizeof name, "%s%s", pass == 1 ? "optim.exp_avg." : "optim.exp_avg_sq.", ti->name);
                const float *src = ua_st_get_f32(fp, name, ti->ndim, ti->shape, err);
                if (!src) goto out;
                memcpy((pass == 1 ? *exp_avg : *exp_avg_sq) + ti->offset, src, ti->count * sizeof(float));
            }
    }
    if (st) {
        memset(st, 0, sizeof *st);
        long long epoch = 0, batch = 0, step = 0;
        if (meta_ll(fp, "epoch", &epoch, path, err) || meta_ll(fp, "batch", &batch, path, err) ||
            meta_ll(fp, "Eiters", &st->iters, path, err) || meta_ll(fp, "adam_step", &step, path, err))
            goto out;
        st->epoch = (int)epoch;
        st->batch = (int)batch;
        st->adam_step = step;
        const char *best = ua_st_meta(fp, "best_rsum");
        st->best_rsum = best ? strtod(best, NULL) : 0.0;
        /* a SCAN checkpoint's epoch is the epoch just finished; ours is the one to run next */
        const char *fmt = ua_st_meta(fp, "format");
        if (!fmt || strcmp(fmt, "uarda-checkpoint-1") != 0) { st->epoch = 0; st->batch = 0; st->adam_step = 0; }
    }
    /* the threshold in force at test (UARDA; 0 for SCAN) */
    if (ua_options_thresholded(o)) {
        ua_relevance_state rel;
        if (ua_relevance_init(&rel, &o->rel, err)) goto out;
        const char *j = ua_st_meta(fp, "relevance");
        int bad = j && ua_relevance_state_from_json(&rel, j, strlen(j), path, err);
        if (!bad) resolve_t_test(m, o, &rel);
        ua_relevance_free(&rel);
        if (bad) goto out;
    }
    m->unverified = verified == 1;
    rc = 0;
out:
    if (rc) {
        ua_model_free(m);   /* a borrowing model has no release yet: the mapping is closed below */
        if (exp_avg) { free(*exp_avg); *exp_avg = NULL; }
        if (exp_avg_sq) { free(*exp_avg_sq); *exp_avg_sq = NULL; }
    }
    if (rc == 0 && borrowed) {
        m->release = close_mapping;
        m->release_ctx = fp;
    } else {
        close_mapping(fp);
    }
    return rc;
}

int ua_checkpoint_load_relevance(const char *path, const ua_options *o, ua_model *m, ua_relevance_state *rel,
                                 ua_err *err)
{
    if (ua_relevance_init(rel, &o->rel, err)) return -1;
    ua_st_file f;
    if (ua_st_open(&f, path, err)) return -1;
    const char *j = ua_st_meta(&f, "relevance");
    int rc = j ? ua_relevance_state_from_json(rel, j, strlen(j), path, err) : 0;
    ua_st_close(&f);
    if (!rc) resolve_t_test(m, o, rel);
    return rc;
}
