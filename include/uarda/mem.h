/* Large zeroed buffers (parameters, gradients, optimizer state): anonymous mappings that the
 * kernel may back with 2 MiB pages, so that filling 40 MB takes 20 page faults, not 10,000. */
#ifndef UARDA_MEM_H
#define UARDA_MEM_H

#include <stddef.h>

/* n zeroed bytes (NULL when out of memory); free only with ua_free_big(p, n), the same n */
void *ua_alloc_big(size_t n);
void  ua_free_big(void *p, size_t n);

#endif
