/*
 * timefmt: the time formats mail needs: RFC 5322 dates for headers and
 * RFC 3339 UTC for the API and logs.
 */
#ifndef SLUICE_TIMEFMT_H
#define SLUICE_TIMEFMT_H

#include <stddef.h>
#include <time.h>

#define TIMEFMT_LEN	64

/* "Tue, 24 Nov 2026 14:27:01 +0000" in local time. */
void	time_rfc5322(time_t, char *buf, size_t bufsz);
/* "2026-11-24T14:27:01Z". */
void	time_rfc3339(time_t, char *buf, size_t bufsz);

#endif
