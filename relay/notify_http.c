/*
 * notify_http: webhook POSTs through libcurl's multi-socket API on the
 * event loop.  One CURLM per struct notify_http; libcurl says through
 * CURLMOPT_SOCKETFUNCTION which sockets to watch (one persistent libevent
 * event each, struct notify_http_sock) and through CURLMOPT_TIMERFUNCTION
 * when to call it back (one evtimer).  Nothing blocks and there is no
 * thread: name look-ups run in libcurl's own resolver (AsynchDNS).
 *
 * Invariants.  Everything here runs on the loop thread.  libcurl is only
 * driven from event callbacks (nh_sock_event, nh_timer_event), never from
 * inside its own callbacks nor from notify_http_post: a timer of 0 ms is
 * an evtimer of 0 s, so a request's callback always comes from the loop,
 * after curl_multi_socket_action has returned (nh_finish).  Each request
 * is one easy handle that owns its header list; the request owns the
 * handle; struct notify_http owns the requests and the socket events.
 *
 * What an attacker controls: nothing of the request (the URL, secret and
 * body come from the configuration and notify_fmt.c), but a webhook
 * receiver, or whoever answers at its address, controls the reply: its
 * status, headers and body.  The body is counted and dropped after
 * NH_BODY_MAX bytes; headers are bounded by libcurl; redirects are not
 * followed and certificates are verified (libcurl's defaults, kept).
 *
 * libcurl's global state: curl_global_init() is called by each
 * notify_http_new() and undone by each notify_http_free(); libcurl counts
 * the calls.  It is thread-safe only when libcurl was built with
 * "threadsafe" (7.84 and later, as Debian's); sluiced calls it from the
 * loop thread at start-up, so an older build is safe as long as that
 * stays so.
 */
#include <sys/queue.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "notify_priv.h"

#define NH_BODY_MAX		(64 * 1024)	/* of a reply, then stop */
#define NH_CONNECT_MAX		10		/* seconds */
#define NH_TIMEOUT_MAX		3600		/* seconds */
#define NH_USER_AGENT		"sluice"

struct notify_http_sock {
	LIST_ENTRY(notify_http_sock)	 link;
	struct notify_http		*nh;
	curl_socket_t			 fd;
	short				 what;	/* EV_READ|EV_WRITE */
	struct event			*ev;
};

struct notify_http_req {
	TAILQ_ENTRY(notify_http_req)	 link;
	struct notify_http		*nh;
	CURL				*easy;
	struct curl_slist		*headers;
	notify_http_cb			*cb;
	void				*arg;
	uint64_t			 timeout;	/* seconds */
	uint64_t			 conntimeout;
	struct timespec			 start;		/* CLOCK_MONOTONIC */
	size_t				 received;	/* reply body bytes */
	char				 errbuf[CURL_ERROR_SIZE];
};

struct notify_http {
	struct event_base			*base;
	CURLM					*multi;
	struct event				*timer;
	TAILQ_HEAD(, notify_http_req)		 reqs;
	LIST_HEAD(, notify_http_sock)		 socks;
	size_t					 nreq;
	bool					*freed;	/* set by free in a cb */
};

static void	nh_finish(struct notify_http *);

/* -- driving libcurl from the loop ---------------------------------------- */

static void
nh_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct notify_http_sock *s = arg;
	struct notify_http *nh = s->nh;	/* s may be gone after the action */
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(nh->multi, fd, flags, &running);
	nh_finish(nh);
}

static void
nh_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct notify_http *nh = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(nh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	nh_finish(nh);
}

static void
nh_sock_free(struct notify_http_sock *s)
{
	LIST_REMOVE(s, link);
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl asks, or forget it.
 * Called from inside libcurl: it may not call libcurl back. */
static int
nh_sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct notify_http *nh = arg;
	struct notify_http_sock *s = sockp;
	short want = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			nh_sock_free(s);
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->nh = nh;
		s->fd = fd;
		LIST_INSERT_HEAD(&nh->socks, s, link);
		if (curl_multi_assign(nh->multi, fd, s) != CURLM_OK) {
			nh_sock_free(s);
			return -1;
		}
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		want |= EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		want |= EV_WRITE;
	if (s->ev != NULL && s->what == want)
		return 0;
	if (s->ev != NULL)
		event_free(s->ev);
	s->what = want;
	s->ev = event_new(nh->base, fd, want, nh_sock_event, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1)
		return -1;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; anything else (0 too) arms
 * it, so libcurl is called back from the loop, never from here. */
static int
nh_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct notify_http *nh = arg;
	struct timeval tv;

	(void)multi;
	if (ms < 0) {
		evtimer_del(nh->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(nh->timer, &tv) == -1 ? -1 : 0;
}

/* CURLOPT_WRITEFUNCTION: the reply's body is counted and dropped; past
 * NH_BODY_MAX the transfer stops (CURLE_WRITE_ERROR, and the status that
 * came decides). */
static size_t
nh_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct notify_http_req *r = arg;

	(void)data;
	n *= size;	/* size is 1 (CURLOPT_WRITEFUNCTION(3)) */
	if (n > NH_BODY_MAX - r->received)
		return 0;
	r->received += n;
	return n;
}

/* -- results ------------------------------------------------------------- */

static void
nh_status(struct notify_http_result *res)
{
	long st = res->status;

	res->ok = st >= 200 && st <= 299;
	res->retry = (st >= 500 && st <= 599) || st == 429 || st == 408;
	if (res->ok)
		res->error[0] = '\0';
	else if (st >= 300 && st <= 399)
		snprintf(res->error, sizeof(res->error),
		    "HTTP %ld (redirects are not followed)", st);
	else
		snprintf(res->error, sizeof(res->error), "HTTP %ld", st);
}

/* The host of r's URL, for "could not resolve HOST". */
static void
nh_host(const struct notify_http_req *r, char *out, size_t outsz)
{
	CURLU *u = curl_url();
	char *url = NULL, *host = NULL;

	str_copy(out, "host", outsz);
	if (u == NULL)
		return;
	if (curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url) ==
	    CURLE_OK && url != NULL &&
	    curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		str_copy(out, host, outsz);
	curl_free(host);
	curl_url_cleanup(u);
}

/* libcurl's own words: the error buffer, else the code's text. */
static const char *
nh_why(const struct notify_http_req *r, CURLcode code)
{
	return r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(code);
}

/* "what" then "why", cut to fit. */
static void
nh_say(struct notify_http_result *res, const char *what, const char *why)
{
	size_t o = str_copy(res->error, what, sizeof(res->error));

	if (o < sizeof(res->error))
		str_copy(res->error + o, why, sizeof(res->error) - o);
}

/* A transfer that failed before a final status came. */
static void
nh_failure(const struct notify_http_req *r, CURLcode code,
    struct notify_http_result *res)
{
	char host[256];
	curl_off_t conn = 0;
	long oserr = 0;

	res->retry = true;
	switch (code) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
		if (oserr == ECONNREFUSED)
			str_copy(res->error, "connection refused",
			    sizeof(res->error));
		else
			nh_say(res, "could not connect: ", nh_why(r, code));
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		nh_host(r, host, sizeof(host));
		nh_say(res, "could not resolve ", host);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		/* CURLINFO_CONNECT_TIME_T stays 0 until connected */
		curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &conn);
		if (conn == 0 && r->conntimeout < r->timeout)
			snprintf(res->error, sizeof(res->error),
			    "connection timed out after %" PRIu64 " s",
			    r->conntimeout);
		else
			snprintf(res->error, sizeof(res->error),
			    "timed out after %" PRIu64 " s", r->timeout);
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		nh_say(res, code == CURLE_SEND_ERROR ? "send failed: " :
		    "receive failed: ", nh_why(r, code));
		break;
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:	/* the connection broke under it */
		nh_say(res, "", nh_why(r, code));
		break;
	case CURLE_GOT_NOTHING:
		str_copy(res->error, "empty reply from server",
		    sizeof(res->error));
		break;
	case CURLE_SSL_CONNECT_ERROR:
		/*
		 * Mostly worth another try (a reset, a server restarting),
		 * but not when the peer answered with something that is not
		 * TLS at all: a plain HTTP server behind an https URL, which
		 * only the configuration can fix.  libcurl says so only in
		 * words (OpenSSL's SSL_R_WRONG_VERSION_NUMBER); another TLS
		 * library's words fall back to a retry.
		 */
		if (strstr(r->errbuf, "wrong version number") != NULL) {
			res->retry = false;
			str_copy(res->error, "TLS handshake failed: the server "
			    "does not speak TLS", sizeof(res->error));
		} else
			nh_say(res, "TLS handshake failed: ", nh_why(r, code));
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		res->retry = false;
		nh_say(res, "certificate verification failed: ",
		    nh_why(r, code));
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* a scheme other than http and https, or a reply that is
		 * not HTTP/1.x or later ("Received HTTP/0.9...") */
		res->retry = false;
		nh_say(res, "unsupported protocol: ", nh_why(r, code));
		break;
	case CURLE_URL_MALFORMAT:
		res->retry = false;
		nh_say(res, "bad URL: ", nh_why(r, code));
		break;
	default:
		res->retry = false;
		nh_say(res, "", nh_why(r, code));
		break;
	}
}

/*
 * Once a final status has come the receiver has answered, and the status
 * decides even if the transfer then failed (its body cut at NH_BODY_MAX,
 * or the connection lost in it); before that, libcurl's code does.
 */
static void
nh_result(const struct notify_http_req *r, CURLcode code,
    struct notify_http_result *res)
{
	struct timespec now;

	memset(res, 0, sizeof(*res));
	clock_gettime(CLOCK_MONOTONIC, &now);
	res->elapsed = (double)(now.tv_sec - r->start.tv_sec) +
	    (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res->status);
	if (res->status < 200)
		res->status = 0;
	if (res->status != 0)
		nh_status(res);
	else if (code == CURLE_OK)	/* no status, yet no error */
		nh_failure(r, CURLE_GOT_NOTHING, res);
	else
		nh_failure(r, code, res);
}

/* -- requests ------------------------------------------------------------ */

/* Takes r out of the multi handle and frees it; no callback. */
static void
nh_req_free(struct notify_http_req *r)
{
	struct notify_http *nh = r->nh;

	TAILQ_REMOVE(&nh->reqs, r, link);
	nh->nreq--;
	if (r->easy != NULL) {
		curl_multi_remove_handle(nh->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r);
}

/* Hands each finished transfer to its callback.  A callback may post
 * again, or free nh (then this stops at once). */
static void
nh_finish(struct notify_http *nh)
{
	struct notify_http_result res;
	struct notify_http_req *r;
	CURLMsg *m;
	notify_http_cb *cb;
	void *cbarg, *priv;
	CURLcode code;
	bool freed = false;
	int left;

	while ((m = curl_multi_info_read(nh->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		code = m->data.result;	/* m dies with the handle */
		if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		    &priv) != CURLE_OK || priv == NULL)
			continue;
		r = priv;
		nh_result(r, code, &res);
		cb = r->cb;
		cbarg = r->arg;
		nh_req_free(r);
		nh->freed = &freed;
		cb(cbarg, &res);
		if (freed)
			return;
		nh->freed = NULL;
	}
}

/* The headers of every POST; the signature's when signed. */
static struct curl_slist *
nh_headers(const char *secret, size_t secretlen, const char *body,
    size_t len)
{
	static const char *const fixed[] = {
		"Content-Type: application/json",
		"X-Sluice-Event: quota.threshold",
		"Expect:",	/* no 100-continue round trip */
	};
	struct curl_slist *l = NULL, *t;
	char sig[NOTIFY_SIG_SIZE], line[sizeof(sig) + 32];
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if ((t = curl_slist_append(l, fixed[i])) == NULL)
			goto fail;
		l = t;
	}
	if (secret != NULL) {
		notify_sign(secret, secretlen, body, len, sig);
		snprintf(line, sizeof(line), "X-Sluice-Signature: %s", sig);
		if ((t = curl_slist_append(l, line)) == NULL)
			goto fail;
		l = t;
	}
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

/* The options of r's easy handle: CURLE_OK or the first that failed. */
static CURLcode
nh_setopts(struct notify_http_req *r, const char *url, const char *body,
    size_t len)
{
	CURL *e = r->easy;
	CURLcode c = CURLE_OK;

#define NH_SET(opt, val) do {						\
	if (c == CURLE_OK)						\
		c = curl_easy_setopt(e, (opt), (val));			\
} while (0)
	NH_SET(CURLOPT_PRIVATE, (void *)r);
	NH_SET(CURLOPT_ERRORBUFFER, r->errbuf);
	NH_SET(CURLOPT_NOSIGNAL, 1L);
	NH_SET(CURLOPT_PROTOCOLS_STR, "http,https");
	NH_SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	NH_SET(CURLOPT_FOLLOWLOCATION, 0L);
	NH_SET(CURLOPT_URL, url);
	NH_SET(CURLOPT_USERAGENT, NH_USER_AGENT);
	NH_SET(CURLOPT_HTTPHEADER, r->headers);
	/* the size first, so that COPYPOSTFIELDS copies len bytes */
	NH_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	NH_SET(CURLOPT_COPYPOSTFIELDS, len > 0 ? body : "");
	NH_SET(CURLOPT_TIMEOUT_MS, (long)(r->timeout * 1000));
	NH_SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(r->conntimeout * 1000));
	NH_SET(CURLOPT_WRITEFUNCTION, nh_write_cb);
	NH_SET(CURLOPT_WRITEDATA, (void *)r);
#undef NH_SET
	return c;
}

int
notify_http_post(struct notify_http *nh, const char *url, const char *body,
    size_t len, const char *secret, size_t secretlen, uint64_t timeout,
    notify_http_cb *cb, void *arg, const char **errstr)
{
	struct notify_http_req *r;
	CURLcode c;
	CURLMcode mc;

	r = xcalloc(1, sizeof(*r));
	r->nh = nh;
	r->cb = cb;
	r->arg = arg;
	/* at least 1 s (0 is no limit to libcurl), at most an hour */
	r->timeout = timeout < 1 ? 1 : timeout > NH_TIMEOUT_MAX ?
	    NH_TIMEOUT_MAX : timeout;
	r->conntimeout = r->timeout < NH_CONNECT_MAX ? r->timeout :
	    NH_CONNECT_MAX;
	TAILQ_INSERT_TAIL(&nh->reqs, r, link);
	nh->nreq++;
	if ((r->easy = curl_easy_init()) == NULL ||
	    (r->headers = nh_headers(secret, secretlen, body, len)) == NULL) {
		*errstr = "libcurl: out of memory";
		goto fail;
	}
	if ((c = nh_setopts(r, url, body, len)) != CURLE_OK) {
		*errstr = curl_easy_strerror(c);
		goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	/* arms the timer (nh_timer_cb), which starts the transfer */
	if ((mc = curl_multi_add_handle(nh->multi, r->easy)) != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		*errstr = curl_multi_strerror(mc);
		goto fail;
	}
	return 0;
fail:
	nh_req_free(r);
	return -1;
}

size_t
notify_http_pending(const struct notify_http *nh)
{
	return nh->nreq;
}

int
notify_http_new(struct notify_http **nhp, struct event_base *base,
    const char **errstr)
{
	struct notify_http *nh;

	*nhp = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*errstr = "libcurl: global initialisation failed";
		return -1;
	}
	nh = xcalloc(1, sizeof(*nh));
	nh->base = base;
	TAILQ_INIT(&nh->reqs);
	LIST_INIT(&nh->socks);
	if ((nh->timer = evtimer_new(base, nh_timer_event, nh)) == NULL ||
	    (nh->multi = curl_multi_init()) == NULL ||
	    curl_multi_setopt(nh->multi, CURLMOPT_SOCKETFUNCTION,
	    nh_sock_cb) != CURLM_OK ||
	    curl_multi_setopt(nh->multi, CURLMOPT_SOCKETDATA, nh) !=
	    CURLM_OK ||
	    curl_multi_setopt(nh->multi, CURLMOPT_TIMERFUNCTION,
	    nh_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(nh->multi, CURLMOPT_TIMERDATA, nh) !=
	    CURLM_OK) {
		*errstr = "libcurl: cannot set up a multi handle";
		notify_http_free(&nh);
		return -1;
	}
	*nhp = nh;
	return 0;
}

void
notify_http_free(struct notify_http **nhp)
{
	struct notify_http *nh = *nhp;

	if (nh == NULL)
		return;
	*nhp = NULL;
	if (nh->freed != NULL)
		*nh->freed = true;
	while (!TAILQ_EMPTY(&nh->reqs))
		nh_req_free(TAILQ_FIRST(&nh->reqs));
	/* may still call nh_sock_cb and nh_timer_cb: nh stays whole */
	if (nh->multi != NULL)
		curl_multi_cleanup(nh->multi);
	while (!LIST_EMPTY(&nh->socks))
		nh_sock_free(LIST_FIRST(&nh->socks));
	if (nh->timer != NULL)
		event_free(nh->timer);
	free(nh);
	curl_global_cleanup();
}

/* -- signature ----------------------------------------------------------- */

void
notify_sign(const char *secret, size_t secretlen, const char *body,
    size_t len, char out[NOTIFY_SIG_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	size_t o;

	/* HMAC() keeps its copy of the key in an EVP_MAC context, which
	 * OpenSSL cleanses when it frees it */
	if (secretlen > INT_MAX || HMAC(EVP_sha256(), secret, (int)secretlen,
	    (const unsigned char *)(body != NULL ? body : ""), len, md,
	    &mdlen) == NULL ||
	    mdlen != 32) {
		/* cannot happen with a working libcrypto: sign nothing
		 * rather than something a receiver might accept */
		str_copy(out, "sha256=", NOTIFY_SIG_SIZE);
		return;
	}
	o = str_copy(out, "sha256=", NOTIFY_SIG_SIZE);
	for (i = 0; i < mdlen; i++) {
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 0x0f];
	}
	out[o] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
}
