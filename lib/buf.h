/*
 * buf: a growable byte buffer (in the manner of Postfix's VSTRING).  The
 * data is always NUL-terminated so it can be used as a C string, but it
 * may hold NULs; len is authoritative.
 */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

#define BUF_INIT	{ NULL, 0, 0 }

void	buf_init(struct buf *);
/* Makes room for n more bytes. */
void	buf_reserve(struct buf *, size_t n);
void	buf_add(struct buf *, const void *, size_t);
void	buf_addstr(struct buf *, const char *);
void	buf_addc(struct buf *, char);
void	buf_printf(struct buf *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included; a byte that is
 * not part of valid UTF-8 becomes U+FFFD, as JSON text must be UTF-8
 * (RFC 8259 8.1). */
void	buf_add_json_str(struct buf *, const char *s);
/* Appends each line of text (the last may lack its newline) with pad in
 * front and a newline after (explain traces nest this way). */
void	buf_add_indented(struct buf *, const struct buf *text,
	    const char *pad);
/* Empties the buffer, keeps the memory. */
void	buf_reset(struct buf *);
/* Frees the memory; the buffer is empty and reusable. */
void	buf_free(struct buf *);
/* Hands the data to the caller (who frees it); the buffer is emptied. */
char	*buf_take(struct buf *);

#endif
