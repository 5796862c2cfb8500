/*
 * mta: the SMTP client of delivery (RFC 5321), one session per connection
 * to one already-resolved address of a next hop.  DNS, the queue and the
 * scheduler are the caller's: this module connects, greets, negotiates
 * STARTTLS (RFC 3207) and AUTH (RFC 4954), runs mail transactions (with
 * PIPELINING, RFC 2920, when offered) and reports one result per
 * recipient.  Everything runs on the caller's event_base; nothing blocks.
 *
 * Life of a session: mta_session_new() -> MTA_EV_READY -> any number of
 * mta_session_send(), one at a time, each ending in its mta_tx_cb ->
 * mta_session_close() (QUIT) -> MTA_EV_CLOSED, after which the session is
 * freed.  A session that cannot be set up reports MTA_EV_FAILED, then
 * MTA_EV_CLOSED.  MTA_EV_CLOSED is always the last callback, except after
 * mta_session_abort(), which is silent.
 *
 * Choices (Postfix's where the RFCs leave room):
 * - EHLO, then HELO when EHLO gets a 5xx.  A 421 at any time ends the
 *   session; every recipient still open gets that reply (deferred).
 * - TLS: none never starts TLS; may uses STARTTLS when offered and goes on
 *   in clear when it is not (or when the server refuses STARTTLS with an
 *   error reply); a failed handshake fails the session (temporary; a retry
 *   in clear is a possible refinement); encrypt requires STARTTLS (4.7.4);
 *   verify also checks the chain against the CA file (the system's CAs
 *   without one) and the name in mta_params.host (4.7.5).  TLS 1.2 or
 *   newer.  EHLO is sent again after the handshake.
 * - AUTH only when credentials are given and the server offers AUTH (a
 *   server that does not is sent the mail without).  PLAIN when offered,
 *   else LOGIN.  Both send the password in clear, so, as Postfix's
 *   default smtp_sasl_security_options = noplaintext does, credentials go
 *   only over TLS; policy none is the administrator's explicit "no TLS"
 *   and sends them in clear.  An AUTH failure is temporary, as Postfix's
 *   smtp_sasl_auth_soft_bounce = yes: the server's 535 5.7.8 is reported
 *   with its text and the status class turned to 4 (4.7.8).
 * - SMTPUTF8 required but not offered: bounced 5.6.7 without sending.  A
 *   SIZE limit announced below the message size: bounced 5.3.4 without
 *   sending; SIZE= is sent when offered.  An 8BITMIME message to a server
 *   that does not offer 8BITMIME is sent as it is, without BODY=.
 * - Enhanced status codes (RFC 3463) are taken from a reply when it
 *   starts with one whose class matches the reply code (whether or not
 *   ENHANCEDSTATUSCODES was offered, as Postfix does); else X.0.0.
 * - Between transactions on one connection the client sends RSET (in the
 *   same write as the next MAIL when pipelining).
 * - Replies: lines over MTA_LINE_MAX bytes are truncated, a reply keeps at
 *   most MTA_REPLY_MAX bytes of text and may have at most MTA_REPLY_LINES
 *   lines (more is a protocol error): a hostile server cannot make us
 *   allocate without bound.
 */
#ifndef SLUICE_MTA_H
#define SLUICE_MTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#define MTA_LINE_MAX	2048	/* bytes kept of one reply line */
#define MTA_REPLY_MAX	16384	/* bytes of text kept of one reply */
#define MTA_REPLY_LINES	512	/* lines of one reply */
#define MTA_TEXT_SIZE	1024	/* struct mta_result text, NUL included */

enum mta_tls_policy {
	MTA_TLS_NONE,
	MTA_TLS_MAY,
	MTA_TLS_ENCRYPT,
	MTA_TLS_VERIFY
};

/* What a session is given.  mta_session_new() copies every string (and
 * wipes its copy of the password when done), so the caller may free them
 * after the call. */
struct mta_params {
	const struct sockaddr	*addr;		/* where to connect */
	socklen_t		 addrlen;
	const char		*host;		/* next hop name: SNI, verify,
						   logs; an IP literal works */
	const char		*helo;		/* our name in EHLO/HELO */
	enum mta_tls_policy	 tls;
	const char		*ca_file;	/* trust anchors (PEM); NULL:
						   the system's */
	const char		*auth_user;	/* NULL: no AUTH */
	const char		*auth_pass;
	unsigned		 connect_timeout;	/* s; 0: 30 */
	unsigned		 command_timeout;	/* s per reply; 0: 300 */
	unsigned		 data_timeout;		/* s; body, final reply;
							   0: 600 */
	unsigned		 idle_timeout;		/* s idle before QUIT;
							   0: the caller closes */
};

enum mta_status {
	MTA_SENT,		/* 2xx */
	MTA_DEFERRED,		/* 4xx, connection lost, timeout: retry */
	MTA_BOUNCED		/* 5xx: permanent */
};

/* The outcome of one recipient (or of a session).  code is the server's
 * reply code, 0 when the outcome is ours (timeout, lost connection, TLS,
 * size).  text is printable UTF-8, in Postfix's manner: the reply for
 * MTA_SENT ("250 2.0.0 Ok: queued as X"), else "host H[IP] said: 550
 * 5.1.1 ... (in reply to RCPT TO command)" or our reason. */
struct mta_result {
	enum mta_status	 status;
	int		 code;
	char		 dsn[16];		/* RFC 3463: "5.1.1" */
	char		 text[MTA_TEXT_SIZE];
};

/* Values equal to QUEUE_F_8BITMIME and QUEUE_F_SMTPUTF8. */
#define MTA_TX_8BITMIME	0x01	/* BODY=8BITMIME when offered */
#define MTA_TX_SMTPUTF8	0x02	/* needs SMTPUTF8 (RFC 6531) */

struct mta_rcpt {
	const char	*addr;		/* no angle brackets */
	uint64_t	 id;		/* the caller's; not used here */
};

/* One mail transaction.  The caller keeps everything it points to valid
 * until its mta_tx_cb has run (or the session is aborted). */
struct mta_tx {
	const char		*sender;	/* "" for the null sender */
	const struct mta_rcpt	*rcpts;
	size_t			 nrcpt;
	const char		*data;		/* header and body, CRLF lines,
						   not dot-stuffed */
	size_t			 len;		/* the size (for SIZE=) */
	unsigned		 flags;		/* MTA_TX_* */
};

enum mta_event_type {
	MTA_EV_READY,		/* greeted (TLS, AUTH done): takes a tx */
	MTA_EV_FAILED,		/* could not be set up: reason; CLOSED follows */
	MTA_EV_CLOSED		/* gone; freed when the callback returns */
};

struct mta_event {
	enum mta_event_type	 type;
	const char		*relay;		/* "host[ip]:port", for logs */
	const char		*greeting;	/* host name in the server's 220 */
	const char		*tls;		/* "TLSv1.3 CIPHER 256", or NULL */
	bool			 tls_verified;	/* chain and name checked */
	bool			 authenticated;
	/* FAILED: why.  CLOSED: why, or NULL after a clean QUIT. */
	const struct mta_result	*reason;
};

struct mta_session;

typedef void mta_event_cb(void *arg, struct mta_session *,
    const struct mta_event *);
/* res has tx->nrcpt entries, in tx->rcpts order; valid during the call.
 * The session is idle again (or closing) when this runs: the callback may
 * call mta_session_send(), _close() or _abort(). */
typedef void mta_tx_cb(void *arg, const struct mta_tx *tx,
    const struct mta_result *res);

/* Starts a session (the connect happens on the loop's next turn; every
 * outcome, even an immediate connect error, comes as an event).  Never
 * NULL.  The session owns itself until MTA_EV_CLOSED. */
struct mta_session	*mta_session_new(struct event_base *,
			    const struct mta_params *, mta_event_cb *,
			    void *arg);
/* Starts a transaction on a READY, idle session.  0: cb will be called
 * exactly once (unless the session is aborted); -1: not now (not ready,
 * a transaction running, closing, or no recipient), cb is not called. */
int	mta_session_send(struct mta_session *, const struct mta_tx *,
	    mta_tx_cb *, void *arg);
/* Ends the session politely: a running transaction finishes (its cb
 * runs), then QUIT, then MTA_EV_CLOSED.  A session not yet ready is shut
 * when it becomes ready, without MTA_EV_READY. */
void	mta_session_close(struct mta_session *);
/* Drops the connection and frees the session now: no callback of any
 * kind follows (a running transaction's recipients are the caller's to
 * retry).  Safe inside this module's callbacks.  Clears the pointer. */
void	mta_session_abort(struct mta_session **);
/* "host[ip]:port", for logs; valid while the session is. */
const char	*mta_session_relay(const struct mta_session *);
bool		 mta_session_is_ready(const struct mta_session *);

/* SSL_CTX cache: one client context per CA file (and one for the system's
 * CAs), built on first use and shared by sessions.  Loading reads files:
 * call this at start-up (and in `sluiced -n`) for each CA file the
 * configuration names, so nothing is read on the loop.  0, or -1 with
 * *errstr (OpenSSL's reason). */
int	mta_tls_preload(const char *ca_file, const char **errstr);
/* Forgets every cached context (reload, shutdown); live sessions keep
 * theirs until they end. */
void	mta_tls_cache_clear(void);

#endif
