/*
 * smtp_server: listeners, connection accounting and shutdown of the SMTP
 * ingress.
 *
 * Limits are spent at MAIL, never at connect (DESIGN.md: Postfix marks a
 * destination dead after a failure at connect, banner or EHLO, stalling
 * all of mta1's mail).  A client over `connections` or
 * `connections-per-ip` is still greeted and refused at MAIL with a 4xx.
 * Only past a hard ceiling (the limit plus a margin) does the server stop
 * calling accept(2); the kernel's backlog then holds the client, which is
 * a delay, not a refusal.
 *
 * Reloads: sessions work under a generation (struct smtp_gen), the
 * session environment of one configuration and TLS context.  A session
 * takes a reference on the current generation when it is accepted and
 * drops it when it ends; the generation holds a reference on its conf
 * (conf_ref) and on its SSL_CTX, so a reload (smtp_server_set_conf)
 * starts a new generation for new sessions while the sessions under way
 * finish under the configuration they started with, and the old one is
 * freed with the last of them.  A transaction whose commit outlives its
 * session uses no configuration.  The listeners are bound once, from the
 * configuration given to smtp_server_new (kept for them: their
 * conf_listen entries live in it); a reload does not change them.
 *
 * What an attacker controls: the number and timing of connections.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "smtp.h"

struct smtp_gen {
	struct smtp_session_env		 env;	/* what its sessions see */
	struct conf			*conf;	/* env.conf, a reference */
	unsigned			 refs;	/* sessions, +1 while current */
	LIST_ENTRY(smtp_gen)		 link;
};

struct smtp_entry {
	struct smtp_session		*session;
	struct smtp_gen			*gen;
	TAILQ_ENTRY(smtp_entry)		 link;
};

struct smtp_server {
	struct event_base		*base;
	struct conf			*listen_conf;	/* the listeners' */
	struct smtp_gen			*gen;	/* new sessions' */
	LIST_HEAD(, smtp_gen)		 gens;	/* all, current too */
	bool				 shutting_down;
	struct smtp_counters		 counters;
	struct smtp_listen_ctx		*listeners;
	size_t				 nlisteners;
	TAILQ_HEAD(, smtp_entry)	 sessions;
	bool				 paused;	/* at the hard ceiling */
	struct event			*retry_ev;	/* accept after EMFILE */
	struct event			*grace_ev;
	void				(*done)(void *);
	void				*done_arg;
};

static void	smtp_server_accept(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	smtp_server_accept_error(struct evconnlistener *, void *);
static void	smtp_server_listen(struct smtp_server *, bool);

static int
smtp_bind(const struct conf_listen *l, const char **errstr)
{
	static char msg[256];
	int fd, on = 1;

	fd = socket(l->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	/* IPv6 sockets are IPv6 only: conf turns "*:port" into two
	 * listeners, 0.0.0.0 and [::] */
	if (l->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&l->ss, l->sslen) == -1 ||
	    listen(fd, 1024) == -1)
		goto fail;
	return fd;
fail:
	snprintf(msg, sizeof(msg), "listen %s: %s", l->text, strerror(errno));
	*errstr = msg;
	if (fd != -1)
		close(fd);
	return -1;
}

/* A generation for conf and tls, its environment otherwise a copy of
 * tmpl's (NULL: the first). */
static struct smtp_gen *
smtp_gen_new(struct smtp_server *s, const struct smtp_session_env *tmpl,
    struct conf *conf, SSL_CTX *tls)
{
	struct smtp_gen *g = xcalloc(1, sizeof(*g));

	if (tmpl != NULL)
		g->env = *tmpl;
	g->env.base = s->base;
	g->env.counters = &s->counters;
	g->env.shutting_down = s->shutting_down;
	g->conf = conf_ref(conf);
	g->env.conf = g->conf;
	if (tls != NULL)
		SSL_CTX_up_ref(tls);
	g->env.tls = tls;
	g->refs = 1;
	LIST_INSERT_HEAD(&s->gens, g, link);
	return g;
}

static void
smtp_gen_unref(struct smtp_gen **gp)
{
	struct smtp_gen *g = *gp;

	*gp = NULL;
	if (g == NULL || --g->refs > 0)
		return;
	LIST_REMOVE(g, link);
	if (g->env.tls != NULL)
		SSL_CTX_free(g->env.tls);
	conf_unref(&g->conf);
	free(g);
}

int
smtp_server_new(struct smtp_server **sp, struct event_base *base,
    struct conf *conf, SSL_CTX *tls, const char **errstr)
{
	struct smtp_server *s;
	size_t i;
	int fd;

	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->listen_conf = conf_ref(conf);
	TAILQ_INIT(&s->sessions);
	LIST_INIT(&s->gens);
	s->gen = smtp_gen_new(s, NULL, conf, tls);
	s->listeners = xcalloc(conf->nlisten, sizeof(*s->listeners));
	for (i = 0; i < conf->nlisten; i++) {
		if ((fd = smtp_bind(&conf->listen[i], errstr)) == -1) {
			smtp_server_free(&s);
			return -1;
		}
		s->listeners[i].server = s;
		s->listeners[i].listen = &conf->listen[i];
		s->listeners[i].evl = evconnlistener_new(base,
		    smtp_server_accept, &s->listeners[i],
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DISABLED, -1, fd);
		if (s->listeners[i].evl == NULL) {
			close(fd);
			*errstr = "evconnlistener_new failed";
			smtp_server_free(&s);
			return -1;
		}
		evconnlistener_set_error_cb(s->listeners[i].evl,
		    smtp_server_accept_error);
		s->nlisteners = i + 1;
	}
	*sp = s;
	return 0;
}

static void
smtp_server_accept_retry(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *s = arg;

	(void)fd;
	(void)ev;
	if (!s->paused)
		smtp_server_listen(s, true);
}

/* accept(2) failed (out of descriptors, most likely): a listener left on
 * would spin, so all of them rest for a second. */
static void
smtp_server_accept_error(struct evconnlistener *evl, void *arg)
{
	struct smtp_listen_ctx *lc = arg;
	struct smtp_server *s = lc->server;
	struct timeval tv = { 1, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	(void)evl;
	log_warn("event=accept-failed listen=%s error=\"%s\" retry=1s",
	    lc->listen->text, evutil_socket_error_to_string(err));
	smtp_server_listen(s, false);
	if (s->retry_ev == NULL)
		s->retry_ev = evtimer_new(s->base, smtp_server_accept_retry, s);
	evtimer_add(s->retry_ev, &tv);
}

static void
smtp_server_listen(struct smtp_server *s, bool on)
{
	size_t i;

	for (i = 0; i < s->nlisteners; i++) {
		if (on)
			evconnlistener_enable(s->listeners[i].evl);
		else
			evconnlistener_disable(s->listeners[i].evl);
	}
}

void
smtp_server_enable(struct smtp_server *s, struct queue_writer *w,
    smtp_queued_fn *queued, void *queued_arg)
{
	s->gen->env.writer = w;
	s->gen->env.queued = queued;
	s->gen->env.queued_arg = queued_arg;
	smtp_server_listen(s, true);
}

void
smtp_server_set_engine(struct smtp_server *s, struct engine *e)
{
	s->gen->env.engine = e;
}

void
smtp_server_set_notify(struct smtp_server *s, struct notify *n)
{
	s->gen->env.notify = n;
}

/* The hard ceiling: past it, accept(2) waits (a delay, not a refusal). */
static uint64_t
smtp_ceiling(const struct conf *conf)
{
	return conf->limits.connections + conf->limits.connections / 10 + 10;
}

void
smtp_server_set_conf(struct smtp_server *s, struct conf *conf, SSL_CTX *tls)
{
	struct smtp_gen *g = smtp_gen_new(s, &s->gen->env, conf, tls);
	uint64_t ceiling = smtp_ceiling(conf);

	smtp_gen_unref(&s->gen);	/* its sessions keep it */
	s->gen = g;
	if (s->shutting_down)
		return;
	/* the connection limits may have moved the hard ceiling */
	if (s->paused && s->counters.sessions < ceiling) {
		s->paused = false;
		smtp_server_listen(s, true);
	} else if (!s->paused && s->counters.sessions >= ceiling) {
		s->paused = true;
		smtp_server_listen(s, false);
	}
}

static unsigned
smtp_count_ip(struct smtp_server *s, const struct addr *a)
{
	struct smtp_entry *e;
	unsigned n = 0;

	TAILQ_FOREACH(e, &s->sessions, link)
		if (addr_equal(smtp_session_addr(e->session), a))
			n++;
	return n;
}

static void
smtp_session_gone(void *arg, struct smtp_session *sess)
{
	struct smtp_server *s = arg;
	struct smtp_entry *e;

	TAILQ_FOREACH(e, &s->sessions, link) {
		if (e->session == sess) {
			TAILQ_REMOVE(&s->sessions, e, link);
			smtp_gen_unref(&e->gen);
			free(e);
			break;
		}
	}
	s->counters.sessions--;
	if (s->paused && !s->shutting_down &&
	    s->counters.sessions < smtp_ceiling(s->gen->env.conf)) {
		s->paused = false;
		smtp_server_listen(s, true);
	}
	if (s->shutting_down && TAILQ_EMPTY(&s->sessions) && s->done) {
		void (*done)(void *) = s->done;
		s->done = NULL;
		done(s->done_arg);
	}
}

static void
smtp_server_accept(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct smtp_listen_ctx *lc = arg;
	struct smtp_server *s = lc->server;
	const struct conf *conf = s->gen->env.conf;
	const char *over = NULL;
	struct smtp_entry *e;
	struct addr a;
	int on = 1;

	(void)evl;
	(void)salen;
	if (addr_from_sockaddr(sa, &a) == -1) {
		close(fd);
		return;
	}
	/* a reply written after a wait (the RCPT checks' DNS, SPF, the
	 * store) must not sit behind Nagle until the client's delayed ACK:
	 * ~40 ms per pipelined transaction */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (s->counters.sessions >= conf->limits.connections)
		over = "too many connections";
	else if (smtp_count_ip(s, &a) >= conf->limits.connections_per_ip)
		over = "too many connections from your address";
	e = xcalloc(1, sizeof(*e));
	e->gen = s->gen;
	e->gen->refs++;
	s->counters.sessions++;
	s->counters.sessions_total++;
	TAILQ_INSERT_TAIL(&s->sessions, e, link);
	e->session = smtp_session_new(&e->gen->env, lc->listen, fd, sa, over,
	    smtp_session_gone, s);
	if (!s->paused && s->counters.sessions >= smtp_ceiling(conf)) {
		s->paused = true;
		smtp_server_listen(s, false);
		log_warn("event=accept-paused sessions=%llu reason=\"connection "
		    "ceiling reached\"", (unsigned long long)s->counters.sessions);
	}
}

static void
smtp_grace_over(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *s = arg;
	struct smtp_entry *e, *next;

	(void)fd;
	(void)ev;
	log_warn("event=shutdown-grace-over sessions=%llu",
	    (unsigned long long)s->counters.sessions);
	for (e = TAILQ_FIRST(&s->sessions); e != NULL; e = next) {
		next = TAILQ_NEXT(e, link);
		smtp_session_abort(e->session);
	}
}

void
smtp_server_shutdown(struct smtp_server *s, unsigned grace,
    void (*done)(void *), void *arg)
{
	struct smtp_entry *e, *next;
	struct timeval tv = { grace, 0 };
	struct smtp_gen *g;

	s->shutting_down = true;
	LIST_FOREACH(g, &s->gens, link)
		g->env.shutting_down = true;
	s->done = done;
	s->done_arg = arg;
	/* keep listening: a client that connects now is told 421 */
	if (s->paused) {
		s->paused = false;
		smtp_server_listen(s, true);
	}
	for (e = TAILQ_FIRST(&s->sessions); e != NULL; e = next) {
		next = TAILQ_NEXT(e, link);
		smtp_session_shutdown(e->session);
	}
	if (TAILQ_EMPTY(&s->sessions)) {
		s->done = NULL;
		done(arg);
		return;
	}
	s->grace_ev = evtimer_new(s->base, smtp_grace_over, s);
	evtimer_add(s->grace_ev, &tv);
}

void
smtp_server_free(struct smtp_server **sp)
{
	struct smtp_server *s = *sp;
	struct smtp_entry *e;
	size_t i;

	if (s == NULL)
		return;
	s->done = NULL;
	while ((e = TAILQ_FIRST(&s->sessions)) != NULL)
		smtp_session_abort(e->session);	/* calls smtp_session_gone */
	for (i = 0; i < s->nlisteners; i++)
		evconnlistener_free(s->listeners[i].evl);
	free(s->listeners);
	smtp_gen_unref(&s->gen);
	conf_unref(&s->listen_conf);
	if (s->grace_ev)
		event_free(s->grace_ev);
	if (s->retry_ev)
		event_free(s->retry_ev);
	free(s);
	*sp = NULL;
}

const struct smtp_counters *
smtp_server_counters(struct smtp_server *s)
{
	return &s->counters;
}
