/*
 * spf_probe: runs relay/spf.c's checks on a real event loop and its
 * worker threads, for the integration tests (tests/integration/
 * test_spf.py).
 *
 *   spf_probe [-s SERVER] [-t SECS] [-r RECEIVER] [-n COUNT] [-T MS]
 *             [-c MS | -x MS] CLIENT HELO SENDER...
 *
 * SERVER: "127.0.0.1:5353" or "[::1]:5353" (default: /etc/resolv.conf).
 * HELO "-": none given; SENDER "<>": the null sender.  Every check
 * (COUNT times each, default 1) starts at once; when all have answered,
 * one block per check is printed in the order given:
 *
 *   result STATUS
 *   comment TEXT
 *   explanation TEXT       (when not empty)
 *   header VALUE           (when not empty)
 *   action accept [header] | action REPLY
 *                    (under spf { reject-fail yes add-header yes })
 *   ms MILLISECONDS        (from the start to its callback)
 *
 * -T MS ticks a timer every MS milliseconds while checks are pending and
 * prints "ticks N" last: a loop that a check blocked would not tick.
 * -c MS cancels every check still pending after MS milliseconds with
 * spf_cancel(), -x MS frees the module instead (spf_free() with checks
 * pending); each prints "cancelled" for the checks it took away.  Exit 0
 * once every check has answered or been cancelled, 1 when the module
 * cannot be set up, 2 on a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/strutil.h"
#include "lib/xalloc.h"
#include "relay/spf.h"

struct probe {
	struct addr	 client;
	const char	*helo, *sender;
	struct spf_req	*req;
	struct buf	 out;
};

static struct event_base *base;
static struct spf *spf;
static struct probe *probes;
static size_t nprobes, pending;
static struct timespec t0;
static unsigned long ticks;

static long
elapsed_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0.tv_sec) * 1000 +
	    (now.tv_nsec - t0.tv_nsec) / 1000000;
}

static void
probe_done(void *arg, const struct spf_result *res)
{
	static const struct spf_settings block = {	/* DESIGN.md's */
		.has_reject_fail = true, .reject_fail = true,
		.has_add_header = true, .add_header = true };
	const struct spf_settings *v[] = { &block };
	struct probe *p = arg;
	struct spf_action act;
	struct spf_eff eff;

	p->req = NULL;
	buf_printf(&p->out, "result %s\ncomment %s\n",
	    spf_status_name(res->status), res->comment);
	if (res->explanation[0] != '\0')
		buf_printf(&p->out, "explanation %s\n", res->explanation);
	if (res->header[0] != '\0')
		buf_printf(&p->out, "header %s\n", res->header);
	spf_merge(v, 1, &eff);
	spf_decide(&eff, res, &act);
	if (act.verdict == SPF_ACCEPT)
		buf_printf(&p->out, "action accept%s\n",
		    act.header != NULL ? " header" : "");
	else
		buf_printf(&p->out, "action %s\n", act.reply);
	buf_printf(&p->out, "ms %ld\n", elapsed_ms());
	if (--pending == 0)
		event_base_loopbreak(base);
}

static void
probe_stop(evutil_socket_t fd, short ev, void *arg)
{
	bool free_all = *(bool *)arg;
	size_t i;

	(void)fd;
	(void)ev;
	if (free_all)
		spf_free(&spf);
	for (i = 0; i < nprobes; i++) {
		if (probes[i].req == NULL)
			continue;
		if (free_all)
			probes[i].req = NULL;	/* went with spf */
		else
			spf_cancel(&probes[i].req);
		buf_addstr(&probes[i].out, "cancelled\n");
	}
	pending = 0;
	event_base_loopbreak(base);
}

static void
probe_tick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	ticks++;
}

static void
usage(void)
{
	fputs("usage: spf_probe [-s SERVER] [-t SECS] [-r RECEIVER] "
	    "[-n COUNT] [-T MS] [-c MS | -x MS] CLIENT HELO SENDER...\n",
	    stderr);
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

static struct timeval
ms_tv(unsigned ms)
{
	struct timeval tv = { ms / 1000, ms % 1000 * 1000 };

	return tv;
}

int
main(int argc, char **argv)
{
	const char *server = NULL, *receiver = NULL, *err;
	unsigned timeout = 5, count = 1, stop_ms = 0, tick_ms = 0;
	struct event *stopper = NULL, *ticker = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct timeval tv;
	bool stop_free = false;
	size_t i;
	int ch;

	while ((ch = getopt(argc, argv, "s:t:r:n:T:c:x:")) != -1) {
		switch (ch) {
		case 's':
			server = optarg;
			break;
		case 't':
			timeout = number(optarg, 3600);
			break;
		case 'r':
			receiver = optarg;
			break;
		case 'n':
			count = number(optarg, 1000);
			break;
		case 'T':
			tick_ms = number(optarg, 60000);
			break;
		case 'c':
		case 'x':
			stop_ms = number(optarg, 3600000);
			stop_free = ch == 'x';
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || argc % 3 != 0 || count == 0)
		usage();
	if (server != NULL && addr_parse_hostport(server, "53", &ss, &sslen,
	    &err) == -1) {
		fprintf(stderr, "spf_probe: %s: %s\n", server, err);
		return 1;
	}
	if (evthread_use_pthreads() == -1 || (base = event_base_new()) == NULL)
		return 1;
	if (spf_new(&spf, base, server != NULL ? (struct sockaddr *)&ss :
	    NULL, receiver, timeout, &err) == -1) {
		fprintf(stderr, "spf_probe: %s\n", err);
		event_base_free(base);
		return 1;
	}
	nprobes = (size_t)argc / 3 * count;
	probes = xcalloc(nprobes, sizeof(*probes));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nprobes; i++) {
		char **q = argv + (i / count) * 3;
		struct probe *p = &probes[i];

		if (addr_parse(q[0], &p->client) == -1)
			usage();
		p->helo = strcmp(q[1], "-") == 0 ? NULL : q[1];
		p->sender = strcmp(q[2], "<>") == 0 ? "" : q[2];
		buf_init(&p->out);
		pending++;
		p->req = spf_check(spf, &p->client, p->helo, p->sender,
		    probe_done, p);
	}
	if (stop_ms > 0) {
		stopper = evtimer_new(base, probe_stop, &stop_free);
		tv = ms_tv(stop_ms);
		evtimer_add(stopper, &tv);
	}
	if (tick_ms > 0) {
		ticker = event_new(base, -1, EV_PERSIST, probe_tick, NULL);
		tv = ms_tv(tick_ms);
		evtimer_add(ticker, &tv);
	}
	event_base_dispatch(base);
	for (i = 0; i < nprobes; i++) {
		fputs(probes[i].out.data != NULL ? probes[i].out.data : "",
		    stdout);
		buf_free(&probes[i].out);
	}
	if (tick_ms > 0)
		printf("ticks %lu\n", ticks);
	if (stopper != NULL)
		event_free(stopper);
	if (ticker != NULL)
		event_free(ticker);
	spf_free(&spf);
	/* answers a worker handed over just before spf_free() */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	free(probes);
	return 0;
}
