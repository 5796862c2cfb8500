/*
 * dsn: delivery status notifications (RFC 3464) built by a pure function.
 * The caller says what became of some recipients of one message; dsn_build()
 * returns a complete RFC 5322 message (CRLF lines, none over 998 octets)
 * ready to be queued with the null envelope sender.  No I/O, no clock (the
 * caller gives `now`), no randomness (the MIME boundary and the Message-ID
 * come from the caller's `seed`), so the output is reproducible.
 *
 * The message (RFC 6522 multipart/report; report-type=delivery-status):
 *   From: Mail Delivery System <MAILER-DAEMON@hostname>, To: the original
 *   sender, Subject by the worst action present ("Undelivered Mail Returned
 *   to Sender" when a recipient failed, else "Delayed Mail (still being
 *   retried)", else "Successful Mail Delivery Report"), Date, Message-ID,
 *   Auto-Submitted: auto-replied (RFC 3834), three parts:
 *   1. text/plain: what happened, per recipient, in plain words;
 *   2. message/delivery-status: Reporting-MTA, X-Sluice-Queue-ID,
 *      X-Sluice-Sender, Original-Envelope-Id, Arrival-Date; then per
 *      recipient Final-Recipient, Original-Recipient, Action, Status,
 *      Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until and
 *      X-Sluice-Expected-Release (the last two for delayed recipients);
 *   3. the original: message/rfc822 (all of it) or text/rfc822-headers.
 *
 * Choices:
 * - What is returned.  Only a report with a failed recipient returns the
 *   whole message, and only when it is at most full_max bytes (default
 *   DSN_FULL_MAX, as Postfix's bounce_size_limit), RET=HDRS was not asked
 *   for (RFC 3461 4.3), and it can travel as it is (no NUL, CRLF lines of
 *   at most 998 octets); else its header section is returned, with header
 *   lines cut at 998 octets, bytes that are not UTF-8 or are controls
 *   turned to '?', and at most DSN_HEADERS_MAX bytes of it.  Delay and
 *   success reports return the headers only.  The text part says which.
 * - Untrusted text (addresses, the remote reply, the original's headers)
 *   never makes a line of its own: CR, LF and other controls become '?' in
 *   addresses and spaces in diagnostics, runs of spaces are collapsed,
 *   bytes that are not UTF-8 become '?', diagnostics are cut at
 *   DSN_DIAG_MAX bytes and addresses at DSN_ADDR_MAX.  Long fields are
 *   folded at spaces near 78 columns; a word that cannot fit in 998 octets
 *   is split by a fold (so it reads back with one space in it).
 * - Internationalised mail (RFC 6533).  When the sender or any recipient
 *   address is not ASCII, the report is message/global-delivery-status,
 *   non-ASCII addresses use the `utf-8;` address type (its raw UTF-8 form)
 *   and diagnostics keep their UTF-8; ASCII addresses stay `rfc822;`.
 *   Otherwise the report is message/delivery-status and non-ASCII in a
 *   diagnostic becomes '?' there (the text part keeps it, as UTF-8).  A
 *   returned original whose header section is not ASCII goes as
 *   message/global or message/global-headers.
 * - The boundary is "=_sluice_QUEUEID_" and 16 hex digits from the seed;
 *   if the parts happen to contain it, the next seed value is tried.
 * - Message-ID: <YYYYMMDDhhmmss.QUEUEID.KIND.SEED@hostname> (UTC; KIND is
 *   B, D or S), unique as long as a seed is not reused for one queue id in
 *   one second.
 */
#ifndef SLUICE_DSN_H
#define SLUICE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../lib/buf.h"

#define DSN_FULL_MAX	(100 * 1024)	/* default full_max, bytes */
#define DSN_HEADERS_MAX	(64 * 1024)	/* returned header section, bytes */
#define DSN_DIAG_MAX	4096		/* bytes kept of a diagnostic */
#define DSN_ADDR_MAX	512		/* bytes kept of an address */
#define DSN_LINE_MAX	998		/* octets per line, CRLF excluded */

/* RFC 3464 2.3.3.  failed and delayed are the ones delivery needs. */
enum dsn_action {
	DSN_FAILED,
	DSN_DELAYED,
	DSN_DELIVERED,
	DSN_RELAYED
};

/* RFC 3461 4.3: the RET parameter of MAIL FROM. */
enum dsn_ret {
	DSN_RET_DEFAULT,	/* none given: as FULL */
	DSN_RET_HDRS,
	DSN_RET_FULL
};

/* Values equal to MTA_TX_8BITMIME and MTA_TX_SMTPUTF8 (and QUEUE_F_*). */
#define DSN_F_8BITMIME	0x01	/* the body has 8-bit bytes */
#define DSN_F_SMTPUTF8	0x02	/* the header has UTF-8 (a non-ASCII To:) */

/* One recipient.  Strings may be NULL where said; the network's bytes are
 * welcome (they are cleaned, see above). */
struct dsn_rcpt {
	const char	*addr;		/* final recipient, no angle brackets */
	const char	*orig;		/* ORCPT's address (RFC 3461) or NULL */
	enum dsn_action	 action;
	const char	*status;	/* RFC 3463 "5.1.1"; NULL or malformed:
					   5.0.0, 4.0.0 or 2.0.0 by action */
	const char	*remote_mta;	/* next hop's host name, or NULL */
	const char	*diag;		/* the reply or our reason, or NULL */
	bool		 diag_is_reply;	/* diag is the remote server's reply
					   ("550 5.1.1 ..."): smtp; else ours:
					   X-Sluice; */
	time_t		 last_attempt;	/* 0: none (Last-Attempt-Date) */
	time_t		 retry_until;	/* delayed: Will-Retry-Until;
					   0: none */
	time_t		 expected;	/* delayed: when it is expected to go
					   (a quota window); 0: unknown */
};

/* What dsn_build() reports on; nothing is kept after the call. */
struct dsn_report {
	const char		*hostname;	/* ours, [A-Za-z0-9.-] */
	const char		*queue_id;	/* [A-Za-z0-9], 1..32 */
	const char		*envid;		/* ENVID (RFC 3461) or NULL */
	time_t			 arrival;	/* 0: no Arrival-Date */
	const char		*sender;	/* the original MAIL FROM */
	const char		*msg;		/* the original, CRLF; NULL or
						   empty: no third part */
	size_t			 msg_len;
	const struct dsn_rcpt	*rcpts;
	size_t			 nrcpt;		/* at least 1 */
	time_t			 now;
	uint64_t		 seed;		/* boundary and Message-ID */
	enum dsn_ret		 ret;
	size_t			 full_max;	/* 0: DSN_FULL_MAX */
};

/* Appends the notification to out (the caller's; it frees it) and, when
 * flags is not NULL, sets it to the DSN_F_* the message needs.  0, or -1
 * with *errstr (static) when the report is unusable: no recipient, a bad
 * hostname or queue id, or a sender dsn_should_bounce() refuses; out is
 * then unchanged. */
int	dsn_build(const struct dsn_report *, struct buf *out, unsigned *flags,
	    const char **errstr);

/* Whether a notification may be sent to this envelope sender.  The loop
 * rules live here and only here:
 * - never to the null sender ("" or "<>", or NULL): RFC 5321 4.5.5 and
 *   RFC 3464 4: a notification is itself sent from the null sender, so
 *   one that fails is dropped instead of bouncing back and forth;
 * - never to MAILER-DAEMON (any case, any domain or none): the name bounces
 *   come from; systems that send bounces with it as the envelope sender
 *   would otherwise answer our bounce with a bounce. */
bool	dsn_should_bounce(const char *sender);

#endif
