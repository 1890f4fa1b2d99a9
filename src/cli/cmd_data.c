/* uarda data: what a precomp split holds, as uarda reads it. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "uarda/precomp.h"

int cmd_data(int argc, char **argv)
{
    const char *data_path = "./data/", *data_name = "precomp", *vocab_path = "./vocab/";
    ua_multi splits = {0};
    int full_dev = 0;
    ua_opt opts[] = {
        {"data-path", UA_OPT_STR, &data_path, NULL, "root of the <data-name> folder", 0},
        {"data-name", UA_OPT_STR, &data_name, NULL, "dataset folder, e.g. f30k_precomp", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary folder (file <data-name>_vocab.json) or .json file", 0},
        {"split", UA_OPT_MULTI, &splits, NULL, "split to summarize (repeatable; default train, dev, test)", 0},
        {"full-dev", UA_OPT_BOOL, &full_dev, NULL, "use all of dev (SCAN caps dev at 5000 captions)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"data", "Summarize precomp splits: images, regions, feature size, captions per image, caption\n"
                        "lengths and the out-of-vocabulary rate.", "usage: uarda data --data-path DIR --data-name NAME [--split S]...",
                        opts, 0};
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (splits.n == 0) {
        splits.v[splits.n++] = "train";
        splits.v[splits.n++] = "dev";
        splits.v[splits.n++] = "test";
    }
    ua_err err;
    char *vocab_file = ua_vocab_file(vocab_path, data_name);
    ua_vocab v;
    if (ua_vocab_load(&v, vocab_file, &err)) { free(vocab_file); return ua_cli_error("data", &err); }
    printf("%s/%s  vocabulary %s: %d words\n", data_path, data_name, vocab_file, v.n);
    printf("%-8s %8s %8s %6s %9s %6s %9s %8s %8s\n", "split", "images", "regions", "dim", "captions", "per_im",
           "mean_len", "max_len", "oov%");
    int rc = 0;
    for (int i = 0; i < splits.n; i++) {
        ua_split s;
        if (ua_split_open(&s, data_path, data_name, splits.v[i], &v, full_dev, &err)) { rc = ua_cli_error("data", &err); break; }
        double mean_len = (double)(s.caps.offsets[s.caps.n]) / s.caps.n;
        printf("%-8s %8d %8d %6d %9d %6d %9.2f %8d %8.2f\n", splits.v[i], s.n_images, s.n_regions, s.img_dim,
               s.n_items, s.im_div, mean_len, s.caps.max_len,
               s.caps.n_tokens ? 100.0 * (double)s.caps.n_unk / (double)s.caps.n_tokens : 0.0);
        ua_split_close(&s);
    }
    ua_vocab_free(&v);
    free(vocab_file);
    return rc;
}
