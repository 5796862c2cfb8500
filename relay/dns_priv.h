/*
 * dns_priv.h: what relay/dns.c (requests, worker pool, look-up logic) and
 * relay/dns_wire.c (the stub client's queries, exchanges and answer
 * parser) share.  Not for other modules: their interface is dns.h.
 *
 * dns_wire.c depends on libc and lib/ only, so that the answer parser can
 * be fuzzed alone (tests/fuzz/fuzz_dns_wire.c).
 */
#ifndef SLUICE_DNS_PRIV_H
#define SLUICE_DNS_PRIV_H

#include <arpa/nameser.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dns.h"

#define DNS_NS_MAX	3	/* servers, as resolv.conf's MAXNS */
#define DNS_MSG_MAX	65535	/* a message (the TCP length prefix) */
#define DNS_QUERY_SIZE	512	/* header + 255-byte name + 4 fits */
#define DNS_CNAME_MAX	8
#define DNS_MX_READ	64	/* MX records read from one answer */

#define DNS_T_A		1
#define DNS_T_CNAME	5
#define DNS_T_MX	15
#define DNS_T_AAAA	28

enum dns_q { DNS_Q_ANSWER, DNS_Q_NXDOMAIN, DNS_Q_TEMP };

struct dns_server {
	struct sockaddr_storage	 sa;
	socklen_t		 salen;
};

/* One worker's look-up state: the servers (read-only, shared), the query
 * being asked and the buffer of its answer (the worker's). */
struct dns_ctx {
	const struct dns_server	*servers;
	size_t			 nserver;
	const struct timespec	*deadline;
	uint8_t			 q[DNS_QUERY_SIZE];
	size_t			 qlen;
	uint8_t			*a;		/* DNS_MSG_MAX bytes */
	size_t			 alen;
	const char		*why;		/* of a failure */
	size_t			 first;		/* the server that answered
						   last: asked first */
};

struct dns_mx {
	unsigned	 pref;
	bool		 valid;		/* name passes dns_name_ok() */
	char		 name[DNS_NAME_SIZE];
};

/* What dns_wire_parse() found in one answer.  Bounded: nothing in it
 * points into the message. */
struct dns_wire_answer {
	char		 canon[NS_MAXDNAME];	/* qname or its CNAME target */
	struct dns_mx	 mx[DNS_MX_READ];	/* MX: in the answer's order */
	size_t		 nmx;
	size_t		 nnull;			/* null MX records ("0 .") */
	struct dns_addr	 addrs[DNS_ADDR_MAX];	/* A or AAAA, in order */
	size_t		 naddr;
};

/* An ASCII host name without the final dot: labels of 1..63 letters,
 * digits, '-' or '_', 253 characters at most (RFC 1035 2.3.4). */
bool		 dns_name_ok(const char *);
/* Fills a with an address of family (AF_INET or AF_INET6) from its 4 or
 * 16 network-order bytes, port 0, and its text. */
void		 dns_addr_set(struct dns_addr *a, int family, const void *bytes);

/* Asks name/type (a name that passes dns_name_ok()) of c's servers until
 * one answers (NOERROR or NXDOMAIN) or c->deadline passes.  The answer is
 * in c->a and c->alen, already matched to the query (id, QR, question);
 * c->why (static) says why on DNS_Q_TEMP.  Blocks: worker threads only. */
enum dns_q	 dns_ask(struct dns_ctx *c, const char *name, uint16_t type);

/* Reads the answer section of msg (len bytes, untrusted) for qname/qtype
 * (DNS_T_MX, DNS_T_A or DNS_T_AAAA), following its CNAME chain (at most
 * DNS_CNAME_MAX hops).  Keeps at most DNS_MX_READ MX records and
 * DNS_ADDR_MAX addresses.  0, or -1 with *errstr (static) when the message
 * is malformed; what was read before the fault stays in out.  No I/O and
 * no allocation. */
int		 dns_wire_parse(const uint8_t *msg, size_t len,
		    const char *qname, uint16_t qtype,
		    struct dns_wire_answer *out, const char **errstr);

#endif
