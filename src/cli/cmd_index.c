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
#include "uarda/precomp.h"
#include "uarda/rng.h"
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

/* The region features of synthetic gallery images first..first+n ([n, R, D] into out): each
 * value uniform in [0, 1), image i's drawn from its own stream of seed, so that an image's
 * features do not depend on the block that makes them (uarda index --synthetic-images) */
static void synthetic_features(uint64_t seed, int first, int n, int R, int D, float *out)
{
    const size_t per = (size_t)R * D;
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        ua_rng r;
        ua_rng_seed(&r, seed, (uint64_t)UA_RNG_SYNTH << 32 | (uint64_t)(first + i));
        float *x = out + per * i;
        for (size_t k = 0; k < per; k++) x[k] = ua_rng_unif(&r);
    }
}

/* --shard K/N: -1 to go on, else the exit status (a usage error, printed) */
static int parse_shard(const char *shard, int with_captions, int *k, int *n)
{
    if (ua_gallery_parse_shard(shard, k, n)) {
        fprintf(stderr, "uarda index: --shard %s: K/N with 0 <= K < N, e.g. 0/2\n", shard);
        return 2;
    }
    if (with_captions) {
        fprintf(stderr, "uarda index: --shard splits the images; index the captions (for image queries) unsharded\n");
        return 2;
    }
    return -1;
}

/* --captions: the vocabulary, the tokenized captions and their texts as a JSON array (kept in
 * the index for image queries) */
static int read_captions(const char *path, const char *vocab_path, const ua_options *o, const ua_model *m,
                         const char *ckpt, ua_vocab *v, ua_tokenizer **tok, ua_captions *caps, char **caps_json,
                         ua_err *err)
{
    int n_lines = 0, rc = -1;
    char **lines = NULL;
    if (ua_vocab_load_for_model(v, vocab_path, o->data_name, m->opt.vocab_size, ckpt, err) ||
        !(*tok = ua_tokenizer_new(err)) || !(lines = ua_cli_read_lines(path, &n_lines, err)))
        goto out;
    if (n_lines == 0) { ua_fail(err, "%s: empty caption file (no captions to index)", path); goto out; }
    if (ua_captions_from_lines(caps, (const char *const *)lines, n_lines, path, v, *tok, err)) goto out;
    cJSON *arr = cJSON_CreateStringArray((const char *const *)lines, n_lines);
    *caps_json = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!*caps_json) { ua_fail(err, "out of memory for the caption texts"); goto out; }
    rc = 0;
out:
    ua_cli_free_lines(lines, n_lines);   /* the texts live on in caps_json */
    return rc;
}

/* the gallery's images [first, first + n_img) block by block: their features (from x, checked
 * finite as they are read, or made from seed into synth when x is NULL), encoded, written */
static int write_blocks(ua_gallery_writer *w, const ua_npy *x, const char *images, int first, int n_img, int R, int D,
                        int block, int seed, float *synth, const ua_progress_cb *progress, ua_err *err)
{
    for (int i0 = 0; i0 < n_img; i0 += block) {
        const int n = n_img - i0 < block ? n_img - i0 : block;
        const float *feat;
        if (x) {
            feat = x->data + (size_t)(first + i0) * R * D;
            if (ua_check_regions_finite(feat, n, R, D, first + i0, images, err)) return -1;
        } else {
            synthetic_features((uint64_t)seed, first + i0, n, R, D, synth);
            feat = synth;
        }
        if (ua_gallery_writer_add_images(w, feat, n, err)) return -1;
        ua_progress_report(progress, "encoding images", i0 + n, n_img);
    }
    return 0;
}

int cmd_index(int argc, char **argv)
{
    const char *ckpt = NULL, *images = NULL, *captions = NULL, *output = NULL, *vocab_path = NULL, *verify = NULL,
               *dtype = "f32", *shard = NULL;
    int threads = 0, block = 1024, n_synth = 0, synth_regions = 36, synth_seed = 1;
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
        {"index-dtype", UA_OPT_CHOICE, &dtype, "f32|f16",
         "the region embeddings and Gram matrices as float32, or as IEEE half (half the file and the bytes a search "
         "streams; scores to about 1e-3)", 0},
        {"block-images", UA_OPT_INT, &block, NULL,
         "images encoded and written at a time (a multiple of 128): memory is bounded by the block, not the gallery", 0},
        {"synthetic-images", UA_OPT_INT, &n_synth, NULL,
         "instead of --images: N images of random features (uniform in [0, 1), the checkpoint's img_dim), made a "
         "block at a time (benchmarks of large galleries)", 0},
        {"synthetic-regions", UA_OPT_INT, &synth_regions, NULL, "regions per synthetic image", 0},
        {"synthetic-seed", UA_OPT_INT, &synth_seed, NULL, "seed of the synthetic features", 0},
        {"shard", UA_OPT_STR, &shard, NULL,
         "K/N: write shard K (0-based) of N of the gallery's images, whole chunks of 128 (uarda search --index on "
         "every shard merges them into the unsharded index's answers)", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cli_flags opts = {0};
    ua_cli_flags_add(&opts, own);
    ua_cli_flags_add_options(&opts, &flags, UA_OC_SHAPE);
    ua_cmd_spec spec = {"index", "Encode a gallery of images (and captions) once with a checkpoint, for uarda search.",
                        "usage: uarda index --checkpoint C --images X.npy [--captions caps.txt] --output G.safetensors\n"
                        "                   [--index-dtype f32|f16] [--block-images 1024]\n"
                        "       uarda index --checkpoint C --synthetic-images N [--synthetic-regions 36] --output G.safetensors\n"
                        "       uarda index --verify G.safetensors [--checkpoint C]", ua_cli_flags_done(&opts), 0};
    ua_cli_annotate_inference(&spec);
    spec.epilog = ua_cli_limits_help();
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (verify) {
        if (images || captions || output || vocab_path || n_synth) {
            fprintf(stderr, "uarda index: --verify checks an existing index: it takes no --images, --synthetic-images, "
                            "--captions, --vocab-path or --output\n");
            return 2;
        }
        ua_cli_set_threads(threads);
        return verify_index(verify, ckpt);
    }
    if (!ckpt || (!images) == (!n_synth) || !output) {
        fprintf(stderr, "uarda index: --checkpoint, --output and one of --images / --synthetic-images are required\n");
        return 2;
    }
    int shard_k = 0, shard_n = 1;
    if (shard && (st = parse_shard(shard, captions != NULL, &shard_k, &shard_n)) >= 0) return st;
    if (block % UA_GALLERY_ENCODE_CHUNK != 0) {
        fprintf(stderr, "uarda index: --block-images %d must be a multiple of %d (the encoder's chunk: then the index is "
                        "the one a whole-gallery encoding makes, byte for byte)\n", block, UA_GALLERY_ENCODE_CHUNK);
        return 2;
    }
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
    ua_tokenizer *tok = NULL;
    ua_gallery_writer *w = NULL;
    char *caps_json = NULL, synth_name[64];
    float *synth = NULL;
    int rc = 1, usage = 0;
    if (ua_checkpoint_open(ckpt, &o, &m, &err)) goto fail;
    if (m.unverified) ua_cli_warn_no_checksum("index", ckpt);
    if (ua_cli_inference_flags(&o, &m, &flags, NULL, &spec, ckpt, &err)) { usage = 1; goto fail; }
    const int D = m.opt.img_dim;
    int n_img, R, first = 0, n_all;
    if (images) {
        if (ua_npy_open(&x, images, &err) || ua_regions_check(&x, images, D, &err)) goto fail;
        n_img = (int)x.shape[0];
        R = (int)x.shape[1];
    } else {
        n_img = n_synth;
        R = synth_regions;
    }
    n_all = n_img;   /* the gallery's images; this index's are [first, first + n_img) */
    if (shard && ua_gallery_shard_range(n_all, shard_k, shard_n, &first, &n_img, &err)) { usage = 1; goto fail; }
    if (!images) {
        snprintf(synth_name, sizeof synth_name, "synthetic:%d:%d:%d", n_synth, synth_regions, synth_seed);
        if (!(synth = malloc((size_t)(block < n_img ? block : n_img) * R * D * sizeof(float)))) {
            ua_fail(&err, "out of memory for a block of %d synthetic images (%d regions x %d dims)", block, R, D);
            goto fail;
        }
    }
    if (captions && read_captions(captions, vocab_path ? vocab_path : o.vocab_path, &o, &m, ckpt, &v, &tok, &caps,
                                  &caps_json, &err))
        goto fail;
    double t0 = ua_now();
    char shard_s[32], first_s[16], all_s[16];
    snprintf(shard_s, sizeof shard_s, "%d/%d", shard_k, shard_n);
    snprintf(first_s, sizeof first_s, "%d", first);
    snprintf(all_s, sizeof all_s, "%d", n_all);
    const char *keys[] = {"checkpoint", "images", "captions", "shard", "first_image", "gallery_images"};
    const char *vals[] = {ckpt, images ? images : synth_name, caps_json ? caps_json : "[]", shard_s, first_s, all_s};
    const int half = strcmp(dtype, "f16") == 0;
    if (!(w = ua_gallery_writer_open(output, &m, n_img, R, captions ? &caps : NULL, half, keys, vals, shard ? 6 : 3,
                                     &err)))
        goto fail;
    if (write_blocks(w, images ? &x : NULL, images, first, n_img, R, D, block, synth_seed, synth, progress, &err))
        goto fail;
    int failed = ua_gallery_writer_commit(w, progress, &err);
    w = NULL;
    if (failed) goto fail;
    ua_cli_eval_progress_end(&ep);
    fprintf(stderr, "uarda index: %d images%s encoded in %.2f s -> %s (%s", n_img, captions ? " and captions" : "",
            ua_now() - t0, output, half ? "f16" : "f32");
    if (shard) fprintf(stderr, "; shard %d/%d: images %d to %d of %d", shard_k, shard_n, first, first + n_img - 1, n_all);
    fprintf(stderr, ")\n");
    rc = 0;
    goto done;
fail:
    ua_cli_eval_progress_end(&ep);
    ua_cli_error("index", &err);
    rc = usage ? 2 : 1;
done:
    ua_cli_eval_progress_end(&ep);
    ua_gallery_writer_abort(w);
    free(synth);
    free(caps_json);
    ua_captions_free(&caps);
    ua_tokenizer_free(tok);
    ua_npy_close(&x);
    ua_vocab_free(&v);
    ua_model_free(&m);
    return rc;
}
