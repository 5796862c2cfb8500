/*
 * smtp: the ingress side of sluiced.  smtp_server owns the listeners, the
 * connection counts and the sessions; smtp_session is one client's
 * state machine (smtp_session.c).
 */
#ifndef SLUICE_SMTP_H
#define SLUICE_SMTP_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "../conf/conf.h"
#include "../lib/addr.h"
#include "../queue/queue.h"

struct engine;
struct notify;

struct smtp_server;
struct smtp_session;
struct engine;

struct smtp_counters {
	uint64_t	sessions;	/* open now */
	uint64_t	sessions_total;
	uint64_t	messages;	/* accepted (250 after DATA) */
	uint64_t	bytes;
	uint64_t	rejects;	/* 5xx replies */
	uint64_t	policy_refusals; /* by access rules and quotas */
};

/* Binds every listener of conf (before privileges are dropped).  tls may
 * be NULL when no listener has tls.  Accepting starts with
 * smtp_server_enable().  Takes references on conf and tls (the caller
 * keeps its own).  0, or -1 with *errstr. */
int	smtp_server_new(struct smtp_server **, struct event_base *,
	    struct conf *, SSL_CTX *tls, const char **errstr);
/* A reload: sessions accepted from now on work under conf and tls (NULL:
 * no STARTTLS); those under way keep the configuration and context they
 * started with (the server holds references on both until the last of
 * them ends).  The listeners stay as bound. */
void	smtp_server_set_conf(struct smtp_server *, struct conf *,
	    SSL_CTX *tls);
/* Told of every message once it is committed (on the loop thread), so
 * that delivery can schedule it. */
typedef void smtp_queued_fn(void *arg, const struct queue_msg *);

/* Starts accepting; committed messages go to writer, then to queued. */
void	smtp_server_enable(struct smtp_server *, struct queue_writer *,
	    smtp_queued_fn *queued, void *queued_arg);
/* The policy engine sessions ask at RCPT and end of DATA (before
 * smtp_server_enable). */
void	smtp_server_set_engine(struct smtp_server *, struct engine *);
/* Where the quota alerts a message causes go (with the message). */
void	smtp_server_set_notify(struct smtp_server *, struct notify *);
/* Stops taking mail: new connections and idle sessions get 421; sessions
 * inside a transaction finish it first.  done() runs once no session is
 * left (at once when none), or after grace seconds at the latest. */
void	smtp_server_shutdown(struct smtp_server *, unsigned grace,
	    void (*done)(void *), void *arg);
void	smtp_server_free(struct smtp_server **);
const struct smtp_counters *smtp_server_counters(struct smtp_server *);

/* Used by smtp_session.c. */
struct smtp_listen_ctx {
	struct smtp_server		*server;
	const struct conf_listen	*listen;
	struct evconnlistener		*evl;
};

struct smtp_session_env {
	struct event_base	*base;
	const struct conf	*conf;
	SSL_CTX			*tls;
	struct queue_writer	*writer;
	smtp_queued_fn		*queued;
	void			*queued_arg;
	struct smtp_counters	*counters;
	struct engine		*engine;	/* policies; NULL: none */
	struct notify		*notify;	/* quota alerts; NULL: none */
	bool			 shutting_down;
};

/* Takes over fd.  over_limit: the client exceeds a connection limit; it
 * is served up to EHLO and refused at MAIL (DESIGN.md: never refuse at
 * connect).  gone(arg, session) is called when the session ends. */
struct smtp_session *smtp_session_new(struct smtp_session_env *,
	    const struct conf_listen *, int fd, const struct sockaddr *,
	    const char *over_limit, void (*gone)(void *, struct smtp_session *),
	    void *gone_arg);
/* Shutdown: an idle session is told 421 and closed now; a busy one after
 * its transaction. */
void	smtp_session_shutdown(struct smtp_session *);
/* Grace over: closes without a word (an unfinished transaction was never
 * acknowledged, so the client keeps its copy). */
void	smtp_session_abort(struct smtp_session *);
const struct addr *smtp_session_addr(const struct smtp_session *);

#endif
