/*
 * api: the admin API, a small JSON-over-HTTP service (libevent evhttp) on
 * a UNIX socket.  sluicectl is its client.  Endpoints (DESIGN.md,
 * "Contracts"):
 *   GET  /v1/status                  daemon, queue and writer figures
 *   GET  /v1/queue[?state=S&sender=A] the listing
 *   GET  /v1/queue/ID                one message, per-recipient state
 *   GET  /v1/queue/ID/body           the stored message (message/rfc822)
 *   POST /v1/queue/ID/hold           holds its pending recipients
 *   POST /v1/queue/ID/release        held ones become ready, due now
 *   POST /v1/queue/ID/delete         removes a message
 *   POST /v1/queue/hold?sender=A     the same for every message of A
 *   POST /v1/queue/release?sender=A  ("sender=" is the null sender)
 *   POST /v1/queue/delete?sender=A
 *   POST /v1/queue/flush             every retry due now
 *   GET  /v1/quotas[?key=K]          usage per quota and key
 *   POST /v1/quotas/set?key=K&limit=N  an override of K's limit
 *   POST /v1/quotas/exempt?key=K     K is counted, never limited
 *   POST /v1/quotas/clear?key=K      K's override goes
 *   GET  /v1/explain?sender=A&recipient=B[&recipient=C...][&client_ip=IP]
 *        [&helo=H][&sasl=U][&size=N]  what the engine would decide now
 *   POST /v1/reload                  reads the configuration again
 *   POST /v1/notify/NAME/test        a sample alert to notifier NAME
 * The POSTs answer once the change is committed, with the messages and
 * recipients they changed (README.md, "Queue operations").
 * Errors are JSON {"error": "..."} with a 4xx/5xx status.
 */
#ifndef SLUICE_API_H
#define SLUICE_API_H

#include <event2/event.h>

#include "../lib/buf.h"
#include "../queue/queue.h"

struct engine;
struct notify;

/* Appends the daemon's own status fields to a JSON object being built
 * (e.g. `"hostname":"x","uptime":12,` : each field followed by a comma). */
typedef void api_status_fn(struct buf *json, void *arg);

struct api_deps {
	struct queue		*queue;		/* reads, on the loop thread */
	struct queue_writer	*writer;	/* changes */
	api_status_fn		*status;
	void			*status_arg;
	/* Called on the loop thread, once per message an operation changed
	 * (held, released, flushed, deleted), after the change is committed,
	 * so the delivery schedule can follow.  May be NULL. */
	void			(*changed)(void *arg, const char *id);
	void			*changed_arg;
	/* The policy engine (quota report, overrides, explain), or NULL:
	 * those endpoints then answer 503. */
	struct engine		*engine;
	/* Quota alerts (POST /v1/notify/NAME/test, status), or NULL. */
	struct notify		*notify;
	/* POST /v1/reload: reads the configuration file again and applies
	 * it.  0, or -1 when it was refused (the running one stays); errors
	 * gets the problems ("file:line: message" lines), notes what was
	 * kept from the running configuration ("SETTING: why" lines).  May
	 * be NULL (the endpoint then answers 503). */
	int			(*reload)(void *arg, struct buf *errors,
				    struct buf *notes);
	void			*reload_arg;
};

struct api;

/* Binds the UNIX socket at path (replacing a stale one, mode 0660) and
 * serves on base.  0, or -1 with *errstr. */
int	api_start(struct api **, struct event_base *, const char *path,
	    const struct api_deps *, const char **errstr);
/* Stops serving and removes the socket. */
void	api_stop(struct api **);

/* Start-up, before delivery loads the schedule (api_release.c, which
 * shares the release path with `queue release`): deferred recipients
 * whose window ended while sluiced was down are placed again through
 * their quotas (else they would all leave at once, over the limit); one
 * whose max-defer has passed then bounces.  Waits for its writer job.
 * 0, or -1 with *errstr. */
int	api_release_late(struct engine *, struct notify *, struct queue *,
	    struct queue_writer *, const char **errstr);

#endif
