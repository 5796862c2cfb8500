/*
 * strutil: bounded string helpers and checked number parsing, the
 * replacements for strcpy/strcat/atoi that STYLE.md bans.
 */
#ifndef SLUICE_STRUTIL_H
#define SLUICE_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies at most dstsz-1 bytes and terminates; returns strlen(src) so the
 * caller can detect truncation (as strlcpy). */
size_t	str_copy(char *dst, const char *src, size_t dstsz);
/* ASCII lower-casing in place. */
void	str_lower(char *);
bool	str_has_prefix_ci(const char *s, const char *prefix);
/* Parses a whole decimal number in [min, max].  0, or -1 with *errstr set
 * to a static message ("not a number", "too small", "too large"). */
int	str_to_u64(const char *, uint64_t min, uint64_t max, uint64_t *out,
	    const char **errstr);
/* The length of the well-formed UTF-8 sequence (RFC 3629) at s within n
 * bytes: 1 for ASCII, 2..4, or 0 when malformed, overlong, a surrogate or
 * beyond U+10FFFF. */
size_t	str_utf8_len(const unsigned char *s, size_t n);
/* "30s", "5m", "2h", "1d", "1w" or a bare number of seconds, in [min, max]
 * seconds. */
int	str_to_duration(const char *, uint64_t min, uint64_t max,
	    uint64_t *secs, const char **errstr);
/* "512", "10K", "5M", "1G" (powers of 1024), in [min, max] bytes. */
int	str_to_size(const char *, uint64_t min, uint64_t max, uint64_t *bytes,
	    const char **errstr);

#endif
