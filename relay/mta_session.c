/*
 * mta_session: one outbound SMTP connection, an explicit state machine
 * over a libevent bufferevent (RFC 5321, STARTTLS per RFC 3207).  Its
 * transactions are mta_tx.c's, AUTH is mta_auth.c's, replies are read by
 * mta_reply.c.  The module's contract is in mta.h.
 *
 * Invariants: one reply is awaited at a time outside a pipelined group;
 * every state that waits for the server has a timeout; the session is
 * freed only when no frame of this module is on the stack (refs), so an
 * owner may abort it from inside any callback.  Callbacks never run from
 * inside a call the owner made: connect and local outcomes go through the
 * loop (s->later).
 *
 * What an attacker (the server) controls: every byte read, its timing,
 * and, without "verify", whether TLS is real.  Anything buffered after
 * the 220 to STARTTLS is dropped before the handshake (the client side of
 * the CVE-2011-0411 injection); credentials go out only over TLS (unless
 * the policy is none) and are wiped once sent.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "mta_priv.h"

static void	mta_bev_read(struct bufferevent *, void *);
static void	mta_bev_write(struct bufferevent *, void *);
static void	mta_bev_event(struct bufferevent *, short, void *);

/* --- life cycle ----------------------------------------------------- */

void
mta_drop_connection(struct mta_session *s)
{
	if (s->bev != NULL) {
		/* the output may point into the owner's message */
		evbuffer_drain(bufferevent_get_output(s->bev),
		    evbuffer_get_length(bufferevent_get_output(s->bev)));
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->fd != -1 && !s->fd_in_bev)
		close(s->fd);
	s->fd = -1;
}

static void
mta_free(struct mta_session *s)
{
	mta_drop_connection(s);
	mta_tx_free(&s->txn);
	if (s->later != NULL)
		event_free(s->later);
	mta_auth_forget(s);
	mta_reader_free(&s->rd);
	free(s->host);
	free(s->helo);
	free(s->ca_file);
	free(s);
}

static void
mta_hold(struct mta_session *s)
{
	s->refs++;
}

static void
mta_release(struct mta_session *s)
{
	if (--s->refs == 0 && s->state == MTA_S_DEAD)
		mta_free(s);
}

bool
mta_is_dead(const struct mta_session *s)
{
	return s->state == MTA_S_DEAD;
}

/* No callback after this; freed now or when the stack unwinds. */
static void
mta_kill(struct mta_session *s)
{
	mta_drop_connection(s);
	mta_tx_free(&s->txn);
	event_del(s->later);
	s->state = MTA_S_DEAD;
	if (s->refs == 0)
		mta_free(s);
}

static void
mta_emit(struct mta_session *s, enum mta_event_type type,
    const struct mta_result *why)
{
	struct mta_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.relay = s->relay;
	ev.greeting = s->greeting;
	ev.tls = s->tls_active ? s->tls_desc : NULL;
	ev.tls_verified = s->tls_active && s->tls_verified;
	ev.authenticated = s->authenticated;
	ev.reason = why;
	s->cb(s->arg, s, &ev);
}

/* The last event: MTA_EV_CLOSED, then the session goes. */
static void
mta_closed(struct mta_session *s, const struct mta_result *why)
{
	if (s->state == MTA_S_DEAD)
		return;
	mta_hold(s);
	mta_drop_connection(s);
	event_del(s->later);
	s->state = MTA_S_DEAD;
	mta_emit(s, MTA_EV_CLOSED, why);
	mta_release(s);
}

void
mta_fail(struct mta_session *s, const struct mta_result *why)
{
	if (s->state == MTA_S_DEAD)
		return;
	mta_hold(s);
	mta_drop_connection(s);
	s->state = MTA_S_QUIT;		/* takes no transaction now */
	if (s->txn != NULL)
		mta_tx_abandon(s, why);
	else if (!s->ready_sent)
		mta_emit(s, MTA_EV_FAILED, why);
	mta_closed(s, why);
	mta_release(s);
}

/* --- output and timeouts -------------------------------------------- */

void
mta_send_line(struct mta_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

void
mta_arm(struct mta_session *s, const struct timeval *rd,
    const struct timeval *wr)
{
	clock_gettime(CLOCK_MONOTONIC, &s->armed);
	s->armed_secs = rd != NULL ? rd->tv_sec : wr != NULL ? wr->tv_sec : 0;
	if (rd != NULL && wr != NULL && wr->tv_sec < rd->tv_sec)
		s->armed_secs = wr->tv_sec;
	bufferevent_set_timeouts(s->bev, rd, wr);
}

void
mta_set_timeout(struct mta_session *s, const struct timeval *tv)
{
	mta_arm(s, tv, tv);
}

/* A timeout that fired before the one armed last could have: it was
 * armed earlier (the idle timeout of a session a new transaction took on
 * the same loop turn).  libevent stopped reading and writing: go on. */
static bool
mta_spurious_timeout(struct mta_session *s)
{
	struct timespec now;

	if (s->armed_secs <= 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - s->armed.tv_sec >= s->armed_secs)
		return false;
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return true;
}

void
mta_schedule(struct mta_session *s)
{
	struct timeval now = { 0, 0 };

	evtimer_add(s->later, &now);
}

static void
mta_quit(struct mta_session *s)
{
	s->state = MTA_S_QUIT;
	mta_send_line(s, "QUIT");
	mta_set_timeout(s, &s->t_cmd);
	/* after the idle timeout libevent has stopped reading: the 221 (or
	 * the EOF) must still be read, or the socket stays in CLOSE-WAIT */
	bufferevent_enable(s->bev, EV_READ);
}

void
mta_ready(struct mta_session *s)
{
	mta_auth_forget(s);
	s->state = MTA_S_READY;
	if (s->quit_pending) {
		mta_quit(s);
		return;
	}
	/* idle: EOF is still noticed; the idle timeout, if any, QUITs */
	mta_arm(s, s->t_idle.tv_sec ? &s->t_idle : NULL, NULL);
	if (!s->ready_sent) {
		s->ready_sent = true;
		mta_emit(s, MTA_EV_READY, NULL);
	}
}

/* --- the set-up dialogue -------------------------------------------- */

static void
mta_fail_reply(struct mta_session *s, const struct mta_reply *r,
    const char *cmd, bool soft)
{
	struct mta_result why;

	mta_result_reply(&why, s->hostip, r, cmd, soft);
	mta_fail(s, &why);
}

static void
mta_ehlo(struct mta_session *s)
{
	memset(&s->ext, 0, sizeof(s->ext));
	mta_send_line(s, "EHLO %s", s->helo);
	s->state = MTA_S_EHLO;
	mta_set_timeout(s, &s->t_cmd);
}

static void
mta_on_greeting(struct mta_session *s, const struct mta_reply *r)
{
	const char *t = r->text.data ? r->text.data : "";
	size_t n = strcspn(t, " \n");

	if (n >= sizeof(s->greeting))
		n = sizeof(s->greeting) - 1;
	memcpy(s->greeting, t, n);
	s->greeting[n] = '\0';
	/* a 5xx banner is this server's trouble, not the mail's: Postfix's
	 * smtp_skip_5xx_greeting = yes defers (or tries the next MX) */
	if (r->code != 220) {
		mta_fail_reply(s, r, NULL, true);
		return;
	}
	mta_ehlo(s);
}

/* After the last EHLO (or HELO): STARTTLS, then AUTH, then ready. */
static void
mta_after_ehlo(struct mta_session *s)
{
	struct mta_result why;

	if (!s->tls_active && s->tls != MTA_TLS_NONE && s->ext.starttls) {
		mta_send_line(s, "STARTTLS");
		s->state = MTA_S_STARTTLS;
		mta_set_timeout(s, &s->t_cmd);
		return;
	}
	if (!s->tls_active && s->tls >= MTA_TLS_ENCRYPT) {
		mta_result_set(&why, MTA_DEFERRED, "4.7.4", "TLS is required, "
		    "but was not offered by host %s", s->hostip);
		mta_fail(s, &why);
		return;
	}
	mta_auth_start(s);
}

static void
mta_on_ehlo(struct mta_session *s, const struct mta_reply *r)
{
	if (r->code / 100 == 2) {
		mta_ext_parse(r, &s->ext);
		mta_after_ehlo(s);
	} else if (r->code / 100 == 5) {
		/* RFC 5321 4.1.4: an old server; HELO, no extensions */
		mta_send_line(s, "HELO %s", s->helo);
		s->state = MTA_S_HELO;
		mta_set_timeout(s, &s->t_cmd);
	} else
		mta_fail_reply(s, r, "EHLO", false);
}

static void
mta_on_helo(struct mta_session *s, const struct mta_reply *r)
{
	if (r->code / 100 != 2) {
		mta_fail_reply(s, r, "HELO", false);
		return;
	}
	memset(&s->ext, 0, sizeof(s->ext));
	mta_after_ehlo(s);
}

/* The 220 to STARTTLS: drop what the server sent after it (nothing may
 * come before the handshake) and hand the socket to OpenSSL. */
static void
mta_start_tls(struct mta_session *s)
{
	struct bufferevent *bev;
	struct mta_result why;
	const char *err;
	SSL *ssl;
	int fd = s->fd;

	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		log_info("event=mta-starttls-junk relay=%s bytes=%zu",
		    s->relay, evbuffer_get_length(bufferevent_get_input(
		    s->bev)));
	if ((ssl = mta_tls_new_ssl(s, &err)) == NULL) {
		mta_result_set(&why, MTA_DEFERRED, "4.7.5",
		    "Cannot start TLS: %s", err);
		mta_fail(s, &why);
		return;
	}
	bufferevent_free(s->bev);
	s->bev = NULL;
	bev = bufferevent_openssl_socket_new(s->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		mta_result_set(&why, MTA_DEFERRED, "4.7.5",
		    "Cannot start TLS: out of resources");
		mta_fail(s, &why);
		return;
	}
	s->bev = bev;
	s->fd_in_bev = true;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, mta_bev_read, mta_bev_write, mta_bev_event, s);
	s->state = MTA_S_HANDSHAKE;
	mta_set_timeout(s, &s->t_cmd);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
mta_on_starttls(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_result why;
	char reply[512];

	if (r->code == 220) {
		mta_start_tls(s);
		return;
	}
	if (s->tls == MTA_TLS_MAY) {	/* opportunistic: on in clear */
		mta_auth_start(s);
		return;
	}
	mta_reply_format(r, reply, sizeof(reply));
	mta_result_set(&why, MTA_DEFERRED, "4.7.4", "TLS is required, but "
	    "host %s refused to start TLS: %s", s->hostip, reply);
	why.code = r->code;
	mta_fail(s, &why);
}

static void
mta_tls_done(struct mta_session *s)
{
	struct mta_result why;

	if (mta_tls_check(s, bufferevent_openssl_get_ssl(s->bev), &why) ==
	    -1) {
		mta_fail(s, &why);
		return;
	}
	s->tls_active = true;
	log_info("event=mta-tls relay=%s tls=\"%s\" verified=%s", s->relay,
	    s->tls_desc, s->tls_verified ? "yes" : "no");
	mta_ehlo(s);		/* RFC 3207 4.2: forget, and ask again */
}

/* --- input ---------------------------------------------------------- */

static const char *
mta_cmd_name(const struct mta_session *s)
{
	switch (s->state) {
	case MTA_S_EHLO:	return "EHLO";
	case MTA_S_HELO:	return "HELO";
	case MTA_S_STARTTLS:	return "STARTTLS";
	case MTA_S_AUTH:	return "AUTH";
	case MTA_S_TX:		return mta_tx_cmd(s);
	default:		return NULL;
	}
}

static void
mta_on_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_result why;

	/* RFC 5321 3.8: 421 at any point: the server is going away */
	if (r->code == 421 && s->state != MTA_S_QUIT &&
	    s->state != MTA_S_READY) {
		mta_fail_reply(s, r, mta_cmd_name(s), false);
		return;
	}
	switch (s->state) {
	case MTA_S_GREETING:	mta_on_greeting(s, r); break;
	case MTA_S_EHLO:	mta_on_ehlo(s, r); break;
	case MTA_S_HELO:	mta_on_helo(s, r); break;
	case MTA_S_STARTTLS:	mta_on_starttls(s, r); break;
	case MTA_S_AUTH:	mta_auth_reply(s, r); break;
	case MTA_S_TX:		mta_tx_reply(s, r); break;
	case MTA_S_QUIT:	mta_closed(s, NULL); break;
	case MTA_S_READY:
		/* nothing asked: a 421 on an idle connection, or junk */
		mta_result_reply(&why, s->hostip, r, NULL, true);
		mta_closed(s, &why);
		break;
	default:
		break;
	}
}

static void
mta_bev_read(struct bufferevent *bev, void *arg)
{
	struct mta_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct mta_result why;
	const char *err;
	int r;

	mta_hold(s);
	/* stop when the connection changed (STARTTLS) or went away */
	while (s->bev == bev && s->state != MTA_S_DEAD) {
		if ((r = mta_reader_take(&s->rd, in, &err)) == 0)
			break;
		if (r == -1) {
			mta_result_set(&why, MTA_DEFERRED, "4.5.0", "protocol "
			    "error: host %s: %s", s->hostip, err);
			mta_fail(s, &why);
			break;
		}
		mta_on_reply(s, &s->rd.reply);
	}
	mta_release(s);
}

static void
mta_bev_write(struct bufferevent *bev, void *arg)
{
	struct mta_session *s = arg;

	(void)bev;
	mta_hold(s);
	if (s->state == MTA_S_TX)
		mta_tx_flushed(s);
	mta_release(s);
}

/* The reason of a connection failure: OpenSSL's, or errno's. */
static void
mta_io_error(struct bufferevent *bev, short what, char *buf, size_t bufsz)
{
	unsigned long e = bufferevent_get_openssl_error(bev);
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_TIMEOUT)
		str_copy(buf, "Connection timed out", bufsz);
	else if (e != 0) {
		ERR_error_string_n(e, buf, bufsz);
		while (bufferevent_get_openssl_error(bev) != 0)
			;
	} else if ((what & BEV_EVENT_ERROR) && err != 0)
		str_copy(buf, evutil_socket_error_to_string(err), bufsz);
	else
		str_copy(buf, "Connection closed", bufsz);
}

static const char *
mta_stage(const struct mta_session *s)
{
	switch (s->state) {
	case MTA_S_GREETING:	return "receiving the initial server greeting";
	case MTA_S_EHLO:	return "performing the EHLO handshake";
	case MTA_S_HELO:	return "performing the HELO handshake";
	case MTA_S_STARTTLS:	return "sending STARTTLS";
	case MTA_S_HANDSHAKE:	return "performing the TLS handshake";
	case MTA_S_AUTH:	return "performing SASL authentication";
	case MTA_S_TX:		return mta_tx_stage(s);
	default:		return "idle";
	}
}

static void
mta_io_failed(struct mta_session *s, struct bufferevent *bev, short what)
{
	struct mta_result why;
	char err[256];

	if ((what & BEV_EVENT_TIMEOUT) && s->state != MTA_S_READY &&
	    s->state != MTA_S_QUIT && mta_spurious_timeout(s))
		return;
	mta_io_error(bev, what, err, sizeof(err));
	switch (s->state) {
	case MTA_S_QUIT:		/* no 221: closed all the same */
		mta_closed(s, NULL);
		return;
	case MTA_S_READY:
		if (what & BEV_EVENT_TIMEOUT) {		/* idle_timeout */
			mta_quit(s);
			return;
		}
		mta_result_set(&why, MTA_DEFERRED, "4.4.2", "connection "
		    "closed by host %s while idle", s->hostip);
		mta_closed(s, &why);
		return;
	case MTA_S_CONNECTING:
		mta_result_set(&why, MTA_DEFERRED, "4.4.1", "connect to %s: %s",
		    s->relay, err);
		break;
	case MTA_S_HANDSHAKE:
		mta_result_set(&why, MTA_DEFERRED, "4.7.5", "Cannot start TLS: "
		    "handshake with host %s failed: %s", s->hostip, err);
		break;
	default:
		if (what & BEV_EVENT_TIMEOUT)
			mta_result_set(&why, MTA_DEFERRED, "4.4.2",
			    "conversation with host %s timed out while %s",
			    s->hostip, mta_stage(s));
		else
			mta_result_set(&why, MTA_DEFERRED, "4.4.2",
			    "lost connection with host %s while %s (%s)",
			    s->hostip, mta_stage(s), err);
		break;
	}
	mta_fail(s, &why);
}

static void
mta_bev_event(struct bufferevent *bev, short what, void *arg)
{
	struct mta_session *s = arg;

	mta_hold(s);
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == MTA_S_CONNECTING) {
			s->state = MTA_S_GREETING;
			mta_set_timeout(s, &s->t_cmd);
		} else if (s->state == MTA_S_HANDSHAKE)
			mta_tls_done(s);
	} else if (s->bev == bev)
		mta_io_failed(s, bev, what);
	mta_release(s);
}

/* --- connect -------------------------------------------------------- */

static void
mta_connect(struct mta_session *s)
{
	struct mta_result why;
	int err;

	s->state = MTA_S_CONNECTING;
	s->fd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		mta_result_set(&why, MTA_DEFERRED, "4.4.1", "connect to %s: %s",
		    s->relay, strerror(errno));
		mta_fail(s, &why);
		return;
	}
	if ((s->bev = bufferevent_socket_new(s->base, s->fd, 0)) == NULL)
		fatal("event=bufferevent-failed");
	bufferevent_setcb(s->bev, mta_bev_read, mta_bev_write, mta_bev_event, s);
	mta_set_timeout(s, &s->t_connect);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&s->ss,
	    (int)s->sslen) == -1) {
		err = EVUTIL_SOCKET_ERROR();
		mta_result_set(&why, MTA_DEFERRED, "4.4.1", "connect to %s: %s",
		    s->relay, evutil_socket_error_to_string(err));
		mta_fail(s, &why);
	}
}

static void
mta_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta_session *s = arg;

	(void)fd;
	(void)what;
	mta_hold(s);
	if (s->state == MTA_S_INIT)
		mta_connect(s);
	else if (s->state == MTA_S_TX)
		mta_tx_local_done(s);
	mta_release(s);
}

static void
mta_timeval(struct timeval *tv, unsigned secs, unsigned def)
{
	tv->tv_sec = secs ? secs : def;
	tv->tv_usec = 0;
}

/* "name" from "[name]" (a relayhost written with brackets). */
static char *
mta_bare_host(const char *h)
{
	size_t n = strlen(h);

	if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
		return xstrndup(h + 1, n - 2);
	return xstrdup(h);
}

struct mta_session *
mta_session_new(struct event_base *base, const struct mta_params *p,
    mta_event_cb *cb, void *arg)
{
	struct mta_session *s;
	char ip[ADDR_STRLEN];
	struct addr a;
	unsigned port = 0;

	if (p->addrlen > sizeof(s->ss) || (p->addr->sa_family != AF_INET &&
	    p->addr->sa_family != AF_INET6))
		fatal("event=mta-bad-params reason=address");
	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->cb = cb;
	s->arg = arg;
	s->fd = -1;
	memcpy(&s->ss, p->addr, p->addrlen);
	s->sslen = p->addrlen;
	addr_from_sockaddr(p->addr, &a);
	addr_format(&a, ip, sizeof(ip));
	if (p->addr->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)(const void *)
		    p->addr)->sin_port);
	else
		port = ntohs(((const struct sockaddr_in6 *)(const void *)
		    p->addr)->sin6_port);
	s->host = mta_bare_host(p->host && *p->host ? p->host : ip);
	s->helo = xstrdup(p->helo && *p->helo ? p->helo : "localhost");
	s->ca_file = p->ca_file ? xstrdup(p->ca_file) : NULL;
	if (p->auth_user != NULL && p->auth_pass != NULL) {
		s->user = xstrdup(p->auth_user);
		s->pass = xstrdup(p->auth_pass);
	}
	s->tls = p->tls;
	snprintf(s->hostip, sizeof(s->hostip), "%.253s[%s]", s->host, ip);
	snprintf(s->relay, sizeof(s->relay), "%s:%u", s->hostip, port);
	mta_timeval(&s->t_connect, p->connect_timeout, 30);
	mta_timeval(&s->t_cmd, p->command_timeout, 300);
	mta_timeval(&s->t_data, p->data_timeout, 600);
	mta_timeval(&s->t_idle, p->idle_timeout, 0);
	mta_reader_init(&s->rd);
	s->state = MTA_S_INIT;
	if ((s->later = evtimer_new(base, mta_later_cb, s)) == NULL)
		fatal("event=evtimer-failed");
	mta_schedule(s);
	return s;
}

void
mta_session_close(struct mta_session *s)
{
	if (s->state == MTA_S_DEAD || s->state == MTA_S_QUIT)
		return;
	s->quit_pending = true;
	if (s->state == MTA_S_READY && s->txn == NULL)
		mta_quit(s);
}

void
mta_session_abort(struct mta_session **sp)
{
	struct mta_session *s = *sp;

	*sp = NULL;
	if (s == NULL || s->state == MTA_S_DEAD)
		return;
	mta_kill(s);
}

const char *
mta_session_relay(const struct mta_session *s)
{
	return s->relay;
}

bool
mta_session_is_ready(const struct mta_session *s)
{
	return s->state == MTA_S_READY && s->txn == NULL && !s->quit_pending;
}
