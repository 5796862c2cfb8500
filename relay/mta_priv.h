/*
 * mta_priv: what the files of the SMTP client share: mta_session.c (the
 * connection, greeting, EHLO, STARTTLS and the state machine),
 * mta_reply.c (reading and parsing replies), mta_tx.c (mail
 * transactions), mta_tls.c (client contexts, verification) and
 * mta_auth.c (AUTH PLAIN and LOGIN).
 */
#ifndef SLUICE_MTA_PRIV_H
#define SLUICE_MTA_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include "../lib/addr.h"
#include "../lib/buf.h"
#include "mta.h"

enum mta_state {
	MTA_S_INIT,		/* the connect waits for the loop */
	MTA_S_CONNECTING,
	MTA_S_GREETING,		/* waiting for the 220 */
	MTA_S_EHLO,
	MTA_S_HELO,
	MTA_S_STARTTLS,		/* waiting for the 220 to STARTTLS */
	MTA_S_HANDSHAKE,	/* TLS handshake */
	MTA_S_AUTH,
	MTA_S_READY,		/* idle: takes a transaction */
	MTA_S_TX,		/* a transaction runs (s->txn) */
	MTA_S_QUIT,		/* QUIT sent */
	MTA_S_DEAD		/* closed; freed when the stack unwinds */
};

/* One reply, as read: the code of its last line and the text of each
 * line (printable, '\n' between lines), bounded by MTA_REPLY_MAX. */
struct mta_reply {
	int		 code;
	char		 dsn[16];
	unsigned	 nlines;
	struct buf	 text;
};

/* Reads replies line by line from an evbuffer.  Over-long lines are cut
 * at MTA_LINE_MAX (the rest is skipped as it arrives). */
struct mta_reader {
	char		 line[MTA_LINE_MAX + 1];
	size_t		 len;
	bool		 skipping;	/* dropping the rest of a long line */
	bool		 complete;	/* reply holds a whole reply */
	struct mta_reply reply;
};

/* EHLO keywords (RFC 5321 4.1.1.1) we act on. */
struct mta_ext {
	bool		 pipelining;
	bool		 starttls;
	bool		 eightbitmime;
	bool		 smtputf8;
	bool		 enhanced;
	bool		 auth;
	bool		 auth_plain;
	bool		 auth_login;
	bool		 size_ok;	/* SIZE offered: send SIZE= */
	uint64_t	 size;		/* its limit; 0: none */
	char		 auth_mechs[128];
};

enum mta_auth_step {
	MTA_AUTH_PLAIN,		/* AUTH PLAIN with the initial response */
	MTA_AUTH_LOGIN,		/* AUTH LOGIN, waiting for 334 */
	MTA_AUTH_LOGIN_USER,	/* user sent, waiting for 334 */
	MTA_AUTH_LOGIN_PASS	/* password sent, waiting for 235 */
};

struct mta_txn;

struct mta_session {
	struct event_base	*base;
	struct bufferevent	*bev;
	int			 fd;
	bool			 fd_in_bev;	/* bev closes fd */
	struct event		*later;		/* next loop turn */
	enum mta_state		 state;
	unsigned		 refs;		/* frames on the stack */
	bool			 ready_sent;	/* MTA_EV_READY emitted */
	bool			 quit_pending;	/* close() asked */
	/* when the current timeouts were armed, and the shorter of them:
	 * a timeout that fires sooner is the idle one racing a new
	 * transaction on the same loop turn, not the peer's silence */
	struct timespec		 armed;
	time_t			 armed_secs;
	mta_event_cb		*cb;
	void			*arg;

	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			*host;
	char			*helo;
	char			*ca_file;
	char			*user;		/* wiped when done */
	char			*pass;
	enum mta_tls_policy	 tls;
	struct timeval		 t_connect, t_cmd, t_data, t_idle;
	char			 hostip[320];	/* "host[ip]" */
	char			 relay[330];	/* "host[ip]:port" */
	char			 greeting[256];

	bool			 tls_active;
	bool			 tls_verified;
	bool			 authenticated;
	char			 tls_desc[128];
	struct mta_ext		 ext;
	struct mta_reader	 rd;
	enum mta_auth_step	 auth_step;
	struct mta_txn		*txn;
	bool			 need_rset;	/* a transaction ran before */
};

/* mta_session.c */
/* Queues a command line (CRLF added) on the connection. */
void	mta_send_line(struct mta_session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Waits for the next reply with this many seconds. */
/* Arms the read and write timeouts (either may be NULL), noting when. */
void	mta_arm(struct mta_session *, const struct timeval *rd,
	    const struct timeval *wr);
void	mta_set_timeout(struct mta_session *, const struct timeval *);
/* The session is set up (TLS, AUTH done): READY, or QUIT when closing. */
void	mta_ready(struct mta_session *);
/* Ends the session: a running transaction gets why for its open
 * recipients; MTA_EV_FAILED when it never became ready; MTA_EV_CLOSED. */
void	mta_fail(struct mta_session *, const struct mta_result *why);
/* Closes the connection, first dropping what the output still points
 * to (the owner's message); the session lives on. */
void	mta_drop_connection(struct mta_session *);
/* Runs mta_tx_local_done() at the loop's next turn. */
void	mta_schedule(struct mta_session *);
/* The session went away while a callback ran. */
bool	mta_is_dead(const struct mta_session *);

/* mta_reply.c */
void	mta_reader_init(struct mta_reader *);
void	mta_reader_free(struct mta_reader *);
/* 1: a whole reply is in r->reply (valid until the next call); 0: more
 * input needed; -1: not SMTP (*errstr). */
int	mta_reader_take(struct mta_reader *, struct evbuffer *,
	    const char **errstr);
/* The keywords of an EHLO reply (its lines after the first). */
void	mta_ext_parse(const struct mta_reply *, struct mta_ext *);
/* "550 5.1.1 text of line 1 text of line 2", cut to fit. */
void	mta_reply_format(const struct mta_reply *, char *, size_t);
/* 2xx sent, 4xx deferred, 5xx bounced, anything else deferred. */
enum mta_status	mta_status_of(int code);
/* A result from a reply: the reply itself when 2xx, else "host H[IP]
 * said: REPLY (in reply to CMD command)".  soft: a 5xx counts as 4xx. */
void	mta_result_reply(struct mta_result *, const char *hostip,
	    const struct mta_reply *, const char *cmd, bool soft);
/* A result of our own making. */
void	mta_result_set(struct mta_result *, enum mta_status, const char *dsn,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* mta_tx.c */
/* A reply while a transaction runs. */
void	mta_tx_reply(struct mta_session *, const struct mta_reply *);
/* The output is flushed: in the body phase, now wait for the final
 * reply. */
void	mta_tx_flushed(struct mta_session *);
/* A transaction decided without the network (SMTPUTF8, SIZE). */
void	mta_tx_local_done(struct mta_session *);
/* The connection failed under a transaction: the open recipients get
 * why; the callback runs.  The session is no longer usable. */
void	mta_tx_abandon(struct mta_session *, const struct mta_result *why);
/* Drops a transaction without a callback (abort). */
void	mta_tx_free(struct mta_txn **);
/* What the transaction was doing, for "lost connection ... while X". */
const char	*mta_tx_stage(const struct mta_session *);
/* The command whose reply is awaited: "RCPT TO", "end of DATA", ... */
const char	*mta_tx_cmd(const struct mta_session *);

/* mta_tls.c */
/* A client SSL for this session (SNI, the name to verify), or NULL with
 * *errstr. */
SSL	*mta_tls_new_ssl(struct mta_session *, const char **errstr);
/* After the handshake: sets tls_desc and tls_verified; 0, or -1 with a
 * reason in why when the policy is verify and the check failed. */
int	mta_tls_check(struct mta_session *, SSL *, struct mta_result *why);

/* mta_auth.c */
/* After the last EHLO: sends AUTH, or calls mta_ready(), or fails. */
void	mta_auth_start(struct mta_session *);
void	mta_auth_reply(struct mta_session *, const struct mta_reply *);
/* Wipes and frees the credentials. */
void	mta_auth_forget(struct mta_session *);

#endif
