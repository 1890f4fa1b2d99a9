/* uarda synth: write a synthetic dataset in SCAN's precomp layout (see include/uarda/synth.h). */
#include <unistd.h>
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
 * help show that preset's values); without one, "captions" when --captions-from is there */
static const char *preset_arg(int argc, char **argv)
{
    const char *v = NULL;
    int from = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) v = argv[++i];
        else if (strncmp(argv[i], "--preset=", 9) == 0) v = argv[i] + 9;
        else if (strncmp(argv[i], "--captions-from", 15) == 0 || strncmp(argv[i], "--captions_from", 15) == 0) from = 1;
    }
    return v ? v : from ? "captions" : NULL;
}

#define MAX_CAPTION_FILES 64

/* The caption files in command-line order: the value of each --captions-from and the arguments
 * that follow it up to the next option. The parser sees the first as the flag's values and the
 * others as positional arguments; cmd_synth checks that the two counts agree, so that a file
 * anywhere else is refused. Returns how many there are (more than cap: only cap stored). */
static int caption_files_arg(int argc, char **argv, const char **files, int cap)
{
    int n = 0, after = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        int flag = strncmp(a, "--captions-from", 15) == 0 || strncmp(a, "--captions_from", 15) == 0;
        if (flag && (a[15] == 0 || a[15] == '=')) {
            after = 1;
            if (a[15] == '=' && n++ < cap) files[n - 1] = a + 16;
            continue;
        }
        if (a[0] == '-' && a[1]) after = 0;   /* another option; its value is no file */
        else if (after && n++ < cap) files[n - 1] = a;
    }
    return n;
}

/* The captions preset's default sources: Flickr30K's test and dev and MS-COCO's 5K test in
 * <shared>/data, where <shared> is $UARDA_SHARED, else ../shared (from a checkout's root, as
 * the tests run). Not COCO's test_caps.txt: it repeats testall's first 1000 images. */
static const char *const DEFAULT_SOURCES[] = {
    "data/f30k_precomp/test_caps.txt", "data/f30k_precomp/dev_caps.txt", "data/coco_precomp/testall_caps.txt",
};
#define N_DEFAULT_SOURCES ((int)(sizeof DEFAULT_SOURCES / sizeof DEFAULT_SOURCES[0]))

static int default_sources(char **paths, const char **files)
{
    const char *shared = getenv("UARDA_SHARED");
    if (!shared || !*shared) shared = "../shared";
    for (int i = 0; i < N_DEFAULT_SOURCES; i++) {
        size_t n = strlen(shared) + strlen(DEFAULT_SOURCES[i]) + 2;
        if (!(paths[i] = malloc(n))) {
            fprintf(stderr, "uarda synth: out of memory\n");
            return -1;
        }
        snprintf(paths[i], n, "%s/%s", shared, DEFAULT_SOURCES[i]);
        if (access(paths[i], R_OK) != 0) {
            fprintf(stderr, "uarda synth: the captions preset's default source %s cannot be read (set UARDA_SHARED "
                            "to the shared folder, or name caption files with --captions-from FILE...)\n", paths[i]);
            return -1;
        }
        files[i] = paths[i];
    }
    return 0;
}

/* a flag of one kind of preset given with the other: a usage error */
static int misplaced_flags(const ua_cmd_spec *spec, int captions)
{
    static const char *const template_only[] = {"testall", "n-testall", "n-nouns", "n-attrs", "attr-scale",
                                                "category-mix"};
    static const char *const captions_only[] = {"captions-from", "threshold"};
    const char *const *list = captions ? template_only : captions_only;
    int n = captions ? (int)(sizeof template_only / sizeof *template_only) : (int)(sizeof captions_only / sizeof *captions_only);
    for (int i = 0; i < n; i++)
        if (ua_args_given(spec, list[i])) {
            fprintf(stderr, "uarda synth: --%s %s\n", list[i],
                    captions ? "does not apply to --preset captions" : "needs --preset captions");
            return 1;
        }
    return 0;
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
    ua_multi from = {0};
    ua_opt opts[] = {
        {"preset", UA_OPT_CHOICE, &preset, "tiny|small|f30k|captions",
         "tiny: unit tests; small: the demo; f30k: Flickr30K's sizes (8.5 GB of features); captions: real "
         "captions (--captions-from) ground the images' regions in their shared content words", 0},
        {"captions-from", UA_OPT_MULTI, &from, NULL,
         "captions preset: caption files (5 lines per image), FILE... after the flag, or the flag again; default: "
         "Flickr30K test+dev and MS-COCO testall in $UARDA_SHARED/data (else ../shared/data)", 0},
        {"threshold", UA_OPT_INT, &cfg.vocab_threshold, NULL,
         "captions preset: a train word used this many times is in the vocabulary (SCAN's count threshold)", 0},
        {"data-path", UA_OPT_STR, &data_path, NULL, "root of the precomp folders", 0},
        {"data-name", UA_OPT_STR, &data_name, NULL, "dataset folder name (default: synth_<preset>_precomp)", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary folder (file <vocab-path>/<data-name>_vocab.json), or a .json file", 0},
        {"seed", UA_OPT_LONG, &seed, NULL, "random seed (>= 0)", 0},
        {"testall", UA_OPT_BOOL, &testall, NULL, "also write a testall split (MS-COCO 1K/5K protocols)", 0},
        {"n-train", UA_OPT_INT, &cfg.n_images[UA_SYNTH_TRAIN], NULL, "train images (captions preset: 0 = all the rest)", 0},
        {"n-dev", UA_OPT_INT, &cfg.n_images[UA_SYNTH_DEV], NULL, "dev images", 0},
        {"n-test", UA_OPT_INT, &cfg.n_images[UA_SYNTH_TEST], NULL, "test images", 0},
        {"n-testall", UA_OPT_INT, &n_testall, NULL, "testall images (implies --testall)", 0},
        {"img-dim", UA_OPT_INT, &cfg.img_dim, NULL, "region feature size", 0},
        {"noise", UA_OPT_FLOAT, &cfg.noise, NULL, "standard deviation of the region feature noise", 0},
        {"n-nouns", UA_OPT_INT, &cfg.n_nouns, NULL, "noun concepts (most frequent first)", 0},
        {"n-attrs", UA_OPT_INT, &cfg.n_attrs, NULL, "attribute concepts", 0},
        {"attr-scale", UA_OPT_FLOAT, &cfg.attr_scale, NULL, "weight of the attribute in an object's regions", 0},
        {"category-mix", UA_OPT_FLOAT, &cfg.category_mix, NULL, "share of a noun prototype shared by its category", 0},
        {"pictures", UA_OPT_BOOL, &cfg.pictures, NULL,
         "dev and test: each region's box (<split>_boxes.npy) and, with cairo, a thumbnail per image "
         "(<split>_images/, named in <split>_image_names.txt) for uarda serve", 0},
        {"progress", UA_OPT_BOOL, &show, NULL, "show progress on stderr for long runs", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {
        "synth",
        "Writes a deterministic synthetic dataset in SCAN's precomp layout: <data-path>/<data-name>/\n"
        "{train,dev,test[,testall]}_{ims.npy,caps.txt,caps_grounding.txt}, README.synth.txt, and the\n"
        "vocabulary; for dev and test also {dev,test}_{boxes.npy,images/,image_names.txt} (--pictures).\n"
        "The defaults shown are those of the preset given (small when none is, captions with\n"
        "--captions-from).",
        "uarda synth [--preset tiny|small|f30k|captions] [--captions-from FILE...] [options]",
        opts, MAX_CAPTION_FILES,
    };
    const char *files[MAX_CAPTION_FILES];
    int n_files = caption_files_arg(argc, argv, files, MAX_CAPTION_FILES);
    int n_pos = 0;
    int rc = ua_cli_parse(&spec, argc, argv, &n_pos);
    if (rc >= 0) return rc;
    int captions = strcmp(preset, "captions") == 0;
    for (int i = 0; i < from.n; i++)
        if (strncmp(from.v[i], "--", 2) == 0) {
            fprintf(stderr, "uarda synth: --captions-from needs a file, got '%s'\n", from.v[i]);
            return 2;
        }
    if (from.n + n_pos != n_files || n_files > MAX_CAPTION_FILES) {
        if (n_files > MAX_CAPTION_FILES)
            fprintf(stderr, "uarda synth: more than %d caption files\n", MAX_CAPTION_FILES);
        else
            fprintf(stderr, "uarda synth: unexpected argument '%s' (caption files follow --captions-from, before "
                            "any other option)\n", n_pos > 0 ? argv[1] : "?");
        return 2;
    }
    if (misplaced_flags(&spec, captions)) return 2;

    if (seed < 0) {
        fprintf(stderr, "uarda synth: --seed must be >= 0, got %lld\n", seed);
        return 2;
    }
    cfg.seed = (unsigned long long)seed;
    if (testall || ua_args_given(&spec, "n-testall")) cfg.n_images[UA_SYNTH_TESTALL] = n_testall;
    static const char *const default_placeholder[] = {"(the default sources)"};
    if (captions) {   /* the sources are checked as they are read (a runtime error) */
        cfg.caption_files = n_files > 0 ? files : default_placeholder;
        cfg.n_caption_files = n_files > 0 ? n_files : 1;
    }
    if (ua_synth_check(&cfg, &err) != 0) {   /* a bad override is a usage error */
        fprintf(stderr, "uarda %s\n", err.msg);
        return 2;
    }

    char *default_paths[N_DEFAULT_SOURCES] = {0};
    if (captions) {
        if (n_files == 0) {
            int bad = default_sources(default_paths, files);
            if (bad) {
                for (int i = 0; i < N_DEFAULT_SOURCES; i++) free(default_paths[i]);
                return 1;
            }
            n_files = N_DEFAULT_SOURCES;
        }
        cfg.caption_files = files;
        cfg.n_caption_files = n_files;
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
        for (int i = 0; i < N_DEFAULT_SOURCES; i++) free(default_paths[i]);
        fprintf(stderr, "uarda synth: out of memory\n");
        return 1;
    }
    snprintf(data_dir, n, "%s/%s", data_path, data_name);

    synth_progress prog = {0};
    if (show) {
        cfg.progress = show_progress;
        cfg.progress_ctx = &prog;
    }
    long written[UA_SYNTH_N_SPLITS] = {0};
    cfg.n_written = written;
    double t0 = ua_now();
    rc = 0;
    if (ua_synth_write(&cfg, data_dir, vocab_file, &err) != 0) {
        rc = ua_cli_error("synth", &err);
    } else {
        printf("wrote %s (preset %s, seed %llu: train %ld, dev %ld, test %ld", data_dir, preset,
               (unsigned long long)cfg.seed, written[UA_SYNTH_TRAIN], written[UA_SYNTH_DEV], written[UA_SYNTH_TEST]);
        if (written[UA_SYNTH_TESTALL] > 0) printf(", testall %ld", written[UA_SYNTH_TESTALL]);
        printf(" images");
        if (captions) printf(" from %d caption file%s", n_files, n_files == 1 ? "" : "s");
        printf(", img_dim %d) and %s in %.1f s\n", cfg.img_dim, vocab_file, ua_now() - t0);
    }
    free(data_dir);
    free(vocab_file);
    for (int i = 0; i < N_DEFAULT_SOURCES; i++) free(default_paths[i]);
    return rc;
}
