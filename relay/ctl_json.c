/*
 * ctl_json: a strict, bounded JSON reader (RFC 8259) for sluicectl.  It
 * builds a small tree the printers walk.  Strict: no trailing commas, no
 * comments, no leading zeros, no raw control characters in strings, no
 * lone surrogates, UTF-8 only; anything else is an error, never a guess.
 *
 * What an attacker controls: the text comes from the admin socket, so
 * from the daemon; but the strings inside it (senders, recipients, HELO
 * names, replies) came from SMTP peers.  Nesting is bounded by
 * CTL_JSON_DEPTH, the input by the HTTP client's CTL_HTTP_MAX.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "ctl_priv.h"

struct ctl_json_p {
	const unsigned char	*p, *end;
	int			 depth;
	const char		*err;
};

static struct ctl_json	*ctl_json_value(struct ctl_json_p *);

static void
ctl_json_ws(struct ctl_json_p *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
	    *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static struct ctl_json *
ctl_json_fail(struct ctl_json_p *ps, const char *err)
{
	if (ps->err == NULL)
		ps->err = err;
	return NULL;
}

static void
ctl_utf8_put(struct buf *b, unsigned long cp)
{
	if (cp < 0x80)
		buf_addc(b, (char)cp);
	else if (cp < 0x800) {
		buf_addc(b, (char)(0xc0 | (cp >> 6)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_addc(b, (char)(0xe0 | (cp >> 12)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_addc(b, (char)(0xf0 | (cp >> 18)));
		buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

/* Four hex digits after "\u"; -1 when they are not. */
static long
ctl_json_hex4(struct ctl_json_p *ps)
{
	long v = 0;
	int i, c;

	if (ps->end - ps->p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		c = ps->p[i];
		if (c >= '0' && c <= '9')
			v = v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (c - 'A' + 10);
		else
			return -1;
	}
	ps->p += 4;
	return v;
}

/* The escape after a backslash (RFC 8259, section 7). */
static int
ctl_json_escape(struct ctl_json_p *ps, struct buf *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	long cp, lo;

	if (ps->p >= ps->end)
		return -1;
	if (*ps->p != 'u') {
		if ((e = memchr(from, *ps->p, sizeof(from) - 1)) == NULL)
			return -1;
		buf_addc(out, to[e - from]);
		ps->p++;
		return 0;
	}
	ps->p++;
	if ((cp = ctl_json_hex4(ps)) < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
		return -1;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
			return -1;
		ps->p += 2;
		if ((lo = ctl_json_hex4(ps)) < 0xdc00 || lo > 0xdfff)
			return -1;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	ctl_utf8_put(out, (unsigned long)cp);
	return 0;
}

/* A string after its opening quote, decoded into out. */
static int
ctl_json_string(struct ctl_json_p *ps, struct buf *out)
{
	size_t n;

	while (ps->p < ps->end) {
		if (*ps->p == '"') {
			ps->p++;
			return 0;
		}
		if (*ps->p == '\\') {
			ps->p++;
			if (ctl_json_escape(ps, out) == -1) {
				ps->err = "bad escape in a string";
				return -1;
			}
			continue;
		}
		if (*ps->p < 0x20) {
			ps->err = "control character in a string";
			return -1;
		}
		if ((n = str_utf8_len(ps->p, (size_t)(ps->end - ps->p))) == 0) {
			ps->err = "invalid UTF-8";
			return -1;
		}
		buf_add(out, ps->p, n);
		ps->p += n;
	}
	ps->err = "unterminated string";
	return -1;
}

static size_t
ctl_json_digits(struct ctl_json_p *ps)
{
	size_t n = 0;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		ps->p++;
		n++;
	}
	return n;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static struct ctl_json *
ctl_json_number(struct ctl_json_p *ps)
{
	const unsigned char *start = ps->p;
	struct ctl_json *j;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (ctl_json_digits(ps) == 0)
		return ctl_json_fail(ps, "bad number");
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (ctl_json_digits(ps) == 0)
			return ctl_json_fail(ps, "bad number");
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ctl_json_digits(ps) == 0)
			return ctl_json_fail(ps, "bad number");
	}
	j = xcalloc(1, sizeof(*j));
	j->type = CTL_JSON_NUMBER;
	j->len = (size_t)(ps->p - start);
	j->str = xstrndup((const char *)start, j->len);
	return j;
}

static void
ctl_json_push(struct ctl_json *parent, struct ctl_json *child)
{
	parent->items = xreallocarray(parent->items, parent->n + 1,
	    sizeof(*parent->items));
	parent->items[parent->n++] = child;
}

/* An array or an object after its opening bracket. */
static struct ctl_json *
ctl_json_container(struct ctl_json_p *ps, enum ctl_json_type type)
{
	struct ctl_json *j, *v;
	struct buf key = BUF_INIT;
	unsigned char close = type == CTL_JSON_ARRAY ? ']' : '}';

	if (++ps->depth > CTL_JSON_DEPTH)
		return ctl_json_fail(ps, "nested too deeply");
	j = xcalloc(1, sizeof(*j));
	j->type = type;
	ctl_json_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return j;
	}
	for (;;) {
		ctl_json_ws(ps);
		if (type == CTL_JSON_OBJECT) {
			buf_reset(&key);
			if (ps->p >= ps->end || *ps->p++ != '"' ||
			    ctl_json_string(ps, &key) == -1)
				goto fail;
			ctl_json_ws(ps);
			if (ps->p >= ps->end || *ps->p++ != ':')
				goto fail;
		}
		if ((v = ctl_json_value(ps)) == NULL)
			goto fail;
		if (type == CTL_JSON_OBJECT)
			v->key = xstrndup(key.data, key.len);
		ctl_json_push(j, v);
		ctl_json_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		goto fail;
	}
	buf_free(&key);
	ps->depth--;
	return j;
fail:
	buf_free(&key);
	ctl_json_free(&j);
	return ctl_json_fail(ps, type == CTL_JSON_ARRAY ? "bad array" :
	    "bad object");
}

static struct ctl_json *
ctl_json_literal(struct ctl_json_p *ps, const char *word,
    enum ctl_json_type type)
{
	size_t n = strlen(word);
	struct ctl_json *j;

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return ctl_json_fail(ps, "unexpected character");
	ps->p += n;
	j = xcalloc(1, sizeof(*j));
	j->type = type;
	return j;
}

static struct ctl_json *
ctl_json_value(struct ctl_json_p *ps)
{
	struct ctl_json *j;
	struct buf s = BUF_INIT;

	ctl_json_ws(ps);
	if (ps->p >= ps->end)
		return ctl_json_fail(ps, "unexpected end");
	switch (*ps->p) {
	case '{':
		ps->p++;
		return ctl_json_container(ps, CTL_JSON_OBJECT);
	case '[':
		ps->p++;
		return ctl_json_container(ps, CTL_JSON_ARRAY);
	case '"':
		ps->p++;
		if (ctl_json_string(ps, &s) == -1) {
			buf_free(&s);
			return NULL;
		}
		j = xcalloc(1, sizeof(*j));
		j->type = CTL_JSON_STRING;
		j->len = s.len;
		j->str = buf_take(&s);
		return j;
	case 't':
		return ctl_json_literal(ps, "true", CTL_JSON_TRUE);
	case 'f':
		return ctl_json_literal(ps, "false", CTL_JSON_FALSE);
	case 'n':
		return ctl_json_literal(ps, "null", CTL_JSON_NULL);
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return ctl_json_number(ps);
		return ctl_json_fail(ps, "unexpected character");
	}
}

struct ctl_json *
ctl_json_parse(const char *data, size_t len, const char **errstr)
{
	struct ctl_json_p ps;
	struct ctl_json *j;

	ps.p = (const unsigned char *)data;
	ps.end = ps.p + len;
	ps.depth = 0;
	ps.err = NULL;
	j = ctl_json_value(&ps);
	if (j != NULL) {
		ctl_json_ws(&ps);
		if (ps.p != ps.end) {
			ctl_json_free(&j);
			ps.err = "trailing data";
		}
	}
	if (j == NULL)
		*errstr = ps.err ? ps.err : "invalid JSON";
	return j;
}

void
ctl_json_free(struct ctl_json **jp)
{
	struct ctl_json *j = *jp;
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->n; i++)
		ctl_json_free(&j->items[i]);
	free(j->items);
	free(j->key);
	free(j->str);
	free(j);
	*jp = NULL;
}

const struct ctl_json *
ctl_json_get(const struct ctl_json *obj, const char *key)
{
	size_t i;

	if (obj == NULL || obj->type != CTL_JSON_OBJECT)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (strcmp(obj->items[i]->key, key) == 0)
			return obj->items[i];
	return NULL;
}

const char *
ctl_json_str(const struct ctl_json *obj, const char *key)
{
	const struct ctl_json *v = ctl_json_get(obj, key);

	return v && v->type == CTL_JSON_STRING ? v->str : NULL;
}

int
ctl_json_u64(const struct ctl_json *obj, const char *key, uint64_t *out)
{
	const struct ctl_json *v = ctl_json_get(obj, key);
	const char *errstr;

	if (v == NULL || v->type != CTL_JSON_NUMBER)
		return -1;
	return str_to_u64(v->str, 0, UINT64_MAX, out, &errstr);
}

bool
ctl_json_bool(const struct ctl_json *obj, const char *key)
{
	const struct ctl_json *v = ctl_json_get(obj, key);

	return v != NULL && v->type == CTL_JSON_TRUE;
}
