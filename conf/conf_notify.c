/*
 * conf_notify: the notifiers quota alerts go to (DESIGN.md, "Quotas":
 * `notify 50% 100% to NOTIFIER...`), one statement each:
 *
 *	notifier NAME { webhook URL [secret-file FILE] [timeout 10s]
 *	                [lifetime 1d] }
 *	notifier NAME { mail ADDRESS... [from ADDRESS] }
 *
 * on one line or several.  A notifier is a webhook or mail, never both;
 * its options are those of its kind.  The table (conf_table.c) gives each
 * option's bounds and default.  Names are unique without regard to case
 * and looked up exactly; after the whole file, conf_notify_check() makes
 * sure every name a quota gives is defined, offering the closest one.
 *
 * The secret-file is read here, at load, as deliver's auth-file is (the
 * same checks: a regular file, not readable by others, at most 4K), so a
 * missing secret is a `file:line:` error of `sluiced -n`, not a webhook
 * that fails at the first alert.  Trailing CR and LF go; what is left must
 * not be empty.  The secret lives only in the struct conf, which wipes it
 * when freed, and the dump names the file, never the secret.
 *
 * A notifier with an error is still recorded (the load fails anyway), so
 * that a quota naming it does not add "not defined" to the real error.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/addr.h"
#include "../lib/buf.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "../policy/quota.h"
#include "conf_priv.h"

#define NAME_MAX_LEN	CONF_SUGGEST_MAXLEN	/* bytes of a name */
#define HOST_MAX	253	/* RFC 1035 2.3.4, as text */
#define NOPT		(KW_NTF_FROM - KW_NTF_WEBHOOK + 1)
#define OPT(i)		((i) - KW_NTF_WEBHOOK)

/* A statement of the notifier: "notifier NAME: " in front. */
static void
nerr(struct conf_errs *errs, const struct conf_notifier *nf, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
nerr(struct conf_errs *errs, const struct conf_notifier *nf, int line,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_err(errs, line, "notifier %s: %s", nf->name, msg);
}

/* Letters, digits, '-', '_' and '.', as the names of policies. */
static bool
name_is_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
	    "VWXYZ0123456789-_.");

	return n > 0 && s[n] == '\0' && n <= NAME_MAX_LEN;
}

/* What is wrong with the host and port of a URL, authority[0..len)
 * after any "user@", or NULL. */
static const char *
authority_problem(const char *authority, size_t len)
{
	char host[HOST_MAX + 1], port[8];
	const char *h = authority, *close, *colon;
	size_t hlen, plen = 0;
	const char *errstr;
	struct addr a;
	uint64_t n;

	if (len > 0 && h[0] == '[') {
		if ((close = memchr(h, ']', len)) == NULL)
			return "missing \"]\" after the IPv6 address";
		h++;
		hlen = (size_t)(close - h);
		if (close + 1 < authority + len && close[1] != ':')
			return "expected \":PORT\" after \"]\"";
		colon = close + 1 < authority + len ? close + 1 : NULL;
	} else {
		colon = memchr(h, ':', len);
		hlen = colon != NULL ? (size_t)(colon - h) : len;
	}
	if (hlen == 0)
		return "no host: write http://HOST[:PORT]/PATH";
	if (hlen > HOST_MAX)
		return "host name too long";
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (colon != NULL) {
		plen = (size_t)(authority + len - colon - 1);
		if (plen == 0 || plen >= sizeof(port))
			return "invalid port (1 to 65535)";
		memcpy(port, colon + 1, plen);
		port[plen] = '\0';
		if (str_to_u64(port, 1, 65535, &n, &errstr) == -1)
			return "invalid port (1 to 65535)";
	}
	if (h != authority)	/* bracketed: an IPv6 address only */
		return addr_parse(host, &a) == 0 && strchr(host, ':') != NULL ?
		    NULL : "not an IPv6 address in brackets";
	if (addr_parse(host, &a) == 0 || conf_is_domain(host))
		return NULL;
	return "not a host name or address";
}

/* What is wrong with url as a webhook's, or NULL. */
static const char *
url_problem(const char *url)
{
	const char *p, *authority, *at;
	size_t len;

	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "holds a space or a control character (write "
			    "%20)";
	if (strncasecmp(url, "https://", 8) == 0)
		authority = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		authority = url + 7;
	else
		return "not an http:// or https:// URL";
	len = strcspn(authority, "/?#");
	/* user:password@host: the host is after the last "@" */
	while ((at = memchr(authority, '@', len)) != NULL) {
		len -= (size_t)(at + 1 - authority);
		authority = at + 1;
	}
	return authority_problem(authority, len);
}

/* A mail address of the notifier: user@domain. */
static bool
address_ok(const struct conf_notifier *nf, const struct conf_kw *kw,
    const struct conf_tok *v, struct conf_errs *errs)
{
	char shown[CONF_SHOWN];

	if (strlen(v->text) <= kw->hi && strchr(v->text, '@') != NULL &&
	    conf_is_mailbox(v->text))
		return true;
	nerr(errs, nf, v->line, "%s %s: not a mail address (user@domain)",
	    kw->name, conf_shown(v->text, shown, sizeof(shown)));
	return false;
}

/* secret-file FILE: read now, trailing CR and LF off, not empty. */
static void
read_secret(struct conf_notifier *nf, const struct conf_tok *v,
    struct conf_errs *errs)
{
	char buf[CONF_SECRET_MAX + 1], why[128], shown[CONF_SHOWN];
	const char *bad;
	size_t len;

	nf->secret_file = xstrdup(v->text);
	bad = conf_secret_read(v->text, buf, sizeof(buf), &len, why,
	    sizeof(why));
	while (bad == NULL && len > 0 && (buf[len - 1] == '\n' ||
	    buf[len - 1] == '\r'))
		len--;
	if (bad == NULL && len == 0)
		bad = "is empty";
	if (bad != NULL)
		nerr(errs, nf, v->line, "secret-file %s %s", conf_shown(v->text,
		    shown, sizeof(shown)), bad);
	else {
		nf->secret = xmalloc(len + 1);
		memcpy(nf->secret, buf, len);
		nf->secret[len] = '\0';
		nf->secret_len = len;
	}
	xwipe(buf, sizeof(buf));
}

/* A duration option, or its row's default (line 0). */
static void
set_duration(int row, const struct conf_node *o, uint64_t *out,
    struct conf_errs *errs)
{
	const struct conf_kw *kw = &conf_daemon_kws[row];
	struct conf_tok def = { CONF_TOK_WORD, false, 0, (char *)kw->def };

	conf_value_u64(kw, o != NULL ? o->args[0] : &def, out, errs);
}

/* The options of a webhook: the URL, the secret, timeout and lifetime
 * with their defaults. */
static void
apply_webhook(struct conf_notifier *nf, const struct conf_node **opt,
    struct conf_errs *errs)
{
	const struct conf_tok *v = opt[OPT(KW_NTF_WEBHOOK)]->args[0];
	const struct conf_kw *kw = &conf_daemon_kws[KW_NTF_WEBHOOK];
	char shown[CONF_SHOWN];
	const char *why;

	nf->kind = CONF_NOTIFIER_WEBHOOK;
	if (strlen(v->text) > kw->hi)
		nerr(errs, nf, v->line, "webhook: too long (at most %llu "
		    "bytes)", (unsigned long long)kw->hi);
	else if ((why = url_problem(v->text)) != NULL)
		nerr(errs, nf, v->line, "webhook %s: %s", conf_shown(v->text,
		    shown, sizeof(shown)), why);
	else
		nf->url = xstrdup(v->text);
	v = opt[OPT(KW_NTF_SECRET)] != NULL ?
	    opt[OPT(KW_NTF_SECRET)]->args[0] : NULL;
	if (v != NULL && v->text[0] == '\0')
		nerr(errs, nf, v->line, "secret-file: empty value");
	else if (v != NULL)
		read_secret(nf, v, errs);
	set_duration(KW_NTF_TIMEOUT, opt[OPT(KW_NTF_TIMEOUT)], &nf->timeout,
	    errs);
	set_duration(KW_NTF_LIFETIME, opt[OPT(KW_NTF_LIFETIME)],
	    &nf->lifetime, errs);
}

static void
apply_mail(struct conf_notifier *nf, const struct conf_node **opt,
    struct conf_errs *errs)
{
	const struct conf_node *m = opt[OPT(KW_NTF_MAIL)];
	const struct conf_node *from = opt[OPT(KW_NTF_FROM)];
	size_t i;

	nf->kind = CONF_NOTIFIER_MAIL;
	nf->to = xcalloc(m->nargs, sizeof(*nf->to));
	for (i = 0; i < m->nargs; i++)
		if (address_ok(nf, m->kw, m->args[i], errs))
			nf->to[nf->nto++] = xstrdup(m->args[i]->text);
	if (from != NULL && address_ok(nf, from->kw, from->args[0], errs))
		nf->from = xstrdup(from->args[0]->text);
}

/* The options of n, each once, into opt; false after an error. */
static bool
collect(const struct conf_notifier *nf, const struct conf_node *n,
    const struct conf_node **opt, struct conf_errs *errs)
{
	const struct conf_node *s;
	bool ok = true;
	int i;

	for (s = n->child; s != NULL; s = s->next) {
		i = (int)(s->kw - conf_daemon_kws);
		if (i < KW_NTF_WEBHOOK || i > KW_NTF_FROM)
			continue;
		if (opt[OPT(i)] != NULL) {
			nerr(errs, nf, s->tok->line, "%s given twice (first at "
			    "line %d)", s->kw->name, opt[OPT(i)]->tok->line);
			ok = false;
			continue;
		}
		opt[OPT(i)] = s;
	}
	return ok;
}

/* An option of the other kind of notifier: said, not ignored. */
static bool
foreign_options(const struct conf_notifier *nf, const struct conf_node **opt,
    int first, int last, const char *kind, struct conf_errs *errs)
{
	bool ok = true;
	int i;

	for (i = first; i <= last; i++)
		if (opt[OPT(i)] != NULL) {
			nerr(errs, nf, opt[OPT(i)]->tok->line, "%s is for a "
			    "%s notifier", conf_daemon_kws[i].name, kind);
			ok = false;
		}
	return ok;
}

void
conf_notifier_apply(struct conf *c, const struct conf_node *n,
    struct conf_errs *errs)
{
	const struct conf_node *opt[NOPT] = { NULL };
	const struct conf_tok *name = n->args[0];
	struct conf_notifier *nf;
	char shown[CONF_SHOWN];
	bool web, mail;
	size_t i;

	if (!name_is_valid(name->text)) {
		conf_err(errs, name->line, "notifier %s: a notifier name has "
		    "only letters, digits, '-', '_' and '.' (at most %d)",
		    conf_shown(name->text, shown, sizeof(shown)),
		    NAME_MAX_LEN);
		return;
	}
	for (i = 0; i < c->nnotifiers; i++)
		if (strcasecmp(c->notifiers[i].name, name->text) == 0) {
			conf_err(errs, name->line, "notifier \"%s\" defined "
			    "twice (first at line %d)", name->text,
			    c->notifiers[i].line);
			return;
		}
	c->notifiers = xreallocarray(c->notifiers, c->nnotifiers + 1,
	    sizeof(*c->notifiers));
	nf = &c->notifiers[c->nnotifiers++];
	memset(nf, 0, sizeof(*nf));
	nf->name = xstrdup(name->text);
	nf->line = n->tok->line;
	/* its syntax error was reported: nothing more is said of it */
	if (n->bad || conf_node_has_bad(n) || !collect(nf, n, opt, errs))
		return;
	web = opt[OPT(KW_NTF_WEBHOOK)] != NULL;
	mail = opt[OPT(KW_NTF_MAIL)] != NULL;
	if (web && mail)
		nerr(errs, nf, n->tok->line, "webhook and mail exclude each "
		    "other (define a notifier for each)");
	else if (!web && !mail)
		nerr(errs, nf, n->tok->line, "webhook URL or mail ADDRESS... "
		    "missing");
	else if (web && foreign_options(nf, opt, KW_NTF_MAIL, KW_NTF_FROM,
	    "mail", errs))
		apply_webhook(nf, opt, errs);
	else if (mail && foreign_options(nf, opt, KW_NTF_SECRET,
	    KW_NTF_LIFETIME, "webhook", errs))
		apply_mail(nf, opt, errs);
}

const struct conf_notifier *
conf_notifier(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nnotifiers; i++)
		if (strcmp(c->notifiers[i].name, name) == 0)
			return &c->notifiers[i];
	return NULL;
}

static bool
notifier_is_used(const struct conf *c, const char *name)
{
	const struct pol_quota *q;
	size_t i, j;

	for (i = 0; c->policy != NULL && i < c->policy->nquota; i++) {
		q = c->policy->quotas[i];
		for (j = 0; j < q->nnotify_to; j++)
			if (strcmp(q->notify_to[j], name) == 0)
				return true;
	}
	return false;
}

void
conf_warnings(const struct conf *c, pol_error_fn *warn, void *arg)
{
	char msg[256];
	size_t i;

	pol_set_warnings(c->policy, warn, arg);
	conf_grey_warnings(c, warn, arg);
	for (i = 0; i < c->nnotifiers; i++) {
		if (notifier_is_used(c, c->notifiers[i].name))
			continue;
		snprintf(msg, sizeof(msg), "notifier %s: no quota notifies "
		    "it (add `notify 50%% 100%% to %s` to a quota)",
		    c->notifiers[i].name, c->notifiers[i].name);
		warn(arg, c->notifiers[i].line, msg);
	}
}

/* One name a quota gives that no notifier has, with the closest one or
 * how to define one. */
static void
undefined(const struct conf *c, const struct pol_quota *q, const char *name,
    const char *const *names, struct conf_errs *errs)
{
	char hint[CONF_SUGGEST_MAXLEN + 32];
	const char *s;

	hint[0] = '\0';
	if ((s = conf_suggest_name(name, names, c->nnotifiers)) != NULL)
		snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", s);
	else if (c->nnotifiers == 0)
		snprintf(hint, sizeof(hint), " (the file defines none)");
	conf_err(errs, q->notify_line, "policy %s: quota %s: notifier "
	    "\"%.80s\" is not defined%s", q->policy->name, q->name, name,
	    hint);
}

void
conf_notify_check(const struct conf *c, struct conf_errs *errs)
{
	const struct pol_set *set = c->policy;
	const struct pol_quota *q;
	const char **names;
	size_t i, j, k;

	if (set == NULL)
		return;
	names = xcalloc(c->nnotifiers + 1, sizeof(*names));
	for (i = 0; i < c->nnotifiers; i++)
		names[i] = c->notifiers[i].name;
	for (i = 0; i < set->npolicy; i++)
		for (j = 0; j < set->policies[i]->nquota; j++) {
			q = set->policies[i]->quotas[j];
			for (k = 0; k < q->nnotify_to; k++)
				if (conf_notifier(c, q->notify_to[k]) == NULL)
					undefined(c, q, q->notify_to[k], names,
					    errs);
		}
	free(names);
}

void
conf_notifier_dump(const struct conf *c, struct buf *out)
{
	const struct conf_grammar *g = &conf_daemon_grammar;
	const struct conf_notifier *nf;
	char t[32], l[32];
	size_t i, j;

	for (i = 0; i < c->nnotifiers; i++) {
		nf = &c->notifiers[i];
		/* any word is a name there (CONF_KW_NAME) */
		buf_addstr(out, "notifier ");
		conf_add_word(out, NULL, nf->name);
		buf_addstr(out, " {\n");
		if (nf->kind == CONF_NOTIFIER_WEBHOOK) {
			buf_addstr(out, "\twebhook ");
			conf_add_word(out, g, nf->url);
			if (nf->secret_file != NULL) {
				buf_addstr(out, "\n\tsecret-file ");
				conf_add_word(out, g, nf->secret_file);
			}
			conf_format_u64(CONF_U_DURATION, nf->timeout, t,
			    sizeof(t));
			conf_format_u64(CONF_U_DURATION, nf->lifetime, l,
			    sizeof(l));
			buf_printf(out, "\n\ttimeout %s\n\tlifetime %s\n", t,
			    l);
		} else {
			buf_addstr(out, "\tmail");
			for (j = 0; j < nf->nto; j++) {
				buf_addc(out, ' ');
				conf_add_word(out, g, nf->to[j]);
			}
			if (nf->from != NULL) {
				buf_addstr(out, "\n\tfrom ");
				conf_add_word(out, g, nf->from);
				buf_addc(out, '\n');
			} else
				buf_printf(out, "\n\t# from (none: "
				    "MAILER-DAEMON@%s)\n", c->hostname != NULL ?
				    c->hostname : "hostname");
		}
		buf_addstr(out, "}\n");
	}
}

void
conf_notifiers_free(struct conf *c)
{
	struct conf_notifier *nf;
	size_t i, j;

	for (i = 0; i < c->nnotifiers; i++) {
		nf = &c->notifiers[i];
		free(nf->name);
		free(nf->url);
		free(nf->secret_file);
		if (nf->secret != NULL) {
			xwipe(nf->secret, nf->secret_len);
			free(nf->secret);
		}
		for (j = 0; j < nf->nto; j++)
			free(nf->to[j]);
		free(nf->to);
		free(nf->from);
	}
	free(c->notifiers);
	c->notifiers = NULL;
	c->nnotifiers = 0;
}
