#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/wait.h>

char *th_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char *dir = malloc(strlen(base) + 32);
    sprintf(dir, "%s/uarda-test-XXXXXX", base);
    if (!mkdtemp(dir)) { free(dir); return NULL; }
    return dir;
}

void th_rmrf(const char *dir)
{
    if (!dir || strncmp(dir, "/", 1) != 0 || !strstr(dir, "uarda-test-")) return;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

char *th_path(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

int th_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

char *th_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(buf); return NULL; }
    fclose(f);
    buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

const char *th_shared(void)
{
    const char *s = getenv("UARDA_SHARED");
    return (s && *s) ? s : "../shared";
}

char *th_shared_path(const char *rel) { return th_path(th_shared(), rel); }

const char *th_bin(void)
{
    const char *s = getenv("UARDA_BIN");
    return (s && *s) ? s : "build/uarda";
}

int th_run(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8300];
    snprintf(full, sizeof full, "( %s ) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t used = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
        if (out && used + 1 < cap) {
            size_t take = got < cap - 1 - used ? got : cap - 1 - used;
            memcpy(out + used, chunk, take);
            used += take;
        }
    }
    if (out && cap) out[used] = 0;
    int st = pclose(p);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

double th_rel_diff(const float *a, const float *b, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > mr) mr = fabs((double)b[i]);
    }
    if (mr == 0) return md;
    return md / mr;
}

void th_unit_rows(ua_rng *r, float *x, size_t n, int E, double shift)
{
    for (size_t i = 0; i < n; i++) {
        float *v = x + i * (size_t)E;
        double s = 0;
        for (int k = 0; k < E; k++) { v[k] = (float)(ua_rng_normal(r) + (k == 0 ? shift : 0)); s += (double)v[k] * v[k]; }
        for (int k = 0; k < E; k++) v[k] = (float)(v[k] / sqrt(s));
    }
}

void th_random_embeddings(ua_embeddings *e, ua_rng *r, int n_img, int n_cap, int R, int max_len, int E, double shift)
{
    memset(e, 0, sizeof *e);
    e->n_img = n_img; e->R = R; e->E = E; e->n_cap = n_cap; e->max_len = max_len;
    e->img = malloc((size_t)n_img * R * E * sizeof(float));
    e->cap_offset = malloc(((size_t)n_cap + 1) * sizeof(int));
    e->cap_len = malloc((size_t)n_cap * sizeof(int));
    e->cap_offset[0] = 0;
    for (int j = 0; j < n_cap; j++) {
        e->cap_len[j] = 3 + j % (max_len - 2);
        e->cap_offset[j + 1] = e->cap_offset[j] + e->cap_len[j];
    }
    e->cap = malloc((size_t)e->cap_offset[n_cap] * E * sizeof(float));
    th_unit_rows(r, e->img, (size_t)n_img * R, E, shift);
    th_unit_rows(r, e->cap, (size_t)e->cap_offset[n_cap], E, shift);
}

double th_compare_fixture(const ua_st_file *f, const char *name, const float *got, size_t n, double tol,
                          const char *file)
{
    const ua_st_tensor *t = ua_st_find(f, name);
    if (!t) fail_msg("%s: fixture lacks %s", file, name);
    assert_int_equal(t->dtype, UA_ST_F32);
    if (t->n_elems != n) fail_msg("%s: %s has %zu values, uarda has %zu", file, name, t->n_elems, n);
    double rel = th_rel_diff(got, t->data, n);
    if (!(rel <= tol)) fail_msg("%s: %s differs: max|diff|/max|ref| = %.3g > %.0e", file, name, rel, tol);
    return rel;
}
