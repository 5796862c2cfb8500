/*
 * dns: the resolver of delivery.  MX look-ups (RFC 5321 section 5.1, with
 * the null MX of RFC 7505) and A/AAAA look-ups of a relayhost, answered on
 * the caller's event loop.  Nothing here blocks the loop: the queries run
 * on a small pool of worker threads and come back through loop_call(), so
 * the event_base must have been created after evthread_use_pthreads().
 *
 * Every request ends in exactly one callback, on the loop's thread, never
 * inside the dns_resolve_*() call itself (even when no DNS is needed),
 * unless it is cancelled first.  The callback comes within timeout_secs
 * of the request (a safety timer gives up one second later still, should
 * the workers fall behind): a dead or silent server is a DNS_TEMPFAIL,
 * never a hang.
 *
 * Outcomes, as Postfix reports them (dsn and text are for the DSN and the
 * logs):
 * - DNS_OK: at least one host has an address.  Hosts whose own look-ups
 *   failed are listed too (naddr 0, their status and why), so that the
 *   caller can log them; only hosts with addresses can be tried.
 * - DNS_PERMFAIL (bounce): NXDOMAIN for the domain (5.4.4), a null MX
 *   (5.1.10), no MX and no address for the domain itself (5.4.4), no MX
 *   host with an address when every look-up was answered (5.4.4), an
 *   invalid name (5.1.2).
 * - DNS_TEMPFAIL (retry later): SERVFAIL, REFUSED, a malformed answer, a
 *   timeout, no server reachable (4.4.3); also when no MX host has an
 *   address and one of their look-ups failed that way.
 * The caller decides what a failure means for a relayhost (whether to
 * bounce or defer mail to a relayhost whose name is not found is policy).
 *
 * Choices:
 * - MX hosts come in preference order; hosts of equal preference are
 *   shuffled for each look-up (RFC 5321 5.1 "SHOULD"), so the caller must
 *   not expect a stable order among them.  A host listed twice keeps its
 *   lowest preference.  At most DNS_MX_MAX hosts (the best ones).
 * - Each host's addresses: its A records, then its AAAA records, each in
 *   the server's order, at most DNS_ADDR_MAX of each family.  The caller
 *   decides which families it uses.
 * - A null MX ("0 .") is honoured when it is the only MX record; among
 *   other MX records it is ignored (RFC 7505 section 3 forbids the mix).
 * - CNAMEs in answers are followed (as the recursive server gives them).
 * - Names are ASCII (LDH, underscore allowed), at most 253 characters;
 *   IDNA conversion is the caller's (a UTF-8 name is DNS_PERMFAIL 5.1.2).
 *   "[192.0.2.1]" and "[IPv6:2001:db8::1]" (RFC 5321 4.1.3) and, for
 *   dns_resolve_host, bare address literals are answered without DNS.
 * - Discarding the local host's own MX preference level (RFC 5321 5.1) is
 *   the caller's: it knows its addresses.
 * - The resolver is our own stub client over UDP, asking again over TCP
 *   when an answer is truncated (RFC 1035 4.2), so that every wait, TCP's
 *   included, ends at the request's deadline and IPv6 servers need no
 *   glibc internals; it needs nothing beyond libc (no -lresolv).  Queries
 *   carry a random id (arc4random(3)) and leave from a fresh socket (a
 *   random port); an answer must come from the server asked and match the
 *   id and the question.  Servers are asked in turn, starting with the
 *   one that answered last, waiting 1 s, 2 s, 4 s, then 5 s per round
 *   until the deadline; one that answers SERVFAIL or REFUSED is not asked
 *   the same question again.  No EDNS0 and no DNSSEC validation (so
 *   no DANE).
 * - With server NULL, the nameserver lines of /etc/resolv.conf are read
 *   once, in dns_new() (at most 3; IPv4 and IPv6 literals; a link-local
 *   one with a %scope is skipped; none at all means 127.0.0.1, as glibc
 *   does).  Its other options and a later change to it are not seen: a
 *   restart is.
 * - The look-ups of a request run one after the other on one of
 *   DNS_WORKERS threads; requests wait in a FIFO queue for a free one.
 */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/event.h>

#define DNS_MX_MAX	16	/* MX hosts kept, best first */
#define DNS_ADDR_MAX	8	/* addresses kept per host and family */
#define DNS_NAME_SIZE	256	/* a host name, NUL included */
#define DNS_TEXT_SIZE	512	/* a reason, NUL included */
#define DNS_WORKERS	4	/* resolver threads */

enum dns_status {
	DNS_OK,
	DNS_TEMPFAIL,		/* try again later */
	DNS_PERMFAIL		/* will not get better: bounce */
};

struct dns_addr {
	struct sockaddr_storage	 sa;		/* port 0: the caller's to set */
	socklen_t		 salen;
	char			 text[INET6_ADDRSTRLEN];
};

struct dns_host {
	char			 name[DNS_NAME_SIZE];	/* no trailing dot */
	unsigned		 pref;		/* MX preference; 0 when implicit
						   or for dns_resolve_host */
	enum dns_status		 status;	/* of its address look-ups */
	char			 text[DNS_TEXT_SIZE];	/* why no address, or "" */
	const struct dns_addr	*addrs;
	size_t			 naddr;
};

/* A result.  It and everything it points to belong to the dns module and
 * are valid only during the callback: copy what you keep. */
struct dns_result {
	enum dns_status		 status;
	const char		*name;		/* the name asked for */
	char			 dsn[8];	/* RFC 3463: "4.4.3"; "" if OK */
	char			 text[DNS_TEXT_SIZE];	/* why; "" if OK */
	bool			 implicit_mx;	/* no MX: the domain itself */
	const struct dns_host	*hosts;		/* best first; also on a
						   failure, when known */
	size_t			 nhost;
};

struct dns;
struct dns_req;

/* Both run on the loop's thread; the request handle is gone when they
 * are called (do not cancel it).  They may start or cancel other
 * requests and may call dns_free(). */
typedef void dns_mx_cb(void *arg, const struct dns_result *);
typedef void dns_host_cb(void *arg, const struct dns_result *);

/* A resolver answering on base.  server: "127.0.0.1", "127.0.0.1:5353",
 * "[::1]:53" (numeric, port 53 by default), up to 3 of them separated by
 * commas or spaces, or NULL for the nameservers of /etc/resolv.conf.
 * timeout_secs (1..3600) bounds each request as a whole.  Starts the
 * worker threads (with every signal blocked).  NULL with *errstr (static)
 * on failure: a bad server list, a timeout out of range, no thread. */
struct dns	*dns_new(struct event_base *base, const char *server,
		    unsigned timeout_secs, const char **errstr);
/* Cancels every pending request (no callback runs) and lets the workers
 * go without waiting for them: one busy with a look-up finishes it (by
 * its deadline) and discards it.  Accepts NULL; clears the pointer. */
void		 dns_free(struct dns **);

/* Looks up domain's mail exchangers and their addresses; cb(arg, res)
 * follows.  domain may end in a dot.  Never NULL: the handle is valid
 * until the callback starts or dns_cancel(). */
struct dns_req	*dns_resolve_mx(struct dns *, const char *domain,
		    dns_mx_cb *cb, void *arg);
/* The A and AAAA addresses of host (one dns_host, pref 0).  An address
 * literal is answered without DNS (still from the loop, not inside this
 * call).  Never NULL; the handle lives as dns_resolve_mx()'s does. */
struct dns_req	*dns_resolve_host(struct dns *, const char *host,
		    dns_host_cb *cb, void *arg);
/* Forgets a pending request: its callback will not run.  A query already
 * on the wire finishes on its worker and is discarded.  Accepts NULL;
 * clears the pointer. */
void		 dns_cancel(struct dns_req **);

#endif
