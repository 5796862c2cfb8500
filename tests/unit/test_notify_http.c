/*
 * test_notify_http: webhook POSTs through libcurl on a real event loop
 * against a small HTTP server in this process (a thread on 127.0.0.1 that
 * reads each request by its Content-Length, records it and answers as
 * the case says: a status, nothing at all, or a TLS handshake with a
 * self-signed certificate).  The loop runs until the callbacks have come;
 * nothing sleeps but the server that is told to stall.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include <event2/thread.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "relay/loop.h"
#include "relay/notify_priv.h"
#include "t.h"

#define SRV_MAX		64		/* requests recorded */
#define SRV_READ_MAX	(4 << 20)
#define T_DEADLINE	20		/* seconds a wait may take */

/* -- the server (its own thread) ----------------------------------------- */

struct srv_req {
	char	*head;		/* request line and headers */
	char	*body;
	size_t	 len;
};

struct srv {
	int			 lfd;
	int			 wake[2];	/* closes the server */
	unsigned		 port;
	pthread_t		 th;
	struct event_base	*base;
	/* the script, set before the thread starts */
	int			 status;	/* 0: answer nothing */
	const char		*extra;		/* header lines, CRLF each */
	size_t			 body;		/* reply body bytes */
	const char		*raw;		/* the whole reply instead */
	SSL_CTX			*tls;		/* a TLS handshake only */
	/* under mtx */
	pthread_mutex_t		 mtx;
	size_t			 nreq;
	struct srv_req		 reqs[SRV_MAX];
	/* loop thread */
	int			 seen;		/* requests read so far */
};

static struct event_base *base;
static bool expired;

static void
srv_seen(void *arg)
{
	struct srv *s = arg;

	s->seen++;
}

/* Waits for fd to be readable; false when the server is told to stop. */
static bool
srv_wait(struct srv *s, int fd)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { s->wake[0], POLLIN, 0 } };

	while (poll(p, 2, -1) == -1)
		if (errno != EINTR)
			return false;
	return p[1].revents == 0;	/* POLLHUP once its writer closed */
}

/* Reads one request: its head up to the blank line, then Content-Length
 * bytes.  false when the peer went away, or when it does not speak HTTP
 * (it was answered 400 then, as a web server would). */
static bool
srv_read(struct srv *s, int fd, struct srv_req *rq)
{
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	char *buf = malloc(SRV_READ_MAX + 1), *eoh = NULL, *cl;
	size_t have = 0, want = 0, hlen = 0;
	ssize_t n;

	while (have < SRV_READ_MAX && srv_wait(s, fd) &&
	    (n = recv(fd, buf + have, SRV_READ_MAX - have, 0)) > 0) {
		have += (size_t)n;
		buf[have] = '\0';
		if (buf[0] < 'A' || buf[0] > 'Z') {
			send(fd, bad, sizeof(bad) - 1, MSG_NOSIGNAL);
			break;
		}
		if (eoh == NULL && (eoh = strstr(buf, "\r\n\r\n")) != NULL) {
			hlen = (size_t)(eoh - buf) + 4;
			cl = strcasestr(buf, "\r\nContent-Length:");
			want = cl != NULL && cl < eoh ?
			    strtoul(cl + 17, NULL, 10) : 0;
		}
		if (eoh != NULL && have >= hlen + want) {
			rq->head = strndup(buf, hlen);
			rq->body = malloc(want + 1);
			memcpy(rq->body, buf + hlen, want);
			rq->len = want;
			free(buf);
			return true;
		}
	}
	free(buf);
	return false;
}

static void
srv_answer(struct srv *s, int fd)
{
	char head[512], chunk[8192];
	size_t left = s->body, n;
	int len;

	if (s->raw != NULL) {
		send(fd, s->raw, strlen(s->raw), MSG_NOSIGNAL);
		return;
	}
	if (s->status == 0) {		/* stall until the client gives up */
		while (srv_wait(s, fd) && recv(fd, chunk, sizeof(chunk), 0) > 0)
			;
		return;
	}
	len = snprintf(head, sizeof(head), "HTTP/1.1 %d Scripted\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", s->status,
	    s->body, s->extra != NULL ? s->extra : "");
	if (send(fd, head, (size_t)len, MSG_NOSIGNAL) != len)
		return;
	memset(chunk, 'x', sizeof(chunk));
	while (left > 0) {
		n = left < sizeof(chunk) ? left : sizeof(chunk);
		if (send(fd, chunk, n, MSG_NOSIGNAL) <= 0)
			return;
		left -= n;
	}
}

static void
srv_conn(struct srv *s, int fd)
{
	struct srv_req rq;
	SSL *ssl;

	if (s->tls != NULL) {	/* the client is to refuse the certificate */
		ssl = SSL_new(s->tls);
		SSL_set_fd(ssl, fd);
		SSL_accept(ssl);
		SSL_free(ssl);
		return;
	}
	if (!srv_read(s, fd, &rq))
		return;
	pthread_mutex_lock(&s->mtx);
	if (s->nreq < SRV_MAX)
		s->reqs[s->nreq++] = rq;
	else {
		free(rq.head);
		free(rq.body);
	}
	pthread_mutex_unlock(&s->mtx);
	loop_call(s->base, srv_seen, s);
	srv_answer(s, fd);
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	int fd;

	while (srv_wait(s, s->lfd)) {
		if ((fd = accept(s->lfd, NULL, NULL)) == -1)
			continue;
		srv_conn(s, fd);
		close(fd);
	}
	return NULL;
}

/* A socket bound to a free port of 127.0.0.1; -1 on failure. */
static int
t_bind(unsigned *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
srv_start(struct srv *s, int status)
{
	memset(s, 0, sizeof(*s));
	s->status = status;
	s->base = base;
	pthread_mutex_init(&s->mtx, NULL);
	if ((s->lfd = t_bind(&s->port)) == -1 || listen(s->lfd, 128) == -1 ||
	    pipe(s->wake) == -1) {
		perror("test server");
		exit(2);
	}
}

static void
srv_run(struct srv *s)
{
	pthread_create(&s->th, NULL, srv_main, s);
}

static void
srv_stop(struct srv *s)
{
	size_t i;

	close(s->wake[1]);
	pthread_join(s->th, NULL);
	/* the loop_calls the server made run now, while s still exists */
	event_base_loop(base, EVLOOP_NONBLOCK);
	close(s->wake[0]);
	close(s->lfd);
	for (i = 0; i < s->nreq; i++) {
		free(s->reqs[i].head);
		free(s->reqs[i].body);
	}
	pthread_mutex_destroy(&s->mtx);
}

/* A server answering status, running; url is its http URL. */
static void
srv_up(struct srv *s, int status, char *url, size_t urlsz)
{
	srv_start(s, status);
	srv_run(s);
	snprintf(url, urlsz, "http://127.0.0.1:%u/hook", s->port);
}

static size_t
srv_nreq(struct srv *s)
{
	size_t n;

	pthread_mutex_lock(&s->mtx);
	n = s->nreq;
	pthread_mutex_unlock(&s->mtx);
	return n;
}

/* The value of header name in a recorded head, "" when it is absent. */
static const char *
t_header(const char *head, const char *name, char *out, size_t outsz)
{
	const char *p = head, *e;
	size_t nl = strlen(name);

	out[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		p += nl + 1;
		while (*p == ' ')
			p++;
		e = strstr(p, "\r\n");
		snprintf(out, outsz, "%.*s", (int)(e - p), p);
		return out;
	}
	return out;
}

/* -- the client side --------------------------------------------------- */

struct got {
	int				 calls;
	struct notify_http_result	 res;
	struct notify_http		**freeme;	/* free it in the cb */
	struct notify_http		*again;		/* post again in it */
	const char			*again_url;
	struct got			*again_got;
	bool				 again_posted;
};

static int calls;	/* every got_cb */

static void
got_cb(void *arg, const struct notify_http_result *res)
{
	struct got *g = arg;
	const char *err;

	calls++;
	g->calls++;
	g->res = *res;
	if (g->freeme != NULL)
		notify_http_free(g->freeme);
	if (g->again != NULL)
		g->again_posted = notify_http_post(g->again, g->again_url,
		    "[]", 2, NULL, 0, 10, got_cb, g->again_got, &err) == 0;
}

static void
t_expire(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	expired = true;
}

/* Runs the loop until *n reaches want, or T_DEADLINE seconds pass (a
 * failed check named name). */
static bool
t_await(const int *n, int want, const char *name)
{
	struct timeval tv = { T_DEADLINE, 0 };
	struct event *guard = evtimer_new(base, t_expire, NULL);
	char what[200];

	expired = false;
	evtimer_add(guard, &tv);
	while (*n < want && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
	if (expired) {
		snprintf(what, sizeof(what), "%s: within %d s", name,
		    T_DEADLINE);
		T_OK(0, what);
		return false;
	}
	return true;
}

static struct notify_http *
t_nh(void)
{
	struct notify_http *nh = NULL;
	const char *err = NULL;

	if (notify_http_new(&nh, base, &err) == -1) {
		printf("# notify_http_new: %s\n", err);
		exit(2);
	}
	return nh;
}

/* POSTs body to url and waits for the callback; false if the post was
 * refused or the callback did not come (both failed checks). */
static bool
t_post(struct notify_http *nh, const char *url, const char *body,
    size_t len, const char *secret, uint64_t timeout, struct got *g,
    const char *name)
{
	const char *err = NULL;
	char what[200];

	memset(g, 0, sizeof(*g));
	snprintf(what, sizeof(what), "%s: posted", name);
	if (notify_http_post(nh, url, body, len, secret,
	    secret != NULL ? strlen(secret) : 0, timeout, got_cb, g,
	    &err) == -1) {
		T_EQ_STR(err, "(a request)", what);
		return false;
	}
	snprintf(what, sizeof(what), "%s: no callback inside the post", name);
	T_EQ_INT(g->calls, 0, what);
	if (!t_await(&g->calls, 1, name))
		return false;
	snprintf(what, sizeof(what), "%s: one callback", name);
	T_EQ_INT(g->calls, 1, what);
	return true;
}

static void
t_url(char *out, size_t outsz, const char *scheme, unsigned port)
{
	snprintf(out, outsz, "%s://127.0.0.1:%u/hook", scheme, port);
}

/* -- the cases --------------------------------------------------------- */

/* RFC 4231 4.2, 4.3 and 4.7 (a key longer than SHA-256's block). */
static void
test_sign(void)
{
	static const struct {
		const char	*name;
		unsigned char	 keybyte;	/* 0: key is "Jefe" */
		size_t		 keylen;
		const char	*data;
		const char	*want;
	} cases[] = {
		{ "RFC 4231 case 1", 0x0b, 20, "Hi There",
		  "sha256=b0344c61d8db38535ca8afceaf0bf12b"
		  "881dc200c9833da726e9376c2e32cff7" },
		{ "RFC 4231 case 2", 0, 4, "what do ya want for nothing?",
		  "sha256=5bdcc146bf60754e6a042426089575c7"
		  "5a003f089d2739839dec58b964ec3843" },
		{ "RFC 4231 case 6", 0xaa, 131,
		  "Test Using Larger Than Block-Size Key - Hash Key First",
		  "sha256=60e431591ee0b67f0d8a26aacbf5b77f"
		  "8e0bc6213728c5140546040f0ee37f54" },
	};
	char key[200], sig[NOTIFY_SIG_SIZE];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].keybyte == 0)
			memcpy(key, "Jefe", 4);
		else
			memset(key, cases[i].keybyte, cases[i].keylen);
		notify_sign(key, cases[i].keylen, cases[i].data,
		    strlen(cases[i].data), sig);
		T_EQ_STR(sig, cases[i].want, cases[i].name);
	}
}

static void
test_post(void)
{
	static const char body[] = "{\"event\":\"quota.threshold\","
	    "\"threshold\":80,\"key\":\"alice@example.com\"}";
	struct notify_http *nh = t_nh();
	struct srv s;
	struct got g;
	const char *err = NULL;
	char url[64], v[256], *h;

	srv_up(&s, 200, url, sizeof(url));
	T_EQ_INT(notify_http_pending(nh), 0, "post: nothing pending at first");
	memset(&g, 0, sizeof(g));
	notify_http_post(nh, url, body, strlen(body), NULL, 0, 10, got_cb, &g,
	    &err);
	T_EQ_INT(notify_http_pending(nh), 1, "post: one pending");
	T_EQ_INT(g.calls, 0, "post: no callback inside the post");
	if (t_await(&g.calls, 1, "post")) {
		T_EQ_INT(g.calls, 1, "post: one callback");
		T_EQ_INT(notify_http_pending(nh), 0, "post: none pending after");
		T_EQ_INT(g.res.status, 200, "post: status");
		T_OK(g.res.ok, "post: ok");
		T_OK(!g.res.retry, "post: no retry");
		T_EQ_STR(g.res.error, "", "post: no error");
		T_OK(g.res.elapsed >= 0 && g.res.elapsed < 5, "post: elapsed");
	}
	T_EQ_INT(srv_nreq(&s), 1, "post: one request reached the server");
	if (srv_nreq(&s) == 1) {
		h = s.reqs[0].head;
		T_OK(strncmp(h, "POST /hook HTTP/1.1\r\n", 21) == 0,
		    "post: request line");
		T_EQ_STR(t_header(h, "Content-Type", v, sizeof(v)),
		    "application/json", "post: Content-Type");
		T_EQ_STR(t_header(h, "X-Sluice-Event", v, sizeof(v)),
		    "quota.threshold", "post: X-Sluice-Event");
		T_EQ_STR(t_header(h, "User-Agent", v, sizeof(v)), "sluice",
		    "post: User-Agent");
		T_EQ_STR(t_header(h, "X-Sluice-Signature", v, sizeof(v)), "",
		    "post: no signature without a secret");
		T_EQ_INT(s.reqs[0].len, strlen(body), "post: body length");
		T_OK(s.reqs[0].len == strlen(body) &&
		    memcmp(s.reqs[0].body, body, strlen(body)) == 0,
		    "post: the exact body");
	}
	srv_stop(&s);
	notify_http_free(&nh);
	T_OK(nh == NULL, "free clears the pointer");
	notify_http_free(&nh);
}

/* The signature over exactly the body's bytes (a NUL among them, past
 * the 1 KiB where libcurl would ask for 100-continue), computed here with
 * another of OpenSSL's interfaces. */
static void
test_signed(void)
{
	static const char secret[] = "s3cret: it's a webhook key";
	struct notify_http *nh = t_nh();
	struct srv s;
	struct got g;
	unsigned char md[32];
	char url[64], v[256], want[NOTIFY_SIG_SIZE], mine[NOTIFY_SIG_SIZE];
	char body[2000];
	size_t i, mdlen = 0, o;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (char)('a' + i % 26);
	body[100] = '\0';
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret,
	    strlen(secret), (const unsigned char *)body, sizeof(body), md,
	    sizeof(md), &mdlen) == NULL || mdlen != 32) {
		T_OK(0, "signed: EVP_Q_mac");
		return;
	}
	o = (size_t)snprintf(want, sizeof(want), "sha256=");
	for (i = 0; i < mdlen; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%02x",
		    md[i]);
	notify_sign(secret, strlen(secret), body, sizeof(body), mine);
	T_EQ_STR(mine, want, "signed: notify_sign agrees with EVP_Q_mac");

	srv_up(&s, 204, url, sizeof(url));
	if (t_post(nh, url, body, sizeof(body), secret, 10, &g, "signed")) {
		T_OK(g.res.ok, "signed: 204 is ok");
		T_EQ_INT(g.res.status, 204, "signed: status");
	}
	if (srv_nreq(&s) == 1) {
		T_EQ_STR(t_header(s.reqs[0].head, "X-Sluice-Signature", v,
		    sizeof(v)), want, "signed: X-Sluice-Signature");
		T_EQ_STR(t_header(s.reqs[0].head, "Expect", v, sizeof(v)),
		    "", "signed: no Expect: 100-continue");
		T_OK(s.reqs[0].len == sizeof(body) &&
		    memcmp(s.reqs[0].body, body, sizeof(body)) == 0,
		    "signed: the exact body, NUL and all");
	} else
		T_EQ_INT(srv_nreq(&s), 1, "signed: one request");
	srv_stop(&s);
	notify_http_free(&nh);
}

/* The server's status decides, when one came; a reply that is not HTTP
 * (none at all is worth another try, another protocol is not). */
static void
test_reply(void)
{
	static const struct {
		int		 status;	/* the server's */
		const char	*extra;
		size_t		 body;
		const char	*raw;		/* the whole reply instead */
		long		 want;		/* the result's status */
		bool		 ok, retry;
		const char	*error;
	} cases[] = {
		{ 200, NULL, 0, NULL, 200, true, false, "" },
		{ 202, NULL, 10, NULL, 202, true, false, "" },
		{ 200, NULL, 1 << 20, NULL, 200, true, false, "" },  /* cut */
		{ 500, NULL, 0, NULL, 500, false, true, "HTTP 500" },
		{ 503, "Retry-After: 30\r\n", 20, NULL, 503, false, true,
		  "HTTP 503" },
		{ 429, NULL, 0, NULL, 429, false, true, "HTTP 429" },
		{ 408, NULL, 0, NULL, 408, false, true, "HTTP 408" },
		{ 404, NULL, 9, NULL, 404, false, false, "HTTP 404" },
		{ 400, NULL, 0, NULL, 400, false, false, "HTTP 400" },
		{ 401, NULL, 0, NULL, 401, false, false, "HTTP 401" },
		{ 301, "Location: /elsewhere\r\n", 0, NULL, 301, false, false,
		  "HTTP 301 (redirects are not followed)" },
		{ 307, "Location: /elsewhere\r\n", 0, NULL, 307, false, false,
		  "HTTP 307 (redirects are not followed)" },
		{ 200, NULL, 0, "", 0, false, true, "empty reply from server" },
		{ 200, NULL, 0, "SSH-2.0-OpenSSH_9.2\r\n", 0, false, false,
		  "unsupported protocol: Received HTTP/0.9 when not allowed" },
	};
	struct notify_http *nh = t_nh();
	struct srv s;
	struct got g;
	char url[64], name[80];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].raw != NULL)
			snprintf(name, sizeof(name), "reply \"%.*s\"",
			    (int)strcspn(cases[i].raw, "\r"), cases[i].raw);
		else
			snprintf(name, sizeof(name), "status %d (%zu bytes)",
			    cases[i].status, cases[i].body);
		srv_start(&s, cases[i].status);
		s.extra = cases[i].extra;
		s.body = cases[i].body;
		s.raw = cases[i].raw;
		srv_run(&s);
		t_url(url, sizeof(url), "http", s.port);
		if (t_post(nh, url, "{}", 2, NULL, 10, &g, name)) {
			T_EQ_INT(g.res.status, cases[i].want, name);
			T_EQ_INT(g.res.ok, cases[i].ok, name);
			T_EQ_INT(g.res.retry, cases[i].retry, name);
			T_EQ_STR(g.res.error, cases[i].error, name);
		}
		/* one request: a redirect is not followed */
		T_EQ_INT(srv_nreq(&s), 1, name);
		srv_stop(&s);
	}
	notify_http_free(&nh);
}

/* A port where nothing listens: refused, worth retrying. */
static void
test_refused(void)
{
	struct notify_http *nh = t_nh();
	struct got g;
	unsigned port;
	int fd = t_bind(&port);		/* bound, not listening */
	char url[64];

	t_url(url, sizeof(url), "http", port);
	if (t_post(nh, url, "{}", 2, NULL, 10, &g, "refused")) {
		T_EQ_INT(g.res.status, 0, "refused: no status");
		T_OK(!g.res.ok, "refused: not ok");
		T_OK(g.res.retry, "refused: retry");
		T_EQ_STR(g.res.error, "connection refused", "refused: error");
	}
	close(fd);
	notify_http_free(&nh);
}

/* A name that does not exist (RFC 6761 6.4).  This asks the system's
 * resolver: where it cannot answer within the timeout, only the retry is
 * checked. */
static void
test_unresolved(void)
{
	struct notify_http *nh = t_nh();
	struct got g;

	if (t_post(nh, "http://host.invalid/hook", "{}", 2, NULL, 3, &g,
	    "unresolved")) {
		T_OK(g.res.retry, "unresolved: retry");
		if (strstr(g.res.error, "timed out") != NULL)
			printf("# unresolved: the resolver did not answer "
			    "(%s)\n", g.res.error);
		else
			T_EQ_STR(g.res.error, "could not resolve host.invalid",
			    "unresolved: error");
	}
	notify_http_free(&nh);
}

/* A server that reads the request and never answers: the whole request's
 * timeout ends it. */
static void
test_timeout(void)
{
	struct notify_http *nh = t_nh();
	struct srv s;
	struct got g;
	char url[64], el[32];

	srv_up(&s, 0, url, sizeof(url));
	if (t_post(nh, url, "{}", 2, NULL, 1, &g, "timeout")) {
		T_EQ_INT(g.res.status, 0, "timeout: no status");
		T_OK(g.res.retry, "timeout: retry");
		T_EQ_STR(g.res.error, "timed out after 1 s", "timeout: error");
		snprintf(el, sizeof(el), "%.3f", g.res.elapsed);
		t_report(g.res.elapsed >= 0.9 && g.res.elapsed < 3,
		    "timeout: after about 1 s", el, "0.9 to 3");
	}
	srv_stop(&s);
	notify_http_free(&nh);
}

/* What libcurl refuses to try: the callback still comes from the loop. */
static void
test_bad_url(void)
{
	static const struct {
		const char	*url;
		const char	*error;	/* its start */
	} cases[] = {
		{ "ftp://127.0.0.1/hook", "unsupported protocol: " },
		{ "file:///etc/passwd", "unsupported protocol: " },
		{ "http://[::1/hook", "bad URL: " },
		{ "", "bad URL: " },
	};
	struct notify_http *nh = t_nh();
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!t_post(nh, cases[i].url, "{}", 2, NULL, 5, &g,
		    cases[i].url))
			continue;
		T_OK(!g.res.ok && !g.res.retry, cases[i].url);
		t_report(strncmp(g.res.error, cases[i].error,
		    strlen(cases[i].error)) == 0, cases[i].url, g.res.error,
		    cases[i].error);
	}
	notify_http_free(&nh);
}

/* A self-signed certificate made here, for a server libcurl must not
 * trust. */
static SSL_CTX *
t_selfsigned(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(x, n);
	if (X509_sign(x, pk, EVP_sha256()) == 0 ||
	    SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
		printf("# cannot make a self-signed certificate\n");
		exit(2);
	}
	X509_free(x);
	EVP_PKEY_free(pk);
	return ctx;
}

static void
test_tls(void)
{
	struct notify_http *nh = t_nh();
	struct srv s;
	struct got g;
	char url[64];

	/* https to a plain HTTP server, which answers 400 in clear */
	srv_start(&s, 200);
	srv_run(&s);
	t_url(url, sizeof(url), "https", s.port);
	if (t_post(nh, url, "{}", 2, NULL, 10, &g, "https to http")) {
		T_EQ_INT(g.res.status, 0, "https to http: no status");
		T_OK(!g.res.ok, "https to http: not ok");
		T_OK(!g.res.retry, "https to http: no retry");
		T_EQ_STR(g.res.error, "TLS handshake failed: the server does "
		    "not speak TLS", "https to http: error");
	}
	T_EQ_INT(srv_nreq(&s), 0, "https to http: no request was read");
	srv_stop(&s);

	srv_start(&s, 200);
	s.tls = t_selfsigned();
	srv_run(&s);
	t_url(url, sizeof(url), "https", s.port);
	if (t_post(nh, url, "{}", 2, NULL, 10, &g, "self-signed")) {
		T_EQ_INT(g.res.status, 0, "self-signed: no status");
		T_OK(!g.res.ok, "self-signed: not ok");
		T_OK(!g.res.retry, "self-signed: no retry");
		t_report(strncmp(g.res.error,
		    "certificate verification failed: ", 33) == 0,
		    "self-signed: error", g.res.error,
		    "certificate verification failed: ...");
	}
	srv_stop(&s);
	SSL_CTX_free(s.tls);
	notify_http_free(&nh);
}

#define T_MANY	50

static void
test_many(void)
{
	struct notify_http *nh = t_nh();
	struct srv s;
	struct got g[T_MANY];
	char url[64], body[32];
	const char *err;
	bool seen[T_MANY] = { false };
	size_t i, k;
	int once = 0, ok = 0, distinct = 0, posted = 0;

	srv_up(&s, 200, url, sizeof(url));
	memset(g, 0, sizeof(g));
	for (i = 0; i < T_MANY; i++) {
		snprintf(body, sizeof(body), "{\"n\":%zu}", i);
		if (notify_http_post(nh, url, body, strlen(body), "k", 1, 10,
		    got_cb, &g[i], &err) == 0)
			posted++;
	}
	T_EQ_INT(posted, T_MANY, "many: all posted");
	T_EQ_INT(notify_http_pending(nh), T_MANY, "many: all pending");
	calls = 0;
	t_await(&calls, T_MANY, "many");
	for (i = 0; i < T_MANY; i++) {
		once += g[i].calls == 1;
		ok += g[i].res.ok;
	}
	T_EQ_INT(once, T_MANY, "many: one callback each");
	T_EQ_INT(ok, T_MANY, "many: all ok");
	T_EQ_INT(notify_http_pending(nh), 0, "many: none pending after");
	T_EQ_INT(srv_nreq(&s), T_MANY, "many: every request reached it");
	for (i = 0; i < srv_nreq(&s); i++)
		if (sscanf(s.reqs[i].body, "{\"n\":%zu}", &k) == 1 &&
		    k < T_MANY && !seen[k]) {
			seen[k] = true;
			distinct++;
		}
	T_EQ_INT(distinct, T_MANY, "many: each body once");
	srv_stop(&s);
	notify_http_free(&nh);
}

/* Freed with requests in flight (one read by a server that stalls, the
 * others connected behind it): no callback, nothing left behind (the
 * ASan build checks the leaks). */
static void
test_free_in_flight(void)
{
	struct notify_http *nh = t_nh();
	struct srv s;
	struct got g[3];
	char url[64];
	const char *err;
	size_t i;
	int n = 0;

	srv_up(&s, 0, url, sizeof(url));
	memset(g, 0, sizeof(g));
	for (i = 0; i < 3; i++)
		notify_http_post(nh, url, "{}", 2, "k", 1, 30, got_cb, &g[i],
		    &err);
	if (t_await(&s.seen, 1, "free in flight: the server reads one")) {
		T_EQ_INT(notify_http_pending(nh), 3,
		    "free in flight: three pending");
		notify_http_free(&nh);
		event_base_loop(base, EVLOOP_NONBLOCK);
		for (i = 0; i < 3; i++)
			n += g[i].calls;
		T_EQ_INT(n, 0, "free in flight: no callback");
	}
	notify_http_free(&nh);
	srv_stop(&s);
}

/* A callback may free the notify_http (the others are then not called)
 * or post again. */
static void
test_from_callback(void)
{
	struct notify_http *nh = t_nh();
	struct srv s;
	struct got g[2];
	char url[64];
	const char *err;

	srv_up(&s, 200, url, sizeof(url));

	memset(g, 0, sizeof(g));
	g[0].freeme = &nh;
	g[1].freeme = &nh;
	notify_http_post(nh, url, "{}", 2, NULL, 0, 10, got_cb, &g[0], &err);
	notify_http_post(nh, url, "{}", 2, NULL, 0, 10, got_cb, &g[1], &err);
	calls = 0;
	t_await(&calls, 1, "free from a callback");
	event_base_loop(base, EVLOOP_NONBLOCK);
	T_EQ_INT(g[0].calls + g[1].calls, 1,
	    "free from a callback: that callback only");
	T_OK(nh == NULL, "free from a callback: freed");

	nh = t_nh();
	memset(g, 0, sizeof(g));
	g[0].again = nh;
	g[0].again_url = url;
	g[0].again_got = &g[1];
	notify_http_post(nh, url, "{}", 2, NULL, 0, 10, got_cb, &g[0], &err);
	calls = 0;
	if (t_await(&calls, 2, "post from a callback")) {
		T_OK(g[0].again_posted, "post from a callback: posted");
		T_EQ_INT(g[1].calls, 1, "post from a callback: its callback");
		T_OK(g[1].res.ok, "post from a callback: ok");
	}
	notify_http_free(&nh);
	srv_stop(&s);
}

int
main(void)
{
	static const char *const proxies[] = { "http_proxy", "https_proxy",
	    "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY" };
	size_t i;

	/* the requests go to 127.0.0.1 straight, whatever the shell says */
	for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();	/* loop_call from the server thread */
	base = event_base_new();

	test_sign();
	test_post();
	test_signed();
	test_reply();
	test_refused();
	test_unresolved();
	test_timeout();
	test_bad_url();
	test_tls();
	test_many();
	test_free_in_flight();
	test_from_callback();

	event_base_free(base);
	libevent_global_shutdown();
	return t_done();
}
