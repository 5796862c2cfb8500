/*
 * ctl_http: sluicectl's HTTP client, just enough for the admin API: one
 * HTTP/1.0 request per connection over a UNIX socket, the whole response
 * read until the server closes, then parsed (status line, headers, body).
 * Blocking by design (a command-line tool), but bounded: every wait is a
 * poll(2) against one deadline of CTL_HTTP_TIMEOUT seconds, the response
 * against CTL_HTTP_MAX bytes and its header block against
 * CTL_HTTP_MAX_HEAD.
 *
 * What an attacker controls: whoever can replace the socket could send
 * any bytes back; the bounds above and the strict parser below hold.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "ctl_priv.h"

static int64_t
ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; 0, or -1 with errno. */
static int
ctl_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int n;

	for (;;) {
		if ((left = deadline - ctl_now_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

/*
 * Why connecting to sock failed, with a hint.  A relative path (the
 * development configuration's ./var/admin.sock) is resolved against our
 * own directory, not sluiced's, which is the usual reason for ENOENT: so
 * the message says where we looked.
 */
static void
ctl_connect_error(const char *sock, int e, char *err, size_t errsz)
{
	char cwd[PATH_MAX];

	if (e == ENOENT && sock[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
		snprintf(err, errsz, "cannot connect to %s (relative to %s): "
		    "%s (is sluiced running? relative paths in the "
		    "configuration are relative to the directory sluiced was "
		    "started in)", sock, cwd, strerror(e));
	else
		snprintf(err, errsz, "cannot connect to %s: %s%s", sock,
		    strerror(e), e == ECONNREFUSED || e == ENOENT ?
		    " (is sluiced running?)" : e == EACCES ?
		    " (root or the sluice group may use it)" : "");
}

static int
ctl_connect(const char *sock, int64_t deadline, char *err, size_t errsz)
{
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_copy(sun.sun_path, sock, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		snprintf(err, errsz, "%s: socket path too long", sock);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	/* a UNIX socket connects at once or says EAGAIN (backlog full) */
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		if ((e == EAGAIN || e == EINTR) && ctl_now_ms() < deadline) {
			poll(NULL, 0, 50);
			continue;
		}
		ctl_connect_error(sock, e == EAGAIN ? ETIMEDOUT : e, err,
		    errsz);
		close(fd);
		return -1;
	}
	return fd;
}

static int
ctl_send_all(int fd, const char *p, size_t len, int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (ctl_wait(fd, POLLOUT, deadline) == -1)
				return -1;
		} else
			return -1;
	}
	return 0;
}

/* Reads until EOF into b; -1 with errno (EFBIG past the bound). */
static int
ctl_recv_all(int fd, struct buf *b, int64_t deadline)
{
	ssize_t n;

	for (;;) {
		buf_reserve(b, 65536);
		n = recv(fd, b->data + b->len, 65536, 0);
		if (n == 0)
			return 0;
		if (n > 0) {
			b->len += (size_t)n;
			b->data[b->len] = '\0';
			if (b->len > CTL_HTTP_MAX) {
				errno = EFBIG;
				return -1;
			}
		} else if (errno == EAGAIN || errno == EINTR) {
			if (ctl_wait(fd, POLLIN, deadline) == -1)
				return -1;
		} else
			return -1;
	}
}

int
ctl_http(const char *sock, const char *method, const char *path,
    struct ctl_resp *r, char *err, size_t errsz)
{
	int64_t deadline = ctl_now_ms() + (int64_t)CTL_HTTP_TIMEOUT * 1000;
	struct buf req = BUF_INIT, resp = BUF_INIT;
	const char *errstr;
	int fd, rc = -1;

	memset(r, 0, sizeof(*r));
	if ((fd = ctl_connect(sock, deadline, err, errsz)) == -1)
		return -1;
	buf_printf(&req, "%s %s HTTP/1.0\r\nHost: localhost\r\n"
	    "Connection: close\r\n%s\r\n", method, path,
	    strcmp(method, "POST") == 0 ? "Content-Length: 0\r\n" : "");
	if (ctl_send_all(fd, req.data, req.len, deadline) == -1 ||
	    ctl_recv_all(fd, &resp, deadline) == -1) {
		snprintf(err, errsz, "%s: %s", sock, errno == EFBIG ?
		    "response too large" : errno == ETIMEDOUT ?
		    "no answer from sluiced" : strerror(errno));
		goto out;
	}
	if (ctl_http_parse(resp.data ? resp.data : "", resp.len, r,
	    &errstr) == -1) {
		snprintf(err, errsz, "%s: bad response: %s", sock, errstr);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	buf_free(&req);
	buf_free(&resp);
	return rc;
}

/* "HTTP/1.x NNN reason" (RFC 9112, section 4). */
static int
ctl_http_status(const char *line, size_t len, int *status)
{
	int i;

	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ')
		return -1;
	*status = 0;
	for (i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -1;
		*status = *status * 10 + (line[i] - '0');
	}
	if (len > 12 && line[12] != ' ')
		return -1;
	return *status >= 100 ? 0 : -1;
}

/* Reads one header line of the block; 0, or -1 with *errstr. */
static int
ctl_http_header(const char *line, size_t len, struct ctl_resp *r,
    uint64_t *clen, bool *has_clen, const char **errstr)
{
	const char *colon = memchr(line, ':', len), *v;
	size_t nlen, vlen;
	char *val;
	int rc = 0;

	if (colon == NULL || colon == line) {
		*errstr = "malformed header";
		return -1;
	}
	nlen = (size_t)(colon - line);
	for (v = colon + 1; v < line + len && (*v == ' ' || *v == '\t'); v++)
		;
	vlen = (size_t)(line + len - v);
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	val = xstrndup(v, vlen);
	if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		if (str_to_u64(val, 0, CTL_HTTP_MAX, clen, errstr) == -1)
			rc = -1;
		*has_clen = true;
	} else if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
		free(r->ctype);
		r->ctype = val;
		val = NULL;
	} else if (nlen == 17 &&
	    strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		*errstr = "unexpected Transfer-Encoding";
		rc = -1;
	}
	free(val);
	return rc;
}

int
ctl_http_parse(const char *data, size_t len, struct ctl_resp *r,
    const char **errstr)
{
	const char *p = data, *end, *eol, *head_end = NULL;
	size_t i, scan = len < CTL_HTTP_MAX_HEAD ? len : CTL_HTTP_MAX_HEAD;
	uint64_t clen = 0;
	bool has_clen = false;

	memset(r, 0, sizeof(*r));
	for (i = 0; i + 3 < scan; i++)
		if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
			head_end = data + i;
			break;
		}
	if (head_end == NULL) {
		*errstr = len == 0 ? "empty response" :
		    "no end of headers";
		return -1;
	}
	eol = memchr(p, '\r', (size_t)(head_end - p) + 1);
	if (eol[1] != '\n' ||
	    ctl_http_status(p, (size_t)(eol - p), &r->status) == -1) {
		*errstr = "malformed status line";
		return -1;
	}
	for (p = eol + 2; p < head_end + 2; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(head_end - p) + 1);
		if (eol[1] != '\n' || ctl_http_header(p, (size_t)(eol - p), r,
		    &clen, &has_clen, errstr) == -1) {
			if (eol[1] != '\n')
				*errstr = "bare CR in headers";
			ctl_resp_free(r);
			return -1;
		}
	}
	p = head_end + 4;
	end = data + len;
	if (has_clen && (uint64_t)(end - p) < clen) {
		*errstr = "truncated body";
		ctl_resp_free(r);
		return -1;
	}
	r->len = has_clen ? (size_t)clen : (size_t)(end - p);
	r->body = xmalloc(r->len + 1);
	memcpy(r->body, p, r->len);
	r->body[r->len] = '\0';
	return 0;
}

void
ctl_resp_free(struct ctl_resp *r)
{
	free(r->ctype);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void
ctl_url_escape(struct buf *b, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			buf_addc(b, (char)*p);
		else
			buf_printf(b, "%%%02X", *p);
	}
}
