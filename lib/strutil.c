/*
 * strutil: string and number helpers.  Every parser here reads the whole
 * string: trailing garbage is an error, never silently ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strutil.h"

size_t
str_copy(char *dst, const char *src, size_t dstsz)
{
	size_t n = strlen(src);

	if (dstsz) {
		size_t c = n < dstsz - 1 ? n : dstsz - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

void
str_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

bool
str_has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Parses the leading digits of s; *end points past them. */
static int
parse_digits(const char *s, uint64_t *out, char **end, const char **errstr)
{
	unsigned long long v;

	if (!isdigit((unsigned char)*s)) {
		*errstr = "not a number";
		return -1;
	}
	errno = 0;
	v = strtoull(s, end, 10);
	if (errno == ERANGE) {
		*errstr = "too large";
		return -1;
	}
	*out = v;
	return 0;
}

static int
check_range(uint64_t v, uint64_t min, uint64_t max, const char **errstr)
{
	if (v < min) {
		*errstr = "too small";
		return -1;
	}
	if (v > max) {
		*errstr = "too large";
		return -1;
	}
	return 0;
}

int
str_to_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **errstr)
{
	uint64_t v;
	char *end;

	if (parse_digits(s, &v, &end, errstr) == -1)
		return -1;
	if (*end != '\0') {
		*errstr = "not a number";
		return -1;
	}
	if (check_range(v, min, max, errstr) == -1)
		return -1;
	*out = v;
	return 0;
}

/* Parses a number with an optional one-letter unit from units/mult. */
static int
parse_unit(const char *s, const char *units, const uint64_t *mult,
    uint64_t min, uint64_t max, uint64_t *out, const char **errstr,
    const char *badunit)
{
	const char *u;
	uint64_t v;
	char *end;

	if (parse_digits(s, &v, &end, errstr) == -1)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0' ||
		    (u = strchr(units, tolower((unsigned char)*end))) == NULL) {
			*errstr = badunit;
			return -1;
		}
		if (v > UINT64_MAX / mult[u - units]) {
			*errstr = "too large";
			return -1;
		}
		v *= mult[u - units];
	}
	if (check_range(v, min, max, errstr) == -1)
		return -1;
	*out = v;
	return 0;
}

int
str_to_duration(const char *s, uint64_t min, uint64_t max, uint64_t *secs,
    const char **errstr)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400, 604800 };

	return parse_unit(s, "smhdw", mult, min, max, secs, errstr,
	    "bad duration (use s, m, h, d or w)");
}

int
str_to_size(const char *s, uint64_t min, uint64_t max, uint64_t *bytes,
    const char **errstr)
{
	static const uint64_t mult[] = { 1, 1024, 1048576, 1073741824 };

	return parse_unit(s, "bkmg", mult, min, max, bytes, errstr,
	    "bad size (use K, M or G)");
}
