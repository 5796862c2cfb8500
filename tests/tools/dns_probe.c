/*
 * dns_probe: runs relay/dns.c's look-ups on a real event loop for the
 * integration tests (tests/integration/test_dns.py).
 *
 *   dns_probe [-s SERVER] [-t SECS] [-n COUNT] [-c MS | -x MS | -F] QUERY...
 *   QUERY: mx DOMAIN | host NAME
 *
 * Every query (COUNT times each, default 1) is started at once; when all
 * have answered, one block per request is printed in the order given:
 *
 *   ok DOMAIN [implicit]          or  tempfail|permfail NAME DSN TEXT
 *   mx PREF HOST ADDR...              (a host of an MX look-up)
 *   host HOST ADDR...                 (the host of a host look-up)
 *   mx PREF HOST - tempfail|permfail TEXT   (a host without address)
 *
 * -c MS cancels every request still pending after MS milliseconds with
 * dns_cancel(), -x MS frees the resolver instead (dns_free() with
 * requests pending), -F frees it inside the first callback; each prints
 * "cancelled NAME" for the requests it took away.  Exit 0
 * once every request has answered or been cancelled, 1 when the resolver
 * cannot be set up, 2 on a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "lib/buf.h"
#include "lib/strutil.h"
#include "lib/xalloc.h"
#include "relay/dns.h"

struct probe {
	bool		 mx;
	const char	*name;
	struct dns_req	*req;
	struct buf	 out;
};

static struct event_base *base;
static struct dns *dns;
static struct probe *probes;
static size_t nprobes, pending;
static bool free_in_cb;

static const char *
probe_status(enum dns_status st)
{
	return st == DNS_OK ? "ok" : st == DNS_TEMPFAIL ? "tempfail" :
	    "permfail";
}

static void
probe_done(void *arg, const struct dns_result *res)
{
	struct probe *p = arg;
	size_t i, j;

	p->req = NULL;
	if (res->status == DNS_OK)
		buf_printf(&p->out, "ok %s%s\n", res->name,
		    res->implicit_mx ? " implicit" : "");
	else
		buf_printf(&p->out, "%s %s %s %s\n", probe_status(res->status),
		    res->name, res->dsn, res->text);
	for (i = 0; i < res->nhost; i++) {
		const struct dns_host *h = &res->hosts[i];

		if (p->mx)
			buf_printf(&p->out, "mx %u %s", h->pref, h->name);
		else
			buf_printf(&p->out, "host %s", h->name);
		for (j = 0; j < h->naddr; j++)
			buf_printf(&p->out, " %s", h->addrs[j].text);
		if (h->naddr == 0)
			buf_printf(&p->out, " - %s %s", probe_status(h->status),
			    h->text);
		buf_addc(&p->out, '\n');
	}
	if (--pending == 0)
		event_base_loopbreak(base);
}

/* Takes every pending request away: by dns_free() or one by one. */
static void
probe_stop_all(bool free_all)
{
	size_t i;

	if (free_all)
		dns_free(&dns);
	for (i = 0; i < nprobes; i++) {
		if (probes[i].req == NULL)
			continue;
		if (free_all)
			probes[i].req = NULL;	/* went with dns */
		else
			dns_cancel(&probes[i].req);
		buf_printf(&probes[i].out, "cancelled %s\n", probes[i].name);
	}
	pending = 0;
	event_base_loopbreak(base);
}

static void
probe_done_free(void *arg, const struct dns_result *res)
{
	probe_done(arg, res);
	if (free_in_cb && dns != NULL)
		probe_stop_all(true);
}

static void
probe_stop(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	probe_stop_all(*(bool *)arg);
}

static void
usage(void)
{
	fputs("usage: dns_probe [-s SERVER] [-t SECS] [-n COUNT] "
	    "[-c MS | -x MS | -F] {mx DOMAIN | host NAME}...\n", stderr);
	exit(2);
}

static unsigned
number(const char *s, uint64_t max)
{
	const char *err;
	uint64_t v;

	if (str_to_u64(s, 0, max, &v, &err) == -1)
		usage();
	return (unsigned)v;
}

int
main(int argc, char **argv)
{
	const char *server = NULL, *err;
	unsigned timeout = 5, count = 1, stop_ms = 0;
	struct event *stopper = NULL;
	bool stop_free = false;
	size_t i;
	int ch;

	while ((ch = getopt(argc, argv, "s:t:n:c:x:F")) != -1) {
		switch (ch) {
		case 's':
			server = optarg;
			break;
		case 't':
			timeout = number(optarg, 3600);
			break;
		case 'n':
			count = number(optarg, 1000);
			break;
		case 'c':
		case 'x':
			stop_ms = number(optarg, 3600000);
			stop_free = ch == 'x';
			break;
		case 'F':
			free_in_cb = true;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || argc % 2 != 0 || count == 0)
		usage();
	if (evthread_use_pthreads() == -1 || (base = event_base_new()) == NULL)
		return 1;
	if ((dns = dns_new(base, server, timeout, &err)) == NULL) {
		fprintf(stderr, "dns_probe: %s\n", err);
		event_base_free(base);
		return 1;
	}
	nprobes = (size_t)argc / 2 * count;
	probes = xcalloc(nprobes, sizeof(*probes));
	for (i = 0; i < nprobes; i++) {
		char **q = argv + (i / count) * 2;
		struct probe *p = &probes[i];

		if (strcmp(q[0], "mx") != 0 && strcmp(q[0], "host") != 0)
			usage();
		p->mx = strcmp(q[0], "mx") == 0;
		p->name = q[1];
		buf_init(&p->out);
		pending++;
		p->req = p->mx ?
		    dns_resolve_mx(dns, p->name, probe_done_free, p) :
		    dns_resolve_host(dns, p->name, probe_done_free, p);
	}
	if (stop_ms > 0) {
		struct timeval tv = { stop_ms / 1000, stop_ms % 1000 * 1000 };

		stopper = evtimer_new(base, probe_stop, &stop_free);
		evtimer_add(stopper, &tv);
	}
	event_base_dispatch(base);
	for (i = 0; i < nprobes; i++) {
		fputs(probes[i].out.data != NULL ? probes[i].out.data : "",
		    stdout);
		buf_free(&probes[i].out);
	}
	if (stopper != NULL)
		event_free(stopper);
	dns_free(&dns);
	/* answers a worker handed over just before dns_free() */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	free(probes);
	return 0;
}
