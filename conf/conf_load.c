/*
 * conf_load: the public face of conf/.  Reads a file (or a string), runs
 * lexer, parser and the daemon's settings over it, and hands out a
 * struct conf only when not one error was found: a configuration is all
 * or nothing, so a failed reload keeps the running one.
 *
 * Also the two questions the daemon asks of a configuration on every
 * session (is this client trusted, is this a relay domain), and the
 * machine's name, the default of `hostname`.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "conf_priv.h"

#define HOSTS_FILE	"/etc/hosts"

/* Reads text into a new conf, whatever errors it finds (into errs). */
static struct conf *
load_any(const char *name, const char *text, size_t len,
    struct conf_errs *errs)
{
	struct conf_toks toks = { NULL, 0, 0 };
	struct conf_node *root;
	struct conf *c;

	c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	c->path = xstrdup(name);
	conf_lex(text, len, &toks, errs);
	root = conf_parse(&conf_daemon_grammar, &toks, errs);
	conf_daemon_apply(c, root, errs);
	conf_node_free(&root);
	conf_toks_free(&toks);
	return c;
}

static int
load_text(const char *name, const char *text, size_t len,
    struct conf **confp, struct buf *errors)
{
	struct conf_errs errs = { NULL, 0, 0, 0 };
	struct conf *c;

	*confp = NULL;
	c = load_any(name, text, len, &errs);
	if (errs.n > 0) {
		conf_errs_write(&errs, name, errors);
		conf_errs_free(&errs);
		conf_free(&c);
		return -1;
	}
	conf_errs_free(&errs);
	*confp = c;
	return 0;
}

/* Reads the whole file into b; NULL, or the reason it could not. */
static const char *
read_file(const char *path, struct buf *b)
{
	char chunk[8192];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return strerror(errno);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b->len + (size_t)n > CONF_MAX_FILE) {
			close(fd);
			return "file too large";
		}
		buf_add(b, chunk, (size_t)n);
	}
	if (n == -1) {
		n = errno;
		close(fd);
		return strerror((int)n);
	}
	close(fd);
	return NULL;
}

int
conf_load(const char *path, struct conf **confp, struct buf *errors)
{
	struct buf text = BUF_INIT;
	const char *why;
	int rc;

	*confp = NULL;
	if ((why = read_file(path, &text)) != NULL) {
		buf_printf(errors, "%s: cannot open: %s\n", path, why);
		buf_free(&text);
		return -1;
	}
	rc = load_text(path, text.data ? text.data : "", text.len, confp,
	    errors);
	buf_free(&text);
	return rc;
}

int
conf_load_string(const char *name, const char *text, struct conf **confp,
    struct buf *errors)
{
	return load_text(name, text, strlen(text), confp, errors);
}

struct conf *
conf_ref(struct conf *c)
{
	c->refs++;
	return c;
}

char *
conf_admin_socket(const char *path)
{
	struct conf_errs errs = { NULL, 0, 0, 0 };
	struct buf text = BUF_INIT;
	struct conf *c;
	char *sock = NULL;

	if (read_file(path, &text) == NULL) {
		c = load_any(path, text.data ? text.data : "", text.len, &errs);
		if (c->admin_socket != NULL)
			sock = xstrdup(c->admin_socket);
		conf_errs_free(&errs);
		conf_free(&c);
	}
	buf_free(&text);
	return sock;
}

void
conf_free(struct conf **cp)
{
	conf_unref(cp);
}

void
conf_unref(struct conf **cp)
{
	struct conf *c = *cp;
	size_t i;

	if (c == NULL)
		return;
	*cp = NULL;
	if (--c->refs > 0)
		return;
	pol_set_free(&c->policy);
	free(c->path);
	free(c->hostname);
	free(c->state_dir);
	free(c->user);
	for (i = 0; i < c->nlisten; i++)
		free(c->listen[i].text);
	free(c->listen);
	free(c->trusted);
	for (i = 0; i < c->nrelay_domains; i++)
		free(c->relay_domains[i]);
	free(c->relay_domains);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->admin_socket);
	conf_nexthops_clear(&c->deliver);
	for (i = 0; i < c->nroutes; i++) {
		free(c->routes[i].domain);
		conf_nexthops_clear(&c->routes[i].via);
	}
	free(c->routes);
	free(c->resolver);
	free(c->postmaster);
	conf_notifiers_free(c);
	free(c);
}

bool
conf_is_trusted(const struct conf *c, const struct addr *a)
{
	size_t i;

	for (i = 0; i < c->ntrusted; i++)
		if (cidr_match(&c->trusted[i], a))
			return true;
	return false;
}

bool
conf_is_relay_domain(const struct conf *c, const char *domain)
{
	size_t i;

	if (domain == NULL)
		return false;
	for (i = 0; i < c->nrelay_domains; i++)
		if (strcasecmp(c->relay_domains[i], domain) == 0)
			return true;
	return false;
}

/*
 * The fully qualified form of the short name host from one line of
 * /etc/hosts ("127.0.1.1 relay.example.com relay"): a name on the line
 * that starts with "host." when host is one of the line's names.
 */
static char *
hosts_line_fqdn(char *line, const char *host)
{
	char *names[32], *p, *fqdn = NULL;
	size_t n = 0, i, hl = strlen(host);
	bool mine = false;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	p = line;
	while (n < sizeof(names) / sizeof(names[0])) {
		while (*p != '\0' && isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		names[n++] = p;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	for (i = 1; i < n; i++) {	/* names[0] is the address */
		if (strcasecmp(names[i], host) == 0)
			mine = true;
		else if (fqdn == NULL && strncasecmp(names[i], host, hl) == 0 &&
		    names[i][hl] == '.' && names[i][hl + 1] != '\0')
			fqdn = names[i];
	}
	return mine && fqdn != NULL ? xstrdup(fqdn) : NULL;
}

/*
 * gethostname(), and when that is a short name, its fully qualified form
 * from /etc/hosts.  No DNS: checking a configuration must not hang on a
 * resolver, and the administrator can always set hostname.
 */
char *
conf_machine_hostname(void)
{
	char host[256], *line = NULL, *fqdn = NULL;
	size_t cap = 0;
	FILE *f;

	if (gethostname(host, sizeof(host)) == -1)
		return NULL;
	host[sizeof(host) - 1] = '\0';
	if (host[0] == '\0')
		return NULL;
	if (strchr(host, '.') != NULL || (f = fopen(HOSTS_FILE, "re")) == NULL)
		return xstrdup(host);
	while (fqdn == NULL && getline(&line, &cap, f) != -1)
		fqdn = hosts_line_fqdn(line, host);
	free(line);
	fclose(f);
	return fqdn != NULL ? fqdn : xstrdup(host);
}
