/*
 * dsn_make: prints the notification relay/dsn builds for the report given
 * on the command line, for tests/integration/test_dsn.py (which reads it
 * back with Python's email package).
 *
 *   dsn_make [-H host] [-q queue-id] [-s sender] [-E envid] [-a arrival]
 *       [-n now] [-S seed] [-m file] [-R hdrs|full] [-X full-max]
 *       -r ACTION:STATUS:ADDR [-o orig] [-M remote-mta] [-d diag] [-L]
 *       [-t last-attempt] [-u retry-until] [-e expected] [-r ...]
 *
 * Options after -r apply to that recipient.  -d is the remote server's
 * reply unless -L (our own reason).  Times are seconds since the epoch.
 * The message goes to stdout, "flags=N" to stderr.  Exit 0, 1 when
 * dsn_build() refuses (its reason on stderr), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/strutil.h"
#include "relay/dsn.h"

#define MAKE_MAX_RCPT	64

static void
usage(void)
{
	fprintf(stderr, "usage: dsn_make [-H host] [-q id] [-s sender] "
	    "[-E envid] [-a arrival] [-n now] [-S seed] [-m file] "
	    "[-R hdrs|full] [-X full-max] -r ACTION:STATUS:ADDR [-o orig] "
	    "[-M mta] [-d diag] [-L] [-t last] [-u until] [-e expected]...\n");
	exit(2);
}

static uint64_t
number(const char *s)
{
	const char *err;
	uint64_t v;

	if (str_to_u64(s, 0, UINT64_MAX, &v, &err) == -1) {
		fprintf(stderr, "dsn_make: %s: %s\n", s, err);
		exit(2);
	}
	return v;
}

static void
read_file(const char *path, struct buf *b)
{
	char chunk[8192];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		exit(2);
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(b, chunk, n);
	fclose(f);
}

/* "ACTION:STATUS:ADDR"; the address may hold colons. */
static void
parse_rcpt(char *arg, struct dsn_rcpt *rc)
{
	static const char *const names[] = {
		"failed", "delayed", "delivered", "relayed"
	};
	char *status, *addr;
	size_t i;

	if ((status = strchr(arg, ':')) == NULL ||
	    (addr = strchr(status + 1, ':')) == NULL)
		usage();
	*status++ = '\0';
	*addr++ = '\0';
	memset(rc, 0, sizeof(*rc));
	for (i = 0; i < 4 && strcmp(arg, names[i]) != 0; i++)
		;
	if (i == 4)
		usage();
	rc->action = (enum dsn_action)i;
	rc->status = *status ? status : NULL;
	rc->addr = addr;
	rc->diag_is_reply = true;
}

int
main(int argc, char **argv)
{
	static struct dsn_rcpt rcpts[MAKE_MAX_RCPT];
	struct dsn_report r;
	struct dsn_rcpt *rc = NULL;
	struct buf msg = BUF_INIT, out = BUF_INIT;
	const char *err;
	unsigned flags;
	int ch;

	memset(&r, 0, sizeof(r));
	r.hostname = "relay.example.com";
	r.queue_id = "0ABCDEFGHIJ12345";
	r.sender = "alice@example.com";
	r.now = 1767225600;
	r.arrival = r.now - 3600;
	r.seed = 1;
	r.rcpts = rcpts;
	while ((ch = getopt(argc, argv, "H:q:s:E:a:n:S:m:R:X:r:o:M:d:Lt:u:e:"))
	    != -1) {
		if (strchr("oMdLtue", ch) && rc == NULL)
			usage();
		switch (ch) {
		case 'H': r.hostname = optarg; break;
		case 'q': r.queue_id = optarg; break;
		case 's': r.sender = optarg; break;
		case 'E': r.envid = optarg; break;
		case 'a': r.arrival = (time_t)number(optarg); break;
		case 'n': r.now = (time_t)number(optarg); break;
		case 'S': r.seed = number(optarg); break;
		case 'm': read_file(optarg, &msg); break;
		case 'R':
			if (strcmp(optarg, "hdrs") == 0)
				r.ret = DSN_RET_HDRS;
			else if (strcmp(optarg, "full") == 0)
				r.ret = DSN_RET_FULL;
			else
				usage();
			break;
		case 'X': r.full_max = (size_t)number(optarg); break;
		case 'r':
			if (r.nrcpt == MAKE_MAX_RCPT)
				usage();
			rc = &rcpts[r.nrcpt++];
			parse_rcpt(optarg, rc);
			break;
		case 'o': rc->orig = optarg; break;
		case 'M': rc->remote_mta = optarg; break;
		case 'd': rc->diag = optarg; break;
		case 'L': rc->diag_is_reply = false; break;
		case 't': rc->last_attempt = (time_t)number(optarg); break;
		case 'u': rc->retry_until = (time_t)number(optarg); break;
		case 'e': rc->expected = (time_t)number(optarg); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (msg.data) {
		r.msg = msg.data;
		r.msg_len = msg.len;
	}
	if (dsn_build(&r, &out, &flags, &err) == -1) {
		fprintf(stderr, "dsn_make: %s\n", err);
		return 1;
	}
	fwrite(out.data, 1, out.len, stdout);
	fprintf(stderr, "flags=%u\n", flags);
	buf_free(&out);
	buf_free(&msg);
	return 0;
}
