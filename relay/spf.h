/*
 * spf: SPF checks (RFC 7208) of the MAIL FROM identity, or of the HELO
 * identity for the null sender (section 2.4), with libspf2, answered on
 * the caller's event loop.  libspf2 blocks while it resolves, so every
 * check runs on a worker thread (SPF_WORKERS of them at first, more
 * while checks wait and every worker is busy, up to SPF_WORKERS_MAX: a
 * few domains whose DNS never answers must not hold up everyone else's
 * checks until their deadlines) and comes back through
 * loop_call(); the event_base must have been created after
 * evthread_use_pthreads().
 *
 * Every check ends in exactly one callback, on the loop's thread, never
 * inside spf_check() itself, unless it is cancelled (spf_cancel(),
 * spf_free()) first.  The callback comes about when the timeout of the
 * call runs out, at the latest a second later (a safety timer answers
 * then, should the workers fall behind): a silent DNS server is a
 * temperror, never a hang.  More than SPF_QUEUE_MAX checks waiting for a
 * worker: the next ones are temperrors at once.
 *
 * Results, as libspf2 finds them, with these choices:
 * - The whole evaluation has one deadline, counted from spf_check(); a
 *   check that reaches it is a temperror whatever libspf2 made of the
 *   look-ups that did not answer (section 4.6.4 asks for a limit).
 * - A record libspf2 cannot compile ("v=spf1 foo") is a permerror, a DNS
 *   failure of the domain's own TXT look-up a temperror (libspf2 leaves
 *   both without a result).  Two SPF records are a permerror (4.5).
 * - A sender domain (or null sender's HELO) that is not a multi-label
 *   LDH name of at most 253 characters is "none" without DNS (4.3, 2.3);
 *   so is a null sender without a HELO.
 * - libspf2 passes a loopback client (127/8, ::1) without DNS:
 *   "localhost is always allowed".
 * - Only TXT records are asked; the obsolete SPF RR type 99 (14.1) is
 *   answered "no data" without DNS.
 * - The domain's exp= text (6.2) is expanded with its macros and spaces
 *   (libspf2 1.2.10 alone garbles any text with a space in it).
 * - Inherited from libspf2: a temporary DNS failure inside an a, mx or
 *   exists mechanism counts as no match (section 5 wants temperror);
 *   void look-ups are not limited (4.6.4), DNS mechanisms, MX and PTR
 *   names are (10 each).
 *
 * DNS: each worker asks through its own resolver state (res_ninit(3)),
 * pointed at the given server, or left as /etc/resolv.conf has it; each
 * query waits at most until the check's deadline.  libspf2's own resolver
 * layer cannot be pointed anywhere, so the module plugs in its own.
 */
#ifndef SLUICE_SPF_H
#define SLUICE_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "../lib/addr.h"
#include "../policy/spf.h"

#define SPF_WORKERS		4	/* threads, each with its own libspf2 */
#define SPF_WORKERS_MAX		64	/* at most, once started they stay */
#define SPF_QUEUE_MAX		1024	/* checks waiting for a worker */
#define SPF_TIMEOUT_DEFAULT	20	/* seconds; RFC 7208 4.6.4: "at
					   least 20 seconds" */
#define SPF_TIMEOUT_MAX		300
#define SPF_SENDER_MAX		320	/* longer identities are "none" */
#define SPF_HELO_MAX		255
#define SPF_TEXT_SIZE		512	/* comment, explanation, NUL incl. */
#define SPF_HEADER_SIZE		768	/* a Received-SPF value, NUL incl. */
#define SPF_REPLY_SIZE		511	/* a reply line: 512 with CRLF (RFC 5321
					   4.5.3.1.5), NUL incl. */
#define SPF_HEADER_NAME		"Received-SPF"

enum spf_status {
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_NEUTRAL,
	SPF_NONE,
	SPF_PERMERROR,
	SPF_TEMPERROR
};

/* A check's outcome.  Valid during the callback only: copy what you
 * keep.  Every text is one line of printable ASCII (controls become
 * spaces, other bytes '?'), truncated to its buffer. */
struct spf_result {
	enum spf_status	 status;
	bool		 helo_identity;	/* the null sender: HELO checked */
	/* libspf2's comment, "RECEIVER: domain of D designates IP as
	 * permitted sender"; for the logs */
	char		 comment[SPF_TEXT_SIZE];
	/* fail, softfail, neutral: the domain's exp= text or ours; else "" */
	char		 explanation[SPF_TEXT_SIZE];
	/* the Received-SPF value (RFC 7208 9.1), without the field name:
	 * "pass (COMMENT) client-ip=IP; envelope-from=S; helo=H;
	 * receiver=R; identity=mailfrom;".  "" when the check did not run
	 * (too many waiting, or the safety timer answered). */
	char		 header[SPF_HEADER_SIZE];
};

struct spf;
struct spf_req;

/* Runs on the loop's thread; the handle is gone (do not cancel it).  It
 * may start or cancel checks and may call spf_free(). */
typedef void spf_cb(void *arg, const struct spf_result *);

/* Starts the workers (every signal blocked in them).  resolver: the DNS
 * server (AF_INET or AF_INET6 with its port, conf->resolver_ss), or NULL
 * for the nameservers of /etc/resolv.conf.  receiver: our host name (LDH
 * labels) for Received-SPF and the %{r} macro, or NULL for gethostname(3).
 * timeout_secs: 1..SPF_TIMEOUT_MAX, 0 for SPF_TIMEOUT_DEFAULT, bounds
 * each check as a whole.  0, or -1 with *errstr (static). */
int		 spf_new(struct spf **, struct event_base *base,
		    const struct sockaddr *resolver, const char *receiver,
		    unsigned timeout_secs, const char **errstr);
/* Cancels every pending check (no callback runs) and lets the workers
 * go without waiting: one busy with a check finishes it (by its
 * deadline) and discards it.  A worker's answer already handed to the
 * loop is discarded when the loop runs it: run the loop once more
 * (EVLOOP_NONBLOCK) before event_base_free() so that nothing is left.
 * Accepts NULL; clears the pointer. */
void		 spf_free(struct spf **);

/* Checks sender (the MAIL FROM address without brackets; "" or NULL for
 * the null sender) from client, which said helo (NULL if it did not);
 * copies all three (in the HELO, what is not a letter, digit or one of
 * ".-_[]:" becomes '?').  cb(arg, res) follows.  Never NULL: the handle
 * is valid until the callback starts or spf_cancel(). */
struct spf_req	*spf_check(struct spf *, const struct addr *client,
		    const char *helo, const char *sender, spf_cb *cb,
		    void *arg);
/* Forgets a pending check: its callback will not run.  A check already
 * running finishes on its worker and is discarded.  Accepts NULL;
 * clears the pointer. */
void		 spf_cancel(struct spf_req **);

/* "pass", "fail", ..., as in Received-SPF. */
const char	*spf_status_name(enum spf_status);

/*
 * Policy: what a result means for one recipient.  The spf block of a
 * policy and the merge of the matched policies' blocks (struct
 * spf_settings, struct spf_eff, spf_merge) are policy/spf.h's model;
 * spf_decide, here, applies the merged settings to a result.
 */

/* What to do with the recipient. */
struct spf_action {
	enum spf_verdict verdict;
	char		 reply[SPF_REPLY_SIZE];	/* "" when accepted */
	const char	*header;	/* the Received-SPF value to prepend
					   (res->header), or NULL */
};

/* The action for res under eff (enabled or not: the caller skips the
 * check when it is not).  act->header points into res. */
void	spf_decide(const struct spf_eff *eff, const struct spf_result *res,
	    struct spf_action *act);

#endif
