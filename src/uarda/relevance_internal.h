/* Internal to src/uarda/: what its files share. */
#ifndef UARDA_RELEVANCE_INTERNAL_H
#define UARDA_RELEVANCE_INTERNAL_H

/* the largest sample ring a configuration or a checkpoint's state may ask for */
enum { UA_REL_RING_MAX = 1 << 24 };

#endif
