/*
 * mta_probe: delivers one message read from stdin through relay/mta_*
 * (the delivery client) to one address, and prints the outcome, for the
 * integration tests:
 *
 *   RCPT addr status=sent|deferred|bounced dsn=X.Y.Z reply="..."
 *   session relay=host[ip]:port greeting=NAME tls="..."|none verified=...
 *
 * one RCPT line per recipient and transaction, then the session line.
 * Exit 0 whatever the outcome; 2 on a usage error.  Bare LFs in the input
 * become CRLF, as the queue stores messages.  --keep-open leaves the idle
 * session to the server or to --idle-timeout instead of closing it.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/strutil.h"
#include "lib/xalloc.h"
#include "relay/mta.h"

#define PROBE_MAX_RCPT	100

struct probe {
	struct mta_tx	 tx;
	struct mta_rcpt	 rcpts[PROBE_MAX_RCPT];
	unsigned	 repeat;	/* transactions still to run */
	bool		 keep_open;	/* leave closing to the idle timeout */
	char		 relay[400];
	char		 greeting[256];
	char		 tls[160];
	bool		 verified;
	bool		 authenticated;
	char		 closed[MTA_TEXT_SIZE];
};

static void
usage(void)
{
	fprintf(stderr, "usage: mta_probe --connect ADDR:PORT --host NAME "
	    "[--helo NAME] [--tls none|may|encrypt|verify] [--ca-file F] "
	    "[--auth USER:PASS] [--from A] [--to B]... [--8bit] "
	    "[--smtputf8] [--repeat N] [--timeout S] [--idle-timeout S] "
	    "[--keep-open] < message\n");
	exit(2);
}

/* Prints s quoted, with '"' and '\' escaped. */
static void
print_quoted(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void
print_result(const char *addr, const struct mta_result *r)
{
	static const char *names[] = {
		[MTA_SENT] = "sent", [MTA_DEFERRED] = "deferred",
		[MTA_BOUNCED] = "bounced",
	};

	printf("RCPT %s status=%s dsn=%s code=%d reply=", addr,
	    names[r->status], r->dsn, r->code);
	print_quoted(r->text);
	putchar('\n');
	fflush(stdout);
}

static struct mta_session *probe_session;	/* NULL once closed */

static void	on_tx(void *, const struct mta_tx *, const struct mta_result *);

static void
send_next(struct probe *p, struct mta_session *s)
{
	if (p->repeat == 0) {
		if (!p->keep_open)
			mta_session_close(s);
		return;
	}
	p->repeat--;
	if (mta_session_send(s, &p->tx, on_tx, p) == -1) {
		fprintf(stderr, "mta_probe: the session refused a "
		    "transaction\n");
		mta_session_close(s);
	}
}

static void
on_tx(void *arg, const struct mta_tx *tx, const struct mta_result *res)
{
	struct probe *p = arg;
	size_t i;

	for (i = 0; i < tx->nrcpt; i++)
		print_result(tx->rcpts[i].addr, &res[i]);
	/* the session is ready again, or closing (then send refuses) */
	if (probe_session != NULL && mta_session_is_ready(probe_session))
		send_next(p, probe_session);
}

static void
on_event(void *arg, struct mta_session *s, const struct mta_event *ev)
{
	struct probe *p = arg;
	size_t i;

	str_copy(p->relay, ev->relay, sizeof(p->relay));
	str_copy(p->greeting, ev->greeting, sizeof(p->greeting));
	str_copy(p->tls, ev->tls ? ev->tls : "none", sizeof(p->tls));
	p->verified = ev->tls_verified;
	p->authenticated = ev->authenticated;
	switch (ev->type) {
	case MTA_EV_READY:
		send_next(p, s);
		break;
	case MTA_EV_FAILED:
		for (i = 0; i < p->tx.nrcpt; i++)
			print_result(p->tx.rcpts[i].addr, ev->reason);
		break;
	case MTA_EV_CLOSED:
		if (ev->reason != NULL)
			str_copy(p->closed, ev->reason->text,
			    sizeof(p->closed));
		probe_session = NULL;
		break;
	}
}

static void
read_message(struct buf *b)
{
	char chunk[65536];
	size_t n, i;
	bool cr = false;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		for (i = 0; i < n; i++) {
			if (chunk[i] == '\n' && !cr)
				buf_addc(b, '\r');
			cr = chunk[i] == '\r';
			buf_addc(b, chunk[i]);
		}
	}
}

static enum mta_tls_policy
parse_tls(const char *v)
{
	if (strcmp(v, "none") == 0)
		return MTA_TLS_NONE;
	if (strcmp(v, "may") == 0)
		return MTA_TLS_MAY;
	if (strcmp(v, "encrypt") == 0)
		return MTA_TLS_ENCRYPT;
	if (strcmp(v, "verify") == 0)
		return MTA_TLS_VERIFY;
	usage();
	return MTA_TLS_NONE;
}

static unsigned
parse_num(const char *v, uint64_t max)
{
	const char *err;
	uint64_t n;

	if (str_to_u64(v, 1, max, &n, &err) == -1) {
		fprintf(stderr, "mta_probe: %s: %s\n", v, err);
		exit(2);
	}
	return (unsigned)n;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "host", required_argument, NULL, 'H' },
		{ "helo", required_argument, NULL, 'e' },
		{ "tls", required_argument, NULL, 't' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "auth", required_argument, NULL, 'a' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'r' },
		{ "8bit", no_argument, NULL, '8' },
		{ "smtputf8", no_argument, NULL, 'u' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "keep-open", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	struct probe p;
	struct mta_params mp;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	struct event_base *base;
	struct buf msg = BUF_INIT;
	const char *connect = NULL, *err;
	char *auth = NULL, *colon = NULL;
	int c;

	memset(&p, 0, sizeof(p));
	memset(&mp, 0, sizeof(mp));
	p.tx.sender = "";
	p.repeat = 1;
	mp.helo = "mta-probe.test";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': connect = optarg; break;
		case 'H': mp.host = optarg; break;
		case 'e': mp.helo = optarg; break;
		case 't': mp.tls = parse_tls(optarg); break;
		case 'C': mp.ca_file = optarg; break;
		case 'a': auth = optarg; break;
		case 'f': p.tx.sender = optarg; break;
		case 'r':
			if (p.tx.nrcpt == PROBE_MAX_RCPT)
				usage();
			p.rcpts[p.tx.nrcpt].addr = optarg;
			p.rcpts[p.tx.nrcpt].id = p.tx.nrcpt;
			p.tx.nrcpt++;
			break;
		case '8': p.tx.flags |= MTA_TX_8BITMIME; break;
		case 'u': p.tx.flags |= MTA_TX_SMTPUTF8; break;
		case 'n': p.repeat = parse_num(optarg, 1000); break;
		case 'T':
			mp.connect_timeout = mp.command_timeout =
			    mp.data_timeout = parse_num(optarg, 3600);
			break;
		case 'I': mp.idle_timeout = parse_num(optarg, 3600); break;
		case 'k': p.keep_open = true; break;
		default: usage();
		}
	}
	if (connect == NULL || optind != argc || p.tx.nrcpt == 0)
		usage();
	if (addr_parse_hostport(connect, NULL, &ss, &sslen, &err) == -1) {
		fprintf(stderr, "mta_probe: --connect %s: %s\n", connect, err);
		return 2;
	}
	if (auth != NULL) {
		if ((colon = strchr(auth, ':')) == NULL)
			usage();
		*colon = '\0';
		mp.auth_user = auth;
		mp.auth_pass = colon + 1;
	}
	mp.addr = (struct sockaddr *)&ss;
	mp.addrlen = sslen;
	p.tx.rcpts = p.rcpts;
	read_message(&msg);
	p.tx.data = msg.data ? msg.data : "";
	p.tx.len = msg.len;

	log_init("mta_probe", false);
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() == -1 || (base = event_base_new()) == NULL)
		fatal("event=fatal reason=\"cannot set up the event loop\"");
	if (mp.tls != MTA_TLS_NONE &&
	    mta_tls_preload(mp.ca_file, &err) == -1) {
		fprintf(stderr, "mta_probe: %s\n", err);
		return 2;
	}
	probe_session = mta_session_new(base, &mp, on_event, &p);
	event_base_dispatch(base);
	if (colon != NULL)
		xwipe(colon + 1, strlen(colon + 1));
	printf("session relay=%s greeting=%s tls=", p.relay,
	    p.greeting[0] ? p.greeting : "-");
	print_quoted(p.tls);
	printf(" verified=%s auth=%s closed=", p.verified ? "yes" : "no",
	    p.authenticated ? "yes" : "no");
	print_quoted(p.closed[0] ? p.closed : "ok");
	putchar('\n');
	mta_tls_cache_clear();
	event_base_free(base);
	buf_free(&msg);
	return 0;
}
