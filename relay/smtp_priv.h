/*
 * smtp_priv: what smtp_session.c (commands, I/O) and smtp_tx.c (the mail
 * transaction: envelope, DATA, Received, commit) share.
 */
#ifndef SLUICE_SMTP_PRIV_H
#define SLUICE_SMTP_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/bufferevent.h>

#include "../lib/buf.h"
#include "engine.h"
#include "engine_acct.h"
#include "smtp.h"
#include "smtp_parse.h"

enum smtp_state {
	SMTP_S_CMD,		/* reading commands */
	SMTP_S_DATA,		/* reading the message */
	SMTP_S_COMMIT,		/* waiting for the store; input paused */
	SMTP_S_RCPT,		/* waiting for a RCPT check (DNS, SPF);
				   input paused */
	SMTP_S_CLOSING,		/* last reply queued; close when flushed */
	SMTP_S_STARTTLS		/* 220 queued; handshake when flushed */
};

/* XFORWARD attributes (owned copies); NULL when not given. */
struct smtp_xforward_attrs {
	char	*name, *addr, *port, *proto, *helo, *ident, *source;
};

/* One mail transaction.  Owned by the session until the commit is
 * submitted; from then on, by the commit (the session may go away while
 * the writer works: sess is then NULL). */
struct smtp_tx {
	struct smtp_session	*sess;
	struct event_base	*base;
	char			 id[QUEUE_ID_SIZE];
	char			*sender;
	char			**rcpts;
	enum pol_verdict	*access;	/* per recipient, at RCPT */
	struct engine_tx	*etx;		/* the RCPT checks' answers */
	char			*rcpt_wait;	/* the RCPT being checked */
	struct addr		 rcpt_client;	/* its identity's client */
	size_t			 nrcpt;
	bool			 utf8;
	bool			 eightbit;
	struct buf		 body;
	size_t			 hdr_len;	/* our Received header */
	bool			 too_big;
	bool			 at_bol;	/* DATA: at a line start */
	bool			 prev_crlf;	/* DATA: last line ended CRLF */
	struct queue_msg	 msg;
	struct queue_rcpt_in	*rin;
	char			*client[10];	/* strings msg points to */
	struct pol_decision	 quota;		/* the quota stage's */
	struct engine		*engine;	/* to undo it on failure */
	struct queue_counter	*crows;		/* its rows for the store */
	struct notify		*notify;	/* quota alerts */
	struct notify_batch	*nbatch;	/* those it caused, stored
						   with it */
	size_t			 ncrows;
	struct queue_counter	*resv;		/* deferred recipients'
						   reservations */
	struct pol_acct_decision acct;		/* the accountings' */
	struct queue_acct_row	*arows;		/* its rows for the store */
	size_t			 narows;
	struct queue_counter	*agb;		/* what deferred recipients
						   an accounting holds or
						   discards reserved: given
						   back once stored */
	size_t			 nagb;
	char			**qname;	/* per recipient: the quota
						   holding it back, or NULL */
	/* tell-sender delay: the delay notice stored with the message */
	bool			 notice;
	struct queue_msg	 nmsg;
	struct queue_rcpt_in	 nrin;
	struct buf		 nbody;
	int			 rc;
	char			 err[256];
	struct timespec		 start;
	smtp_queued_fn		*queued;	/* told once committed */
	void			*queued_arg;
};

struct smtp_session {
	struct smtp_session_env		*env;
	const struct conf_listen	*listen;
	struct bufferevent		*bev;
	int				 fd;
	bool				 fd_in_bev;	/* bev closes fd */
	uint64_t			 sid;
	struct addr			 addr;
	char				 addr_str[ADDR_STRLEN];
	char				 port_str[8];
	bool				 trusted;
	const char			*over_limit;
	enum smtp_state			 state;
	bool				 greeted;	/* HELO/EHLO seen */
	bool				 esmtp;
	char				*helo;
	bool				 tls_active;
	char				 tls_desc[128];
	struct smtp_xforward_attrs	 xf;
	struct smtp_tx			*tx;
	unsigned			 errors;
	unsigned			 ntx;		/* transactions done */
	const char			*stage;		/* for logs: "mail", ... */
	const char			*cur_rcpt;	/* RCPT being refused */
	bool				 skip_line;
	bool				 stop;		/* shutdown asked */
	char				*line;		/* line-length + 1 */
	void				(*gone)(void *, struct smtp_session *);
	void				*gone_arg;
};

void	smtp_reply(struct smtp_session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Queues the reply, then closes once it is flushed. */
void	smtp_reply_close(struct smtp_session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	smtp_error(struct smtp_session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* A refusal that is not the client's fault: logged, not counted. */
void	smtp_refuse(struct smtp_session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The identity the policies see at RCPT; client is its storage. */
void	smtp_ident(struct smtp_session *, struct engine_ident *,
	    struct addr *client);
/* Forgets XFORWARD attributes: they hold for one transaction. */
void	smtp_xforward_reset(struct smtp_xforward_attrs *);
/* Resumes reading after a commit. */
void	smtp_session_resume(struct smtp_session *);

/* smtp_tx.c */
struct smtp_tx	*smtp_tx_new(struct smtp_session *, const char *sender,
		    bool utf8, bool eightbit);
void	smtp_tx_free(struct smtp_tx **);
void	smtp_tx_add_rcpt(struct smtp_tx *, const char *, enum pol_verdict);
/* DATA accepted: writes our Received header. */
void	smtp_tx_begin_data(struct smtp_session *);
/* Consumes message bytes from in; returns true at the end of DATA. */
bool	smtp_tx_read_data(struct smtp_session *, struct evbuffer *in);
/* End of DATA: replies 552 or hands the message to the store. */
void	smtp_tx_end_data(struct smtp_session *);

#endif
