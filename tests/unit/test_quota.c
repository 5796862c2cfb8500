/*
 * test_quota: the quota stage (policy/quota_eval.c, counter.c), driven by
 * `now` alone: fixed windows at their edges, messages vs recipients vs
 * size, several quotas on one message, stop, every verdict, defer's
 * release times and reservations, sliding decay, keys per track,
 * overrides, undo, explain without side effects, the rows for the store,
 * pruning and the report.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/quota.h"
#include "t.h"
#include "tpol.h"

/* The outcome of one message in a word: refused:reject, or each
 * recipient's verdict ("none", "defer@T", ...) joined by commas. */
static const char *
outcome(const char *sender, const char *rcpts, uint64_t size, int64_t now)
{
	static char out[512];
	struct pol_decision d;
	size_t i, len = 0;

	msg_send(sender, rcpts, size, now, true, &d);
	if (d.refuse != POL_V_NONE)
		snprintf(out, sizeof(out), "refused:%.3s",
		    d.reply);
	else
		for (i = 0, out[0] = '\0'; i < d.nrcpt; i++) {
			if (d.rcpt[i].verdict == POL_V_DEFER)
				len += (size_t)snprintf(out + len, sizeof(out)
				    - len, "%sdefer@%lld", i ? "," : "",
				    (long long)d.rcpt[i].release);
			else
				len += (size_t)snprintf(out + len, sizeof(out)
				    - len, "%s%s", i ? "," : "",
				    pol_verdict_name(d.rcpt[i].verdict));
		}
	pol_decision_clear(&d);
	return out;
}

static void
test_fixed_edges(void)
{
	struct pol_policy *p;

	fresh();
	p = policy("out", 10, POL_SENDER, "@example.com");
	quota(p, "per-user", "Sender:user@domain", "10s", POL_UNIT_MESSAGES,
	    3, POL_V_REJECT);
	resolve();
	/* window [1000, 1010) */
	T_EQ_STR(outcome("alice@example.com", "x@y.net", 10, 1000), "none",
	    "fixed: 1st");
	T_EQ_STR(outcome("alice@example.com", "x@y.net", 10, 1003), "none",
	    "fixed: 2nd");
	T_EQ_STR(outcome("alice@example.com", "x@y.net z@y.net", 10, 1009),
	    "none,none", "fixed: 3rd (a message counts 1)");
	T_EQ_STR(outcome("alice@example.com", "x@y.net", 10, 1009),
	    "refused:550", "fixed: 4th refused at the last second");
	T_EQ_STR(outcome("bob@example.com", "x@y.net", 10, 1009), "none",
	    "fixed: another sender has its own count");
	T_EQ_STR(outcome("Alice@EXAMPLE.com", "x@y.net", 10, 1009),
	    "refused:550", "fixed: case does not make another key");
	T_EQ_STR(outcome("alice@Example.COM", "x@y.net", 10, 1009),
	    "refused:550", "fixed: the domain's case does not matter");
	T_EQ_STR(outcome("alice@example.com", "x@y.net", 10, 1010), "none",
	    "fixed: the count resets exactly at the boundary");
	T_EQ_STR(outcome("carol@other.org", "x@y.net", 10, 1010), "none",
	    "fixed: unmatched sender: no quota");
}

static void
test_units(void)
{
	struct pol_policy *p;
	struct pol_decision d;

	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "rcpts", "Sender:user@domain", "1h", POL_UNIT_RECIPIENTS, 5,
	    POL_V_TEMPFAIL);
	resolve();
	T_EQ_STR(outcome("a@x.org", "1@y 2@y 3@y", 1, 3600), "none,none,none",
	    "recipients: 3 of 5");
	T_EQ_STR(outcome("a@x.org", "1@y 2@y 3@y", 1, 3601), "refused:451",
	    "recipients: 3 more would be 6");
	T_EQ_STR(outcome("a@x.org", "1@y 2@y", 1, 3602), "none,none",
	    "recipients: 2 more is 5");

	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "bytes", "Sender:@domain", "1h", POL_UNIT_SIZE, 1000,
	    POL_V_DEFER);
	resolve();
	T_EQ_STR(outcome("a@x.org", "1@y 2@y", 600, 3600), "none,none",
	    "size: counted once per message on a Sender track");
	T_EQ_STR(outcome("b@X.org", "1@y", 400, 3601), "none",
	    "size: same domain, 1000 of 1000");
	T_EQ_STR(outcome("a@x.org", "1@y", 1, 3602), "defer@7200",
	    "size: full, deferred to the next window");
	msg_send("a@x.org", "1@y", 1001, 3603, true, &d);
	T_EQ_INT(d.refuse, POL_V_REJECT, "size: larger than the limit: never "
	    "fits");
	T_OK(strncmp(d.reply, "552 5.3.4 ", 10) == 0 && strstr(d.reply,
	    "out/bytes") != NULL, d.reply);
	pol_decision_clear(&d);

	fresh();
	p = policy("in", 10, POL_RECIPIENT, "any");
	quota(p, "per-rcpt-domain", "Recipient:@domain", "1h",
	    POL_UNIT_SIZE, 1000, POL_V_REJECT);
	resolve();
	T_EQ_STR(outcome("a@x.org", "1@y 2@y 3@z", 400, 3600),
	    "none,none,none", "size on a Recipient track: per recipient "
	    "(y: 800)");
	T_EQ_STR(outcome("a@x.org", "9@z", 400, 3601), "none",
	    "size on a Recipient track: z has 400");
	T_EQ_STR(outcome("a@x.org", "9@Y", 400, 3602), "refused:550",
	    "size on a Recipient track: y would have 1200");
}

static void
test_verdicts(void)
{
	struct pol_policy *p;
	struct pol_quota *q;
	struct pol_decision d;
	static const struct {
		enum pol_verdict v;
		const char *third;
		const char *fourth;
	} cases[] = {
		{ POL_V_PASS, "pass", "pass" },
		{ POL_V_HOLD, "hold", "hold" },
		{ POL_V_DISCARD, "discard", "discard" },
		{ POL_V_DEFER, "defer@20", "defer@20" },
		{ POL_V_TEMPFAIL, "refused:451", "refused:451" },
	};
	size_t i;
	char name[64];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh();
		p = policy("out", 10, POL_SENDER, "any");
		quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 2,
		    cases[i].v);
		resolve();
		outcome("a@x", "r@y", 1, 10);
		outcome("a@x", "r@y", 1, 11);
		snprintf(name, sizeof(name), "verdict %s: 3rd",
		    pol_verdict_name(cases[i].v));
		T_EQ_STR(outcome("a@x", "r@y", 1, 12), cases[i].third, name);
		snprintf(name, sizeof(name), "verdict %s: 4th",
		    pol_verdict_name(cases[i].v));
		T_EQ_STR(outcome("a@x", "r@y", 1, 13), cases[i].fourth, name);
	}
	/* pass counts (a dry run): used keeps growing */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 1,
	    POL_V_PASS);
	resolve();
	outcome("a@x", "r@y", 1, 10);
	outcome("a@x", "r@y", 1, 11);
	msg_send("a@x", "r@y", 1, 12, true, &d);
	T_EQ_INT((long long)d.use[0].used, 2, "pass: over-quota mail is "
	    "counted");
	pol_decision_clear(&d);
	/* hold and discard do not count */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 1,
	    POL_V_HOLD);
	(void)q;
	resolve();
	outcome("a@x", "r@y", 1, 10);
	outcome("a@x", "r@y", 1, 11);
	msg_send("a@x", "r@y", 1, 12, true, &d);
	T_EQ_INT((long long)d.use[0].used, 1, "hold: held mail is not counted");
	pol_decision_clear(&d);
	/* a custom reply */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 1,
	    POL_V_REJECT);
	q->reply = strdup("Too much mail");
	resolve();
	outcome("a@x", "r@y", 1, 10);
	msg_send("a@x", "r@y", 1, 11, true, &d);
	T_EQ_STR(d.reply, "550 5.7.1 Too much mail", "reject: custom reply");
	pol_decision_clear(&d);
}

static void
test_defer_reservations(void)
{
	struct pol_policy *p;
	struct pol_decision d;

	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 2,
	    POL_V_DEFER);
	resolve();
	T_EQ_STR(outcome("a@x", "r@y", 1, 100), "none", "defer: 1");
	T_EQ_STR(outcome("a@x", "r@y", 1, 101), "none", "defer: 2");
	T_EQ_STR(outcome("a@x", "r@y s@y", 1, 102), "defer@110,defer@110",
	    "defer: 3 waits for the next window, all its recipients");
	T_EQ_STR(outcome("a@x", "r@y", 1, 103), "defer@110", "defer: 4 too");
	T_EQ_STR(outcome("a@x", "r@y", 1, 104), "defer@120",
	    "defer: 5 waits one more window");
	T_EQ_STR(outcome("a@x", "r@y", 1, 110), "defer@120",
	    "defer: at 110, new mail queues behind the backlog");
	T_EQ_STR(outcome("a@x", "r@y", 1, 111), "defer@130",
	    "defer: and the next after it");
	T_EQ_STR(outcome("b@x", "r@y", 1, 111), "none",
	    "defer: another key is not behind a's backlog");
	/* explain: nothing changes */
	msg_send("a@x", "r@y", 1, 112, false, &d);
	T_EQ_INT(d.rcpt[0].release, 130, "explain: says 130");
	T_EQ_INT(d.nrow, 0, "explain: no rows");
	pol_decision_clear(&d);
	T_EQ_STR(outcome("a@x", "r@y", 1, 112), "defer@130",
	    "explain left the counts alone");
	/* the rows: every window of the key */
	msg_send("a@x", "r@y", 1, 113, true, &d);
	T_EQ_INT(d.rcpt[0].release, 140, "rows: 140");
	T_EQ_INT(d.nrow, 4, "rows: windows 110, 120, 130, 140");
	T_OK(d.nrow == 4 && d.rows[0].start == 110 && d.rows[3].start == 140 &&
	    d.rows[0].used[POL_UNIT_MESSAGES] == 2 &&
	    d.rows[3].used[POL_UNIT_MESSAGES] == 1 &&
	    strcmp(d.rows[0].quota, "out/q/sender:user@domain") == 0 &&
	    strcmp(d.rows[0].key, "a@x") == 0, "rows: figures");
	/* undo gives the reservation back */
	pol_decision_undo(ctr, &d);
	pol_decision_clear(&d);
	T_EQ_STR(outcome("a@x", "r@y", 1, 114), "defer@140",
	    "undo: 140 has room again");
}

static void
test_two_quotas_and_stop(void)
{
	struct pol_policy *p, *p2;
	struct pol_quota *q;

	fresh();
	p = policy("user", 10, POL_SENDER, "any");
	quota(p, "u", "Sender:user@domain", "2s", POL_UNIT_MESSAGES, 2,
	    POL_V_DEFER);
	p2 = policy("dom", 20, POL_SENDER, "any");
	quota(p2, "d", "Sender:@domain", "6s", POL_UNIT_MESSAGES, 3,
	    POL_V_DEFER);
	resolve();
	/* windows: user [600,602) ..., domain [600,606) */
	T_EQ_STR(outcome("a@x", "r@y", 1, 600), "none", "two: a1");
	T_EQ_STR(outcome("b@x", "r@y", 1, 600), "none", "two: b1");
	T_EQ_STR(outcome("a@x", "r@y", 1, 600), "none", "two: a2 (domain 3)");
	T_EQ_STR(outcome("b@x", "r@y", 1, 601), "defer@606",
	    "two: b2 fits its user quota but the domain is full till 606");
	T_EQ_STR(outcome("a@x", "r@y", 1, 601), "defer@606",
	    "two: a3: user room at 602, domain at 606: the later");
	T_EQ_STR(outcome("a@x", "r@y", 1, 601), "defer@606",
	    "two: a4: user's 606 window has room for 2");
	T_EQ_STR(outcome("a@x", "r@y", 1, 601), "defer@612",
	    "two: a5: domain's 606 window is full (b2, a3, a4)");

	/* one sender's backlog does not hold up the others of a shared
	 * quota: alice waits for her own quota, whose windows are hours
	 * away; the domain's current window still has room for bob */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "user", "Sender:user@domain", "1h", POL_UNIT_MESSAGES, 1,
	    POL_V_DEFER);
	quota(p, "dom", "Sender:@domain", "30s", POL_UNIT_MESSAGES, 2,
	    POL_V_DEFER);
	resolve();
	T_EQ_STR(outcome("alice@x", "r@y", 1, 3600), "none", "shared: a1");
	T_EQ_STR(outcome("alice@x", "r@y", 1, 3601), "defer@7200",
	    "shared: a2 waits for alice's next hour");
	T_EQ_STR(outcome("alice@x", "r@y", 1, 3602), "defer@10800",
	    "shared: a3 the hour after");
	T_EQ_STR(outcome("bob@x", "r@y", 1, 3603), "none",
	    "shared: bob goes now (the domain has 1 of 2 in this window)");
	T_EQ_STR(outcome("carol@x", "r@y", 1, 3604), "defer@3630",
	    "shared: carol: the domain's window is full, the next has room");
	T_EQ_STR(outcome("dave@x", "r@y", 1, 3605), "defer@3630",
	    "shared: dave: 2 of 2 in the domain's next window");
	T_EQ_STR(outcome("erin@x", "r@y", 1, 3606), "defer@3660",
	    "shared: erin: the one after");

	/* stop: the second policy's quota is not evaluated */
	fresh();
	p = policy("first", 10, POL_SENDER, "any");
	q = quota(p, "big", "Sender:user@domain", "1h", POL_UNIT_MESSAGES,
	    100, POL_V_REJECT);
	q->stop = true;
	p2 = policy("second", 20, POL_SENDER, "any");
	quota(p2, "small", "Sender:user@domain", "1h", POL_UNIT_MESSAGES, 1,
	    POL_V_REJECT);
	resolve();
	T_EQ_STR(outcome("a@x", "r@y", 1, 0), "none", "stop: 1");
	T_EQ_STR(outcome("a@x", "r@y", 1, 1), "none",
	    "stop: 2 (the small quota is never reached)");
	q->stop = false;
	T_EQ_STR(outcome("a@x", "r@y", 1, 2), "none",
	    "without stop: the small quota applies: 1 of 1");
	T_EQ_STR(outcome("a@x", "r@y", 1, 3), "refused:550",
	    "without stop: 2 of 1");
}

static void
test_recipient_track_defers_its_own(void)
{
	struct pol_policy *p;

	fresh();
	p = policy("in", 10, POL_RECIPIENT, "@slow.example");
	quota(p, "q", "Recipient:@domain", "10s", POL_UNIT_RECIPIENTS, 2,
	    POL_V_DEFER);
	resolve();
	T_EQ_STR(outcome("a@x", "1@slow.example 2@fast.example "
	    "3@slow.example", 1, 100), "none,none,none",
	    "recipient track: 2 of 2 for slow.example");
	T_EQ_STR(outcome("a@x", "4@slow.example 5@fast.example", 1, 101),
	    "defer@110,none", "recipient track: only the covered recipient "
	    "waits");
}

static void
test_sliding(void)
{
	struct pol_policy *p;
	struct pol_quota *q;
	struct pol_counter_row row = { "out/s/sender:user@domain", "a@x", 1000,
	    { 8, 0, 0 }, 0 };
	struct pol_decision d;

	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "s", "Sender:user@domain", "300s", POL_UNIT_MESSAGES, 10,
	    POL_V_DEFER);
	q->window = POL_WIN_SLIDING;
	resolve();
	pol_counters_load(ctr, &row);
	msg_send("a@x", "r@y", 1, 1215, false, &d);
	T_OK(d.nuse == 1 && d.use[0].used > 2.266 && d.use[0].used < 2.267,
	    "sliding: 8 x (1 - 215/300) = 2.27");
	pol_decision_clear(&d);
	/* full: 10 at 2000, then one more waits until the decay leaves
	 * room: 10 * (1 - t/300) + 1 <= 10 -> t >= 30 */
	pol_counters_free(&ctr);
	ctr = pol_counters_new();
	row.start = 2000;
	row.used[0] = 10;
	pol_counters_load(ctr, &row);
	T_EQ_STR(outcome("a@x", "r@y", 1, 2000), "defer@2030",
	    "sliding: defer until the decay makes room");
	T_EQ_STR(outcome("a@x", "r@y", 1, 2001), "defer@2060",
	    "sliding: the next one behind it");
	T_EQ_STR(outcome("a@x", "r@y", 1, 2400), "none",
	    "sliding: after a period, room");
}

static void
test_keys(void)
{
	struct pol_policy *p;
	struct pol_quota *q;
	struct pol_decision d;
	struct pol_msg m;
	struct addr v6, mapped;
	const char *rc[] = { "<Bob@Example.NET>" };
	static const struct {
		const char *track;
		const char *key;
	} cases[] = {
		{ "Sender:user@domain", "alice@example.com" },
		{ "sender:@DOMAIN", "@example.com" },
		{ "Sender:user@", "alice@" },
		{ "SenderIP:/24", "192.0.2.0/24" },
		{ "SenderIP", "192.0.2.77/32" },
		{ "Recipient:user@domain", "bob@example.net" },
		{ "Recipient:@domain", "@example.net" },
		{ "Recipient:user@", "bob@" },
		{ "SASLUsername", "alice" },
		{ "Policy", "pol" },
	};
	size_t i;

	T_OK(addr_parse("192.0.2.77", &client4) == 0, "v4");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh();
		p = policy("pol", 10, POL_SENDER, "any");
		quota(p, "q", cases[i].track, "1h", POL_UNIT_MESSAGES, 9,
		    POL_V_REJECT);
		resolve();
		memset(&m, 0, sizeof(m));
		m.client = &client4;
		m.sender = "<Alice@EXAMPLE.com>";
		m.sasl = "Alice";
		m.rcpts = rc;
		m.nrcpt = 1;
		pol_quota_decide(set, ctr, &m, 0, true, &d, NULL);
		T_EQ_STR(d.nuse ? d.use[0].key : "(none)", cases[i].key,
		    cases[i].track);
		pol_decision_clear(&d);
	}
	fresh();
	p = policy("pol", 10, POL_SENDER, "any");
	q = quota(p, "q", "SenderIP:/24", "1h", POL_UNIT_MESSAGES, 9,
	    POL_V_REJECT);
	quota(p, "sasl", "SASLUsername", "1h", POL_UNIT_MESSAGES, 9,
	    POL_V_REJECT);
	resolve();
	memset(&m, 0, sizeof(m));
	m.sender = "";
	m.rcpts = rc;
	m.nrcpt = 1;
	T_OK(addr_parse("2001:db8:1:2:3:4:5:6", &v6) == 0, "v6");
	m.client = &v6;
	pol_quota_decide(set, ctr, &m, 0, true, &d, NULL);
	T_EQ_STR(d.nuse ? d.use[0].key : "(none)", "2001:db8:1:2::/64",
	    "SenderIP: an IPv6 client by /64");
	T_EQ_INT(d.nuse, 1, "SASLUsername: no login, no key");
	pol_decision_clear(&d);
	q->v6_prefix = 48;
	pol_quota_decide(set, ctr, &m, 0, true, &d, NULL);
	T_EQ_STR(d.nuse ? d.use[0].key : "(none)", "2001:db8:1::/48",
	    "SenderIP: ipv6-prefix 48");
	pol_decision_clear(&d);
	T_OK(addr_parse("::ffff:198.51.100.9", &mapped) == 0, "mapped");
	m.client = &mapped;
	pol_quota_decide(set, ctr, &m, 0, true, &d, NULL);
	T_EQ_STR(d.nuse ? d.use[0].key : "(none)", "198.51.100.0/24",
	    "SenderIP: an IPv4-mapped client is IPv4");
	pol_decision_clear(&d);
	fresh();
	p = policy("pol", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "1h", POL_UNIT_MESSAGES, 9,
	    POL_V_REJECT);
	resolve();
	m.client = &client4;
	pol_quota_decide(set, ctr, &m, 0, true, &d, NULL);
	T_EQ_STR(d.nuse ? d.use[0].key : "(none)", "<>",
	    "the null sender's key");
	pol_decision_clear(&d);
}

static void
test_overrides(void)
{
	struct pol_policy *p;
	uint64_t lim = 0;

	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "1h", POL_UNIT_MESSAGES, 1,
	    POL_V_REJECT);
	resolve();
	pol_counters_override(ctr, "vip@x", POL_OVR_EXEMPT, 0);
	pol_counters_override(ctr, "big@x", POL_OVR_LIMIT, 3);
	T_EQ_INT(pol_counters_override_of(ctr, "big@x", &lim), POL_OVR_LIMIT,
	    "override kind");
	T_EQ_INT(lim, 3, "override limit");
	outcome("vip@x", "r@y", 1, 0);
	T_EQ_STR(outcome("vip@x", "r@y", 1, 1), "none", "exempt: no limit");
	outcome("big@x", "r@y", 1, 0);
	outcome("big@x", "r@y", 1, 1);
	T_EQ_STR(outcome("big@x", "r@y", 1, 2), "none", "limit 3: third");
	T_EQ_STR(outcome("big@x", "r@y", 1, 3), "refused:550",
	    "limit 3: fourth");
	outcome("x@x", "r@y", 1, 0);
	T_EQ_STR(outcome("x@x", "r@y", 1, 1), "refused:550", "others: 1");
	pol_counters_override(ctr, "vip@x", POL_OVR_NONE, 0);
	T_EQ_STR(outcome("vip@x", "r@y", 1, 2), "refused:550",
	    "cleared: the exempt key counted all along");
	/* the override replaces the count limit, not a size limit written
	 * first */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	{
		struct pol_quota *q = quota(p, "q", "Sender:user@domain", "1h",
		    POL_UNIT_SIZE, 2048, POL_V_REJECT);
		char err[256];

		T_OK(pol_quota_add_limit(q, POL_UNIT_MESSAGES, 1, 4, err,
		    sizeof(err)) == 0, "second limit");
		T_EQ_INT(pol_quota_override_index(q), 1, "override index");
	}
	resolve();
	pol_counters_override(ctr, "big@x", POL_OVR_LIMIT, 3);
	outcome("big@x", "r@y", 100, 0);
	outcome("big@x", "r@y", 100, 1);
	T_EQ_STR(outcome("big@x", "r@y", 100, 2), "none",
	    "override: 3 messages, the size limit kept");
	T_EQ_STR(outcome("big@x", "r@y", 100, 3), "refused:550",
	    "override: 4 messages");
}

static int nreport;
static double report_used, report_reserved;

static void
on_report(const struct pol_usage_report *r, void *arg)
{
	(void)arg;
	nreport++;
	report_used += r->used[POL_UNIT_MESSAGES];
	report_reserved += r->reserved[POL_UNIT_MESSAGES];
}

static int ndrop;

static void
on_drop(void *arg, const char *quota, const char *key)
{
	(void)arg;
	(void)quota;
	(void)key;
	ndrop++;
}

static void
test_report_prune_explain(void)
{
	struct pol_policy *p;
	struct pol_decision d;
	struct pol_msg m;
	struct buf why = BUF_INIT;
	const char *rc[] = { "r@y" };

	fresh();
	p = policy("out", 10, POL_SENDER, "@x");
	quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 1,
	    POL_V_DEFER);
	resolve();
	outcome("a@x", "r@y", 1, 100);
	outcome("a@x", "r@y", 1, 101);
	outcome("a@x", "r@y", 1, 102);
	outcome("b@x", "r@y", 1, 103);
	pol_counters_report(ctr, set, NULL, 105, on_report, NULL);
	T_EQ_INT(nreport, 2, "report: two keys");
	T_EQ_INT((long long)report_used, 2, "report: used now");
	T_EQ_INT((long long)report_reserved, 2, "report: reserved later");
	nreport = 0;
	pol_counters_report(ctr, set, "b@x", 105, on_report, NULL);
	T_EQ_INT(nreport, 1, "report: one key");
	T_EQ_INT(pol_counters_prune(ctr, set, 115, on_drop, NULL), 1,
	    "prune at 115: a@x still has 120 reserved");
	T_EQ_INT(ndrop, 1, "prune: b@x dropped");
	T_EQ_INT(pol_counters_prune(ctr, set, 130, on_drop, NULL), 0,
	    "prune at 130: nothing left");

	memset(&m, 0, sizeof(m));
	m.client = &client4;
	m.sender = "a@x";
	m.rcpts = rc;
	m.nrcpt = 1;
	outcome("a@x", "r@y", 1, 200);
	pol_quota_decide(set, ctr, &m, 201, false, &d, &why);
	buf_addc(&why, '\0');
	T_OK(strstr(why.data, "policy out (priority 10) matches") != NULL,
	    "explain: the policy");
	T_OK(strstr(why.data, "matched @x") != NULL, "explain: why");
	T_OK(strstr(why.data, "    quota q applies: key a@x\nquotas:\n"
	    "  quota out/q: track Sender:user@domain key a@x: messages 1+1/1") !=
	    NULL, "explain: the quota under its recipient, then its figures");
	T_OK(strstr(why.data, "verdict r@y: defer until "
	    "1970-01-01T00:03:30Z") != NULL, "explain: the verdict");
	pol_decision_clear(&d);
	buf_free(&why);
}

/* backlog N deferred recipients per key, then when-full's verdict. */
static void
test_backlog(void)
{
	struct pol_policy *p;
	struct pol_quota *q;
	struct pol_decision d;

	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 1,
	    POL_V_DEFER);
	T_EQ_INT(pol_quota_backlog(q), 10, "backlog: 10 x the limit by "
	    "default");
	q->backlog = 3;
	q->when_full = POL_V_REJECT;
	resolve();
	T_EQ_STR(outcome("a@x", "r@y", 1, 100), "none", "backlog: sent");
	T_EQ_STR(outcome("a@x", "r@y s@y", 1, 101), "defer@110,defer@110",
	    "backlog: 2 waiting");
	T_EQ_STR(outcome("a@x", "r@y", 1, 102), "defer@120",
	    "backlog: 3 waiting");
	msg_send("a@x", "r@y", 1, 103, true, &d);
	T_EQ_INT(d.refuse, POL_V_REJECT, "backlog full: when-full reject");
	T_OK(strstr(d.reply, "550 5.7.1 Too much mail waiting for quota "
	    "out/q (backlog 3)") == d.reply, d.reply);
	pol_decision_clear(&d);
	T_EQ_STR(outcome("b@x", "r@y", 1, 103), "none",
	    "backlog: another key has its own");
	q->when_full = POL_V_HOLD;
	T_EQ_STR(outcome("a@x", "r@y", 1, 104), "hold",
	    "backlog full: when-full hold");
	q->when_full = POL_V_TEMPFAIL;
	T_EQ_STR(outcome("a@x", "r@y", 1, 105), "refused:451",
	    "backlog full: when-full tempfail");
	T_EQ_STR(outcome("a@x", "r@y", 1, 110), "defer@130",
	    "backlog: at 110 the two of that window are due, one waits: "
	    "room again");
}

/* A reload that changes a quota's period: the counts keep their time
 * and land in the new window holding it; none reads as mail waiting. */
static void
test_period_change(void)
{
	struct pol_policy *p;
	struct pol_decision d;

	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 3,
	    POL_V_REJECT);
	resolve();
	outcome("a@x", "r@y", 1, 115);
	outcome("a@x", "r@y", 1, 116);
	/* the same names, a period of 100s: [100, 200) holds [110, 120),
	 * which starts after it (it must not read as a reservation) */
	pol_set_free(&set);
	set = pol_set_new();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "100s", POL_UNIT_MESSAGES, 3,
	    POL_V_REJECT);
	resolve();
	msg_send("a@x", "r@y", 1, 150, false, &d);
	T_EQ_INT((long long)d.use[0].used, 2, "period change: 2 counted");
	T_EQ_INT(d.use[0].start, 100, "period change: in the new window");
	pol_decision_clear(&d);
	T_EQ_STR(outcome("a@x", "r@y", 1, 150), "none", "period change: 3 of 3");
	T_EQ_STR(outcome("a@x", "r@y", 1, 151), "refused:550",
	    "period change: 4 of 3");
	/* shorter again, 10s, told as a reload: the 3 counts of
	 * [100, 200) may be from any time up to now: the current window */
	{
		struct pol_set *old = set;

		set = pol_set_new();
		p = policy("out", 10, POL_SENDER, "any");
		quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES,
		    3, POL_V_DEFER);
		resolve();
		pol_counters_repoint(ctr, old, set, 152);
		pol_set_free(&old);
	}
	T_EQ_STR(outcome("a@x", "r@y", 1, 152), "defer@160",
	    "period change: shorter: the 3 counted are in the current "
	    "window, not granted afresh");
	T_EQ_STR(outcome("a@x", "r@y", 1, 160), "none",
	    "period change: shorter: the next window has the deferred one "
	    "and room for more");
}

/* Calendar windows in a named zone, driven by now alone: a day across
 * the spring DST change (23 hours), a month end and a year end. */
static void
test_calendar(void)
{
	struct pol_policy *p;
	struct pol_quota *q;

	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "daily", "Sender:user@domain", "day", POL_UNIT_MESSAGES, 1,
	    POL_V_DEFER);
	quota(p, "monthly", "Sender:@domain", "month", POL_UNIT_MESSAGES, 2,
	    POL_V_REJECT);
	resolve();
	/* 2026-03-29, 00:00 CET = 2026-03-28T23:00Z; it ends 23 hours
	 * later, at 00:00 CEST = 2026-03-29T22:00Z */
	T_EQ_STR(outcome("a@x", "r@y", 1, 1774738800), "none",
	    "day: the first message at local midnight");
	T_EQ_STR(outcome("a@x", "r@y", 1, 1774821599), "defer@1774821600",
	    "day across DST: 23:59:59 CEST is the same day, deferred to the "
	    "next local midnight, 23 hours after the last");
	/* the month: March has 2 (the one sent and the one deferred to
	 * 30 March... which is still March) */
	T_EQ_STR(outcome("b@x", "r@y", 1, 1774821599), "refused:550",
	    "month: two of two used in March");
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "monthly", "Sender:@domain", "month", POL_UNIT_MESSAGES,
	    1, POL_V_DEFER);
	q->max_defer = 40 * 86400;	/* past it, refused (see bounds) */
	resolve();
	/* 2026-01-31 23:59:59 CET = 22:59:59Z; February starts at 23:00Z */
	T_EQ_STR(outcome("a@x", "r@y", 1, 1769900399 - 3600), "none",
	    "month: January's one");
	T_EQ_STR(outcome("a@x", "r@y", 1, 1769900399), "defer@1769900400",
	    "month end: deferred to 1 February 00:00 local");
	T_EQ_STR(outcome("b@x", "r@y", 1, 1769900400), "defer@1772319600",
	    "February's room went to the deferred one: 1 March (28 days)");
	q->max_defer = 20 * 86400;
	T_EQ_STR(outcome("c@x", "r@y", 1, 1769900400), "refused:451",
	    "max-defer 20 days: April is too far: when-full's tempfail, not "
	    "a bounce later");
	/* year end: 2027-01-01 00:00 CET = 2026-12-31T23:00Z */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "daily", "Sender:user@domain", "day", POL_UNIT_MESSAGES, 1,
	    POL_V_REJECT);
	resolve();
	T_EQ_STR(outcome("a@x", "r@y", 1, 1798757999), "none",
	    "year end: the last second of 2026");
	T_EQ_STR(outcome("a@x", "r@y", 1, 1798757999), "refused:550",
	    "year end: one a day");
	T_EQ_STR(outcome("a@x", "r@y", 1, 1798758000), "none",
	    "year end: 2027 begins with room");
	setenv("TZ", "UTC", 1);
	tzset();
}

/* How many of d's recipients leave at t (0: now). */
static size_t
leaving_at(const struct pol_decision *d, int64_t t)
{
	size_t i, n = 0;

	for (i = 0; i < d->nrcpt; i++)
		if ((d->rcpt[i].verdict == POL_V_DEFER ? d->rcpt[i].release :
		    0) == t)
			n++;
	return n;
}

static void
test_split(void)
{
	struct pol_policy *p;
	struct pol_quota *q;
	struct pol_decision d;
	struct pol_counter_row *rows;
	size_t i, nrows, inorder = 1;

	/* 500 recipients under 100 per window leave 100 per window, in
	 * order, over five windows */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "q", "Sender:user@domain", "3s", POL_UNIT_RECIPIENTS,
	    100, POL_V_DEFER);
	resolve();
	msg_many("a@x", 500, 10, 3000, true, false, &d);
	T_EQ_INT(d.refuse, POL_V_NONE, "split: 500 recipients are accepted");
	T_EQ_INT(leaving_at(&d, 0), 100, "split: 100 now");
	T_EQ_INT(leaving_at(&d, 3003), 100, "split: 100 in the 2nd window");
	T_EQ_INT(leaving_at(&d, 3006), 100, "split: 100 in the 3rd");
	T_EQ_INT(leaving_at(&d, 3009), 100, "split: 100 in the 4th");
	T_EQ_INT(leaving_at(&d, 3012), 100, "split: 100 in the 5th");
	for (i = 1; i < d.nrcpt; i++)
		if ((d.rcpt[i].verdict == POL_V_DEFER ? d.rcpt[i].release :
		    0) < (d.rcpt[i - 1].verdict == POL_V_DEFER ?
		    d.rcpt[i - 1].release : 0))
			inorder = 0;
	T_EQ_INT(inorder, 1, "split: recipients leave in order");
	T_EQ_INT(d.rcpt[450].nresv, 1, "split: a deferred one reserves once");
	T_EQ_INT(d.resv[d.rcpt[450].resv0].start, 3012,
	    "split: in its window");
	T_EQ_INT(d.resv[d.rcpt[450].resv0].used[POL_UNIT_RECIPIENTS], 1,
	    "split: one recipient");
	T_EQ_INT(d.rcpt[450].max_defer, POL_MAX_DEFER_DEFAULT,
	    "split: max-defer 5 days by default");
	T_EQ_INT(d.rcpt[5].nresv, 0, "split: one going now reserves nothing");
	T_EQ_INT(d.use[0].ndeferred, 400, "split: the use defers 400");
	T_EQ_INT(d.use[0].release, 3003, "split: from the 2nd window");
	T_EQ_INT(d.use[0].release_last, 3012, "split: to the 5th");
	pol_decision_clear(&d);
	/* the next message queues behind */
	T_EQ_STR(outcome("a@x", "z@y", 1, 3001), "defer@3015",
	    "split: the next message waits for the 6th window");

	/* give back: the 4th window's 100 are deleted: 100 fit there again */
	msg_many("a@x", 0, 1, 3001, false, false, &d);
	pol_decision_clear(&d);
	{
		struct pol_counter_row r = { q->ident, "a@x", 3009,
		    { 0, 1, 0 }, 0 };

		for (i = 0; i < 100; i++) {
			pol_counters_giveback(ctr, set, &r, 1, 3001, &rows,
			    &nrows);
			if (i == 99) {
				T_EQ_INT(nrows, 5, "giveback: the key's windows"
				    " to store, the emptied one gone");
				T_EQ_INT(rows[3].start, 3012, "giveback: the "
				    "5th follows the 3rd");
			}
			pol_rows_free(rows, nrows);
		}
		r.start = 3000;		/* started: spent */
		pol_counters_giveback(ctr, set, &r, 1, 3001, &rows, &nrows);
		T_EQ_INT(nrows, 0, "giveback: a window that started is spent");
		pol_rows_free(rows, nrows);
	}
	T_EQ_STR(outcome("b@x", "z@y", 1, 3001), "none", "giveback: another "
	    "key is not concerned");

	/* a messages limit: one unit, never split */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 1,
	    POL_V_DEFER);
	resolve();
	T_EQ_STR(outcome("a@x", "r1@y r2@y r3@y", 1, 1000), "none,none,none",
	    "messages: 3 recipients, one message");
	T_EQ_STR(outcome("a@x", "r1@y r2@y r3@y", 1, 1001),
	    "defer@1010,defer@1010,defer@1010",
	    "messages: the next leaves whole in the next window");

	/* both: recipients split the message, which counts once */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_RECIPIENTS,
	    2, POL_V_DEFER);
	T_OK(pol_quota_add_limit(q, POL_UNIT_MESSAGES, 1, 4, NULL, 0) == 0,
	    "messages too");
	resolve();
	T_EQ_STR(outcome("a@x", "r1@y r2@y r3@y r4@y r5@y", 1, 1000),
	    "none,none,defer@1010,defer@1010,defer@1020",
	    "both: 2 recipients per window");
	T_EQ_STR(outcome("a@x", "r6@y", 1, 1001), "defer@1020",
	    "both: the next message goes with the first one's last portion"
	    " (a message counts once, where it first leaves)");

	/* a size limit on a Sender track: larger than it never fits, even
	 * deferred; recipients do not multiply it */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_SIZE, 1000,
	    POL_V_DEFER);
	resolve();
	T_EQ_STR(outcome("a@x", "r1@y r2@y", 1001, 1000), "refused:552",
	    "size: can never fit");
	T_EQ_STR(outcome("a@x", "r1@y r2@y r3@y", 600, 1000), "none,none,none",
	    "size: once per message");
	T_EQ_STR(outcome("a@x", "r1@y r2@y", 600, 1000),
	    "defer@1010,defer@1010", "size: whole, next window");
}

static void
test_smooth_and_bypass(void)
{
	struct pol_policy *p;
	struct pol_quota *q;
	struct pol_decision d;
	char want[32];
	int i;

	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "q", "Sender:user@domain", "8s", POL_UNIT_MESSAGES, 4,
	    POL_V_DEFER);
	q->release = POL_RELEASE_SMOOTH;
	resolve();
	/* [800, 808): four now, the next four spread over [808, 816) */
	for (i = 0; i < 4; i++)
		T_EQ_STR(outcome("a@x", "r@y", 1, 800), "none", "smooth: now");
	for (i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "defer@%d", 808 + 2 * i);
		T_EQ_STR(outcome("a@x", "r@y", 1, 801), want,
		    "smooth: every 2 s");
	}
	T_EQ_STR(outcome("a@x", "r@y", 1, 801), "defer@816",
	    "smooth: the window after starts at its start");

	/* an administrator's release bypasses the quota: counted now */
	msg_many("a@x", 3, 1, 801, true, true, &d);
	T_EQ_INT(leaving_at(&d, 0), 3, "bypass: all now");
	T_EQ_INT(d.refuse, POL_V_NONE, "bypass: not refused");
	pol_decision_clear(&d);
	T_EQ_STR(outcome("a@x", "r@y", 1, 802), "defer@818",
	    "bypass: it was counted (in the current window, over)");
}

static void
test_bounds_after_placement(void)
{
	struct pol_policy *p;
	struct pol_quota *q;
	struct pol_decision d;

	/* 50 recipients under 4 per window: 46 to defer, more than a
	 * backlog of 40 allows even with nothing waiting: never */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_RECIPIENTS, 4,
	    POL_V_DEFER);
	resolve();
	msg_many("a@x", 50, 1, 1000, true, false, &d);
	T_EQ_INT(d.refuse, POL_V_REJECT, "backlog: 46 to defer of 40: never");
	T_OK(strstr(d.reply, "552 5.3.4 Message has more recipients than "
	    "quota out/q lets wait (backlog 40)") != NULL, d.reply);
	pol_decision_clear(&d);
	/* 40 recipients: 4 now, 36 wait (of 40): fine; then 8 more: 4 of
	 * them would make 40, the other 4 are past it: when-full */
	msg_many("a@x", 40, 1, 1000, true, false, &d);
	T_EQ_INT(d.refuse, POL_V_NONE, "backlog: 36 waiting of 40");
	T_EQ_INT(leaving_at(&d, 0), 4, "backlog: 4 now");
	pol_decision_clear(&d);
	msg_many("a@x", 8, 1, 1001, true, false, &d);
	T_EQ_INT(d.refuse, POL_V_TEMPFAIL, "backlog: 36 + 8 > 40: tempfail");
	T_OK(strstr(d.reply, "451 4.7.1 Too much mail waiting") != NULL,
	    d.reply);
	pol_decision_clear(&d);
	msg_many("a@x", 4, 1, 1001, true, false, &d);
	T_EQ_INT(d.refuse, POL_V_NONE, "backlog: 36 + 4 = 40: deferred");
	pol_decision_clear(&d);

	/* max-defer 25 s under 1 per 10 s: the 4th would wait 30 s */
	fresh();
	p = policy("out", 10, POL_SENDER, "any");
	q = quota(p, "q", "Sender:user@domain", "10s", POL_UNIT_MESSAGES, 1,
	    POL_V_DEFER);
	q->max_defer = 25;
	q->tell_sender = true;
	resolve();
	T_EQ_STR(outcome("a@x", "r@y", 1, 1000), "none", "max-defer: now");
	msg_many("a@x", 1, 1, 1000, true, false, &d);
	T_EQ_INT(d.rcpt[0].release, 1010, "max-defer: 10 s");
	T_OK(d.rcpt[0].tell_sender, "tell-sender: the first of a backlog");
	pol_decision_clear(&d);
	msg_many("a@x", 1, 1, 1000, true, false, &d);
	T_EQ_INT(d.rcpt[0].release, 1020, "max-defer: 20 s");
	T_OK(!d.rcpt[0].tell_sender, "tell-sender: not again while it waits");
	pol_decision_clear(&d);
	T_EQ_STR(outcome("a@x", "r@y", 1, 1000), "refused:451",
	    "max-defer: 30 s is past 25: when-full, not a bounce later");
	q->when_full = POL_V_HOLD;
	T_EQ_STR(outcome("a@x", "r@y", 1, 1000), "hold",
	    "max-defer: when-full hold");
	T_EQ_STR(outcome("a@x", "r@y", 1, 1009), "defer@1030",
	    "max-defer: later, 1030 is within 25 s again");
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	T_OK(addr_parse("192.0.2.77", &client4) == 0, "client");
	test_fixed_edges();
	test_units();
	test_verdicts();
	test_defer_reservations();
	test_two_quotas_and_stop();
	test_recipient_track_defers_its_own();
	test_sliding();
	test_keys();
	test_overrides();
	test_report_prune_explain();
	test_calendar();
	test_period_change();
	test_backlog();
	test_split();
	test_smooth_and_bypass();
	test_bounds_after_placement();
	pol_set_free(&set);
	pol_counters_free(&ctr);
	return t_done();
}
