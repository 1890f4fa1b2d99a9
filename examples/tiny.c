/* uarda as a library: a tiny synthetic dataset, a SCAN model trained, its recall
 * on the test split, a gallery index of the test images, and one text query searched against
 * it (three epochs: a few seconds). Only the public headers (include/uarda) and libuarda are used.
 *
 *   build/example_tiny [FOLDER]      (FOLDER: where the data and files go; default a temp folder)
 *
 * Exit 0 when every stage worked and the search ranked the gallery as the evaluation's
 * similarity matrix does (the same images, in the same order, with scores within 1e-5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/finite.h"
#include "uarda/gallery.h"
#include "uarda/searcher.h"
#include "uarda/synth.h"
#include "uarda/trainer.h"

static int die(const char *what, const ua_err *err)
{
    fprintf(stderr, "example: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    char dir[512], data[600], vocab[600], ckpt[600], index[600];
    snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : "/tmp/uarda-example");
    snprintf(data, sizeof data, "%s/synth_tiny_precomp", dir);
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    snprintf(index, sizeof index, "%s/gallery.safetensors", dir);
    ua_err err;

    /* 1. data: SCAN's precomp layout, made by the synthetic generator */
    ua_synth_config cfg;
    if (ua_synth_preset("tiny", &cfg, &err) || ua_synth_write(&cfg, data, vocab, &err)) return die("synth", &err);
    ua_vocab v;
    ua_split train, dev, test;
    if (ua_vocab_load(&v, vocab, &err) || ua_split_open(&train, dir, "synth_tiny_precomp", "train", &v, 0, &err) ||
        ua_split_open(&dev, dir, "synth_tiny_precomp", "dev", &v, 0, &err) ||
        ua_split_open(&test, dir, "synth_tiny_precomp", "test", &v, 0, &err))
        return die("open", &err);

    /* 2. training: SCAN t2i with small sizes, three epochs, then the model saved */
    ua_options o;
    ua_options_default(&o);
    o.model.embed_size = 32;
    o.model.word_dim = 16;
    o.model.vocab_size = v.n;
    o.batch_size = 32;
    o.num_epochs = 3;
    o.learning_rate = 2e-3;
    ua_trainer t;
    if (ua_trainer_open(&t, &o, &train, &dev, NULL, &err)) return die("trainer", &err);
    ua_step_metrics sm = {0};
    while (!ua_trainer_finished(&t)) {
        if (ua_trainer_step(&t, &sm, &err)) return die("step", &err);
        if (sm.epoch_end) {
            ua_recall r;
            if (ua_trainer_validate(&t, &r, &err)) return die("validate", &err);
            ua_trainer_end_epoch(&t, &r);
            printf("epoch %d: loss %.4f, dev rsum %.1f\n", sm.epoch, sm.loss, r.rsum);
        }
    }
    if (ua_trainer_save(&t, ckpt, 0, &err)) return die("save", &err);
    ua_trainer_close(&t);

    /* 3. evaluation of the saved model on the test split */
    ua_options lo;
    ua_options_default(&lo);
    ua_model m;
    ua_recall r;
    if (ua_checkpoint_open(ckpt, &lo, &m, &err)) return die("checkpoint", &err);
    const ua_scorer sc = ua_scorer_of(&m, m.t_test);   /* at the checkpoint's test threshold */
    if (ua_evaluate_split(&sc, 1, &test, 0, &r, NULL, &err)) return die("evaluate", &err);
    printf("test: i2t R@1 %.1f, t2i R@1 %.1f, rsum %.1f\n", r.i2t[0], r.t2i[0], r.rsum);
    /* the evaluation's scores of caption 15 against every test image, for the search to match */
    float *column = malloc((size_t)test.n_images * sizeof *column);
    if (!column || ua_split_similarity(&sc, 1, &test, 0, test.n_images, 15, 1, column, NULL, &err))
        return die("similarity", &err);

    /* 4. a gallery index of the test images, then one caption of image 3 as a text query */
    ua_embeddings e;   /* the images only: the index answers text queries */
    if (ua_check_regions_finite(ua_split_image(&test, 0), test.n_images, test.n_regions, test.img_dim, 0, test.ims_path,
                                &err))
        return die("regions", &err);
    if (ua_encode(&m, ua_split_image(&test, 0), test.n_images, test.n_regions, NULL, &e, NULL, &err)) return die("encode", &err);
    if (ua_gallery_write(index, &m, &e, NULL, NULL, 0, &err)) return die("index", &err);
    ua_embeddings_free(&e);
    ua_model_free(&m);
    ua_searcher s;
    if (ua_searcher_open(&s, ckpt, index, 1, 1, vocab, &err)) return die("searcher", &err);
    char line[512] = "", path[700];   /* the query: caption 15 of the test split, one of image 3's */
    snprintf(path, sizeof path, "%s/test_caps.txt", data);
    FILE *fc = fopen(path, "r");
    for (int i = 0; fc && i < 16 && fgets(line, sizeof line, fc); i++) {}
    if (fc) fclose(fc);
    line[strcspn(line, "\n")] = 0;
    const char *query = line;
    ua_captions q;
    if (ua_captions_from_lines(&q, (const char *const[]){query}, 1, "query", &s.v, s.tok, &err)) return die("query", &err);
    ua_search_answer a;   /* every image, best first, as data */
    if (ua_searcher_answer_text(&s, NULL, ua_caption_ids(&q, 0), ua_caption_len(&q, 0), s.g.n_img, 0, 1, &a, &err))
        return die("search", &err);
    int rank = -1, same = a.n == test.n_images && a.n_words == ua_caption_len(&q, 0);
    for (int k = 0; k < a.n; k++) {
        if (a.ids[k] == 3) rank = k;
        float d = a.scores[k] - column[a.ids[k]];
        same &= (d < 0 ? -d : d) < 1e-5f && (k == 0 || a.scores[k] <= a.scores[k - 1]);
    }
    printf("query \"%s\": its image ranks %d of %d (top: image %d, score %.4f; its first word attends to region %d); "
           "the ranking %s the evaluation's\n", query, rank + 1, a.n, a.ids[0], a.scores[0], a.region[1],
           same ? "equals" : "DIFFERS FROM");
    free(column);
    ua_search_answer_free(&a);
    ua_captions_free(&q);
    ua_searcher_close(&s);
    ua_split_close(&train);
    ua_split_close(&dev);
    ua_split_close(&test);
    ua_vocab_free(&v);
    return same && rank >= 0 ? 0 : 1;
}
