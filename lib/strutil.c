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

size_t
str_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
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
