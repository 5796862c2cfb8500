/*
 * timefmt: strftime wrappers.  The numeric zone is computed from tm_gmtoff
 * so headers carry the local offset, as RFC 5322 section 3.3 asks.
 */
#include <stdio.h>

#include "timefmt.h"

void
time_rfc5322(time_t t, char *buf, size_t bufsz)
{
	static const char *days[] = { "Sun","Mon","Tue","Wed","Thu","Fri","Sat" };
	static const char *mons[] = { "Jan","Feb","Mar","Apr","May","Jun",
	    "Jul","Aug","Sep","Oct","Nov","Dec" };
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(buf, bufsz, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
	    (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}

void
time_rfc3339(time_t t, char *buf, size_t bufsz)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, bufsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
