/* uarda index / uarda search: encode a gallery once, then answer queries against it (the index
 * format and the search: include/uarda/gallery.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/finite.h"
#include "uarda/gallery.h"
#include "uarda/npy.h"
#include "uarda/safetensors.h"

/* uarda index --verify G [--checkpoint C]: the whole index read back (its checksum, every value
 * finite) and its header checked as every open checks it, against the checkpoint when given */
static int verify_index(const char *path, const char *ckpt)
{
    ua_err err;
    ua_options o;
    ua_options_default(&o);
    ua_model m = {0};
    ua_gallery g = {0};
    int rc = 1, v = -1;
    if (ckpt) {
        if (ua_checkpoint_open(ckpt, &o, &m, &err)) goto done;
        if (m.unverified) ua_cli_warn_no_checksum("index", ckpt);
    }
    if (ua_gallery_open(&g, path, ckpt ? &m : NULL, &err) || (v = ua_gallery_verify(&g, &err)) < 0) goto done;
    if (v == 1) ua_cli_warn_no_checksum("index", path);
    printf("%s: OK: %d images, %d captions, %s%s\n", path, g.n_img, g.n_cap,
           v == 0 ? "checksum verified" : "no checksum to verify (values finite)", ckpt ? ", made by this checkpoint" : "");
    rc = 0;
done:
    if (rc) ua_cli_error("index", &err);
    ua_gallery_close(&g);
    ua_model_free(&m);
    return rc;
}

int cmd_index(int argc, char **argv)
{
    const char *ckpt = NULL, *images = NULL, *captions = NULL, *output = NULL, *vocab_path = NULL, *verify = NULL;
    int threads = 0;
    ua_options flags;
    ua_options_default(&flags);
    const ua_opt own[] = {
        {"verify", UA_OPT_STR, &verify, NULL,
         "check an existing index instead (its checksum, values and header; against --checkpoint when given)", 0},
        {"checkpoint", UA_OPT_STR, &ckpt, NULL, "model", 0},
        {"images", UA_OPT_STR, &images, NULL, "gallery region features, float32 .npy [n, regions, img_dim]", 0},
        {"captions", UA_OPT_STR, &captions, NULL, "gallery captions, one per line (for image queries)", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary .json (default: the checkpoint's)", 0},
        {"output", UA_OPT_STR, &output, NULL, "the index file (.safetensors)", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cli_flags opts = {0};
    ua_cli_flags_add(&opts, own);
    ua_cli_flags_add_options(&opts, &flags, UA_OC_SHAPE);
    ua_cmd_spec spec = {"index", "Encode a gallery of images (and captions) once with a checkpoint, for uarda search.",
                        "usage: uarda index --checkpoint C --images X.npy [--captions caps.txt] --output G.safetensors\n"
                        "       uarda index --verify G.safetensors [--checkpoint C]", ua_cli_flags_done(&opts), 0};
    ua_cli_annotate_inference(&spec);
    spec.epilog = ua_cli_limits_help();
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (verify) {
        if (images || captions || output || vocab_path) {
            fprintf(stderr, "uarda index: --verify checks an existing index: it takes no --images, --captions, --vocab-path or --output\n");
            return 2;
        }
        ua_cli_set_threads(threads);
        return verify_index(verify, ckpt);
    }
    if (!ckpt || !images || !output) { fprintf(stderr, "uarda index: --checkpoint, --images and --output are required\n"); return 2; }
    ua_cli_set_threads(threads);
    ua_cli_eval_progress ep;
    const ua_progress_cb *progress = ua_cli_eval_progress_begin(&ep, "index");
    ua_err err;
    ua_options o;
    ua_options_default(&o);
    ua_model m = {0};
    ua_vocab v = {0};
    ua_npy x = {0};
    ua_captions caps = {0};
    ua_embeddings e = {0};
    ua_tokenizer *tok = NULL;
    char **lines = NULL, *caps_json = NULL;
    int n_lines = 0, rc = 1, usage = 0;
    if (ua_checkpoint_open(ckpt, &o, &m, &err)) goto fail;
    if (m.unverified) ua_cli_warn_no_checksum("index", ckpt);
    if (ua_cli_inference_flags(&o, &m, &flags, NULL, &spec, ckpt, &err)) { usage = 1; goto fail; }
    if (ua_npy_open(&x, images, &err) || ua_regions_check(&x, images, m.opt.img_dim, &err)) goto fail;
    if (ua_check_regions_finite(x.data, (int)x.shape[0], (int)x.shape[1], (int)x.shape[2], 0, images, &err)) goto fail;
    if (captions) {
        if (ua_vocab_load_for_model(&v, vocab_path ? vocab_path : o.vocab_path, o.data_name, m.opt.vocab_size, ckpt, &err) || !(tok = ua_tokenizer_new(&err))) goto fail;
        if (!(lines = ua_cli_read_lines(captions, &n_lines, &err))) goto fail;
        if (n_lines == 0) { ua_fail(&err, "%s: empty caption file (no captions to index)", captions); goto fail; }
        if (ua_captions_from_lines(&caps, (const char *const *)lines, n_lines, captions, &v, tok, &err)) goto fail;
    }
    double t0 = ua_now();
    if (ua_encode(&m, x.data, (int)x.shape[0], (int)x.shape[1], captions ? &caps : NULL, &e, progress, &err)) goto fail;
    if (captions) {
        cJSON *arr = cJSON_CreateStringArray((const char *const *)lines, n_lines);
        caps_json = arr ? cJSON_PrintUnformatted(arr) : NULL;
        cJSON_Delete(arr);
        if (!caps_json) { ua_fail(&err, "out of memory for the caption texts"); goto fail; }
    }
    const char *keys[] = {"checkpoint", "images", "captions"};
    const char *vals[] = {ckpt, images, caps_json ? caps_json : "[]"};
    if (ua_gallery_write(output, &m, &e, keys, vals, 3, &err)) goto fail;
    fprintf(stderr, "uarda index: %d images%s encoded in %.2f s -> %s\n", e.n_img, captions ? " and captions" : "",
            ua_now() - t0, output);
    rc = 0;
    goto done;
fail:
    ua_cli_eval_progress_end(&ep);
    ua_cli_error("index", &err);
    rc = usage ? 2 : 1;
done:
    ua_cli_eval_progress_end(&ep);
    free(caps_json);
    ua_cli_free_lines(lines, n_lines);
    ua_embeddings_free(&e);
    ua_captions_free(&caps);
    ua_tokenizer_free(tok);
    ua_npy_close(&x);
    ua_vocab_free(&v);
    ua_model_free(&m);
    return rc;
}

