/*
 * xalloc: allocation that cannot fail (it calls fatal() on exhaustion).
 * Sizes from the network must be checked against a bound before these.
 */
#ifndef SLUICE_XALLOC_H
#define SLUICE_XALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
/* realloc of n elements of size sz, checking the multiplication. */
void	*xreallocarray(void *, size_t n, size_t sz);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* Returns a new string; fatal on error. */
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Zeroes n bytes in a way the compiler keeps (for secrets). */
void	 xwipe(void *, size_t n);

#endif
