/*
 * delivery_route: from a destination to the addresses to try.
 *
 * `deliver mx` (or a route without next hops): the MX hosts of the
 * recipients' domain, best first, each with its A then AAAA addresses
 * (the domain's own addresses when it has no MX).  `deliver relayhost`
 * and routes: each next hop in the order written, `[host]` by its
 * addresses, `host` by its MX hosts; every hop is looked up at once and
 * the addresses are tried in hop order.  At most DL_CAND_MAX addresses.
 *
 * Failures, as Postfix reports them: a recipient domain that does not
 * exist (or has a null MX) bounces; a relayhost or route whose name is
 * not found is the administrator's configuration, so its mail waits
 * (deferred) instead of bouncing.  An address that is one of our own
 * listeners is skipped (mail would loop back to us); when nothing else is
 * left the mail bounces with 5.4.6, as Postfix's "mail for X loops back
 * to myself".
 */
#include <netinet/in.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "delivery_priv.h"

static void
sa_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static bool
sa_is_any_or_loopback(const struct sockaddr *sa, bool loopback)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->
		    sin_addr.s_addr);
		return loopback ? (a >> 24) == 127 : a == INADDR_ANY;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return loopback ? IN6_IS_ADDR_LOOPBACK(a) :
		    IN6_IS_ADDR_UNSPECIFIED(a);
	}
	return false;
}

static uint16_t
sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

static bool
sa_same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)b)->sin6_addr,
	    sizeof(struct in6_addr)) == 0;
}

/* Whether sa is one of our own listeners: the same address and port, or
 * a loopback address on the port of a wildcard listener. */
static bool
is_self(const struct conf *conf, const struct sockaddr *sa)
{
	size_t i;

	for (i = 0; i < conf->nlisten; i++) {
		const struct sockaddr *l =
		    (const struct sockaddr *)&conf->listen[i].ss;

		if (l->sa_family != sa->sa_family ||
		    sa_port(l) != sa_port(sa))
			continue;
		if (sa_same_addr(l, sa) || (sa_is_any_or_loopback(l, false) &&
		    sa_is_any_or_loopback(sa, true)))
			return true;
	}
	return false;
}

static void set_fail(struct dl *, enum mta_status, const char *,
    const char *, ...) __attribute__((format(printf, 4, 5)));

static void
set_fail(struct dl *dl, enum mta_status st, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	memset(&dl->fail, 0, sizeof(dl->fail));
	dl->fail.status = st;
	str_copy(dl->fail.dsn, dsn, sizeof(dl->fail.dsn));
	va_start(ap, fmt);
	vsnprintf(dl->fail.text, sizeof(dl->fail.text), fmt, ap);
	va_end(ap);
	free(dl->fail_host);
	dl->fail_host = NULL;
}

/* Every hop has answered: the candidates, in hop order. */
static void
hops_finish(struct dl *dl)
{
	const struct dl_hop *temp = NULL, *perm = NULL;
	size_t i, j, loops = 0;

	dl->cand = xcalloc(DL_CAND_MAX, sizeof(*dl->cand));
	for (i = 0; i < dl->nhop; i++) {
		const struct dl_hop *h = &dl->hop[i];

		if (h->status == DNS_TEMPFAIL && temp == NULL)
			temp = h;
		if (h->status == DNS_PERMFAIL && perm == NULL)
			perm = h;
		for (j = 0; j < h->ncand && dl->ncand < DL_CAND_MAX; j++) {
			if (is_self(dl->conf,
			    (const struct sockaddr *)&h->cand[j].ss)) {
				loops++;
				continue;
			}
			dl->cand[dl->ncand++] = h->cand[j];
		}
	}
	if (dl->ncand == 0) {
		if (loops > 0)
			set_fail(dl, MTA_BOUNCED, "5.4.6", "mail for %s loops "
			    "back to myself", dl->domain);
		else if (temp != NULL)
			set_fail(dl, MTA_DEFERRED, temp->dsn, "%s", temp->text);
		else if (perm != NULL && dl->via->nhop == 0)
			set_fail(dl, MTA_BOUNCED, perm->dsn, "%s", perm->text);
		else if (perm != NULL) {
			/* a relayhost or route that is not found: wait */
			set_fail(dl, MTA_DEFERRED, perm->dsn, "%s",
			    perm->text);
			dl->fail.dsn[0] = '4';
		} else
			set_fail(dl, MTA_DEFERRED, "4.4.3", "no address for "
			    "%s", dl->domain);
	}
	dl_hops_free(dl);
	dl_try_next(dl);
}

static void
hop_answer(void *arg, const struct dns_result *r)
{
	struct dl_hop *h = arg;
	struct dl *dl = h->dl;
	size_t i, j, n = 0;

	h->req = NULL;
	h->answered = true;
	h->status = r->status;
	str_copy(h->dsn, r->dsn, sizeof(h->dsn));
	str_copy(h->text, r->text, sizeof(h->text));
	for (i = 0; i < r->nhost; i++)
		n += r->hosts[i].naddr;
	h->cand = xcalloc(n ? n : 1, sizeof(*h->cand));
	for (i = 0; i < r->nhost; i++) {
		const struct dns_host *dh = &r->hosts[i];

		for (j = 0; j < dh->naddr; j++) {
			struct dl_cand *c = &h->cand[h->ncand++];

			str_copy(c->host, dh->name, sizeof(c->host));
			memcpy(&c->ss, &dh->addrs[j].sa, dh->addrs[j].salen);
			c->sslen = dh->addrs[j].salen;
			sa_set_port(&c->ss, h->port);
		}
	}
	if (--dl->nhop_wait == 0)
		hops_finish(dl);
}

void
dl_resolve(struct dl *dl)
{
	const struct conf_nexthops *via = dl->via;
	struct dns *dns = dl->res->dns;
	size_t i;

	dl->nhop = via->nhop ? via->nhop : 1;
	dl->nhop_wait = dl->nhop;
	dl->hop = xcalloc(dl->nhop, sizeof(*dl->hop));
	for (i = 0; i < dl->nhop; i++) {
		dl->hop[i].dl = dl;
		dl->hop[i].port = via->nhop ? via->hop[i].port : 25;
	}
	/* every request answers later, from the loop: none finishes here */
	if (via->nhop == 0) {
		dl->hop[0].req = dns_resolve_mx(dns, dl->domain, hop_answer,
		    &dl->hop[0]);
		return;
	}
	for (i = 0; i < via->nhop; i++) {
		if (via->hop[i].mx)
			dl->hop[i].req = dns_resolve_mx(dns, via->hop[i].host,
			    hop_answer, &dl->hop[i]);
		else
			dl->hop[i].req = dns_resolve_host(dns,
			    via->hop[i].host, hop_answer, &dl->hop[i]);
	}
}

void
dl_hops_free(struct dl *dl)
{
	size_t i;

	for (i = 0; i < dl->nhop; i++) {
		dns_cancel(&dl->hop[i].req);
		free(dl->hop[i].cand);
	}
	free(dl->hop);
	dl->hop = NULL;
	dl->nhop = dl->nhop_wait = 0;
}
