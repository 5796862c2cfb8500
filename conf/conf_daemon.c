/*
 * conf_daemon: the daemon's settings.  conf_daemon_kws (conf_table.c) is
 * THE table of them: each row gives a setting's name, the shape of its
 * values, its unit, its default (written in the configuration language
 * and read by the same code as the file, so the two cannot drift apart)
 * and its bounds.  The parser, the checks below and conf_dump all read
 * this table; a new setting is a new row and a field in struct conf.  The
 * delivery statements that are more than a value (deliver, route,
 * resolver) are rows there too; their units send them to conf_deliver.c.
 *
 * Applying is done in three steps: the statements of the file, then the
 * default of every setting the file did not give, then the checks that
 * tie settings together (a TLS listener needs a certificate).  Each step
 * reports every error it finds; the caller throws the result away if
 * there was any.  File names are taken relative to the working directory.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/addr.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "conf_priv.h"

struct apply {
	struct conf		 *c;
	struct conf_errs	 *errs;
	int			  first[KW_COUNT];	/* line given first */
	bool			  seen[KW_COUNT];	/* written, even badly */
	struct tls_use {			/* listen ... tls */
		const struct conf_tok	*v;
		bool			 required;
	}			 *tls_use;
	size_t			  ntls_use;
};

static char **
slot_str(struct conf *c, const struct conf_kw *kw)
{
	return (char **)(void *)((char *)c + kw->off);
}

static uint64_t *
slot_u64(struct conf *c, const struct conf_kw *kw)
{
	return (uint64_t *)(void *)((char *)c + kw->off);
}

static void
set_str(struct conf *c, const struct conf_kw *kw, const char *v)
{
	char **slot = slot_str(c, kw);

	free(*slot);
	*slot = xstrdup(v);
}

static bool
is_user_name(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '-' || strlen(s) > CONF_USER_MAX)
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.'))
			return false;
	return true;
}

/* The file must exist now, not only at the first STARTTLS.  Only stat(2):
 * sluicectl loads the same configuration as an unprivileged admin, who
 * need not read a key that is the daemon's; sluiced reads it at start-up
 * and says so when it cannot. */
const char *
conf_file_problem(const char *path, char *buf, size_t bufsz)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		snprintf(buf, bufsz, "cannot read: %s", strerror(errno));
		return buf;
	}
	if (!S_ISREG(st.st_mode))
		return "not a regular file";
	return NULL;
}

/* A string setting, checked by its unit. */
static void
apply_string(struct apply *a, const struct conf_kw *kw,
    const struct conf_tok *v)
{
	const char *why = NULL;
	char path[128], shown[CONF_SHOWN], reason[128];

	conf_kw_path(kw, path, sizeof(path));
	if (v->text[0] == '\0') {
		conf_err(a->errs, v->line, "%s: empty value", path);
		return;
	}
	if (kw->hi != 0 && strlen(v->text) > kw->hi) {
		conf_err(a->errs, v->line, "%s: too long (at most %llu bytes)",
		    path, (unsigned long long)kw->hi);
		return;
	}
	if (kw->unit == CONF_U_HOST && !conf_is_domain(v->text))
		why = "not a valid domain name";
	else if (kw->unit == CONF_U_USER && !is_user_name(v->text))
		why = "not a valid user name";
	else if (kw->unit == CONF_U_MAILBOX && !conf_is_mailbox(v->text))
		why = "not a mail address (local-part or local-part@domain)";
	else if (kw->unit == CONF_U_FILE)
		why = conf_file_problem(v->text, reason, sizeof(reason));
	if (why != NULL) {
		conf_err(a->errs, v->line, "%s: %s: %s", path,
		    conf_shown(v->text, shown, sizeof(shown)), why);
		return;
	}
	set_str(a->c, kw, v->text);
}

/* Two listeners the kernel would not let us bind both.  IPv6 sockets are
 * bound IPv6-only, so the families never clash. */
static const char *
listen_clash(const struct conf_listen *x, const struct conf_listen *y)
{
	const struct sockaddr_in *x4 = (const void *)&x->ss;
	const struct sockaddr_in *y4 = (const void *)&y->ss;
	const struct sockaddr_in6 *x6 = (const void *)&x->ss;
	const struct sockaddr_in6 *y6 = (const void *)&y->ss;
	bool xany, yany;

	if (x->ss.ss_family != y->ss.ss_family)
		return NULL;
	if (x->ss.ss_family == AF_INET) {
		if (x4->sin_port != y4->sin_port)
			return NULL;
		if (x4->sin_addr.s_addr == y4->sin_addr.s_addr)
			return "given twice";
		xany = x4->sin_addr.s_addr == htonl(INADDR_ANY);
		yany = y4->sin_addr.s_addr == htonl(INADDR_ANY);
	} else {
		if (x6->sin6_port != y6->sin6_port)
			return NULL;
		if (memcmp(&x6->sin6_addr, &y6->sin6_addr, 16) == 0)
			return "given twice";
		xany = IN6_IS_ADDR_UNSPECIFIED(&x6->sin6_addr);
		yany = IN6_IS_ADDR_UNSPECIFIED(&y6->sin6_addr);
	}
	return xany || yany ? "overlaps" : NULL;
}

/*
 * What is wrong with listener text that addr_parse_hostport() refused
 * with errstr.  It says "missing port" as soon as there is no ":PORT",
 * but `listen 1.2.3` is first of all no address; and an IPv6 address with
 * a port needs brackets (`::1:25` is one address, without a port).
 */
static const char *
listen_problem(const char *text, const char *errstr)
{
	char host[ADDR_STRLEN];
	size_t len = strlen(text);
	bool bracketed = text[0] == '[';
	struct addr a;

	if (strcmp(errstr, "missing port") != 0)
		return errstr;
	if (bracketed && len >= 2) {	/* "[ADDR]": the only other form */
		text++;
		len -= 2;
	}
	if (len < sizeof(host)) {
		memcpy(host, text, len);
		host[len] = '\0';
		if (strcmp(host, "*") == 0)
			return errstr;
		if (addr_parse(host, &a) == 0)
			return strchr(host, ':') != NULL && !bracketed ?
			    "missing port (an IPv6 address needs brackets: "
			    "[ADDRESS]:PORT)" : errstr;
	}
	return "invalid address (a numeric IPv4 or IPv6 address) and "
	    "missing port";
}

/* One listener from its text (port already in it); false on error. */
static bool
listen_one(struct apply *a, const char *text, const struct conf_tok *v,
    bool tls, bool tls_required)
{
	struct conf *c = a->c;
	struct conf_listen l;
	const char *errstr = NULL, *clash = NULL;
	char shown[CONF_SHOWN];
	size_t i;

	conf_shown(v->text, shown, sizeof(shown));
	memset(&l, 0, sizeof(l));
	if (addr_parse_hostport(text, NULL, &l.ss, &l.sslen, &errstr) == -1) {
		conf_err(a->errs, v->line, "listen: %s: %s", shown,
		    listen_problem(text, errstr));
		return false;
	}
	for (i = 0; i < c->nlisten && clash == NULL; i++)
		clash = listen_clash(&c->listen[i], &l);
	if (clash != NULL) {
		i--;
		if (strcmp(clash, "given twice") == 0)
			conf_err(a->errs, v->line, "listen: %s given twice "
			    "(first at line %d)", shown, c->listen[i].line);
		else
			conf_err(a->errs, v->line, "listen: %s overlaps "
			    "%s (line %d)", shown, c->listen[i].text,
			    c->listen[i].line);
		return false;
	}
	l.text = xstrdup(text);
	l.tls = tls || tls_required;
	l.tls_required = tls_required;
	l.line = v->line;
	c->listen = xreallocarray(c->listen, c->nlisten + 1,
	    sizeof(*c->listen));
	c->listen[c->nlisten++] = l;
	return true;
}

/* listen ADDR:PORT [tls] [tls-required]; "*:PORT" is every IPv4 and
 * every IPv6 address, as two listeners. */
static void
apply_listen(struct apply *a, const struct conf_tok *v,
    const struct conf_node *opts)
{
	const struct conf_node *o;
	bool tls = false, req = false;
	char *any4, *any6;

	for (o = opts; o != NULL; o = o->next) {
		if (o->kw == &conf_daemon_kws[KW_LISTEN_TLS])
			tls = true;
		else if (o->kw == &conf_daemon_kws[KW_LISTEN_TLS_REQ])
			req = true;
	}
	if (tls || req) {
		a->tls_use = xreallocarray(a->tls_use, a->ntls_use + 1,
		    sizeof(*a->tls_use));
		a->tls_use[a->ntls_use].v = v;
		a->tls_use[a->ntls_use++].required = req;
	}
	if (strncmp(v->text, "*:", 2) != 0) {
		listen_one(a, v->text, v, tls, req);
		return;
	}
	any4 = xasprintf("0.0.0.0:%s", v->text + 2);
	any6 = xasprintf("[::]:%s", v->text + 2);
	if (listen_one(a, any4, v, tls, req))
		listen_one(a, any6, v, tls, req);
	free(any4);
	free(any6);
}

static void
apply_cidrs(struct apply *a, const struct conf_tok **v, size_t n)
{
	struct conf *c = a->c;
	const char *errstr = NULL;
	char shown[CONF_SHOWN];
	struct cidr net;
	size_t i;

	for (i = 0; i < n; i++) {
		if (cidr_parse(v[i]->text, &net, &errstr) == -1) {
			conf_err(a->errs, v[i]->line, "trusted-networks: "
			    "%s: %s", conf_shown(v[i]->text, shown,
			    sizeof(shown)), errstr);
			continue;
		}
		c->trusted = xreallocarray(c->trusted, c->ntrusted + 1,
		    sizeof(*c->trusted));
		c->trusted[c->ntrusted++] = net;
	}
}

static void
apply_domains(struct apply *a, const struct conf_tok **v, size_t n)
{
	struct conf *c = a->c;
	char shown[CONF_SHOWN];
	size_t i;

	for (i = 0; i < n; i++) {
		if (!conf_is_domain(v[i]->text)) {
			conf_err(a->errs, v[i]->line, "relay-domains: %s: "
			    "not a valid domain name", conf_shown(v[i]->text,
			    shown, sizeof(shown)));
			continue;
		}
		c->relay_domains = xreallocarray(c->relay_domains,
		    c->nrelay_domains + 1, sizeof(*c->relay_domains));
		c->relay_domains[c->nrelay_domains] = xstrdup(v[i]->text);
		str_lower(c->relay_domains[c->nrelay_domains++]);
	}
}

/* The values of one statement, from the file or from its default. */
static void
apply_value(struct apply *a, const struct conf_node *n)
{
	const struct conf_kw *kw = n->kw;
	const struct conf_tok **v = n->args;

	switch (kw->unit) {
	case CONF_U_COUNT:
	case CONF_U_SIZE:
	case CONF_U_DURATION:
		conf_value_u64(kw, v[0], slot_u64(a->c, kw), a->errs);
		break;
	case CONF_U_HOST:
	case CONF_U_USER:
	case CONF_U_PATH:
	case CONF_U_FILE:
	case CONF_U_MAILBOX:
		apply_string(a, kw, v[0]);
		break;
	case CONF_U_LISTEN:
		apply_listen(a, v[0], n->child);
		break;
	case CONF_U_CIDRS:
		apply_cidrs(a, v, n->nargs);
		break;
	case CONF_U_DOMAINS:
		apply_domains(a, v, n->nargs);
		break;
	case CONF_U_DELIVER:
		conf_deliver_apply(a->c, n, a->errs);
		break;
	case CONF_U_ROUTE:
		conf_route_apply(a->c, n, a->errs);
		break;
	case CONF_U_RESOLVER:
		conf_resolver_apply(a->c, n, a->errs);
		break;
	case CONF_U_GROUP:
		conf_group_apply(a->c, n, a->errs);
		break;
	case CONF_U_POLICY:
		conf_policy_apply(a->c, n, a->errs);
		break;
	case CONF_U_NOTIFIER:
		conf_notifier_apply(a->c, n, a->errs);
		break;
	case CONF_U_NEXTHOPS:
	case CONF_U_TLS:
	case CONF_U_URL:
	case CONF_U_NONE:
		break;
	}
}

/* The statements of a list of siblings.  A bad statement (a syntax error
 * was reported) is only marked as seen, so no second error follows.  The
 * options of a statement are its own (apply_value), not siblings. */
static void
apply_nodes(struct apply *a, const struct conf_node *n, bool ok)
{
	const struct conf_kw *kw;
	char path[128];
	size_t i;

	for (; n != NULL; n = n->next) {
		kw = n->kw;
		/* rows of other parts of the language are theirs to apply */
		if ((uintptr_t)kw < (uintptr_t)conf_daemon_kws ||
		    (uintptr_t)kw >= (uintptr_t)(conf_daemon_kws + KW_COUNT))
			continue;
		i = (size_t)(kw - conf_daemon_kws);
		a->seen[i] = true;
		if (kw->unit == CONF_U_NONE) {
			/* a group's first line, for the checks across it */
			if (a->first[i] == 0)
				a->first[i] = n->tok->line;
			apply_nodes(a, n->child, ok && !n->bad);
			continue;
		}
		if (!ok || n->bad)
			continue;
		if (a->first[i] != 0 && !(kw->flags & CONF_KW_REPEAT)) {
			conf_kw_path(kw, path, sizeof(path));
			conf_err(a->errs, n->tok->line, "%s given twice (first "
			    "at line %d)", path, a->first[i]);
			continue;
		}
		if (a->first[i] == 0)
			a->first[i] = n->tok->line;
		apply_value(a, n);
	}
}

/*
 * Every setting the file did not give takes its default.  The default is
 * read as the statement "PATH DEFAULT" by the lexer and parser, like the
 * file (at line 0), so a statement with options (`deliver mx tls may`)
 * has a default in the table too.  Options are their statement's.
 */
static void
apply_defaults(struct apply *a)
{
	struct conf_toks toks = { NULL, 0, 0 };
	struct conf_node *root;
	const struct conf_kw *kw;
	char path[128], *text;
	size_t i, j;

	for (i = 0; i < KW_COUNT; i++) {
		kw = &conf_daemon_kws[i];
		if (a->seen[i] || kw->def == NULL ||
		    (kw->flags & CONF_KW_OPTION))
			continue;
		conf_kw_path(kw, path, sizeof(path));
		text = xasprintf("%s %s", path, kw->def);
		conf_lex(text, strlen(text), &toks, a->errs);
		for (j = 0; j < toks.n; j++)
			toks.v[j].line = 0;
		root = conf_parse(&conf_daemon_grammar, &toks, a->errs);
		apply_nodes(a, root->child, true);
		conf_node_free(&root);
		conf_toks_free(&toks);
		free(text);
	}
}

/* The checks between settings, once every value is in. */
static void
apply_checks(struct apply *a)
{
	struct conf *c = a->c;
	bool tls_given = a->seen[KW_TLS_CERT] || a->seen[KW_TLS_KEY];
	char *name, shown[CONF_SHOWN];
	size_t i;

	if (a->first[KW_TLS_CERT] && !a->seen[KW_TLS_KEY])
		conf_err(a->errs, a->first[KW_TLS_CERT], "tls: key missing "
		    "(tls certificate FILE key FILE)");
	if (a->first[KW_TLS_KEY] && !a->seen[KW_TLS_CERT])
		conf_err(a->errs, a->first[KW_TLS_KEY], "tls: certificate "
		    "missing (tls certificate FILE key FILE)");
	for (i = 0; i < a->ntls_use && !tls_given; i++)
		conf_err(a->errs, a->tls_use[i].v->line, "listen: %s: %s "
		    "needs a \"tls certificate FILE key FILE\" statement",
		    conf_shown(a->tls_use[i].v->text, shown, sizeof(shown)),
		    a->tls_use[i].required ? "tls-required" : "tls");
	conf_deliver_check(c, a->first[KW_DELIVERY], a->first[KW_RETRY],
	    a->errs);
	conf_policy_check(c, a->errs);
	conf_notify_check(c, a->errs);
	if (c->hostname != NULL || a->seen[KW_HOSTNAME])
		return;
	if ((name = conf_machine_hostname()) == NULL)
		conf_err(a->errs, 0, "hostname: cannot find the machine's "
		    "name: set hostname");
	else if (!conf_is_domain(name))
		conf_err(a->errs, 0, "hostname: the machine's name \"%.80s\" "
		    "is not a valid domain name: set hostname", name);
	else
		c->hostname = xstrdup(name);
	free(name);
}

void
conf_daemon_apply(struct conf *c, const struct conf_node *root,
    struct conf_errs *errs)
{
	struct apply a;

	memset(&a, 0, sizeof(a));
	a.c = c;
	a.errs = errs;
	apply_nodes(&a, root->child, true);
	apply_defaults(&a);
	apply_checks(&a);
	free(a.tls_use);
}

static void
dump_list(struct buf *out, const char *path, const char *const *v,
    size_t n)
{
	size_t i;

	if (n == 0) {
		buf_printf(out, "# %s (none)\n", path);
		return;
	}
	buf_addstr(out, path);
	for (i = 0; i < n; i++) {
		buf_addc(out, ' ');
		conf_add_word(out, &conf_daemon_grammar, v[i]);
	}
	buf_addc(out, '\n');
}

static void
dump_listen(const struct conf *c, struct buf *out)
{
	const struct conf_listen *l;
	size_t i;

	for (i = 0; i < c->nlisten; i++) {
		l = &c->listen[i];
		buf_addstr(out, "listen ");
		conf_add_word(out, &conf_daemon_grammar, l->text);
		buf_addstr(out, l->tls_required ? " tls-required\n" :
		    l->tls ? " tls\n" : "\n");
	}
}

static void
dump_cidrs(const struct conf *c, struct buf *out, const char *path)
{
	char **v, text[ADDR_STRLEN + 8];
	size_t i;

	v = xcalloc(c->ntrusted + 1, sizeof(*v));
	for (i = 0; i < c->ntrusted; i++) {
		cidr_format(&c->trusted[i], text, sizeof(text));
		v[i] = xstrdup(text);
	}
	dump_list(out, path, (const char *const *)v, c->ntrusted);
	for (i = 0; i < c->ntrusted; i++)
		free(v[i]);
	free(v);
}

void
conf_dump(const struct conf *c, struct buf *out)
{
	const struct conf_kw *kw;
	const char *s;
	char path[128], num[32];
	size_t i;

	for (i = 0; i < KW_COUNT; i++) {
		kw = &conf_daemon_kws[i];
		if (kw->flags & CONF_KW_OPTION)
			continue;
		conf_kw_path(kw, path, sizeof(path));
		switch (kw->unit) {
		case CONF_U_COUNT:
		case CONF_U_SIZE:
		case CONF_U_DURATION:
			conf_format_u64(kw->unit, *(const uint64_t *)(const void *)
			    ((const char *)c + kw->off), num, sizeof(num));
			buf_printf(out, "%s %s\n", path, num);
			break;
		case CONF_U_HOST:
		case CONF_U_USER:
		case CONF_U_PATH:
		case CONF_U_FILE:
		case CONF_U_MAILBOX:
			s = *(char *const *)(const void *)((const char *)c +
			    kw->off);
			dump_list(out, path, &s, s != NULL);
			break;
		case CONF_U_LISTEN:
			dump_listen(c, out);
			break;
		case CONF_U_CIDRS:
			dump_cidrs(c, out, path);
			break;
		case CONF_U_DOMAINS:
			dump_list(out, path,
			    (const char *const *)c->relay_domains,
			    c->nrelay_domains);
			break;
		case CONF_U_DELIVER:
		case CONF_U_ROUTE:
		case CONF_U_RESOLVER:
			conf_deliver_dump(c, kw, out);
			break;
		case CONF_U_GROUP:
		case CONF_U_POLICY:
			conf_policy_dump(c, kw, out);
			break;
		case CONF_U_NOTIFIER:
			conf_notifier_dump(c, out);
			break;
		case CONF_U_NEXTHOPS:
		case CONF_U_TLS:
		case CONF_U_URL:
		case CONF_U_NONE:
			break;
		}
	}
}
