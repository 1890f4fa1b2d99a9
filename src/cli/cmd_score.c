/* uarda score: the similarity matrix of given region features and caption lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/finite.h"
#include "uarda/npy.h"

int cmd_score(int argc, char **argv)
{
    ua_options flags;
    ua_options_default(&flags);
    const char *model = NULL;   /* --model: none unless given (the checkpoint's own score then) */
    const char *ckpt = NULL, *images = NULL, *captions = NULL, *vocab_path = NULL, *output = NULL;
    int threads = 0;
    const char *skip = "on", *t_test = NULL;
    double t_fixed = 0;
    const ua_opt own[] = {
        {"checkpoint", UA_OPT_STR, &ckpt, NULL, "model", 0},
        {"images", UA_OPT_STR, &images, NULL, "region features, float32 .npy [n_images, regions, img_dim]", 0},
        {"captions", UA_OPT_STR, &captions, NULL, "caption lines (text, tokenized as in training)", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary .json (default: the checkpoint's)", 0},
        {"output", UA_OPT_STR, &output, NULL, "where to write the float32 .npy [n_images, n_captions]", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {"skip", UA_OPT_CHOICE, &skip, "on|off", "UARDA: skip irrelevant queries and masked entries (exact)", 0},
        UA_INFERENCE_MODEL_OPT(model),
        {"t-test", UA_OPT_CHOICE, &t_test, "safe|train|fixed",
         "the threshold instead of the checkpoint's choice: safe t_te, train t_tr, or --t-fixed", 0},
        {"t-fixed", UA_OPT_FLOAT, &t_fixed, NULL, "the threshold for --t-test fixed", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cli_flags opts = {0};
    ua_cli_flags_add(&opts, own);
    ua_cli_flags_add_options(&opts, &flags, UA_OC_SHAPE | UA_OC_SCORE);
    ua_cmd_spec spec = {"score", "Score every given image against every caption line with a checkpoint. Options stored in\n"
                        "the checkpoint that shape its scoring (e.g. --lambda-softmax, --agg-func, --cross-attn) can be overridden;\n"
                        "those that shape its parameters must match it. --model naaf scores any checkpoint with NAAF's score\n"
                        "(e.g. --model naaf --t-test fixed --t-fixed X: its test form at t_safe = X; add --score-form train for\n"
                        "its training form at t = X).",
                        "usage: uarda score --checkpoint FILE --images X.npy --captions CAPS.txt --output SIMS.npy", ua_cli_flags_done(&opts), 0};
    ua_cli_annotate_inference(&spec);
    spec.epilog = ua_cli_limits_help();
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (!ckpt || !images || !captions || !output) {
        fprintf(stderr, "uarda score: --checkpoint, --images, --captions and --output are required\n");
        return 2;
    }
    ua_cli_set_threads(threads);
    ua_cli_eval_progress ep;
    const ua_progress_cb *progress = ua_cli_eval_progress_begin(&ep, "score");
    ua_err err;
    ua_options o;
    ua_options_default(&o);
    ua_model m = {0};
    ua_vocab v = {0};
    ua_npy x = {0};
    ua_captions caps = {0};
    ua_embeddings e = {0};
    ua_tokenizer *tok = NULL;
    float *sims = NULL;
    int rc = 1, usage = 0;
    if (ua_checkpoint_open(ckpt, &o, &m, &err)) goto fail;
    if (m.unverified) ua_cli_warn_no_checksum("score", ckpt);
    if (ua_cli_inference_flags(&o, &m, &flags, model, &spec, ckpt, &err)) { usage = 1; goto fail; }
    const double *tf = ua_args_given(&spec, "t-fixed") ? &t_fixed : NULL;
    if ((t_test || tf) && ua_cli_eval_threshold(ckpt, &o, &m, t_test, tf, &err)) goto fail;
    /* the model at the threshold resolved from the checkpoint and the flags, skipping per --skip */
    ua_scorer sc = ua_scorer_of(&m, m.t_test);
    ua_attn_set_skip(&sc.attn, strcmp(skip, "on") == 0);
    if (ua_vocab_load_for_model(&v, vocab_path ? vocab_path : o.vocab_path, o.data_name, m.opt.vocab_size, ckpt, &err)) goto fail;
    if (ua_npy_open(&x, images, &err)) goto fail;
    if (ua_regions_check(&x, images, m.opt.img_dim, &err)) goto fail;
    if (ua_check_regions_finite(x.data, (int)x.shape[0], (int)x.shape[1], (int)x.shape[2], 0, images, &err)) goto fail;
    if (!(tok = ua_tokenizer_new(&err)) || ua_captions_load(&caps, captions, &v, tok, &err)) goto fail;
    if (ua_encode(&m, x.data, (int)x.shape[0], (int)x.shape[1], &caps, &e, progress, &err)) goto fail;
    sims = malloc((size_t)e.n_img * e.n_cap * sizeof(float));
    if (!sims) { ua_fail(&err, "out of memory"); goto fail; }
    if (ua_similarity_matrix_stats(&sc.attn, &e, sims, NULL, progress, &err) || ua_check_scores(sims, e.n_img, e.n_cap, &err)) goto fail;
    int64_t shape[2] = {e.n_img, e.n_cap};
    if (ua_npy_write_f32(output, sims, 2, shape, &err)) goto fail;
    fprintf(stderr, "uarda score: %d images x %d captions -> %s\n", e.n_img, e.n_cap, output);
    rc = 0;
    goto done;
fail:
    ua_cli_eval_progress_end(&ep);
    ua_cli_error("score", &err);
    rc = usage ? 2 : 1;
done:
    ua_cli_eval_progress_end(&ep);
    free(sims);
    ua_embeddings_free(&e);
    ua_captions_free(&caps);
    ua_tokenizer_free(tok);
    ua_npy_close(&x);
    ua_vocab_free(&v);
    ua_model_free(&m);
    return rc;
}
