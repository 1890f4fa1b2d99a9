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
#include "uarda/gallery.h"
#include "uarda/npy.h"
#include "uarda/safetensors.h"

int cmd_index(int argc, char **argv)
{
    const char *ckpt = NULL, *images = NULL, *captions = NULL, *output = NULL, *vocab_path = NULL;
    int threads = 0;
    ua_opt opts[] = {
        {"checkpoint", UA_OPT_STR, &ckpt, NULL, "model", 0},
        {"images", UA_OPT_STR, &images, NULL, "gallery region features, float32 .npy [n, regions, img_dim]", 0},
        {"captions", UA_OPT_STR, &captions, NULL, "gallery captions, one per line (for image queries)", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary .json (default: the checkpoint's)", 0},
        {"output", UA_OPT_STR, &output, NULL, "the index file (.safetensors)", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"index", "Encode a gallery of images (and captions) once with a checkpoint, for uarda search.",
                        "usage: uarda index --checkpoint C --images X.npy [--captions caps.txt] --output G.safetensors", opts, 0};
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (!ckpt || !images || !output) { fprintf(stderr, "uarda index: --checkpoint, --images and --output are required\n"); return 2; }
    ua_cli_set_threads(threads);
    ua_cli_eval_progress_begin("index");
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
    int n_lines = 0, rc = 1;
    if (ua_checkpoint_open(ckpt, &o, &m, &err) || ua_npy_open(&x, images, &err)) goto fail;
    if (ua_regions_check(&x, images, m.opt.img_dim, &err)) goto fail;
    if (captions) {
        if (ua_cli_load_vocab(&v, vocab_path, &o, &m, ckpt, &err) || !(tok = ua_tokenizer_new(&err))) goto fail;
        if (!(lines = ua_cli_read_lines(captions, &n_lines, &err))) goto fail;
        if (ua_captions_from_lines(&caps, (const char *const *)lines, n_lines, captions, &v, tok, &err)) goto fail;
    }
    double t0 = ua_now();
    if (ua_encode(&m, x.data, (int)x.shape[0], (int)x.shape[1], captions ? &caps : NULL, &e, &err)) goto fail;
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
    ua_cli_eval_progress_end();
    ua_cli_error("index", &err);
done:
    ua_cli_eval_progress_end();
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

