/* Wall-clock seconds for timings and progress (CLOCK_MONOTONIC). */
#ifndef UARDA_CLOCK_H
#define UARDA_CLOCK_H

double ua_now(void);

#endif
