/*
 * test_spf: relay/spf.c without DNS records.  The policy part (spf_merge,
 * spf_decide) as tables; the worker machinery on a real event loop
 * against a "resolver" that is a UDP socket of this process nobody reads
 * (every query times out): the deadline, answers that need no DNS,
 * cancelling, freeing with checks in flight, a full queue.  Under ASan
 * the last two show that nothing leaks.  test_spf.py has the results
 * against real records.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "relay/spf.h"
#include "t.h"

/* -- policy ------------------------------------------------------------------ */

static const struct spf_settings off = { .has_on = true, .on = false };
static const struct spf_settings on = { .has_on = true, .on = true };
static const struct spf_settings empty;
/* DESIGN.md's spf { reject-fail yes add-header yes } */
static const struct spf_settings design = {
	.has_reject_fail = true, .reject_fail = true,
	.has_add_header = true, .add_header = true };
static const struct spf_settings no_reject = { .has_reject_fail = true };
static const struct spf_settings yes_reject = {
	.has_reject_fail = true, .reject_fail = true };
static const struct spf_settings yes_header = {
	.has_add_header = true, .add_header = true };
static const struct spf_settings no_header = { .has_add_header = true };
static const struct spf_settings strict = {
	.has_reject_fail = true, .reject_fail = true,
	.has_softfail = true, .softfail = SPF_REJECT,
	.has_permerror = true, .permerror = SPF_REJECT };
static const struct spf_settings tempfail_all = {
	.has_softfail = true, .softfail = SPF_TEMPFAIL,
	.has_permerror = true, .permerror = SPF_TEMPFAIL };
static const struct spf_settings lax = {
	.has_reject_fail = true, .reject_fail = true,
	.has_temperror = true, .temperror = SPF_ACCEPT };
static const struct spf_settings temp_tempfail = {
	.has_temperror = true, .temperror = SPF_TEMPFAIL };
static const struct spf_settings temp_reject = {
	.has_temperror = true, .temperror = SPF_REJECT };

static void
test_merge(void)
{
	static const struct {
		const char			*name;
		const struct spf_settings	*v[3];
		size_t				 n;
		bool				 enabled, reject_fail, add_header;
	} cases[] = {
		{ "no policy has a block", { NULL, NULL }, 2, false, false,
		    false },
		{ "an empty block: on, nothing written is no",
		    { NULL, &empty }, 2, true, false, false },
		{ "DESIGN.md's block", { &design }, 1, true, true, true },
		{ "off", { &off }, 1, false, false, false },
		{ "a later block that only tunes keeps off",
		    { &off, &yes_reject }, 2, false, true, false },
		{ "a later on undoes off", { &off, &on }, 2, true, false,
		    false },
		{ "a later off wins", { &on, &off }, 2, false, false, false },
		{ "the higher priority number overrides",
		    { &yes_reject, &no_reject }, 2, true, false, false },
		{ "what is not written is inherited",
		    { &yes_reject, &yes_header, &empty }, 3, true, true,
		    true },
		{ "a later no is written", { &design, &no_header }, 2, true,
		    true, false },
	};
	struct spf_eff eff;
	size_t i;
	char name[128];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spf_merge(cases[i].v, cases[i].n, &eff);
		snprintf(name, sizeof(name), "merge: %s: enabled",
		    cases[i].name);
		T_EQ_INT(eff.enabled, cases[i].enabled, name);
		snprintf(name, sizeof(name), "merge: %s: reject-fail",
		    cases[i].name);
		T_EQ_INT(eff.reject_fail, cases[i].reject_fail, name);
		snprintf(name, sizeof(name), "merge: %s: add-header",
		    cases[i].name);
		T_EQ_INT(eff.add_header, cases[i].add_header, name);
	}
	spf_merge((const struct spf_settings *const[]){ &strict, &lax }, 2,
	    &eff);
	T_OK(eff.softfail == SPF_REJECT && eff.permerror == SPF_REJECT &&
	    eff.temperror == SPF_ACCEPT, "merge: verdicts from two blocks");
	spf_merge((const struct spf_settings *const[]){ &empty }, 1, &eff);
	T_OK(eff.softfail == SPF_ACCEPT && eff.permerror == SPF_ACCEPT &&
	    eff.temperror == SPF_ACCEPT,
	    "merge: nothing refused by default, a DNS error neither");
	spf_merge((const struct spf_settings *const[]){ &yes_reject }, 1,
	    &eff);
	T_EQ_INT(eff.temperror, SPF_TEMPFAIL,
	    "merge: refusing fails defers on a DNS error");
	spf_merge((const struct spf_settings *const[]){ &temp_tempfail,
	    &no_reject }, 2, &eff);
	T_EQ_INT(eff.temperror, SPF_TEMPFAIL,
	    "merge: a temperror written stays, whatever reject-fail says");
}

static void
result_set(struct spf_result *r, enum spf_status st, const char *expl)
{
	memset(r, 0, sizeof(*r));
	r->status = st;
	snprintf(r->comment, sizeof(r->comment), "relay.test: comment %s",
	    spf_status_name(st));
	snprintf(r->explanation, sizeof(r->explanation), "%s", expl);
	snprintf(r->header, sizeof(r->header), "%s (relay.test: ...)",
	    spf_status_name(st));
}

static void
test_decide(void)
{
	static const struct {
		const char			*name;
		const struct spf_settings	*block;
		enum spf_status			 st;
		const char			*expl;
		const char			*want;	/* reply, or
							   "+" accept with
							   header, "-"
							   without */
	} cases[] = {
		{ "pass", &design, SPF_PASS, "", "+" },
		{ "pass, add-header not written", &yes_reject, SPF_PASS, "",
		    "-" },
		{ "fail", &design, SPF_FAIL, "x.test does not designate",
		    "550 5.7.23 SPF check failed: x.test does not designate" },
		{ "fail without an explanation", &design, SPF_FAIL, "",
		    "550 5.7.23 SPF check failed: relay.test: comment fail" },
		{ "fail, reject-fail not written", &yes_header, SPF_FAIL, "e",
		    "+" },
		{ "fail, an empty block", &empty, SPF_FAIL, "e", "-" },
		{ "softfail", &design, SPF_SOFTFAIL, "e", "+" },
		{ "softfail reject", &strict, SPF_SOFTFAIL, "e",
		    "550 5.7.23 SPF check soft-failed: e" },
		{ "softfail tempfail", &tempfail_all, SPF_SOFTFAIL, "e",
		    "451 4.7.23 SPF check soft-failed: e" },
		{ "neutral", &strict, SPF_NEUTRAL, "e", "-" },
		{ "none", &design, SPF_NONE, "", "+" },
		{ "permerror", &design, SPF_PERMERROR, "", "+" },
		{ "permerror reject", &strict, SPF_PERMERROR, "",
		    "550 5.7.24 SPF record error: relay.test: comment "
		    "permerror" },
		{ "permerror tempfail", &tempfail_all, SPF_PERMERROR, "",
		    "451 4.7.24 SPF record error: relay.test: comment "
		    "permerror" },
		{ "temperror", &design, SPF_TEMPERROR, "",
		    "451 4.7.24 Temporary SPF error, try again later" },
		{ "temperror, headers only", &yes_header, SPF_TEMPERROR, "",
		    "+" },
		{ "temperror accept", &lax, SPF_TEMPERROR, "", "-" },
		{ "temperror tempfail", &temp_tempfail, SPF_TEMPERROR, "",
		    "451 4.7.24 Temporary SPF error, try again later" },
		{ "temperror is never a 5xx", &temp_reject, SPF_TEMPERROR, "",
		    "451 4.7.24 Temporary SPF error, try again later" },
	};
	const struct spf_settings *v[1];
	struct spf_result res;
	struct spf_action act;
	struct spf_eff eff;
	char name[128], got[SPF_REPLY_SIZE + 32];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v[0] = cases[i].block;
		spf_merge(v, 1, &eff);
		result_set(&res, cases[i].st, cases[i].expl);
		spf_decide(&eff, &res, &act);
		if (act.verdict == SPF_ACCEPT)
			snprintf(got, sizeof(got), "%s%s",
			    act.header == res.header ? "+" : "-", act.reply);
		else
			snprintf(got, sizeof(got), "%s%s", act.header != NULL ?
			    "header with " : "", act.reply);
		snprintf(name, sizeof(name), "decide: %s", cases[i].name);
		T_EQ_STR(got, cases[i].want, name);
		if (act.verdict != SPF_ACCEPT)
			T_EQ_INT(act.verdict, cases[i].want[0] == '5' ?
			    SPF_REJECT : SPF_TEMPFAIL, name);
	}
	/* a long explanation is cut to one reply line */
	spf_merge((const struct spf_settings *const[]){ &design }, 1, &eff);
	result_set(&res, SPF_FAIL, "");
	memset(res.explanation, 'x', sizeof(res.explanation) - 1);
	spf_decide(&eff, &res, &act);
	T_EQ_INT(strlen(act.reply), SPF_REPLY_SIZE - 1,
	    "decide: a reply line is at most 510 characters");
	/* a check that did not run has no header to add */
	result_set(&res, SPF_TEMPERROR, "");
	res.header[0] = '\0';
	spf_merge((const struct spf_settings *const[]){ &yes_header }, 1,
	    &eff);
	spf_decide(&eff, &res, &act);
	T_OK(act.verdict == SPF_ACCEPT && act.header == NULL,
	    "decide: no header when the check did not run");
}

static void
test_names(void)
{
	static const char *const want[] = { "pass", "fail", "softfail",
	    "neutral", "none", "permerror", "temperror" };
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		T_EQ_STR(spf_status_name((enum spf_status)i), want[i],
		    "status name");
}

/* -- the workers ---------------------------------------------------------------- */

static struct event_base *base;
static int silent_fd = -1;
static struct sockaddr_in silent;

struct got {
	int			 calls;
	enum spf_status		 status;
	char			 comment[SPF_TEXT_SIZE];
	char			 header[SPF_HEADER_SIZE];
	struct timespec		 at;
};

static void
got_cb(void *arg, const struct spf_result *res)
{
	struct got *g = arg;

	g->calls++;
	g->status = res->status;
	snprintf(g->comment, sizeof(g->comment), "%s", res->comment);
	snprintf(g->header, sizeof(g->header), "%s", res->header);
	clock_gettime(CLOCK_MONOTONIC, &g->at);
}

static double
secs_since(const struct timespec *t0, const struct timespec *t)
{
	return (double)(t->tv_sec - t0->tv_sec) +
	    (double)(t->tv_nsec - t0->tv_nsec) / 1e9;
}

/* Runs the loop until *calls reaches want or 10 seconds pass. */
static void
run_until(const int *calls, int want)
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (*calls < want) {
			struct timespec ms = { 0, 1000000 };

			nanosleep(&ms, NULL);
		}
	} while (*calls < want && secs_since(&t0, &now) < 10);
}

static void
test_setup_errors(void)
{
	struct sockaddr_storage ss;
	const char *err = NULL;
	struct spf *spf = NULL;

	T_EQ_INT(spf_new(&spf, base, NULL, NULL, SPF_TIMEOUT_MAX + 1, &err),
	    -1, "new: timeout too long");
	T_EQ_STR(err, "SPF timeout out of range (1..300 seconds)",
	    "new: timeout too long: why");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	T_EQ_INT(spf_new(&spf, base, (struct sockaddr *)&ss, NULL, 1, &err),
	    -1, "new: not an IP resolver");
	T_EQ_INT(spf_new(&spf, base, NULL, "not a name", 1, &err), -1,
	    "new: bad receiver");
	T_OK(spf == NULL, "new: nothing on failure");
}

/* Checks that need no DNS still answer from the loop, later. */
static void
test_local_answers(struct spf *spf)
{
	struct got g[4];
	struct addr client, lo;
	int calls = 0, i;

	memset(g, 0, sizeof(g));
	addr_parse("192.0.2.1", &client);
	addr_parse("127.0.0.1", &lo);
	spf_check(spf, &client, NULL, "", got_cb, &g[0]);
	spf_check(spf, &client, "[192.0.2.1]", NULL, got_cb, &g[1]);
	spf_check(spf, &client, "h.test", "user@single", got_cb, &g[2]);
	spf_check(spf, &lo, "h.test", "a@x.test", got_cb, &g[3]);
	for (i = 0; i < 4; i++)
		calls += g[i].calls;
	T_EQ_INT(calls, 0, "local: no callback inside spf_check");
	for (i = 0; i < 4; i++) {
		run_until(&g[i].calls, 1);
		T_EQ_INT(g[i].calls, 1, "local: one callback");
	}
	T_EQ_STR(spf_status_name(g[0].status), "none",
	    "local: null sender without HELO");
	T_EQ_STR(spf_status_name(g[1].status), "none",
	    "local: null sender with an address literal");
	T_EQ_STR(g[1].header, "none (relay.test: domain of [192.0.2.1] does "
	    "not provide an SPF record) client-ip=192.0.2.1; envelope-from="
	    "postmaster@[192.0.2.1]; helo=[192.0.2.1]; receiver=relay.test; "
	    "identity=helo;", "local: its header");
	T_EQ_STR(spf_status_name(g[2].status), "none",
	    "local: a single-label domain");
	T_EQ_STR(spf_status_name(g[3].status), "pass", "local: loopback");
	T_EQ_STR(g[3].comment, "relay.test: localhost is always allowed.",
	    "local: loopback comment");
}

static void
test_deadline(struct spf *spf)
{
	struct timespec t0;
	struct addr client;
	struct got g;

	memset(&g, 0, sizeof(g));
	addr_parse("192.0.2.1", &client);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	spf_check(spf, &client, "h.test", "a@x.test", got_cb, &g);
	run_until(&g.calls, 1);
	T_EQ_INT(g.calls, 1, "deadline: one callback");
	T_EQ_STR(spf_status_name(g.status), "temperror",
	    "deadline: a silent server is a temperror");
	T_EQ_STR(g.header, "temperror (relay.test: encountered temporary "
	    "error during SPF processing of domain of x.test) client-ip="
	    "192.0.2.1; envelope-from=a@x.test; helo=h.test; receiver="
	    "relay.test; identity=mailfrom;", "deadline: its header");
	T_OK(secs_since(&t0, &g.at) >= 0.9 && secs_since(&t0, &g.at) < 2.5,
	    "deadline: after about 1 s");
}

static void
test_cancel(struct spf *spf)
{
	struct spf_req *r[6];
	struct addr client;
	struct got g[6];
	int calls = 0, i;

	memset(g, 0, sizeof(g));
	addr_parse("2001:db8::1", &client);
	for (i = 0; i < 6; i++)	/* 4 start at once, 2 wait */
		r[i] = spf_check(spf, &client, "h.test", "a@x.test", got_cb,
		    &g[i]);
	for (i = 1; i < 6; i++)
		spf_cancel(&r[i]);
	T_OK(r[1] == NULL, "cancel: clears the handle");
	run_until(&g[0].calls, 1);
	for (i = 0; i < 6; i++)
		calls += g[i].calls;
	T_EQ_INT(calls, 1, "cancel: only the one left is answered");
}

static void
test_free_in_flight(void)
{
	struct spf *spf = NULL;
	struct addr client;
	struct got g[8];
	const char *err;
	int calls = 0, i;

	memset(g, 0, sizeof(g));
	addr_parse("192.0.2.1", &client);
	if (spf_new(&spf, base, (struct sockaddr *)&silent, "relay.test", 1,
	    &err) == -1) {
		T_EQ_STR(err, "", "free: spf_new");
		return;
	}
	for (i = 0; i < 8; i++)
		spf_check(spf, &client, "h.test", "a@x.test", got_cb, &g[i]);
	spf_free(&spf);
	T_OK(spf == NULL, "free: clears the pointer");
	spf_free(&spf);		/* NULL is fine */
	/* the running workers give up by their deadline and leave */
	sleep(2);
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (i = 0; i < 8; i++)
		calls += g[i].calls;
	T_EQ_INT(calls, 0, "free: no callback after spf_free");
}

/* Checks stuck on a silent server do not hold up the next one: the pool
 * grows while checks wait and every worker is busy. */
static void
test_pool_grows(void)
{
	enum { SLOW = SPF_WORKERS * 2 };
	struct spf *spf = NULL;
	struct addr client, local;
	struct got g[SLOW + 1];
	const char *err;
	int i, slow_done = 0;

	memset(g, 0, sizeof(g));
	addr_parse("192.0.2.1", &client);
	addr_parse("127.0.0.1", &local);
	if (spf_new(&spf, base, (struct sockaddr *)&silent, "relay.test", 3,
	    &err) == -1) {
		T_OK(0, "grow: set up");
		return;
	}
	for (i = 0; i < SLOW; i++)
		spf_check(spf, &client, "h.test", "a@x.test", got_cb, &g[i]);
	/* loopback: libspf2 passes it without DNS, once a worker takes it */
	spf_check(spf, &local, "h.test", "a@x.test", got_cb, &g[SLOW]);
	run_until(&g[SLOW].calls, 1);
	for (i = 0; i < SLOW; i++)
		slow_done += g[i].calls;
	T_EQ_INT(g[SLOW].calls, 1, "grow: the quick check is answered");
	T_EQ_STR(spf_status_name(g[SLOW].status), "pass",
	    "grow: as a pass");
	T_EQ_INT(slow_done, 0, "grow: before any stuck one times out");
	for (i = 0; i < SLOW; i++)
		run_until(&g[i].calls, 1);
	for (slow_done = 0, i = 0; i < SLOW; i++)
		slow_done += g[i].status == SPF_TEMPERROR;
	T_EQ_INT(slow_done, SLOW, "grow: the stuck ones are temperrors");
	spf_free(&spf);
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static void
test_queue_full(void)
{
	enum { N = SPF_QUEUE_MAX + SPF_WORKERS_MAX + 3 };
	struct spf *spf = NULL;
	struct addr client;
	struct got *g = calloc(N, sizeof(*g));
	const char *err;
	int calls = 0, full = 0, i;

	addr_parse("192.0.2.1", &client);
	/* a deadline no check reaches while they are handed in (starting up
	 * to 60 more threads, slow under ASan): none frees its place early */
	if (g == NULL || spf_new(&spf, base, (struct sockaddr *)&silent,
	    "relay.test", 5, &err) == -1) {
		T_OK(0, "queue: set up");
		free(g);
		return;
	}
	for (i = 0; i < N; i++)
		spf_check(spf, &client, "h.test", "a@x.test", got_cb, &g[i]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (i = 0; i < N; i++) {
		calls += g[i].calls;
		full += strcmp(g[i].comment, "too many SPF checks waiting") == 0;
	}
	/* 1024 wait, up to 64 run (the pool grows while checks wait and
	 * none of its threads is idle): 3 to 67 are turned away at once */
	T_OK(full >= 3 && full <= SPF_WORKERS_MAX + 3 && calls == full,
	    "queue: the ones past the bound are answered at once");
	T_EQ_INT(g[N - 1].status, SPF_TEMPERROR, "queue: as a temperror");
	T_EQ_STR(g[N - 1].header, "", "queue: with no header");
	for (calls = 0, i = 0; i < N; i++) {
		run_until(&g[i].calls, 1);
		calls += g[i].calls;
	}
	T_EQ_INT(calls, N, "queue: every check is answered once");
	spf_free(&spf);
	event_base_loop(base, EVLOOP_NONBLOCK);
	free(g);
}

int
main(void)
{
	struct spf *spf = NULL;
	socklen_t len = sizeof(silent);
	const char *err = NULL;

	test_merge();
	test_decide();
	test_names();

	evthread_use_pthreads();
	base = event_base_new();
	silent.sin_family = AF_INET;
	silent.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((silent_fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(silent_fd, (struct sockaddr *)&silent, sizeof(silent)) ==
	    -1 || getsockname(silent_fd, (struct sockaddr *)&silent, &len) ==
	    -1) {
		T_OK(0, "a local UDP socket");
		return t_done();
	}
	test_setup_errors();
	if (spf_new(&spf, base, (struct sockaddr *)&silent, "relay.test", 1,
	    &err) == -1)
		T_EQ_STR(err, "", "spf_new");
	else {
		test_local_answers(spf);
		test_deadline(spf);
		test_cancel(spf);
		spf_free(&spf);
	}
	test_free_in_flight();
	test_pool_grows();
	test_queue_full();
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	close(silent_fd);
	return t_done();
}
