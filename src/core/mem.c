/* See include/uarda/mem.h. Below 2 MiB, calloc; above, mmap rounded to whole 2 MiB pages with
 * MADV_HUGEPAGE (a hint: without transparent huge pages it is plain 4 KiB pages). */
#include "uarda/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

enum { HUGE_PAGE = 2 << 20 };

static size_t rounded(size_t n) { return (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE; }

void *ua_alloc_big(size_t n)
{
    if (n < HUGE_PAGE) return calloc(n ? n : 1, 1);
    if (n > (size_t)-1 - HUGE_PAGE) return NULL;
    /* map one huge page more than needed and trim to a 2 MiB boundary: huge pages need it */
    size_t len = rounded(n), span = len + HUGE_PAGE;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    size_t lead = (HUGE_PAGE - (size_t)((uintptr_t)m % HUGE_PAGE)) % HUGE_PAGE;
    if (lead) munmap(m, lead);
    if (span - lead > len) munmap(m + lead + len, span - lead - len);
    char *p = m + lead;
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

void ua_free_big(void *p, size_t n)
{
    if (!p) return;
    if (n < HUGE_PAGE) free(p);
    else munmap(p, rounded(n));
}
