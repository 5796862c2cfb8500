/*
 * test_quota_model: the model of quotas (policy/quota.c): names and
 * identities, defaults, every track spelling (any case) and the messages
 * for the ones that are not, limits per unit, verdicts and replies, and
 * the checks pol_set_resolve() runs on each quota, with their lines;
 * notify thresholds and notifiers.
 */
#include <stdio.h>
#include <string.h>

#include "policy/policy_priv.h"
#include "policy/quota.h"
#include "t.h"

static struct pol_set *set;
static struct pol_policy *pol;

static void
fresh(void)
{
	char err[256];
	struct pol_match *m;
	struct pol_item it;

	pol_set_free(&set);
	set = pol_set_new();
	pol = pol_policy_add(set, "Outbound", 10, 1, err, sizeof(err));
	m = pol_policy_add_match(pol, 1);
	T_OK(pol_item_parse(POL_SENDER, "any", 1, &it, err, sizeof(err)) == 0,
	    "match any");
	pol_match_add(m, POL_SENDER, false, &it);
}

static struct pol_quota *
add(const char *name, int line)
{
	char err[256];
	struct pol_quota *q = pol_quota_add(set, pol, name, line, err,
	    sizeof(err));

	T_OK(q != NULL, name);
	return q;
}

/* A quota that resolves: track, period, one limit. */
static struct pol_quota *
complete(const char *name, const char *track)
{
	struct pol_quota *q = add(name, 2);
	const char *es;
	char err[256];

	T_OK(pol_quota_set_track(q, track, 3, err, sizeof(err)) == 0, track);
	T_OK(pol_period_parse("1h", &q->period, &es) == 0, "period");
	q->has_period = true;
	q->period_line = 4;
	T_OK(pol_quota_add_limit(q, POL_UNIT_MESSAGES, 10, 5, err,
	    sizeof(err)) == 0, "limit");
	return q;
}

static void
test_add(void)
{
	struct pol_quota *q;
	char err[256];

	fresh();
	q = add("Per-User", 2);
	T_EQ_STR(q->ident, "outbound/per-user", "identity lower-cased");
	T_OK(q->policy == pol && q->line == 2, "policy and line");
	T_EQ_INT(q->verdict, POL_V_DEFER, "verdict defaults to defer");
	T_EQ_INT(q->window, POL_WIN_FIXED, "window defaults to fixed");
	T_EQ_INT(q->v4_prefix, 32, "v4 prefix 32");
	T_EQ_INT(q->v6_prefix, 64, "v6 prefix 64");
	T_EQ_INT(q->release, POL_RELEASE_BURST, "release burst");
	T_EQ_INT(q->backlog, 0, "backlog 0: 10 x the first limit");
	T_EQ_INT(q->when_full, POL_V_TEMPFAIL, "when-full tempfail");
	T_EQ_INT(q->max_defer, 5 * 86400, "max-defer 5 days");
	T_OK(!q->has_track && !q->has_period && q->nlimit == 0 && !q->stop &&
	    !q->tell_sender && q->reply == NULL, "nothing else set");
	T_EQ_INT(pol->nquota, 1, "appended to the policy");
	T_OK(pol_quota_add(set, pol, "per-user", 7, err, sizeof(err)) == NULL &&
	    strstr(err, "already defined in policy Outbound at line 2") !=
	    NULL, "a name taken, in another case");
	T_OK(pol_quota_add(set, pol, "a/b", 7, err, sizeof(err)) == NULL &&
	    strstr(err, "only letters") != NULL, "a name with a slash");
	T_OK(pol_quota_add(set, pol, "", 7, err, sizeof(err)) == NULL,
	    "an empty name");
	add("second", 8);
	T_EQ_INT(pol->nquota, 2, "two quotas");
	pol_quota_remove(pol->quotas[0]);
	T_OK(pol->nquota == 1 && strcmp(pol->quotas[0]->name, "second") == 0,
	    "remove keeps the rest in order");
	pol_set_free(&set);
}

static void
test_tracks(void)
{
	static const struct {
		const char	*text;
		enum pol_track	 track;
		unsigned	 v4;
		const char	*shown;
	} ok[] = {
		{ "Sender:user@domain", POL_TRACK_SENDER, 32,
		  "Sender:user@domain" },
		{ "sender:@DOMAIN", POL_TRACK_SENDER_DOMAIN, 32,
		  "Sender:@domain" },
		{ "SENDER:USER@", POL_TRACK_SENDER_LOCAL, 32, "Sender:user@" },
		{ "SenderIP", POL_TRACK_SENDER_IP, 32, "SenderIP:/32" },
		{ "senderip:/24", POL_TRACK_SENDER_IP, 24, "SenderIP:/24" },
		{ "SenderIP:/1", POL_TRACK_SENDER_IP, 1, "SenderIP:/1" },
		{ "Recipient:user@domain", POL_TRACK_RCPT, 32,
		  "Recipient:user@domain" },
		{ "Recipient:@domain", POL_TRACK_RCPT_DOMAIN, 32,
		  "Recipient:@domain" },
		{ "recipient:user@", POL_TRACK_RCPT_LOCAL, 32,
		  "Recipient:user@" },
		{ "saslusername", POL_TRACK_SASL, 32, "SASLUsername" },
		{ "Policy", POL_TRACK_POLICY, 32, "Policy" },
	};
	static const struct {
		const char	*text;
		const char	*want;	/* in the message */
	} bad[] = {
		{ "Sender:user@domian", "did you mean \"Sender:user@domain\"" },
		{ "Sender", "Sender:user@domain, Sender:@domain or "
		  "Sender:user@" },
		{ "recipient", "recipient:user@domain" },
		{ "Sender:@example.com", "the policy's match says" },
		{ "SenderIP/24", "did you mean \"SenderIP:/24\"" },
		{ "SenderIP:24", "did you mean \"SenderIP:/24\"" },
		{ "SenderIP:/0", "1 to 32" },
		{ "SenderIP:/33", "1 to 32" },
		{ "SenderIP:/", "1 to 32" },
		{ "SASLUser", "did you mean \"SASLUsername\"" },
		{ "Polcy", "did you mean \"Policy\"" },
		{ "HeloName", "the tracks are Sender:user@domain" },
		{ "", "the tracks are" },
	};
	struct pol_quota *q;
	char err[512], shown[32], name[96];
	size_t i;

	fresh();
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		q = add("t", 2);
		snprintf(name, sizeof(name), "track %s", ok[i].text);
		T_OK(pol_quota_set_track(q, ok[i].text, 3, err,
		    sizeof(err)) == 0 && q->has_track &&
		    q->track == ok[i].track && q->v4_prefix == ok[i].v4, name);
		pol_track_format(q, shown, sizeof(shown));
		T_EQ_STR(shown, ok[i].shown, name);
		pol_quota_remove(q);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		q = add("t", 2);
		snprintf(name, sizeof(name), "bad track \"%s\"", bad[i].text);
		err[0] = '\0';
		T_EQ_INT(pol_quota_set_track(q, bad[i].text, 3, err,
		    sizeof(err)), -1, name);
		T_OK(!q->has_track, name);
		if (strstr(err, bad[i].want) == NULL)
			T_EQ_STR(err, bad[i].want, name);
		pol_quota_remove(q);
	}
	q = add("t", 2);
	T_OK(pol_quota_set_track(q, "Policy", 3, err, sizeof(err)) == 0,
	    "first track");
	T_OK(pol_quota_set_track(q, "SASLUsername", 4, err, sizeof(err)) ==
	    -1 && q->track == POL_TRACK_POLICY, "a second track refused");
	T_EQ_STR(pol_track_name(POL_TRACK_SENDER_IP), "SenderIP", "name");
	T_EQ_STR(pol_unit_name(POL_UNIT_SIZE), "size", "unit name");
	T_EQ_STR(pol_unit_name(POL_NUNIT), "?", "no such unit");
	pol_set_free(&set);
}

static void
test_limits_verdicts(void)
{
	struct pol_quota *q;
	char err[256];

	fresh();
	q = add("l", 2);
	T_OK(pol_quota_add_limit(q, POL_UNIT_SIZE, 1 << 20, 3, err,
	    sizeof(err)) == 0, "size");
	T_OK(pol_quota_add_limit(q, POL_UNIT_MESSAGES, 5, 4, err,
	    sizeof(err)) == 0, "messages");
	T_OK(pol_quota_add_limit(q, POL_UNIT_SIZE, 7, 5, err,
	    sizeof(err)) == -1 && strstr(err, "line 3") != NULL,
	    "a unit twice names the first line");
	T_OK(q->nlimit == 2 && q->limits[0].unit == POL_UNIT_SIZE,
	    "in the order written");
	T_OK(pol_quota_limit(q, POL_UNIT_MESSAGES) != NULL &&
	    pol_quota_limit(q, POL_UNIT_MESSAGES)->n == 5, "look-up");
	T_OK(pol_quota_limit(q, POL_UNIT_RECIPIENTS) == NULL, "absent unit");

	T_OK(pol_quota_set_verdict(q, POL_V_OK, NULL, 6, err,
	    sizeof(err)) == -1 && strstr(err, "write pass") != NULL,
	    "ok refused, pass suggested");
	T_OK(pol_quota_set_verdict(q, POL_V_NONE, NULL, 6, err,
	    sizeof(err)) == -1, "none refused");
	T_OK(pol_quota_set_verdict(q, POL_V_DEFER, "452 4.7.1 later", 6, err,
	    sizeof(err)) == -1 && strstr(err, "its reply is 250") != NULL,
	    "defer accepts: no code in its reply");
	T_OK(pol_quota_set_verdict(q, POL_V_REJECT, "451 4.7.1 later", 6,
	    err, sizeof(err)) == -1 && strstr(err, "verdict reply") != NULL,
	    "reject with a 4xx reply refused");
	T_OK(pol_quota_set_verdict(q, POL_V_TEMPFAIL, "later\nX: y", 6, err,
	    sizeof(err)) == -1 && strstr(err, "printable") != NULL,
	    "a line break refused");
	T_OK(q->verdict == POL_V_DEFER && q->verdict_line == 0,
	    "refusals change nothing");
	T_OK(pol_quota_set_verdict(q, POL_V_TEMPFAIL, "451 4.7.1 Slow down",
	    6, err, sizeof(err)) == 0 && q->verdict == POL_V_TEMPFAIL &&
	    strcmp(q->reply, "451 4.7.1 Slow down") == 0, "tempfail");
	T_OK(pol_quota_set_verdict(q, POL_V_PASS, NULL, 7, err,
	    sizeof(err)) == -1 && strstr(err, "line 6") != NULL,
	    "a second verdict names the first line");
	q = add("v", 8);
	T_OK(pol_quota_set_verdict(q, POL_V_DISCARD, "dropped", 9, err,
	    sizeof(err)) == 0, "discard with a text");
	pol_set_free(&set);
}

/* The errors of a resolve, "LINE: message" each on its own line. */
struct errs {
	char	text[4096];
	size_t	len;
	int	n;
};

static void
on_err(void *arg, int line, const char *msg)
{
	struct errs *e = arg;
	int k;

	k = snprintf(e->text + e->len, sizeof(e->text) - e->len, "%d: %s\n",
	    line, msg);
	if (k > 0 && e->len + (size_t)k < sizeof(e->text))
		e->len += (size_t)k;
	e->n++;
}

static void
check_one(const char *name, const char *want)
{
	struct errs e;

	memset(&e, 0, sizeof(e));
	T_EQ_INT(pol_set_resolve(set, on_err, &e), want ? 1 : 0, name);
	if (want != NULL && strstr(e.text, want) == NULL)
		T_EQ_STR(e.text, want, name);
}

static void
test_check(void)
{
	struct pol_quota *q;
	const char *es;
	char err[256];
	struct errs e;

	fresh();
	complete("good", "Sender:user@domain");
	check_one("a complete quota resolves", NULL);
	T_OK(set->nquota == 1 && set->quotas[0]->id == 0,
	    "numbered by resolve");

	fresh();
	q = add("bare", 2);
	memset(&e, 0, sizeof(e));
	T_EQ_INT(pol_set_resolve(set, on_err, &e), 3, "bare quota: 3 errors");
	T_OK(strstr(e.text, "2: policy Outbound: quota bare: no track") !=
	    NULL && strstr(e.text, "2: policy Outbound: quota bare: no "
	    "period") != NULL && strstr(e.text, "2: policy Outbound: quota "
	    "bare: no limit") != NULL, "track, period, limit at its line");

	fresh();
	q = complete("zero", "Policy");
	T_OK(pol_quota_add_limit(q, POL_UNIT_SIZE, 0, 9, err,
	    sizeof(err)) == 0, "limit size 0");
	check_one("limit 0 with defer", "9: policy Outbound: quota zero: a "
	    "limit of 0 with verdict defer: the mail could never leave; use "
	    "reject or tempfail");
	T_OK(pol_quota_set_verdict(q, POL_V_REJECT, NULL, 10, err,
	    sizeof(err)) == 0, "reject");
	check_one("limit 0 with reject", NULL);

	fresh();
	q = complete("slide", "Policy");
	T_OK(pol_period_parse("week", &q->period, &es) == 0, "week");
	q->window = POL_WIN_SLIDING;
	q->window_line = 11;
	check_one("sliding over a week", "11: policy Outbound: quota slide: "
	    "window sliding with period week");
	T_OK(pol_period_parse("7d", &q->period, &es) == 0, "7d");
	check_one("sliding over 7d", NULL);

	fresh();
	q = complete("v6", "Sender:@domain");
	q->v6_prefix = 48;
	q->v6_line = 12;
	check_one("ipv6-prefix on a Sender track", "12: policy Outbound: "
	    "quota v6: ipv6-prefix is for track SenderIP only (this quota "
	    "tracks Sender:@domain)");
	fresh();
	q = complete("v6", "SenderIP:/24");
	q->v6_prefix = 48;
	q->v6_line = 12;
	check_one("ipv6-prefix on SenderIP", NULL);
	q->v6_prefix = 129;
	check_one("ipv6-prefix 129", "12: policy Outbound: quota v6: "
	    "ipv6-prefix 129");

	fresh();
	q = complete("full", "Policy");
	q->when_full = POL_V_DISCARD;
	check_one("when-full discard", "2: policy Outbound: quota full: "
	    "when-full discard: write tempfail, hold or reject");
	q->when_full = POL_V_HOLD;
	check_one("when-full hold", NULL);
	pol_set_free(&set);
}

/* notify: thresholds sorted, names copied; each refusal changes nothing
 * and says what was wrong. */
static void
test_notify(void)
{
	static const struct {
		const char	*name;
		unsigned	 pct[10];
		size_t		 npct;
		const char	*to[3];
		size_t		 nto;
		const char	*want;		/* in the error */
	} bad[] = {
		{ "0%", { 0 }, 1, { "ops" }, 1, "0%: a threshold is 1% to 100%" },
		{ "101%", { 50, 101 }, 2, { "ops" }, 1, "101%: a threshold" },
		{ "repeated", { 50, 80, 50 }, 3, { "ops" }, 1,
		  "50% given twice" },
		{ "repeated, sorted apart", { 90, 10, 90 }, 3, { "ops" }, 1,
		  "90% given twice" },
		{ "nine", { 10, 20, 30, 40, 50, 60, 70, 80, 90 }, 9,
		  { "ops" }, 1, "9 thresholds (at most 8)" },
		{ "no threshold", { 0 }, 0, { "ops" }, 1, "no threshold" },
		{ "no notifier", { 50 }, 1, { NULL }, 0, "no notifier" },
		{ "a notifier twice", { 50 }, 1, { "ops", "admin", "ops" }, 3,
		  "notifier \"ops\" named twice" },
		{ "an empty name", { 50 }, 1, { "" }, 1, "empty notifier" },
	};
	static const unsigned eight[] = { 100, 1, 50, 99, 2, 75, 25, 10 };
	struct pol_quota *q;
	char err[256], name[64], who[2][8] = { "ops", "admin" };
	const char *to[2] = { who[0], who[1] };
	size_t i;

	fresh();
	q = add("n", 2);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		T_EQ_INT(pol_quota_set_notify(q, bad[i].pct, bad[i].npct,
		    bad[i].to, bad[i].nto, 7, err, sizeof(err)), -1,
		    bad[i].name);
		if (strstr(err, bad[i].want) == NULL)
			T_EQ_STR(err, bad[i].want, bad[i].name);
		snprintf(name, sizeof(name), "%s: nothing set", bad[i].name);
		T_OK(q->nnotify == 0 && q->notify_to == NULL &&
		    q->notify_line == 0, name);
	}
	T_EQ_INT(pol_quota_set_notify(q, eight, 8, to, 2, 7, err,
	    sizeof(err)), 0, "eight thresholds, any order");
	T_EQ_INT(q->nnotify, 8, "eight kept");
	for (i = 1; i < q->nnotify; i++)
		if (q->notify_pct[i - 1] >= q->notify_pct[i])
			break;
	T_EQ_INT(i, 8, "ascending");
	T_OK(q->notify_pct[0] == 1 && q->notify_pct[7] == 100, "1% to 100%");
	who[0][0] = 'X';
	T_OK(q->nnotify_to == 2 && strcmp(q->notify_to[0], "ops") == 0 &&
	    strcmp(q->notify_to[1], "admin") == 0, "names copied, in order");
	T_EQ_INT(q->notify_line, 7, "line");
	T_OK(pol_quota_set_notify(q, eight, 1, to, 1, 9, err,
	    sizeof(err)) == -1 && strstr(err, "a second notify (the first at "
	    "line 7)") != NULL, "a second notify names the first line");
	T_EQ_INT(q->nnotify, 8, "the first one stays");
	/* freed with the quota (ASan: no leak) */
	pol_quota_remove(q);
	pol_set_free(&set);
}

static void
test_distance(void)
{
	T_EQ_INT(pol_distance("Policy", "policy"), 0, "case-blind");
	T_EQ_INT(pol_distance("Polcy", "Policy"), 1, "one insertion");
	T_EQ_INT(pol_distance("", "abc"), 3, "from empty");
	T_EQ_INT(pol_distance("kitten", "sitting"), 3, "kitten");
}

int
main(void)
{
	test_add();
	test_tracks();
	test_limits_verdicts();
	test_check();
	test_notify();
	test_distance();
	return t_done();
}
