/*
 * smtp_session: one SMTP client, an explicit state machine over a
 * bufferevent (RFC 5321, with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
 * ENHANCEDSTATUSCODES, STARTTLS and Postfix's XFORWARD).
 *
 * Replies are written into the output buffer as commands are read, so a
 * pipelined group gets its replies in one write.  Input is paused while
 * a message is being committed; the 250 goes out only when the store has
 * made it durable.
 *
 * Never refused at connect, banner or EHLO (except 421 at shutdown):
 * Postfix as mta1 marks a destination dead after such a failure.  Limits
 * are spent at MAIL and RCPT.
 *
 * What an attacker controls: every byte read.  Lines are bounded by
 * line-length before they are copied; commands are parsed by smtp_parse.
 * After STARTTLS, anything the client pipelined in clear is discarded
 * (the CVE-2011-0411 injection).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "smtp_priv.h"
#include "tls.h"

#define SMTP_VERSION	"sluice"

static uint64_t smtp_next_sid = 1;

static void	smtp_read_cb(struct bufferevent *, void *);
static void	smtp_write_cb(struct bufferevent *, void *);
static void	smtp_event_cb(struct bufferevent *, short, void *);
static void	smtp_free(struct smtp_session *);

static void
smtp_vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, fmt, ap);
	va_end(ap);
}

void
smtp_reply_close(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, fmt, ap);
	va_end(ap);
	s->state = SMTP_S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_enable(s->bev, EV_WRITE);
}

/* Every refusal is logged once, in the manner of Postfix's "reject:"
 * lines: the stage, the client, the reply, and the envelope so far. */
static void
smtp_log_reject(struct smtp_session *s, const char *reply)
{
	const char *oc = s->xf.addr, *oh = s->xf.helo;
	bool fw = oc != NULL && *oc != '\0';

	/* behind mta1, the original client the policies looked at too */
	log_info("queue_id=%s sid=%llu event=reject stage=%s client=[%s] "
	    "helo=\"%s\"%s%s%s%s%s%s%s%s%s%s%s%s reply=\"%s\"",
	    s->tx ? s->tx->id : "NOQUEUE", (unsigned long long)s->sid,
	    s->stage, s->addr_str, s->helo ? s->helo : "",
	    fw ? " orig_client=[" : "", fw ? oc : "", fw ? "]" : "",
	    fw ? " orig_helo=\"" : "", fw ? (oh ? oh : "") : "",
	    fw ? "\"" : "",
	    s->tx ? " from=<" : "", s->tx ? s->tx->sender : "",
	    s->tx ? ">" : "", s->cur_rcpt ? " to=<" : "",
	    s->cur_rcpt ? s->cur_rcpt : "", s->cur_rcpt ? ">" : "", reply);
}

static void
smtp_vrefuse(struct smtp_session *s, bool counted, const char *fmt,
    va_list ap)
{
	char reply[512];

	vsnprintf(reply, sizeof(reply), fmt, ap);
	smtp_log_reject(s, reply);
	smtp_reply(s, "%s", reply);
	if (!counted)
		return;
	s->env->counters->rejects++;
	if (++s->errors >= s->env->conf->limits.errors) {
		log_info("event=too-many-errors sid=%llu client=[%s] errors=%u",
		    (unsigned long long)s->sid, s->addr_str, s->errors);
		smtp_reply_close(s, "421 4.7.0 %s Error: too many errors",
		    s->env->conf->hostname);
	}
}

/* A client error: logged and counted; past the limit the session ends
 * (RFC 5321 4.3.2 allows 421 at any time). */
void
smtp_error(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vrefuse(s, true, fmt, ap);
	va_end(ap);
}

/* A refusal that is not the client's fault (a limit, a policy): logged
 * only. */
void
smtp_refuse(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vrefuse(s, false, fmt, ap);
	va_end(ap);
}

static void
smtp_set_timeout(struct smtp_session *s, uint64_t secs)
{
	struct timeval tv = { (time_t)secs, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
smtp_attach_bev(struct smtp_session *s, struct bufferevent *bev)
{
	s->bev = bev;
	bufferevent_setcb(bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	smtp_set_timeout(s, s->env->conf->limits.command_timeout);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct smtp_session *
smtp_session_new(struct smtp_session_env *env, const struct conf_listen *l,
    int fd, const struct sockaddr *sa, const char *over_limit,
    void (*gone)(void *, struct smtp_session *), void *gone_arg)
{
	struct smtp_session *s;
	struct bufferevent *bev;
	uint16_t port = 0;

	s = xcalloc(1, sizeof(*s));
	s->env = env;
	s->listen = l;
	s->fd = fd;
	s->sid = smtp_next_sid++;
	s->gone = gone;
	s->gone_arg = gone_arg;
	s->over_limit = over_limit;
	s->line = xmalloc(env->conf->limits.line_length + 1);
	addr_from_sockaddr(sa, &s->addr);
	addr_format(&s->addr, s->addr_str, sizeof(s->addr_str));
	if (sa->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	snprintf(s->port_str, sizeof(s->port_str), "%u", port);
	s->trusted = conf_is_trusted(env->conf, &s->addr);
	evutil_make_socket_nonblocking(fd);
	bev = bufferevent_socket_new(env->base, fd, 0);
	if (bev == NULL)
		fatal("event=bufferevent-failed");
	smtp_attach_bev(s, bev);
	log_info("event=connect sid=%llu client=[%s]:%s listen=%s trusted=%s%s%s",
	    (unsigned long long)s->sid, s->addr_str, s->port_str, l->text,
	    s->trusted ? "yes" : "no", over_limit ? " over_limit=" : "",
	    over_limit ? "yes" : "");
	if (env->shutting_down) {
		smtp_reply_close(s, "421 4.3.2 %s Service shutting down",
		    env->conf->hostname);
		return s;
	}
	smtp_reply(s, "220 %s ESMTP %s", env->conf->hostname, SMTP_VERSION);
	return s;
}

const struct addr *
smtp_session_addr(const struct smtp_session *s)
{
	return &s->addr;
}

void
smtp_xforward_reset(struct smtp_xforward_attrs *xf)
{
	free(xf->name);
	free(xf->addr);
	free(xf->port);
	free(xf->proto);
	free(xf->helo);
	free(xf->ident);
	free(xf->source);
	memset(xf, 0, sizeof(*xf));
}

/* Ends the mail transaction (RSET, a new HELO, end of DATA). */
static void
smtp_tx_reset(struct smtp_session *s)
{
	smtp_tx_free(&s->tx);
	smtp_xforward_reset(&s->xf);
}

static void
smtp_free(struct smtp_session *s)
{
	if (s->tx && s->state == SMTP_S_COMMIT)
		s->tx->sess = NULL;	/* the commit owns it now */
	else
		smtp_tx_free(&s->tx);
	smtp_xforward_reset(&s->xf);
	if (s->bev)
		bufferevent_free(s->bev);
	if (!s->fd_in_bev)
		close(s->fd);
	log_info("event=disconnect sid=%llu client=[%s] transactions=%u "
	    "errors=%u", (unsigned long long)s->sid, s->addr_str, s->ntx,
	    s->errors);
	free(s->helo);
	free(s->line);
	s->gone(s->gone_arg, s);
	free(s);
}

void
smtp_session_shutdown(struct smtp_session *s)
{
	s->stop = true;
	if (s->state == SMTP_S_CMD && s->tx == NULL)
		smtp_reply_close(s, "421 4.3.2 %s Service shutting down",
		    s->env->conf->hostname);
}

void
smtp_session_abort(struct smtp_session *s)
{
	smtp_free(s);
}

/* --- commands ------------------------------------------------------- */

static void
smtp_cmd_helo(struct smtp_session *s, char *args, bool esmtp)
{
	const struct conf *c = s->env->conf;

	if (!smtp_helo_is_valid(args)) {
		smtp_error(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	smtp_tx_reset(s);
	free(s->helo);
	s->helo = xstrdup(args);
	s->greeted = true;
	s->esmtp = esmtp;
	if (!esmtp) {
		smtp_reply(s, "250 %s", c->hostname);
		return;
	}
	smtp_reply(s, "250-%s", c->hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)c->limits.message_size);
	if (s->listen->tls && !s->tls_active && s->env->tls)
		smtp_reply(s, "250-STARTTLS");
	if (s->trusted)
		smtp_reply(s, "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT "
		    "SOURCE");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250 SMTPUTF8");
}

static void
smtp_cmd_mail(struct smtp_session *s, char *args)
{
	const struct conf *c = s->env->conf;
	const struct smtp_error *err;
	struct smtp_mail_args m;

	if (!s->greeted) {
		smtp_error(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->tx) {
		smtp_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (s->listen->tls_required && !s->tls_active) {
		smtp_error(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (s->over_limit) {
		smtp_error(s, "451 4.7.0 Error: %s, try again later",
		    s->over_limit);
		return;
	}
	if (smtp_parse_mail(args, &m, &err) == -1) {
		smtp_error(s, "%d %s %s", err->code, err->ecode, err->text);
		return;
	}
	if (m.body == SMTP_BODY_BINARYMIME) {	/* needs CHUNKING, RFC 3030 */
		smtp_error(s, "555 5.5.4 Unsupported option: BODY=BINARYMIME");
		return;
	}
	if (m.has_size && m.size > c->limits.message_size) {
		smtp_error(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	s->tx = smtp_tx_new(s, m.addr, m.smtputf8,
	    m.body == SMTP_BODY_8BITMIME);
	log_info("queue_id=%s sid=%llu event=mail from=<%s>%s%s",
	    s->tx->id, (unsigned long long)s->sid, m.addr,
	    m.has_size ? " size_declared=" : "", m.has_size ? "yes" : "");
	smtp_reply(s, "250 2.1.0 Ok");
}

/* Who is sending, as the policies see it before DATA: the original
 * client (XFORWARD from a trusted peer, else the peer) and its HELO. */
void
smtp_ident(struct smtp_session *s, struct engine_ident *id,
    struct addr *client)
{
	const struct smtp_xforward_attrs *xf = &s->xf;
	bool fw = xf->addr != NULL && *xf->addr != '\0';
	const char *helo;

	memset(id, 0, sizeof(*id));
	if (fw ? engine_parse_client(xf->addr, client) : true) {
		if (!fw)
			*client = s->addr;
		id->client = client;
	}
	/* the original client's HELO when XFORWARD speaks of it at all:
	 * HELO=[UNAVAILABLE] ("") is not known, not an empty name, and
	 * never the peer's own */
	helo = fw || xf->helo != NULL ? xf->helo : s->helo;
	id->helo = helo != NULL && *helo != '\0' ? helo : NULL;
	id->sender = s->tx != NULL ? s->tx->sender : "";
	id->login_pending = s->trusted;
}

/* Relay access (DESIGN.md): a trusted client may relay anywhere; anyone
 * may send to a relay-domain; nothing else, ever. */
static bool
smtp_may_relay(struct smtp_session *s, const char *rcpt)
{
	if (s->trusted)
		return true;
	if (strcasecmp(rcpt, "postmaster") == 0)
		return true;
	return conf_is_relay_domain(s->env->conf, smtp_addr_domain(rcpt));
}

/* The engine's answer for a recipient: refused, or added with the
 * access verdict (ok, hold, discard, pass, none) for the end of DATA. */
static void
smtp_rcpt_decided(struct smtp_session *s, const char *rcpt,
    const struct engine_rcpt_out *o)
{
	if (o->verdict == POL_V_REJECT || o->verdict == POL_V_TEMPFAIL) {
		s->env->counters->policy_refusals++;
		smtp_refuse(s, "%s", o->reply);
		return;
	}
	smtp_tx_add_rcpt(s->tx, rcpt, o->verdict);
	smtp_reply(s, "250 2.1.5 Ok");
}

/* A check that waited (DNS, SPF) has its answer: reply, read on. */
static void
smtp_rcpt_resume(void *arg, const struct engine_rcpt_out *o)
{
	struct smtp_session *s = arg;
	char *rcpt = s->tx->rcpt_wait;

	s->tx->rcpt_wait = NULL;
	s->stage = "rcpt";
	s->cur_rcpt = rcpt;
	smtp_rcpt_decided(s, rcpt, o);
	s->cur_rcpt = NULL;
	free(rcpt);
	smtp_session_resume(s);
}

/* The engine's RCPT stage for a recipient relay access let through.
 * When it must wait (a DNS look-up, SPF), nothing more is read until it
 * answers: the replies keep the commands' order (RFC 2920). */
static void
smtp_rcpt_access(struct smtp_session *s, const char *rcpt)
{
	struct engine_rcpt_out o;
	struct engine_ident id;

	if (s->env->engine == NULL) {
		smtp_tx_add_rcpt(s->tx, rcpt, POL_V_NONE);
		smtp_reply(s, "250 2.1.5 Ok");
		return;
	}
	if (s->tx->etx == NULL)
		s->tx->etx = engine_tx_new();
	smtp_ident(s, &id, &s->tx->rcpt_client);
	if (engine_rcpt_check(s->env->engine, s->tx->etx, &id, rcpt,
	    s->tx->id, &o, smtp_rcpt_resume, s)) {
		smtp_rcpt_decided(s, rcpt, &o);
		return;
	}
	s->tx->rcpt_wait = xstrdup(rcpt);
	s->state = SMTP_S_RCPT;
	bufferevent_disable(s->bev, EV_READ);
}

static void
smtp_cmd_rcpt(struct smtp_session *s, char *args)
{
	const struct smtp_error *err;
	struct smtp_rcpt_args r;

	if (s->tx == NULL) {
		smtp_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (smtp_parse_rcpt(args, &r, &err) == -1) {
		smtp_error(s, "%d %s %s", err->code, err->ecode, err->text);
		return;
	}
	if (!smtp_addr_is_valid(r.addr, s->tx->utf8) &&
	    strcasecmp(r.addr, "postmaster") != 0) {
		smtp_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	s->cur_rcpt = r.addr;
	if (s->tx->nrcpt >= s->env->conf->limits.recipients)
		smtp_refuse(s, "452 4.5.3 Error: too many recipients");
	else if (!smtp_may_relay(s, r.addr))
		smtp_error(s, "554 5.7.1 <%s>: Relay access denied", r.addr);
	else
		smtp_rcpt_access(s, r.addr);
	s->cur_rcpt = NULL;
}

static void
smtp_cmd_data(struct smtp_session *s, char *args)
{
	if (*args != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->tx == NULL) {
		smtp_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->tx->nrcpt == 0) {
		smtp_error(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_tx_begin_data(s);
	s->state = SMTP_S_DATA;
	smtp_set_timeout(s, s->env->conf->limits.data_timeout);
}

static void
smtp_xf_set(char **slot, const char *v)
{
	if (v == NULL)
		return;
	free(*slot);
	*slot = xstrdup(v);
}

static void
smtp_cmd_xforward(struct smtp_session *s, char *args)
{
	const struct smtp_error *err;
	struct smtp_xforward x;

	if (!s->trusted) {
		smtp_error(s, "550 5.7.0 Error: insufficient authorization");
		return;
	}
	if (s->tx) {
		smtp_error(s, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	memset(&x, 0, sizeof(x));
	if (smtp_parse_xforward(args, &x, &err) == -1) {
		smtp_error(s, "%d %s %s", err->code, err->ecode, err->text);
		return;
	}
	smtp_xf_set(&s->xf.name, x.name);
	smtp_xf_set(&s->xf.addr, x.addr);
	smtp_xf_set(&s->xf.port, x.port);
	smtp_xf_set(&s->xf.proto, x.proto);
	smtp_xf_set(&s->xf.helo, x.helo);
	smtp_xf_set(&s->xf.ident, x.ident);
	smtp_xf_set(&s->xf.source, x.source);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_starttls(struct smtp_session *s, char *args)
{
	if (!s->listen->tls || s->env->tls == NULL || s->tls_active) {
		smtp_error(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (*args != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->tx) {
		smtp_error(s, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	s->state = SMTP_S_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
}

/* The 220 has been flushed: drop the clear-text bufferevent (and anything
 * the client pipelined after STARTTLS) and handshake on the socket. */
static void
smtp_start_tls(struct smtp_session *s)
{
	struct bufferevent *bev;
	SSL *ssl;

	bufferevent_free(s->bev);
	s->bev = NULL;
	if ((ssl = SSL_new(s->env->tls)) == NULL) {
		smtp_free(s);
		return;
	}
	bev = bufferevent_openssl_socket_new(s->env->base, s->fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		smtp_free(s);
		return;
	}
	s->fd_in_bev = true;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* RFC 3207 4.2: the client must start over with EHLO */
	s->greeted = false;
	free(s->helo);
	s->helo = NULL;
	smtp_xforward_reset(&s->xf);
	s->state = SMTP_S_CMD;
	s->tls_active = true;
	smtp_attach_bev(s, bev);
}

static void
smtp_dispatch(struct smtp_session *s, char *line)
{
	char *args;

	static const char *stages[] = {
		[SMTP_CMD_UNKNOWN] = "unknown", [SMTP_CMD_HELO] = "helo",
		[SMTP_CMD_EHLO] = "ehlo", [SMTP_CMD_MAIL] = "mail",
		[SMTP_CMD_RCPT] = "rcpt", [SMTP_CMD_DATA] = "data",
		[SMTP_CMD_RSET] = "rset", [SMTP_CMD_NOOP] = "noop",
		[SMTP_CMD_QUIT] = "quit", [SMTP_CMD_VRFY] = "vrfy",
		[SMTP_CMD_EXPN] = "expn", [SMTP_CMD_HELP] = "help",
		[SMTP_CMD_STARTTLS] = "starttls",
		[SMTP_CMD_XFORWARD] = "xforward", [SMTP_CMD_AUTH] = "auth",
		[SMTP_CMD_BDAT] = "bdat",
	};
	enum smtp_cmd cmd = smtp_parse_verb(line, &args);

	s->stage = stages[cmd];
	switch (cmd) {
	case SMTP_CMD_HELO:	smtp_cmd_helo(s, args, false); break;
	case SMTP_CMD_EHLO:	smtp_cmd_helo(s, args, true); break;
	case SMTP_CMD_MAIL:	smtp_cmd_mail(s, args); break;
	case SMTP_CMD_RCPT:	smtp_cmd_rcpt(s, args); break;
	case SMTP_CMD_DATA:	smtp_cmd_data(s, args); break;
	case SMTP_CMD_XFORWARD:	smtp_cmd_xforward(s, args); break;
	case SMTP_CMD_STARTTLS:	smtp_cmd_starttls(s, args); break;
	case SMTP_CMD_RSET:
		smtp_tx_reset(s);
		smtp_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_NOOP:
		smtp_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_QUIT:
		smtp_reply_close(s, "221 2.0.0 Bye");
		break;
	case SMTP_CMD_VRFY:
		smtp_reply(s, "252 2.0.0 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		break;
	case SMTP_CMD_HELP:
		smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA "
		    "RSET NOOP QUIT VRFY HELP%s%s",
		    s->listen->tls && s->env->tls && !s->tls_active ?
		    " STARTTLS" : "", s->trusted ? " XFORWARD" : "");
		break;
	case SMTP_CMD_EXPN:
	case SMTP_CMD_AUTH:
	case SMTP_CMD_BDAT:
		smtp_error(s, "502 5.5.1 Error: command not implemented");
		break;
	default:
		smtp_error(s, "502 5.5.2 Error: command not recognized");
		break;
	}
}

/* --- input ---------------------------------------------------------- */

/* Takes one command line from in into s->line.  1: a line is there;
 * 0: need more input; -1: the line was refused (reply already sent). */
static int
smtp_take_line(struct smtp_session *s, struct evbuffer *in)
{
	size_t max = s->env->conf->limits.line_length, len, eol_len;
	struct evbuffer_ptr p;

	s->stage = "command";
	p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos == -1) {
		len = evbuffer_get_length(in);
		if (len <= max)
			return 0;
		/* RFC 5321 4.5.3.1.4: refuse, and drop until the end */
		evbuffer_drain(in, len);
		if (!s->skip_line)
			smtp_error(s, "500 5.5.2 Error: line too long");
		s->skip_line = true;
		return -1;
	}
	len = (size_t)p.pos;
	if (s->skip_line || len > max) {
		evbuffer_drain(in, len + eol_len);
		if (!s->skip_line)
			smtp_error(s, "500 5.5.2 Error: line too long");
		s->skip_line = false;
		return -1;
	}
	evbuffer_remove(in, s->line, len);
	evbuffer_drain(in, eol_len);
	if (len > 0 && s->line[len - 1] == '\r')
		len--;			/* CRLF; a bare LF is tolerated */
	s->line[len] = '\0';
	if (memchr(s->line, '\0', len) != NULL) {
		smtp_error(s, "500 5.5.2 Error: NUL character in command");
		return -1;
	}
	return 1;
}

static void
smtp_process(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	int r;

	for (;;) {
		if (s->state == SMTP_S_DATA) {
			if (!smtp_tx_read_data(s, in))
				return;
			smtp_set_timeout(s, s->env->conf->limits.command_timeout);
			s->state = SMTP_S_CMD;
			smtp_tx_end_data(s);
			continue;
		}
		if (s->state != SMTP_S_CMD)
			return;
		if ((r = smtp_take_line(s, in)) == 0)
			return;
		if (r == 1)
			smtp_dispatch(s, s->line);
		if (s->stop && s->state == SMTP_S_CMD && s->tx == NULL)
			smtp_session_shutdown(s);
	}
}

void
smtp_session_resume(struct smtp_session *s)
{
	s->state = SMTP_S_CMD;
	if (s->stop && s->tx == NULL) {
		smtp_session_shutdown(s);
		return;
	}
	bufferevent_enable(s->bev, EV_READ);
	smtp_process(s);
}

static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	smtp_process(arg);
}

static void
smtp_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (s->state == SMTP_S_CLOSING)
		smtp_free(s);
	else if (s->state == SMTP_S_STARTTLS)
		smtp_start_tls(s);
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* the TLS handshake is done */
		tls_describe(bufferevent_openssl_get_ssl(s->bev), s->tls_desc,
		    sizeof(s->tls_desc));
		log_info("event=starttls sid=%llu client=[%s] tls=\"%s\"",
		    (unsigned long long)s->sid, s->addr_str, s->tls_desc);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && s->state != SMTP_S_CLOSING &&
	    (what & BEV_EVENT_READING)) {
		log_info("event=timeout sid=%llu client=[%s] state=%s",
		    (unsigned long long)s->sid, s->addr_str,
		    s->state == SMTP_S_DATA ? "data" : "command");
		smtp_reply_close(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->env->conf->hostname);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		log_info("event=lost sid=%llu client=[%s] error=\"%s\"",
		    (unsigned long long)s->sid, s->addr_str,
		    errno ? strerror(errno) : "tls");
	smtp_free(s);
}
