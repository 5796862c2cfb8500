/*
 * buf: growable buffer.  Growth doubles, so appends are amortised O(1).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "buf.h"
#include "log.h"
#include "strutil.h"
#include "xalloc.h"

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reserve(struct buf *b, size_t n)
{
	size_t want;

	if (n > ((size_t)-1) / 2 - b->len)
		fatal("event=oom reason=buffer-overflow");
	want = b->len + n + 1;
	if (want <= b->cap)
		return;
	if (b->cap < 64)
		b->cap = 64;
	while (b->cap < want)
		b->cap *= 2;
	b->data = xreallocarray(b->data, b->cap, 1);
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("event=format-error");
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_add_json_str(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), n;

	buf_addc(b, '"');
	for (; left > 0; p += n, left -= n) {
		if ((n = str_utf8_len(p, left)) == 0) {
			buf_addstr(b, "\xef\xbf\xbd");
			n = 1;
		} else if (n > 1)
			buf_add(b, p, n);
		else if (*p == '"')
			buf_addstr(b, "\\\"");
		else if (*p == '\\')
			buf_addstr(b, "\\\\");
		else if (*p == '\n')
			buf_addstr(b, "\\n");
		else if (*p == '\r')
			buf_addstr(b, "\\r");
		else if (*p == '\t')
			buf_addstr(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\u%04x", *p);
		else
			buf_addc(b, (char)*p);
	}
	buf_addc(b, '"');
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

char *
buf_take(struct buf *b)
{
	char *p;

	if (b->data == NULL)
		return xstrdup("");
	p = b->data;
	buf_init(b);
	return p;
}

void
buf_add_indented(struct buf *b, const struct buf *text, const char *pad)
{
	const char *s, *nl, *end;

	if (text->data == NULL)
		return;
	end = text->data + text->len;
	for (s = text->data; s < end; s = nl + 1) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		buf_printf(b, "%s%.*s\n", pad, (int)(nl - s), s);
	}
}
