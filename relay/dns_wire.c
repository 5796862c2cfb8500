/*
 * dns_wire: the stub client of the resolver (RFC 1035): a query out to
 * the servers over UDP, again over TCP when the answer is truncated, and
 * the reading of the answer.  Runs on the worker threads of dns.c; each
 * call uses only its struct dns_ctx and the servers, which never change.
 *
 * Invariants: every wait ends at the context's deadline; an answer is
 * taken only from the server asked (a connected socket) and only when it
 * matches our random id, QR, opcode and question; the parser,
 * dns_wire_parse(), is a pure function of the message bytes (no I/O, no
 * allocation, output in a bounded struct) so that it can be fuzzed alone.
 *
 * What an attacker controls: the whole answer message, through the names
 * it makes us ask: record counts, names, compression pointers, lengths.
 * Every read is checked against the message's end (dn_expand(3) and
 * dn_skipname(3) check compression pointers and loops), CNAME chains end
 * after DNS_CNAME_MAX hops, and at most DNS_MX_READ MX records and
 * DNS_ADDR_MAX addresses are kept.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../lib/strutil.h"
#include "dns_priv.h"

#define DNS_HDR		12
#define DNS_TRY_MS	1000	/* first wait for a UDP answer, doubled */
#define DNS_TRY_MS_MAX	5000	/* per round up to this */
#define DNS_C_IN	1
#define DNS_R_NXDOMAIN	3

enum dns_io { DNS_IO_OK, DNS_IO_TIMEOUT, DNS_IO_FAIL };

struct dns_rr {
	char		 owner[NS_MAXDNAME];
	uint16_t	 type;
	uint16_t	 class;
	const uint8_t	*rd;
	uint16_t	 rdlen;
};

struct dns_cursor {
	const uint8_t	*m, *end, *p;
	unsigned	 left;		/* answer records not read yet */
};

static uint16_t
dns_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Milliseconds left until dl; 0 once it has passed. */
static int
dns_ms_left(const struct timespec *dl)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(dl->tv_sec - now.tv_sec) * 1000 +
	    (dl->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

bool
dns_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

void
dns_addr_set(struct dns_addr *a, int family, const void *bytes)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)&a->sa;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, bytes, 4);
		a->salen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&a->sa;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, bytes, 16);
		a->salen = sizeof(*sin6);
	}
	inet_ntop(family, bytes, a->text, sizeof(a->text));
}
/* -- the wire: one question to the servers (worker threads) ---------- */

static void
dns_build(struct dns_ctx *c, const char *name, uint16_t type)
{
	uint8_t *p = c->q, *lenp;
	uint32_t id = arc4random();

	memset(p, 0, DNS_HDR);
	p[0] = (uint8_t)(id >> 8);
	p[1] = (uint8_t)id;
	p[2] = 0x01;			/* RD */
	p[5] = 1;			/* QDCOUNT */
	p += DNS_HDR;
	lenp = p++;
	for (; *name != '\0'; name++) {	/* dns_name_ok(): fits */
		if (*name == '.') {
			*lenp = (uint8_t)(p - lenp - 1);
			lenp = p++;
		} else
			*p++ = (uint8_t)*name;
	}
	*lenp = (uint8_t)(p - lenp - 1);
	*p++ = 0;
	*p++ = (uint8_t)(type >> 8);
	*p++ = (uint8_t)type;
	*p++ = 0;
	*p++ = DNS_C_IN;
	c->qlen = (size_t)(p - c->q);
}

static uint8_t
dns_fold(uint8_t b)
{
	return b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
}

/* An answer to our query: our id, QR, opcode QUERY, our question. */
static bool
dns_reply_ok(const struct dns_ctx *c, const uint8_t *m, size_t len)
{
	size_t i;

	if (len < c->qlen || m[0] != c->q[0] || m[1] != c->q[1] ||
	    (m[2] & 0xf8) != 0x80 || dns_get16(m + 4) != 1)
		return false;
	for (i = DNS_HDR; i < c->qlen; i++)
		if (dns_fold(m[i]) != dns_fold(c->q[i]))
			return false;
	return true;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timeout, -1
 * error. */
static int
dns_wait(int fd, short events, const struct timespec *dl)
{
	struct pollfd pfd;
	int ms, r;

	for (;;) {
		if ((ms = dns_ms_left(dl)) == 0)
			return 0;
		pfd.fd = fd;
		pfd.events = events;
		if ((r = poll(&pfd, 1, ms)) == -1 && errno == EINTR)
			continue;
		return r > 0 ? 1 : r;
	}
}

static enum dns_io
dns_udp(struct dns_ctx *c, const struct dns_server *s, int wait_ms)
{
	struct timespec end;
	enum dns_io io = DNS_IO_FAIL;
	ssize_t n;
	int fd, r;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += wait_ms / 1000;
	end.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	c->why = "cannot send the query";
	fd = socket(s->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return DNS_IO_FAIL;
	/* connected: the kernel drops datagrams from anyone else */
	if (connect(fd, (const struct sockaddr *)&s->sa, s->salen) == -1 ||
	    send(fd, c->q, c->qlen, 0) != (ssize_t)c->qlen)
		goto out;
	for (;;) {
		if ((r = dns_wait(fd, POLLIN, &end)) <= 0) {
			io = r == 0 ? DNS_IO_TIMEOUT : DNS_IO_FAIL;
			break;
		}
		if ((n = recv(fd, c->a, DNS_MSG_MAX, 0)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			c->why = errno == ECONNREFUSED ? "connection refused" :
			    "receive error";
			break;
		}
		if (dns_reply_ok(c, c->a, (size_t)n)) {	/* else stray */
			c->alen = (size_t)n;
			io = DNS_IO_OK;
			break;
		}
	}
out:
	close(fd);
	return io;
}

/* Reads (or writes) len bytes by the deadline: 1, 0 timeout, -1 error. */
static int
dns_tcp_io(int fd, uint8_t *buf, size_t len, bool out,
    const struct timespec *dl)
{
	ssize_t n;
	int r;

	while (len > 0) {
		if ((r = dns_wait(fd, out ? POLLOUT : POLLIN, dl)) <= 0)
			return r;
		n = out ? send(fd, buf, len, MSG_NOSIGNAL) : recv(fd, buf, len, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 1;
}

/* The query again over TCP, after a truncated UDP answer (RFC 1035
 * 4.2.2: a two-byte length before each message). */
static enum dns_io
dns_tcp(struct dns_ctx *c, const struct dns_server *s)
{
	uint8_t out[2 + DNS_QUERY_SIZE], len[2];
	enum dns_io io = DNS_IO_FAIL;
	socklen_t elen = sizeof(int);
	int fd, r, err = 0;
	size_t n;

	c->why = "TCP connection failed";
	fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return DNS_IO_FAIL;
	if (connect(fd, (const struct sockaddr *)&s->sa, s->salen) == -1 &&
	    errno != EINPROGRESS)
		goto out;
	if ((r = dns_wait(fd, POLLOUT, c->deadline)) <= 0) {
		io = r == 0 ? DNS_IO_TIMEOUT : DNS_IO_FAIL;
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 || err)
		goto out;
	out[0] = (uint8_t)(c->qlen >> 8);
	out[1] = (uint8_t)c->qlen;
	memcpy(out + 2, c->q, c->qlen);
	c->why = "TCP exchange failed";
	if ((r = dns_tcp_io(fd, out, c->qlen + 2, true, c->deadline)) == 1 &&
	    (r = dns_tcp_io(fd, len, 2, false, c->deadline)) == 1) {
		n = dns_get16(len);
		r = dns_tcp_io(fd, c->a, n, false, c->deadline);
		if (r == 1 && dns_reply_ok(c, c->a, n)) {
			c->alen = n;
			io = DNS_IO_OK;
		}
	}
	if (r == 0)
		io = DNS_IO_TIMEOUT;
out:
	close(fd);
	return io;
}

static const char *
dns_rcode_text(unsigned rcode)
{
	switch (rcode) {
	case 1:
		return "format error";
	case 2:
		return "server failure";
	case 4:
		return "not implemented";
	case 5:
		return "refused";
	default:
		return "unexpected reply code";
	}
}

/*
 * Asks name/type until a server answers it (NOERROR or NXDOMAIN) or the
 * deadline passes.  Rounds over the servers, starting with the one that
 * answered last (a dead first server costs one wait per worker, not one
 * per query), with waits of 1 s, 2 s, 4 s, then 5 s; a server that fails
 * (SERVFAIL, REFUSED, ICMP unreachable, a broken TCP exchange) is not
 * asked again for this question.  The answer is in c->a; c->why says why
 * on DNS_Q_TEMP.
 */
enum dns_q
dns_ask(struct dns_ctx *c, const char *name, uint16_t type)
{
	bool gone[DNS_NS_MAX] = { false };
	size_t k, i, n = c->nserver, left = n;
	const char *why = "timed out";
	int wait = DNS_TRY_MS, ms;
	enum dns_io io;
	unsigned rcode;

	dns_build(c, name, type);
	while (left > 0) {
		for (k = 0; k < n; k++) {
			i = (c->first + k) % n;
			if (gone[i])
				continue;
			if ((ms = dns_ms_left(c->deadline)) == 0) {
				c->why = "timed out";
				return DNS_Q_TEMP;
			}
			io = dns_udp(c, &c->servers[i],
			    ms < wait ? ms : wait);
			if (io == DNS_IO_OK && (c->a[2] & 0x02))	/* TC */
				io = dns_tcp(c, &c->servers[i]);
			if (io == DNS_IO_TIMEOUT)
				continue;
			if (io == DNS_IO_OK) {
				rcode = c->a[3] & 0x0f;
				if (rcode == 0 || rcode == DNS_R_NXDOMAIN) {
					c->first = i;
					return rcode == 0 ? DNS_Q_ANSWER :
					    DNS_Q_NXDOMAIN;
				}
				c->why = dns_rcode_text(rcode);
			}
			why = c->why;
			gone[i] = true;
			left--;
		}
		wait = wait * 2 > DNS_TRY_MS_MAX ? DNS_TRY_MS_MAX : wait * 2;
	}
	c->why = why;
	return DNS_Q_TEMP;
}

/* -- reading answers (pure: the message bytes only) ---------------------- */

static int
dns_cursor_init(struct dns_cursor *cur, const uint8_t *m, size_t len)
{
	unsigned qd;
	int n;

	if (len < DNS_HDR)
		return -1;
	cur->m = m;
	cur->end = m + len;
	cur->p = m + DNS_HDR;
	qd = dns_get16(m + 4);
	cur->left = dns_get16(m + 6);
	while (qd-- > 0) {
		if ((n = dn_skipname(cur->p, cur->end)) < 0 ||
		    cur->end - cur->p < n + 4)
			return -1;
		cur->p += n + 4;
	}
	return 0;
}

/* The next answer record: 1, 0 at the end, -1 malformed. */
static int
dns_cursor_next(struct dns_cursor *cur, struct dns_rr *rr)
{
	int n;

	if (cur->left == 0)
		return 0;
	cur->left--;
	n = dn_expand(cur->m, cur->end, cur->p, rr->owner, sizeof(rr->owner));
	if (n < 0 || cur->end - cur->p < n + 10)
		return -1;
	cur->p += n;
	rr->type = dns_get16(cur->p);
	rr->class = dns_get16(cur->p + 2);
	rr->rdlen = dns_get16(cur->p + 8);
	cur->p += 10;
	if (cur->end - cur->p < rr->rdlen)
		return -1;
	rr->rd = cur->p;
	cur->p += rr->rdlen;
	return 1;
}

/* The owner of the records that answer qname: qname, or the end of its
 * CNAME chain in the answer.  -1: malformed, or a chain too long. */
static int
dns_canon(const uint8_t *m, size_t len, const char *qname, char *canon,
    size_t sz, const char **errstr)
{
	struct dns_cursor cur;
	struct dns_rr rr;
	char target[NS_MAXDNAME];
	int hops, r;

	str_copy(canon, qname, sz);
	for (hops = 0; hops <= DNS_CNAME_MAX; hops++) {
		if (dns_cursor_init(&cur, m, len) == -1) {
			*errstr = "malformed header or question";
			return -1;
		}
		while ((r = dns_cursor_next(&cur, &rr)) == 1)
			if (rr.type == DNS_T_CNAME && rr.class == DNS_C_IN &&
			    strcasecmp(rr.owner, canon) == 0)
				break;
		if (r == -1) {
			*errstr = "malformed record";
			return -1;
		}
		if (r == 0)
			return 0;
		if (dn_expand(m, m + len, rr.rd, target,
		    sizeof(target)) < 0 || str_copy(canon, target, sz) >= sz) {
			*errstr = "malformed CNAME record";
			return -1;
		}
	}
	*errstr = "CNAME chain too long";
	return -1;
}

/* An MX record's data into out: a host, or a null MX counted apart
 * (RFC 7505).  -1 if malformed. */
static int
dns_wire_mx(const uint8_t *m, size_t len, const struct dns_rr *rr,
    struct dns_wire_answer *out)
{
	char target[NS_MAXDNAME];
	struct dns_mx *mx;
	int n;

	if (rr->rdlen < 3 || (n = dn_expand(m, m + len, rr->rd + 2, target,
	    sizeof(target))) < 0 || n > rr->rdlen - 2)
		return -1;
	if (target[0] == '\0' || strcmp(target, ".") == 0) {
		out->nnull++;
		return 0;
	}
	if (out->nmx == DNS_MX_READ)
		return 0;
	mx = &out->mx[out->nmx++];
	mx->pref = dns_get16(rr->rd);
	mx->valid = str_copy(mx->name, target, sizeof(mx->name)) <
	    sizeof(mx->name) && dns_name_ok(mx->name);
	return 0;
}

int
dns_wire_parse(const uint8_t *msg, size_t len, const char *qname,
    uint16_t qtype, struct dns_wire_answer *out, const char **errstr)
{
	struct dns_cursor cur;
	struct dns_rr rr;
	size_t seen = 0;
	int r;

	out->canon[0] = '\0';
	out->nmx = out->nnull = out->naddr = 0;
	if (qtype != DNS_T_MX && qtype != DNS_T_A && qtype != DNS_T_AAAA) {
		*errstr = "unsupported record type";
		return -1;
	}
	if (dns_canon(msg, len, qname, out->canon, sizeof(out->canon),
	    errstr) == -1 || dns_cursor_init(&cur, msg, len) == -1)
		return -1;
	while ((r = dns_cursor_next(&cur, &rr)) == 1) {
		if (rr.type != qtype || rr.class != DNS_C_IN ||
		    strcasecmp(rr.owner, out->canon) != 0)
			continue;
		if (qtype == DNS_T_MX) {
			if (dns_wire_mx(msg, len, &rr, out) == -1) {
				*errstr = "malformed MX record";
				return -1;
			}
			continue;
		}
		if (rr.rdlen != (qtype == DNS_T_A ? 4 : 16)) {
			*errstr = "malformed address record";
			return -1;
		}
		if (seen++ < DNS_ADDR_MAX)
			dns_addr_set(&out->addrs[out->naddr++],
			    qtype == DNS_T_A ? AF_INET : AF_INET6, rr.rd);
	}
	if (r == -1) {
		*errstr = "malformed record";
		return -1;
	}
	return 0;
}
