/*
 * item: one item of a dimension's list as written in the configuration
 * (policy.h has the grammar), parsed into a struct pol_item.
 *
 * Every form cbpolicyd reads silently as something else, or as nothing
 * (reference/cbpolicyd.md 1.3-1.5), is an error here whose message says
 * what to write instead: `!`, `$login`, `@.domain`, `.domain`, partial
 * and bracketed IPv4 (cbpolicyd's implied masks and peer items), `*`
 * anywhere but `@*.`, an item of another dimension.  The text is the
 * administrator's; nothing here sees network input.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "policy_priv.h"

#define ITEM_MAX	512

int
pol_fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static char *
lowered(const char *s, size_t len)
{
	char *p = xstrndup(s, len);
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (char)(p[i] - 'A' + 'a');
	}
	return p;
}

bool
pol_name_is_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return false;
	}
	return true;
}

/* What every dimension refuses before reading the item's form. */
static int
check_common(enum pol_dim dim, const char *t, char *err, size_t errsz)
{
	const unsigned char *s = (const unsigned char *)t;
	size_t len = strlen(t), i, n;

	if (len > ITEM_MAX)
		return pol_fail(err, errsz, "an item of %zu characters (at most "
		    "%d)", len, ITEM_MAX);
	for (i = 0; i < len; i += n) {
		n = 1;
		if (s[i] <= 0x20 || s[i] == 0x7f)
			return pol_fail(err, errsz, "an item contains a space or "
			    "a control character");
		if (s[i] >= 0x80 && (n = str_utf8_len(s + i, len - i)) == 0)
			return pol_fail(err, errsz, "an item is not valid UTF-8");
	}
	if (t[0] == '!')
		return pol_fail(err, errsz, "\"%s\": sluice has no \"!\": write "
		    "the item after \"except\"", t);
	if (strchr(t, ',') != NULL)
		return pol_fail(err, errsz, "\"%s\": items are separated by "
		    "spaces, not \",\"", t);
	if (t[0] == '$' && t[1] == '\0')
		return pol_fail(err, errsz, "\"$\": in sasl, \"*\" is any login "
		    "and \"-\" none");
	if (t[0] == '$' && dim == POL_SASL)
		return pol_fail(err, errsz, "\"%s\": write the login without "
		    "\"$\": \"%s\"", t, t + 1);
	if (t[0] == '$')
		return pol_fail(err, errsz, "\"%s\" is a SASL login (cbpolicyd's "
		    "\"$\"): write it in sasl as \"%s\"", t, t + 1);
	return 0;
}

/* An address or network, or what was meant as one. */
static bool
looks_like_ip(const char *t)
{
	struct cidr c;
	const char *es, *p;
	bool colon = strchr(t, ':') != NULL, hex = false;

	if (cidr_parse(t, &c, &es) == 0)
		return true;
	for (p = t; *p; p++) {
		if (isalpha((unsigned char)*p))
			hex = true;
		if (!isxdigit((unsigned char)*p) && *p != '.' && *p != ':' &&
		    *p != '/')
			return false;
	}
	return colon || (isdigit((unsigned char)t[0]) && !hex);
}

/* cbpolicyd's partial IPv4 ("10.1", "10.1/16") and the wildcards people
 * try ("10.0.0.*"): the whole network to write instead, in hint. */
static bool
v4_hint(const char *t, char *hint, size_t hintsz)
{
	unsigned long oct[4] = { 0, 0, 0, 0 }, prefix;
	unsigned nnum = 0, nstar = 0;
	const char *p = t;
	char *end;

	while (nnum + nstar < 4) {
		if (*p == '*' && (p[1] == '.' || p[1] == '\0' ||
		    p[1] == '/')) {
			nstar++;
			p++;
		} else if (nstar == 0 && isdigit((unsigned char)*p)) {
			oct[nnum] = strtoul(p, &end, 10);
			if (end - p > 3 || oct[nnum] > 255)
				return false;
			nnum++;
			p = end;
		} else
			return false;
		if (*p != '.')
			break;
		p++;
	}
	if (nnum == 0 || (nnum + nstar == 4 && nstar == 0))
		return false;
	prefix = 8 * nnum;
	if (*p == '/' && nstar == 0) {
		prefix = strtoul(p + 1, &end, 10);
		if (!isdigit((unsigned char)p[1]) || *end != '\0' ||
		    prefix > 32)
			return false;
	} else if (*p != '\0')
		return false;
	snprintf(hint, hintsz, "%lu.%lu.%lu.%lu/%lu", oct[0], oct[1], oct[2],
	    oct[3], prefix);
	return true;
}

/* "10.1.2.3/8": its network, "10.0.0.0/8". */
static bool
network_of(const char *t, char *net, size_t netsz)
{
	char tmp[ADDR_STRLEN + 8];
	struct cidr c;
	char *slash;
	uint64_t prefix;
	const char *es;
	unsigned i, bits;

	if (str_copy(tmp, t, sizeof(tmp)) >= sizeof(tmp) ||
	    (slash = strchr(tmp, '/')) == NULL)
		return false;
	*slash++ = '\0';
	if (addr_parse(tmp, &c.net) == -1)
		return false;
	bits = c.net.family == AF_INET ? 32 : 128;
	if (str_to_u64(slash, 0, bits, &prefix, &es) == -1)
		return false;
	c.prefix = (unsigned)prefix;
	for (i = c.prefix; i < bits; i++)
		c.net.bytes[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	cidr_format(&c, net, netsz);
	return true;
}

static int
parse_client(const char *t, struct pol_item *out, char *err, size_t errsz)
{
	char hint[ADDR_STRLEN + 8];
	const char *es, *p;

	if (strcmp(t, "<>") == 0)
		return pol_fail(err, errsz, "\"<>\" (the null sender) is a sender "
		    "item, not a client");
	if (strchr(t, '@') != NULL)
		return pol_fail(err, errsz, "\"%s\" is an address, not a client: "
		    "write it in sender or recipient", t);
	if (t[0] == '[')
		return pol_fail(err, errsz, "\"%s\": write the address without "
		    "\"[\" and \"]\"", t);
	if (strcmp(t, "*") == 0)
		return pol_fail(err, errsz, "\"*\": for any client write "
		    "\"any\"");
	if (v4_hint(t, hint, sizeof(hint)))
		return pol_fail(err, errsz, "\"%s\": write the whole network: "
		    "\"%s\"", t, hint);
	if (strchr(t, '*') != NULL)
		return pol_fail(err, errsz, "\"%s\": no wildcards in client items: "
		    "write a network (\"10.0.0.0/24\")", t);
	if ((p = strchr(t, '%')) != NULL)
		return pol_fail(err, errsz, "\"%s\": zone ids (\"%s\") are not "
		    "allowed", t, p);
	if (cidr_parse(t, &out->cidr, &es) == 0) {
		out->kind = POL_ITEM_CIDR;
		return 0;
	}
	if (strstr(es, "host bits") != NULL &&
	    network_of(t, hint, sizeof(hint)))
		return pol_fail(err, errsz, "\"%s\": %s (the network is %s; one "
		    "host is written without \"/\")", t, es, hint);
	if (!looks_like_ip(t) && strchr(t, ':') == NULL)
		return pol_fail(err, errsz, "\"%s\": client items are addresses "
		    "and networks, not host names", t);
	return pol_fail(err, errsz, "\"%s\": %s", t, es);
}

static int
check_domain(const char *t, const char *d, char *err, size_t errsz)
{
	size_t label = 0;
	const char *p;

	for (p = d; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return pol_fail(err, errsz, "\"%s\": an empty "
				    "label in the domain", t);
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' ||
		    *p == '_' || (unsigned char)*p >= 0x80)
			label++;
		else
			return pol_fail(err, errsz, "\"%s\": '%c' is not allowed "
			    "in a domain", t, *p);
	}
	if (label == 0)
		return pol_fail(err, errsz, "\"%s\": a domain does not end with "
		    "\".\"", t);
	return 0;
}

/* An item without '@' in sender or recipient: what was meant. */
static int
address_without_at(enum pol_dim dim, const char *t, char *err, size_t errsz)
{
	if (looks_like_ip(t))
		return pol_fail(err, errsz, "\"%s\" is a client address, not a "
		    "%s", t, pol_dim_name(dim));
	if (strcmp(t, "*") == 0)
		return pol_fail(err, errsz, "\"*\": for any %s write \"any\"",
		    pol_dim_name(dim));
	if (t[0] == '.')
		return pol_fail(err, errsz, "\"%s\": did you mean \"@*%s\" (its "
		    "subdomains) or \"@%s\"?", t, t, t + 1);
	if (strchr(t, '*') == NULL && strchr(t, '.') != NULL)
		return pol_fail(err, errsz, "\"%s\": did you mean \"@%s\" (any "
		    "address at that domain)?", t, t);
	return pol_fail(err, errsz, "\"%s\": an address has \"@\" "
	    "(\"user@domain\", \"@domain\" or \"user@\")", t);
}

/* The wildcard and leading-dot forms of local@domain. */
static int
address_traps(const char *t, size_t llen, const char *d, char *err,
    size_t errsz)
{
	bool lstar = memchr(t, '*', llen) != NULL;
	bool sub = llen == 0 && strncmp(d, "*.", 2) == 0;

	if (d[0] == '.' && llen == 0)
		return pol_fail(err, errsz, "\"%s\": did you mean \"@*%s\" (its "
		    "subdomains) or \"@%s\"?", t, d, d + 1);
	if (d[0] == '.')
		return pol_fail(err, errsz, "\"%s\": did you mean \"%.*s@%s\"?", t,
		    (int)llen, t, d + 1);
	if ((strcmp(d, "*") == 0 || strcmp(d, "*.") == 0) &&
	    (llen == 0 || (llen == 1 && lstar)))
		return pol_fail(err, errsz, "\"%s\": for any address write "
		    "\"any\" (which also matches the null sender)", t);
	if (llen == 1 && lstar && strchr(d, '*') == NULL)
		return pol_fail(err, errsz, "\"%s\": write \"@%s\" for any address "
		    "at that domain", t, d);
	if (lstar || strchr(sub ? d + 2 : d, '*') != NULL)
		return pol_fail(err, errsz, "\"%s\": the only wildcard is a "
		    "leading \"@*.\" (\"@*.example.com\": its subdomains)", t);
	return 0;
}

static int
parse_address(enum pol_dim dim, const char *t, struct pol_item *out,
    char *err, size_t errsz)
{
	const char *at, *d;
	size_t llen;
	bool sub;

	if (strcmp(t, "<>") == 0 && dim == POL_SENDER) {
		out->kind = POL_ITEM_NULL_SENDER;
		return 0;
	}
	if (strcmp(t, "<>") == 0)
		return pol_fail(err, errsz, "\"<>\" (the null sender) is a sender "
		    "item, not a %s", pol_dim_name(dim));
	if (t[0] == '<')
		return pol_fail(err, errsz, "\"%s\": write the address without "
		    "\"<\" and \">\"", t);
	if ((at = strchr(t, '@')) == NULL)
		return address_without_at(dim, t, err, errsz);
	if (strchr(at + 1, '@') != NULL)
		return pol_fail(err, errsz, "\"%s\": more than one \"@\"", t);
	llen = (size_t)(at - t);
	d = at + 1;
	if (llen == 0 && *d == '\0' && dim == POL_SENDER)
		return pol_fail(err, errsz, "\"@\": write \"<>\" for the null "
		    "sender");
	if (llen == 0 && *d == '\0')
		return pol_fail(err, errsz, "\"@\" is not an address "
		    "(\"user@domain\", \"@domain\" or \"user@\")");
	if (address_traps(t, llen, d, err, errsz) == -1)
		return -1;
	if ((sub = llen == 0 && d[0] == '*'))
		d += 2;
	if ((sub || *d != '\0') && check_domain(t, d, err, errsz) == -1)
		return -1;
	if (llen == 0)
		out->kind = sub ? POL_ITEM_SUBDOMAIN : POL_ITEM_DOMAIN;
	else
		out->kind = *d ? POL_ITEM_ADDR : POL_ITEM_LOCAL;
	if (llen > 0)
		out->local = lowered(t, llen);
	if (*d != '\0')
		out->domain = lowered(d, strlen(d));
	return 0;
}

static int
parse_sasl(const char *t, struct pol_item *out, char *err, size_t errsz)
{
	struct cidr c;
	const char *es;

	if (strcmp(t, "*") == 0)
		out->kind = POL_ITEM_SASL_ANY;
	else if (strcmp(t, "-") == 0)
		out->kind = POL_ITEM_SASL_NONE;
	else if (strcmp(t, "<>") == 0)
		return pol_fail(err, errsz, "\"<>\" (the null sender) is a sender "
		    "item; for mail without a login write \"-\"");
	else if (t[0] == '@' || t[strlen(t) - 1] == '@')
		return pol_fail(err, errsz, "\"%s\": sasl matches whole logins: "
		    "write the login (\"user@example.com\"), \"*\" or \"-\"",
		    t);
	else if (strchr(t, '*') != NULL)
		return pol_fail(err, errsz, "\"%s\": no wildcards in logins: \"*\" "
		    "alone is any login", t);
	else if (looks_like_ip(t) && (cidr_parse(t, &c, &es) == 0 ||
	    strchr(t, '/') != NULL))
		return pol_fail(err, errsz, "\"%s\" is a client address, not a "
		    "login", t);
	else {
		out->kind = POL_ITEM_SASL_NAME;
		out->domain = lowered(t, strlen(t));
	}
	return 0;
}

int
pol_item_parse(enum pol_dim dim, const char *text, int line,
    struct pol_item *out, char *err, size_t errsz)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->line = line;
	if (text == NULL || *text == '\0')
		return pol_fail(err, errsz, "an empty item");
	if (check_common(dim, text, err, errsz) == -1)
		return -1;
	if (strcasecmp(text, "any") == 0) {
		out->kind = POL_ITEM_ANY;
		rc = 0;
	} else if (text[0] == '%') {
		out->kind = POL_ITEM_GROUP;
		if (text[1] == '\0')
			rc = pol_fail(err, errsz, "\"%%\": a group name must "
			    "follow \"%%\"");
		else if (!pol_name_is_valid(text + 1))
			rc = pol_fail(err, errsz, "\"%s\": a group name has only "
			    "letters, digits, '-', '_' and '.'", text);
		else
			rc = 0;
	} else if (dim == POL_CLIENT)
		rc = parse_client(text, out, err, errsz);
	else if (dim == POL_SASL)
		rc = parse_sasl(text, out, err, errsz);
	else
		rc = parse_address(dim, text, out, err, errsz);
	if (rc == 0)
		out->text = xstrdup(text);
	else
		pol_item_clear(out);
	return rc;
}

void
pol_item_clear(struct pol_item *it)
{
	free(it->text);
	free(it->local);
	free(it->domain);
	memset(it, 0, sizeof(*it));
}

const char *
pol_dim_name(enum pol_dim dim)
{
	static const char *const names[POL_NDIM] = {
		"client", "sender", "recipient", "sasl"
	};

	return (unsigned)dim < POL_NDIM ? names[dim] : "?";
}
