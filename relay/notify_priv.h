/*
 * notify_priv.h: what the files of the notify module share (notify.c, the
 * outbox and its drain; notify_fmt.c, the event as JSON and as an alert
 * message; notify_http.c, webhook POSTs through libcurl's multi-socket
 * API on the event loop).  Not for use outside relay/notify*.c and their
 * unit tests.
 *
 * What an attacker controls: the key (a sender address, a login, a HELO
 * or client address through XFORWARD) and nothing else of an event; the
 * URL, secret and addresses come from the configuration.
 */
#ifndef SLUICE_NOTIFY_PRIV_H
#define SLUICE_NOTIFY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "../lib/buf.h"

/*
 * One event: a key reached a threshold of a quota in a window (DESIGN.md,
 * "Contracts": webhook).  Strings are borrowed from the caller.
 */
struct notify_event {
	unsigned	 threshold;	/* percent, 1 to 100 */
	const char	*policy;	/* "outbound" */
	const char	*quota;		/* "per-user" */
	const char	*track;		/* "Sender:user@domain" (pol_track_name) */
	const char	*key;		/* "alice@example.com"; any bytes but NUL */
	double		 used;		/* in the window */
	uint64_t	 limit;
	const char	*unit;		/* "messages", "recipients", "bytes" */
	const char	*period;	/* "1h", "day" (pol_period_format) */
	int64_t		 window_start;	/* Unix seconds */
	int64_t		 window_end;
	double		 deferred;	/* waiting in later windows, same unit */
	int64_t		 next_release;	/* 0: nothing deferred (JSON null) */
	const char	*hostname;	/* conf->hostname */
	const char	*conf_path;	/* for sluicectl -c in the alert mail's
					   commands; NULL: the default one */
	int64_t		 time;		/* when it happened */
	bool		 test;		/* a sample (sluicectl notify test) */
};

/*
 * notify_fmt.c: pure functions.
 */
/* Appends the webhook body: one JSON object with, in this order, event
 * ("quota.threshold"), threshold, policy, quota, key, used, limit, unit,
 * period, window_start, window_end, deferred, next_release (null when
 * 0), hostname, time, and "test":true for a sample only.  Times are RFC
 * 3339 UTC ("2026-11-24T10:00:00Z"); figures are integers when whole. */
void	notify_json(const struct notify_event *, struct buf *out);
/* Appends "[sluice] KEY reached P% of QUOTA (LIMIT UNIT per PERIOD)",
 * sanitised for a header (no CR, LF or other control character; the
 * key shortened past 200 bytes). */
void	notify_subject(const struct notify_event *, struct buf *out);
/*
 * Appends the alert message (RFC 5322, CRLF lines, ending with CRLF):
 * From (from), To (to[0..nto)), Subject, Date (now), Message-ID
 * (<msgid@hostname>), Auto-Submitted: auto-generated (RFC 3834),
 * Precedence: bulk, MIME-Version, Content-Type text/plain and
 * X-Sluice-Event: quota.threshold, then a body with the figures and the
 * sluicectl commands to inspect, release or delete the backlog.  Header
 * values never hold a character that could end or fold the header.
 * *eightbit is set when the body holds non-ASCII bytes (valid UTF-8 is
 * kept; other bytes are escaped), so the caller can flag 8BITMIME.
 */
void	notify_mail(const struct notify_event *, const char *from,
	    const char *const *to, size_t nto, const char *msgid, int64_t now,
	    struct buf *out, bool *eightbit);

/*
 * notify_http.c: POSTs through one CURLM driven by the event loop
 * (CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION on libevent
 * events): nothing blocks, no thread per request.
 */
struct notify_http;
struct notify_http_req;

struct notify_http_result {
	long		 status;	/* HTTP status, 0 when none came */
	bool		 ok;		/* 2xx */
	bool		 retry;		/* worth trying again: 5xx, 429, a
					   timeout, a refused or failed
					   connection, a failed name look-up */
	double		 elapsed;	/* seconds */
	char		 error[256];	/* "" when ok; else what went wrong,
					   e.g. "HTTP 500", "connection
					   refused", "timed out after 10 s" */
};
typedef void notify_http_cb(void *arg, const struct notify_http_result *);

/* 0, or -1 with *errstr. */
int	notify_http_new(struct notify_http **, struct event_base *,
	    const char **errstr);
/* Cancels what is in flight (their callbacks are not called). */
void	notify_http_free(struct notify_http **);
/*
 * Starts a POST of body[0..len) to url with Content-Type:
 * application/json, X-Sluice-Event: quota.threshold, User-Agent and, when
 * secret is not NULL, X-Sluice-Signature: sha256=HMAC.  Redirects are not
 * followed; only http and https; certificates are verified.  timeout is
 * the whole request's, in seconds (taken as 1 s to 1 h).  Everything is
 * copied.  cb is called once, from the loop, never from inside this
 * call.  0, or -1 when libcurl refuses the request (cb is then not
 * called; *errstr says).
 */
int	notify_http_post(struct notify_http *,
	    const char *url, const char *body, size_t len,
	    const char *secret, size_t secretlen, uint64_t timeout,
	    notify_http_cb *cb, void *arg, const char **errstr);
/* Requests in flight. */
size_t	notify_http_pending(const struct notify_http *);
/* "sha256=" and the lower-case hex HMAC-SHA256 of body with secret
 * (72 bytes with the NUL). */
#define NOTIFY_SIG_SIZE	72
void	notify_sign(const char *secret, size_t secretlen, const char *body,
	    size_t len, char out[NOTIFY_SIG_SIZE]);

#endif
