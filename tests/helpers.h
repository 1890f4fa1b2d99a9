/* Small utilities shared by the unit tests (temp folders, files, running the CLI). */
#ifndef UARDA_TEST_HELPERS_H
#define UARDA_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "uarda/eval.h"
#include "uarda/rng.h"
#include "uarda/safetensors.h"

/* room for one pair's kernel work (ua_attn_pair_work(c, q)) as a constant, for stack arrays in
 * tests; test_attention checks it against the function */
#define UA_TEST_PAIR_WORK(c, q) (4 * (c) * (q) + 6 * (q) + 4 * (c) + (q) * (q))

/* a pointer to model m's pass at its test threshold (skipping off), for one statement or block:
 * a compound literal, alive to the end of the enclosing block */
#define TH_ATTN(m) ((const ua_attn_cfg[]){ua_attn_at(&(m).opt.attn, (m).t_test)})

/* a fresh folder under $TMPDIR (or /tmp); caller frees; removed by th_rmrf */
char *th_tmpdir(void);
void  th_rmrf(const char *dir);
/* malloc'ed "<dir>/<name>" */
char *th_path(const char *dir, const char *name);
/* write n bytes; returns 0 on success */
int   th_write(const char *path, const void *data, size_t n);
/* malloc'ed NUL-terminated contents, or NULL; *len (may be NULL) gets the size */
char *th_read(const char *path, size_t *len);
/* root of ../shared (env UARDA_SHARED, else "../shared"), and a malloc'ed path in it */
const char *th_shared(void);
char *th_shared_path(const char *rel);
/* path of the uarda binary (env UARDA_BIN, else "build/uarda") */
const char *th_bin(void);
/* runs a shell command (printf-style), capturing stdout+stderr into out (may be NULL);
 * returns the exit status (or -1) */
int   th_run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* max |a-b| / max |b| (0 when b is all zero and a equals it) */
double th_rel_diff(const float *a, const float *b, size_t n);
/* n rows of E floats: normal, plus shift on the first coordinate (a shared component gives a
 * realistic spread of cosines), each l2-normalised */
void th_unit_rows(ua_rng *r, float *x, size_t n, int E, double shift);

/* random embeddings of n_img images of R regions and n_cap captions of 3, 4, ... (cycling below
 * max_len) words, l2-normalised rows around a shared component (shift, th_unit_rows): a spread of
 * similarities around a threshold; free with ua_embeddings_free */
void th_random_embeddings(ua_embeddings *e, ua_rng *r, int n_img, int n_cap, int R, int max_len, int E, double shift);
/* fails the test unless fixture tensor `name` of f (F32, n values) matches got within the relative
 * tolerance tol (th_rel_diff); returns the relative difference */
double th_compare_fixture(const ua_st_file *f, const char *name, const float *got, size_t n, double tol,
                          const char *file);

#endif
