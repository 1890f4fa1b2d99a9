/* uarda synth: write a synthetic dataset in SCAN's precomp layout (see include/uarda/synth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/synth.h"

#define PROGRESS_AFTER_S 1.0   /* splits written faster than this show no progress */

typedef struct synth_progress {
    ua_progress p;
    const char *split;   /* the split being written (the library's constant names) */
} synth_progress;

static void show_progress(void *ctx, const char *split, long done, long total)
{
    synth_progress *s = ctx;
    if (s->split != split) {
        s->split = split;
        ua_progress_init(&s->p);
    }
    double elapsed = ua_now() - s->p.start;
    int shown = s->p.last_print > 0, finished = done == total;
    if (!shown && elapsed < PROGRESS_AFTER_S) return;
    char label[32], extra[48];
    snprintf(label, sizeof label, "synth %s:", split);
    snprintf(extra, sizeof extra, "%.0f images/s,", elapsed > 0 ? (double)done / elapsed : 0.0);
    ua_progress_update(&s->p, label, done, total, extra, finished || !shown);
    if (finished) ua_progress_end(&s->p);
}

/* the last --preset in argv, as the parser will see it (so that the option defaults and the
 * help show that preset's values) */
static const char *preset_arg(int argc, char **argv)
{
    const char *v = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) v = argv[++i];
        else if (strncmp(argv[i], "--preset=", 9) == 0) v = argv[i] + 9;
    }
    return v;
}

int cmd_synth(int argc, char **argv)
{
    ua_err err;
    ua_synth_config cfg;
    const char *preset = "small";
    const char *given = preset_arg(argc, argv);
    if (given && ua_synth_preset(given, &cfg, NULL) == 0) preset = given;
    ua_synth_preset(preset, &cfg, NULL);

    const char *data_path = "./data", *data_name = NULL, *vocab_path = "./vocab";
    long long seed = 1;
    int testall = 0, show = 1;
    int n_testall = UA_SYNTH_TESTALL_IMAGES;
    ua_opt opts[] = {
        {"preset", UA_OPT_CHOICE, &preset, "tiny|small|f30k",
         "tiny: unit tests; small: the demo; f30k: Flickr30K's sizes (8.5 GB of features)", 0},
        {"data-path", UA_OPT_STR, &data_path, NULL, "root of the precomp folders", 0},
        {"data-name", UA_OPT_STR, &data_name, NULL, "dataset folder name (default: synth_<preset>_precomp)", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary folder (file <vocab-path>/<data-name>_vocab.json), or a .json file", 0},
        {"seed", UA_OPT_LONG, &seed, NULL, "random seed (>= 0)", 0},
        {"testall", UA_OPT_BOOL, &testall, NULL, "also write a testall split (MS-COCO 1K/5K protocols)", 0},
        {"n-train", UA_OPT_INT, &cfg.n_images[UA_SYNTH_TRAIN], NULL, "train images", 0},
        {"n-dev", UA_OPT_INT, &cfg.n_images[UA_SYNTH_DEV], NULL, "dev images", 0},
        {"n-test", UA_OPT_INT, &cfg.n_images[UA_SYNTH_TEST], NULL, "test images", 0},
        {"n-testall", UA_OPT_INT, &n_testall, NULL, "testall images (implies --testall)", 0},
        {"img-dim", UA_OPT_INT, &cfg.img_dim, NULL, "region feature size", 0},
        {"noise", UA_OPT_FLOAT, &cfg.noise, NULL, "standard deviation of the region feature noise", 0},
        {"n-nouns", UA_OPT_INT, &cfg.n_nouns, NULL, "noun concepts (most frequent first)", 0},
        {"n-attrs", UA_OPT_INT, &cfg.n_attrs, NULL, "attribute concepts", 0},
        {"attr-scale", UA_OPT_FLOAT, &cfg.attr_scale, NULL, "weight of the attribute in an object's regions", 0},
        {"category-mix", UA_OPT_FLOAT, &cfg.category_mix, NULL, "share of a noun prototype shared by its category", 0},
        {"progress", UA_OPT_BOOL, &show, NULL, "show progress on stderr for long runs", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {
        "synth",
        "Writes a deterministic synthetic dataset in SCAN's precomp layout: <data-path>/<data-name>/\n"
        "{train,dev,test[,testall]}_{ims.npy,caps.txt,caps_grounding.txt}, README.synth.txt, and the\n"
        "vocabulary. The defaults shown are those of the preset given (small when none is).",
        "uarda synth [--preset tiny|small|f30k] [options]",
        opts, 0,
    };
    int n_pos = 0;
    int rc = ua_cli_parse(&spec, argc, argv, &n_pos);
    if (rc >= 0) return rc;

    if (seed < 0) {
        fprintf(stderr, "uarda synth: --seed must be >= 0, got %lld\n", seed);
        return 2;
    }
    cfg.seed = (unsigned long long)seed;
    if (testall || ua_args_given(&spec, "n-testall")) cfg.n_images[UA_SYNTH_TESTALL] = n_testall;
    if (ua_synth_check(&cfg, &err) != 0) {   /* a bad override is a usage error */
        fprintf(stderr, "uarda %s\n", err.msg);
        return 2;
    }

    char name_buf[64];
    if (!data_name) {
        snprintf(name_buf, sizeof name_buf, "synth_%s_precomp", preset);
        data_name = name_buf;
    }
    size_t n = strlen(data_path) + strlen(data_name) + 2;
    char *data_dir = malloc(n);
    char *vocab_file = ua_vocab_file(vocab_path, data_name);
    if (!data_dir || !vocab_file) {
        free(data_dir);
        free(vocab_file);
        fprintf(stderr, "uarda synth: out of memory\n");
        return 1;
    }
    snprintf(data_dir, n, "%s/%s", data_path, data_name);

    synth_progress prog = {0};
    if (show) {
        cfg.progress = show_progress;
        cfg.progress_ctx = &prog;
    }
    double t0 = ua_now();
    rc = 0;
    if (ua_synth_write(&cfg, data_dir, vocab_file, &err) != 0) {
        rc = ua_cli_error("synth", &err);
    } else {
        printf("wrote %s (preset %s, seed %llu: train %d, dev %d, test %d", data_dir, preset,
               (unsigned long long)cfg.seed, cfg.n_images[UA_SYNTH_TRAIN], cfg.n_images[UA_SYNTH_DEV],
               cfg.n_images[UA_SYNTH_TEST]);
        if (cfg.n_images[UA_SYNTH_TESTALL] > 0) printf(", testall %d", cfg.n_images[UA_SYNTH_TESTALL]);
        printf(" images, img_dim %d) and %s in %.1f s\n", cfg.img_dim, vocab_file, ua_now() - t0);
    }
    free(data_dir);
    free(vocab_file);
    return rc;
}
