/* uarda serve: a search service over one checkpoint and its index, with a web page
 * (src/serve/serve.h). It runs until SIGTERM or SIGINT, then stops cleanly: the requests being
 * answered finish, every connection closes, everything is freed. */
#define _GNU_SOURCE  /* sched_getaffinity, CPU_COUNT */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "serve/serve.h"

/* the CPUs this process may run on */
static int cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cmd_serve(int argc, char **argv)
{
    const char *index = NULL, *ckpt = NULL, *vocab_path = NULL, *host = "127.0.0.1";
    const char *boxes = NULL, *images_dir = NULL, *image_names = NULL;
    int port = 8080, threads = 0, max_connections = 64, timeout = 30;
    ua_opt opts[] = {
        {"index", UA_OPT_STR, &index, NULL, "a gallery made by uarda index (with --captions for image queries)", 0},
        {"checkpoint", UA_OPT_STR, &ckpt, NULL, "the model that made the index", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary .json (default: the checkpoint's)", 0},
        {"host", UA_OPT_STR, &host, NULL, "the address to listen on, numeric (0.0.0.0: every interface)", 0},
        {"port", UA_OPT_INT, &port, NULL, "the TCP port (0: a free one, printed)", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "workers: requests answered at once, each on one thread (0: one per CPU)", 0},
        {"max-connections", UA_OPT_INT, &max_connections, NULL, "open connections at most (more wait to be accepted)", 0},
        {"timeout", UA_OPT_INT, &timeout, NULL, "seconds after which an idle connection is closed", 0},
        {"boxes", UA_OPT_STR, &boxes, NULL,
         "each image's region boxes, .npy float32 [images, regions, 4] (x0, y0, x1, y1: in the unit square, or "
         "pixels of the pictures, as bottom-up-attention writes them; uarda synth: <split>_boxes.npy); without it "
         "the page draws the regions as a grid", 0},
        {"images-dir", UA_OPT_STR, &images_dir, NULL, "the folder of the gallery's pictures (needs --image-names)", 0},
        {"image-names", UA_OPT_STR, &image_names, NULL,
         "one file name per gallery image, in order (uarda synth: <split>_image_names.txt)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"serve",
                        "A search service over an index and the checkpoint that made it: a JSON API (/api/search,\n"
                        "/api/info, /api/health, /api/image/ROW) and a web page at / that shows the results, their\n"
                        "regions and what each word attends to. Rankings and scores are uarda search's. Stops on\n"
                        "SIGTERM or SIGINT.",
                        "usage: uarda serve --index G --checkpoint C [--port 8080] [--host 127.0.0.1] [--threads N]\n"
                        "                   [--boxes FILE] [--images-dir DIR --image-names FILE]",
                        opts, 0};
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (!index || !ckpt) {
        fprintf(stderr, "uarda serve: --index and --checkpoint are required\n");
        return 2;
    }
    if (images_dir && !image_names) {
        fprintf(stderr, "uarda serve: --images-dir needs --image-names (the file name of each gallery image)\n");
        return 2;
    }
    if (!ua_serve_available()) {
        fprintf(stderr, "uarda serve: uarda was built without libmicrohttpd, so it cannot serve (install "
                        "libmicrohttpd-dev, e.g. with scripts/bootstrap, and rebuild)\n");
        return 1;
    }
    ua_err err;
    ua_serve_config cfg = {ckpt, index, vocab_path, boxes, images_dir, NULL, 0, image_names, threads > 0 ? threads : cpus()};
    if (image_names && !(cfg.image_names = ua_cli_read_lines(image_names, &cfg.n_image_names, &err))) {
        ua_cli_error("serve", &err);
        return 1;
    }
    ua_service *s;
    if (ua_service_open(&s, &cfg, &err)) {
        ua_cli_error("serve", &err);
        return 1;
    }
    /* SIGINT and SIGTERM are taken by this thread alone (sigwait): blocked before the server's
     * threads start, which inherit the mask; a peer that goes away is no signal */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    ua_http *h;
    ua_http_config hc = {host, port, cfg.workers, max_connections, timeout};
    if (ua_http_start(&h, s, &hc, &err)) {
        ua_cli_error("serve", &err);
        ua_service_close(s);
        return 1;
    }
    char what[256];
    ua_service_describe(s, what, sizeof what);
    const int v6 = strchr(host, ':') != NULL;
    printf("uarda serve: http://%s%s%s:%d/ (%s)\n", v6 ? "[" : "", host, v6 ? "]" : "", ua_http_port(h), what);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {}
    fprintf(stderr, "uarda serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    long long n = ua_http_requests(h);
    ua_http_stop(h);
    ua_service_close(s);
    fprintf(stderr, "uarda serve: stopped after %lld request%s\n", n, n == 1 ? "" : "s");
    return 0;
}
