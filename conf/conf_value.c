/*
 * conf_value: the error list, and values with units (numbers, sizes,
 * durations) read and written the same way by the parser and the dump.
 *
 * Errors are kept with the line and the order they were found in, and
 * written sorted by line: the lexer, the parser and the checks between
 * settings find them in different passes, the reader wants them in file
 * order.  Past CONF_MAX_ERRORS (a binary file given by mistake) the rest
 * are counted, not kept.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "conf_priv.h"

void
conf_err(struct conf_errs *e, int line, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	int n;

	if (e->n >= CONF_MAX_ERRORS) {
		e->dropped++;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	buf_reserve(&b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b.len = (size_t)n;
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 16;
		e->v = xreallocarray(e->v, e->cap, sizeof(*e->v));
	}
	e->v[e->n].line = line;
	e->v[e->n].seq = e->n;
	e->v[e->n].msg = buf_take(&b);
	e->n++;
}

static int
err_cmp(const void *a, const void *b)
{
	const struct conf_err *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
conf_errs_write(struct conf_errs *e, const char *file, struct buf *out)
{
	size_t i;

	qsort(e->v, e->n, sizeof(*e->v), err_cmp);
	for (i = 0; i < e->n; i++) {
		if (e->v[i].line > 0)
			buf_printf(out, "%s:%d: %s\n", file, e->v[i].line,
			    e->v[i].msg);
		else
			buf_printf(out, "%s: %s\n", file, e->v[i].msg);
	}
	if (e->dropped)
		buf_printf(out, "%s: %zu more errors not shown\n", file,
		    e->dropped);
}

void
conf_errs_free(struct conf_errs *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i].msg);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

void
conf_kw_path(const struct conf_kw *kw, char *buf, size_t bufsz)
{
	if (kw->parent[0] != '\0')
		snprintf(buf, bufsz, "%s %s", kw->parent, kw->name);
	else
		snprintf(buf, bufsz, "%s", kw->name);
}

const struct conf_kw *
conf_kw_lookup(const struct conf_grammar *g, const char *parent,
    const char *name)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->kw[i].parent, parent) == 0 &&
		    strcmp(g->kw[i].name, name) == 0)
			return &g->kw[i];
	return NULL;
}

int
conf_value_u64(const struct conf_kw *kw, const struct conf_tok *tok,
    uint64_t *out, struct conf_errs *errs)
{
	const char *errstr = NULL;
	char path[128], bound[32], shown[CONF_SHOWN];
	int rc;

	if (kw->unit == CONF_U_SIZE)
		rc = str_to_size(tok->text, kw->lo, kw->hi, out, &errstr);
	else if (kw->unit == CONF_U_DURATION)
		rc = str_to_duration(tok->text, kw->lo, kw->hi, out, &errstr);
	else
		rc = str_to_u64(tok->text, kw->lo, kw->hi, out, &errstr);
	if (rc == 0)
		return 0;
	conf_kw_path(kw, path, sizeof(path));
	if (strcmp(errstr, "too large") == 0 ||
	    strcmp(errstr, "too small") == 0) {
		conf_format_u64(kw->unit, errstr[4] == 'l' ? kw->hi : kw->lo,
		    bound, sizeof(bound));
		conf_err(errs, tok->line, "%s: %s (at %s %s)", path, errstr,
		    errstr[4] == 'l' ? "most" : "least", bound);
	} else
		conf_err(errs, tok->line, "%s: %s: %s", path,
		    conf_shown(tok->text, shown, sizeof(shown)), errstr);
	return -1;
}

int
conf_value_default(const struct conf_kw *kw, uint64_t *out,
    struct conf_errs *errs)
{
	struct conf_tok tok = { CONF_TOK_WORD, false, 0, (char *)kw->def };

	return conf_value_u64(kw, &tok, out, errs);
}

void
conf_format_u64(enum conf_unit unit, uint64_t v, char *buf, size_t bufsz)
{
	static const char size_sfx[] = "GMK";
	static const uint64_t size_mul[] = { 1073741824, 1048576, 1024 };
	static const char dur_sfx[] = "wdhm";
	static const uint64_t dur_mul[] = { 604800, 86400, 3600, 60 };
	const uint64_t *mul = NULL;
	const char *sfx = "";
	size_t i;

	if (unit == CONF_U_SIZE) {
		mul = size_mul;
		sfx = size_sfx;
	} else if (unit == CONF_U_DURATION) {
		mul = dur_mul;
		sfx = dur_sfx;
	}
	for (i = 0; sfx[i] != '\0'; i++) {
		if (v != 0 && v % mul[i] == 0) {
			snprintf(buf, bufsz, "%llu%c",
			    (unsigned long long)(v / mul[i]), sfx[i]);
			return;
		}
	}
	snprintf(buf, bufsz, "%llu%s", (unsigned long long)v,
	    unit == CONF_U_DURATION ? "s" : "");
}

/* True when word would read back as one plain, non-keyword value. */
static bool
word_is_plain(const struct conf_grammar *g, const char *word)
{
	const unsigned char *p;
	size_t i;

	if (word[0] == '\0' || word[0] == '#')
		return false;
	for (p = (const unsigned char *)word; *p; p++)
		if (*p <= ' ' || *p == ',' || *p == '{' || *p == '}' ||
		    *p == '"' || *p == '\\' || *p == 0x7f)
			return false;
	for (i = 0; g != NULL && i < g->n; i++)
		if (strcmp(g->kw[i].name, word) == 0)
			return false;
	return true;
}

void
conf_add_word(struct buf *b, const struct conf_grammar *g, const char *word)
{
	const char *p;

	if (word_is_plain(g, word)) {
		buf_addstr(b, word);
		return;
	}
	buf_addc(b, '"');
	for (p = word; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addc(b, '\\');
		buf_addc(b, *p);
	}
	buf_addc(b, '"');
}

const char *
conf_shown(const char *word, char *buf, size_t bufsz)
{
	struct buf b = BUF_INIT;

	conf_add_word(&b, NULL, word);
	if (b.len >= bufsz && bufsz > 4) {
		memcpy(buf, b.data, bufsz - 4);
		memcpy(buf + bufsz - 4, "...", 4);
	} else
		str_copy(buf, b.data, bufsz);
	buf_free(&b);
	return buf;
}

bool
conf_is_domain(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t label = 0, total = 0;
	bool alpha = false;		/* the label has a non-digit */
	unsigned char prev = '.';

	for (; *p; p++, total++) {
		if (*p == '.') {
			if (label == 0 || prev == '-')
				return false;
			label = 0;
			alpha = false;
		} else if (isalnum(*p) || *p == '-') {
			if ((label == 0 && *p == '-') || ++label > 63)
				return false;
			alpha = alpha || !isdigit(*p);
		} else
			return false;
		prev = *p;
	}
	/* an all-numeric last label is an address, not a name (RFC 3696 2) */
	return total > 0 && total <= 253 && label > 0 && prev != '-' && alpha;
}
