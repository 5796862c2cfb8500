/*
 * conf_deliver: the statements of delivery, where the table of
 * conf_daemon.c sends them by their unit: `deliver` (a relayhost list or
 * the recipients' MX), `route DOMAIN ...`, `resolver`, the checks across
 * `delivery` and `retry`, their dump, and conf_route_for().
 *
 * A next hop is written as Postfix writes a relayhost: `[host]:port` or
 * `[host]` is that host itself (its A/AAAA records, or the address);
 * `host:port` or `host` means the MX records of host.  The port is 25
 * unless given.  An IPv6 address needs brackets.
 *
 * auth-file holds the credentials for SMTP AUTH.  They are read here, at
 * load, so a missing or unreadable file is a configuration error found by
 * `sluiced -n`, not a delivery failure hours later.  The file must not be
 * readable by others; the buffers that held it are wiped, and the password
 * lives only in the struct conf, which wipes it when freed.  A notifier's
 * secret-file is read by the same function (conf_secret_read).
 */
#include <sys/stat.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/addr.h"
#include "../lib/buf.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "conf_priv.h"

#define HOST_MAX	253	/* RFC 1035 2.3.4, as text */
#define LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */

static const char *const tls_names[] = {
	[CONF_TLS_NONE] = "none",
	[CONF_TLS_MAY] = "may",
	[CONF_TLS_ENCRYPT] = "encrypt",
	[CONF_TLS_VERIFY] = "verify",
};

/* The options of deliver and route, by name. */
enum opt { OPT_RELAYHOST, OPT_MX, OPT_TLS, OPT_CA, OPT_AUTH, OPT_COUNT };

static const char *const opt_names[OPT_COUNT] = {
	"relayhost", "mx", "tls", "ca-file", "auth-file"
};

static enum opt
opt_of_name(const char *name)
{
	size_t i;

	for (i = 0; i < OPT_COUNT; i++)
		if (strcmp(name, opt_names[i]) == 0)
			return (enum opt)i;
	return OPT_COUNT;
}

/* One next hop into h (zeroed first); 0, or -1 with *why. */
static int
nexthop_parse(const char *text, struct conf_nexthop *h, const char **why)
{
	char host[HOST_MAX + 1], lit[ADDR_STRLEN];
	const char *start = text, *port = NULL, *close, *colon;
	const char *errstr;
	uint64_t pnum = 25;
	struct addr a;
	size_t hlen;

	memset(h, 0, sizeof(*h));
	h->mx = text[0] != '[';
	if (!h->mx) {
		if ((close = strchr(text, ']')) == NULL) {
			*why = "missing \"]\"";
			return -1;
		}
		start = text + 1;
		hlen = (size_t)(close - start);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0') {
			*why = "expected \":PORT\" after \"]\"";
			return -1;
		}
	} else if ((colon = strchr(text, ':')) != NULL) {
		if (strchr(colon + 1, ':') != NULL) {
			*why = "an IPv6 address needs brackets: [ADDRESS]:PORT";
			return -1;
		}
		hlen = (size_t)(colon - text);
		port = colon + 1;
	} else
		hlen = strlen(text);
	if (hlen == 0) {
		*why = "missing host";
		return -1;
	}
	if (hlen > HOST_MAX) {
		*why = "host name too long";
		return -1;
	}
	memcpy(host, start, hlen);
	host[hlen] = '\0';
	if (port != NULL && str_to_u64(port, 1, 65535, &pnum, &errstr) == -1) {
		*why = "invalid port (1 to 65535)";
		return -1;
	}
	if (addr_parse(host, &a) == 0) {
		/* an address has no MX records: brackets or not, it is used */
		addr_format(&a, lit, sizeof(lit));
		h->host = xstrdup(lit);
		h->literal = true;
		h->mx = false;
	} else if (conf_is_domain(host)) {
		h->host = xstrdup(host);
		str_lower(h->host);
	} else {
		*why = "not a host name or address";
		return -1;
	}
	h->port = (uint16_t)pnum;
	return 0;
}

/*
 * A one-label name that is an option of stmt but for a typo (`tsl`), or a
 * tls policy without its keyword, is a mistake, not a host: else
 * `route a.example [10.0.0.1] tsl verify` would quietly send mail to the
 * hosts "tsl" and "verify".  Reported here; true when the rest of the
 * values belong to that option and are skipped.
 */
static bool
hop_is_option(const struct conf_kw *stmt, const char *path,
    const struct conf_tok *v, struct conf_errs *errs)
{
	const char *s;
	enum opt o;
	size_t i;

	if (strpbrk(v->text, ".:[") != NULL || v->quoted)
		return false;
	/* only options that take a value: a host "mx1" is no typo of mx */
	if ((s = conf_suggest(&conf_daemon_grammar, stmt, v->text)) != NULL &&
	    (o = opt_of_name(s)) >= OPT_TLS && o < OPT_COUNT) {
		conf_err(errs, v->line, "%s: unexpected \"%.80s\" (did you "
		    "mean \"%s\"?)", path, v->text, s);
		return true;
	}
	for (i = 0; i < sizeof(tls_names) / sizeof(tls_names[0]); i++) {
		if (strcmp(v->text, tls_names[i]) == 0) {
			conf_err(errs, v->line, "%s: unexpected \"%s\" (did "
			    "you mean \"tls %s\"?)", path, v->text, v->text);
			return true;
		}
	}
	return false;
}

/* The next hops of tokens v[0..n) of statement stmt appended to h;
 * errors name path. */
static void
hops_parse(struct conf_nexthops *h, const struct conf_kw *stmt,
    const char *path, const struct conf_tok **v, size_t n,
    struct conf_errs *errs)
{
	struct conf_nexthop hop;
	char shown[CONF_SHOWN];
	const char *why = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (hop_is_option(stmt, path, v[i], errs))
			return;
		if (nexthop_parse(v[i]->text, &hop, &why) == -1) {
			conf_err(errs, v[i]->line, "%s: %s: %s", path,
			    conf_shown(v[i]->text, shown, sizeof(shown)), why);
			continue;
		}
		h->hop = xreallocarray(h->hop, h->nhop + 1, sizeof(*h->hop));
		h->hop[h->nhop++] = hop;
	}
}

/*
 * The credentials of one line: "user password" or "user:password",
 * split at the first blank or colon (so a password may hold either, a
 * user name neither).  Leading and trailing blanks of the line go.
 */
static const char *
auth_split(char *line, char **user, char **pass)
{
	char *end, *sep, *p;

	while (*line == ' ' || *line == '\t')
		line++;
	end = line + strlen(line);
	while (end > line && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	if ((sep = strpbrk(line, " \t:")) == NULL || sep == line)
		return "does not hold \"username password\"";
	p = sep + 1;
	if (*sep != ':')
		while (*p == ' ' || *p == '\t')
			p++;
	if (*p == '\0')
		return "does not hold \"username password\"";
	*sep = '\0';
	*user = xstrdup(line);
	*pass = xstrdup(p);
	return NULL;
}

/* The one line of credentials in buf (len bytes, NUL-terminated):
 * blank lines and "#" comments aside. */
static const char *
auth_parse(char *buf, size_t len, char **user, char **pass)
{
	char *line, *next, *found = NULL, *p;

	if (memchr(buf, '\0', len) != NULL)
		return "holds a NUL byte";
	for (line = buf; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		for (p = line; *p == ' ' || *p == '\t' || *p == '\r'; p++)
			;
		if (*p == '\0' || *p == '#')
			continue;
		if (found != NULL)
			return "holds more than one line of credentials";
		found = line;
	}
	if (found == NULL)
		return "is empty";
	return auth_split(found, user, pass);
}

const char *
conf_secret_read(const char *path, char *buf, size_t bufsz, size_t *lenp,
    char *why, size_t whysz)
{
	const char *bad = NULL;
	char most[32];
	struct stat st;
	size_t len = 0;
	ssize_t r;
	int fd;

	*lenp = 0;
	/* the mode of the file opened, not of a name that may change; a
	 * FIFO must not hang the load: it is no regular file */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(why, whysz, "cannot be read: %s", strerror(errno));
		return why;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(why, whysz, "cannot be read: %s", strerror(errno));
		bad = why;
	} else if (!S_ISREG(st.st_mode))
		bad = "is not a regular file";
	else if (st.st_mode & S_IROTH)
		bad = "is readable by others (chmod 600 or 640)";
	/* one byte more than may be there, to know it was too much */
	while (bad == NULL && len < bufsz) {
		r = read(fd, buf + len, bufsz - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(why, whysz, "cannot be read: %s",
			    strerror(errno));
			bad = why;
		}
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (bad == NULL && len >= bufsz) {
		conf_format_u64(CONF_U_SIZE, bufsz - 1, most, sizeof(most));
		snprintf(why, whysz, "is too large (at most %s)", most);
		bad = why;
	}
	if (bad != NULL)
		return bad;
	buf[len] = '\0';
	*lenp = len;
	return NULL;
}

/* Reads the credentials of path; NULL, or what is wrong (in why or
 * static), worded to follow "auth-file PATH". */
static const char *
auth_read(const char *path, char **user, char **pass, char *why,
    size_t whysz)
{
	char buf[CONF_SECRET_MAX + 1];
	const char *bad;
	size_t len;

	bad = conf_secret_read(path, buf, sizeof(buf), &len, why, whysz);
	if (bad == NULL)
		bad = auth_parse(buf, len, user, pass);
	xwipe(buf, sizeof(buf));
	return bad;
}

/* A tls policy, written at line (0: a default of row kw). */
static void
tls_parse(struct conf_nexthops *h, const struct conf_kw *kw,
    const char *text, int line, struct conf_errs *errs)
{
	char path[128], shown[CONF_SHOWN];
	size_t i;

	for (i = 0; i < sizeof(tls_names) / sizeof(tls_names[0]); i++) {
		if (strcmp(text, tls_names[i]) == 0) {
			h->tls = (enum conf_tls)i;
			return;
		}
	}
	conf_kw_path(kw, path, sizeof(path));
	conf_err(errs, line, "%s: %s: not none, may, encrypt or verify",
	    path, conf_shown(text, shown, sizeof(shown)));
}

/* A file name option: not empty, not too long. */
static bool
path_ok(const struct conf_kw *kw, const struct conf_tok *v,
    struct conf_errs *errs)
{
	char path[128];

	conf_kw_path(kw, path, sizeof(path));
	if (v->text[0] == '\0')
		conf_err(errs, v->line, "%s: empty value", path);
	else if (strlen(v->text) > kw->hi)
		conf_err(errs, v->line, "%s: too long (at most %llu bytes)",
		    path, (unsigned long long)kw->hi);
	else
		return true;
	return false;
}

/*
 * The options of statement n (deliver or route) into h: the first pass
 * takes each option once; then tls and ca-file take the defaults of their
 * rows when absent, ca-file is checked when it is used, and the
 * credentials are read.  Next hops are the caller's.
 */
static void
hops_options(struct conf_nexthops *h, const struct conf_node *n,
    const struct conf_node *opt[OPT_COUNT], bool seen[OPT_COUNT],
    struct conf_errs *errs)
{
	const struct conf_node *o;
	const struct conf_kw *row;
	const char *why;
	char path[128], shown[CONF_SHOWN], reason[128];
	enum opt i;

	for (o = n->child; o != NULL; o = o->next) {
		if ((i = opt_of_name(o->kw->name)) == OPT_COUNT)
			continue;
		seen[i] = true;
		if (o->bad)
			continue;
		if (opt[i] != NULL) {
			conf_kw_path(o->kw, path, sizeof(path));
			conf_err(errs, o->tok->line, "%s given twice (first "
			    "at line %d)", path, opt[i]->tok->line);
			continue;
		}
		opt[i] = o;
	}
	h->line = n->tok->line;
	h->tls = CONF_TLS_MAY;
	if (opt[OPT_TLS] != NULL)
		tls_parse(h, opt[OPT_TLS]->kw, opt[OPT_TLS]->args[0]->text,
		    opt[OPT_TLS]->args[0]->line, errs);
	else if ((row = conf_kw_lookup(&conf_daemon_grammar, n->kw->name,
	    "tls")) != NULL && row->def != NULL)
		tls_parse(h, row, row->def, 0, errs);
	if (opt[OPT_CA] != NULL) {
		if (path_ok(opt[OPT_CA]->kw, opt[OPT_CA]->args[0], errs))
			h->ca_file = xstrdup(opt[OPT_CA]->args[0]->text);
	} else if ((row = conf_kw_lookup(&conf_daemon_grammar, n->kw->name,
	    "ca-file")) != NULL && row->def != NULL)
		h->ca_file = xstrdup(row->def);
	if (h->tls == CONF_TLS_VERIFY && h->ca_file != NULL &&
	    (why = conf_file_problem(h->ca_file, reason, sizeof(reason))) !=
	    NULL) {
		conf_shown(h->ca_file, shown, sizeof(shown));
		if (opt[OPT_CA] != NULL)
			conf_err(errs, opt[OPT_CA]->args[0]->line, "%s "
			    "ca-file: %s: %s", n->kw->name, shown, why);
		else
			conf_err(errs, opt[OPT_TLS] != NULL ?
			    opt[OPT_TLS]->args[0]->line : h->line, "%s: tls "
			    "verify needs ca-file %s: %s (install "
			    "ca-certificates or set ca-file)", n->kw->name,
			    shown, why);
	}
	if (opt[OPT_AUTH] != NULL &&
	    path_ok(opt[OPT_AUTH]->kw, opt[OPT_AUTH]->args[0], errs)) {
		h->auth_file = xstrdup(opt[OPT_AUTH]->args[0]->text);
		if ((why = auth_read(h->auth_file, &h->auth_user,
		    &h->auth_pass, reason, sizeof(reason))) != NULL)
			conf_err(errs, opt[OPT_AUTH]->args[0]->line, "%s: "
			    "auth-file %s %s", n->kw->name, conf_shown(
			    h->auth_file, shown, sizeof(shown)), why);
	}
}

void
conf_deliver_apply(struct conf *c, const struct conf_node *n,
    struct conf_errs *errs)
{
	const struct conf_node *opt[OPT_COUNT] = { NULL };
	bool seen[OPT_COUNT] = { false };
	struct conf_nexthops *h = &c->deliver;

	conf_nexthops_clear(h);
	hops_options(h, n, opt, seen, errs);
	if (opt[OPT_RELAYHOST] != NULL && opt[OPT_MX] != NULL)
		conf_err(errs, n->tok->line, "deliver: relayhost and mx "
		    "exclude each other");
	else if (opt[OPT_RELAYHOST] != NULL)
		hops_parse(h, n->kw, "deliver relayhost",
		    opt[OPT_RELAYHOST]->args,
		    opt[OPT_RELAYHOST]->nargs, errs);
	else if (!seen[OPT_RELAYHOST] && !seen[OPT_MX])
		conf_err(errs, n->tok->line, "deliver: relayhost NEXTHOP... "
		    "or mx missing");
}

void
conf_route_apply(struct conf *c, const struct conf_node *n,
    struct conf_errs *errs)
{
	const struct conf_node *opt[OPT_COUNT] = { NULL };
	bool seen[OPT_COUNT] = { false };
	const struct conf_tok *d = n->args[0];
	struct conf_route *r;
	char shown[CONF_SHOWN];
	size_t i;

	conf_shown(d->text, shown, sizeof(shown));
	if (!conf_is_domain(d->text)) {
		conf_err(errs, d->line, "route: %s: not a valid domain name",
		    shown);
		return;
	}
	for (i = 0; i < c->nroutes; i++) {
		if (strcasecmp(c->routes[i].domain, d->text) == 0) {
			conf_err(errs, d->line, "route: %s given twice "
			    "(first at line %d)", shown,
			    c->routes[i].via.line);
			return;
		}
	}
	c->routes = xreallocarray(c->routes, c->nroutes + 1,
	    sizeof(*c->routes));
	r = &c->routes[c->nroutes++];
	memset(r, 0, sizeof(*r));
	r->domain = xstrdup(d->text);
	str_lower(r->domain);
	hops_options(&r->via, n, opt, seen, errs);
	hops_parse(&r->via, n->kw, "route", n->args + 1, n->nargs - 1, errs);
}

void
conf_resolver_apply(struct conf *c, const struct conf_node *n,
    struct conf_errs *errs)
{
	const struct conf_tok *v = n->args[0];
	const char *errstr = NULL;
	char shown[CONF_SHOWN];

	conf_shown(v->text, shown, sizeof(shown));
	/* "*" is every address to listen on, no server to ask */
	if (v->text[0] == '*') {
		conf_err(errs, v->line, "resolver: %s: invalid address (a "
		    "numeric IPv4 or IPv6 address)", shown);
		return;
	}
	if (addr_parse_hostport(v->text, "53", &c->resolver_ss,
	    &c->resolver_sslen, &errstr) == -1) {
		conf_err(errs, v->line, "resolver: %s: %s", shown, errstr);
		return;
	}
	free(c->resolver);
	c->resolver = xstrdup(v->text);
}

/* atext of RFC 5322 3.2.3, the characters of a dot-atom's atoms */
static bool
is_atext(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

bool
conf_is_mailbox(const char *s)
{
	const char *at = strrchr(s, '@'), *p;
	size_t len = at != NULL ? (size_t)(at - s) : strlen(s);

	if (len == 0 || len > LOCAL_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (p = s; p < s + len; p++)
		if (!(is_atext((unsigned char)*p) ||
		    (*p == '.' && p[1] != '.')))
			return false;
	return at == NULL || conf_is_domain(at + 1);
}

/* A value that failed its own check is 0 (every lower bound is at least
 * 1): then it was reported already and is not compared. */
void
conf_deliver_check(const struct conf *c, int delivery_line, int retry_line,
    struct conf_errs *errs)
{
	const struct conf_delivery *d = &c->delivery;
	const struct conf_retry *r = &c->retry;
	char x[32], y[32];

	if (d->connections != 0 && d->per_destination > d->connections)
		conf_err(errs, delivery_line, "delivery: per-destination %llu "
		    "is more than connections %llu",
		    (unsigned long long)d->per_destination,
		    (unsigned long long)d->connections);
	if (r->initial == 0 || r->max == 0 || r->lifetime == 0)
		return;
	if (r->initial > r->max) {
		conf_format_u64(CONF_U_DURATION, r->initial, x, sizeof(x));
		conf_format_u64(CONF_U_DURATION, r->max, y, sizeof(y));
		conf_err(errs, retry_line, "retry: initial %s is longer than "
		    "max %s", x, y);
	}
	if (r->max > r->lifetime) {
		conf_format_u64(CONF_U_DURATION, r->max, x, sizeof(x));
		conf_format_u64(CONF_U_DURATION, r->lifetime, y, sizeof(y));
		conf_err(errs, retry_line, "retry: max %s is longer than "
		    "lifetime %s", x, y);
	}
}

/* " NEXTHOP... tls P [ca-file F] [auth-file F]": ca-file only where it
 * is used; never the credentials, only where they come from. */
static void
dump_hops(const struct conf_nexthops *h, struct buf *out)
{
	const struct conf_nexthop *hop;
	size_t i;

	for (i = 0; i < h->nhop; i++) {
		hop = &h->hop[i];
		if (hop->mx)
			buf_printf(out, " %s:%u", hop->host, hop->port);
		else
			buf_printf(out, " [%s]:%u", hop->host, hop->port);
	}
	buf_printf(out, " tls %s", tls_names[h->tls]);
	if (h->tls == CONF_TLS_VERIFY && h->ca_file != NULL) {
		buf_addstr(out, " ca-file ");
		conf_add_word(out, &conf_daemon_grammar, h->ca_file);
	}
	if (h->auth_file != NULL) {
		buf_addstr(out, " auth-file ");
		conf_add_word(out, &conf_daemon_grammar, h->auth_file);
	}
	buf_addc(out, '\n');
}

void
conf_deliver_dump(const struct conf *c, const struct conf_kw *kw,
    struct buf *out)
{
	size_t i;

	switch (kw->unit) {
	case CONF_U_DELIVER:
		buf_addstr(out, c->deliver.nhop > 0 ? "deliver relayhost" :
		    "deliver mx");
		dump_hops(&c->deliver, out);
		break;
	case CONF_U_ROUTE:
		if (c->nroutes == 0)
			buf_addstr(out, "# route (none)\n");
		for (i = 0; i < c->nroutes; i++) {
			buf_addstr(out, "route ");
			conf_add_word(out, &conf_daemon_grammar,
			    c->routes[i].domain);
			dump_hops(&c->routes[i].via, out);
		}
		break;
	case CONF_U_RESOLVER:
		if (c->resolver == NULL)
			buf_addstr(out, "# resolver (none)\n");
		else {
			buf_addstr(out, "resolver ");
			conf_add_word(out, &conf_daemon_grammar, c->resolver);
			buf_addc(out, '\n');
		}
		break;
	default:
		break;
	}
}

void
conf_nexthops_clear(struct conf_nexthops *h)
{
	size_t i;

	for (i = 0; i < h->nhop; i++)
		free(h->hop[i].host);
	free(h->hop);
	free(h->ca_file);
	free(h->auth_file);
	free(h->auth_user);
	if (h->auth_pass != NULL) {
		xwipe(h->auth_pass, strlen(h->auth_pass));
		free(h->auth_pass);
	}
	memset(h, 0, sizeof(*h));
}

const struct conf_nexthops *
conf_route_for(const struct conf *c, const char *domain)
{
	size_t i;

	if (domain != NULL)
		for (i = 0; i < c->nroutes; i++)
			if (strcasecmp(c->routes[i].domain, domain) == 0)
				return &c->routes[i].via;
	return &c->deliver;
}
