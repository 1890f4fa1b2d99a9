/* Progress of long library calls, as an explicit context passed in (never process-wide state):
 * the library calls fn(user, phase, done, total) from the calling thread after each chunk of
 * work ("encoding images", "encoding captions", "similarity"), with the items done and their
 * total. The library prints nothing itself; a program turns the calls into its progress line.
 * A NULL context, or one whose fn is NULL, gets no calls. Two threads may run calls with two
 * contexts at once. */
#ifndef UARDA_PROGRESS_H
#define UARDA_PROGRESS_H

typedef void (*ua_progress_fn)(void *user, const char *phase, long long done, long long total);

typedef struct ua_progress_cb {
    ua_progress_fn fn;
    void *user;
} ua_progress_cb;

static inline void ua_progress_report(const ua_progress_cb *p, const char *phase, long long done, long long total)
{
    if (p && p->fn) p->fn(p->user, phase, done, total);
}

#endif
