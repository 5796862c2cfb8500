/*
 * test_accounting: accountings (policy/accounting.c) driven by `now` with
 * TZ set: period keys at local midnights, DST changes and ISO week edges
 * (the ISO week-numbering year), keys parsed back; the model's checks;
 * counting per track; limits (N pass, the next is over) and every
 * verdict; stop and several accountings across policies; explain,
 * commit, the rows for the store and undo; prune, load and the report.
 * Instants are written in UTC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/accounting.h"
#include "t.h"
#include "tpol.h"

static struct pol_accts *accts;
static struct pol_acct_counters *actr;
static const bool *skip_next;	/* pol_msg.skip of the next message */

static const struct pol_period P_DAY = { POL_PERIOD_DAY, 0 };
static const struct pol_period P_WEEK = { POL_PERIOD_WEEK, 0 };
static const struct pol_period P_MONTH = { POL_PERIOD_MONTH, 0 };

static int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	    .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm);
}

static void
zone(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void
afresh(void)
{
	fresh();
	pol_accts_free(&accts);
	pol_acct_counters_free(&actr);
	accts = pol_accts_new();
	actr = pol_acct_counters_new();
}

/* accounting NAME { track T period P [limit UNIT N verdict V] }: no
 * limit when v is POL_V_NONE. */
static struct pol_acct *
acct(struct pol_policy *p, const char *name, const char *track,
    const struct pol_period *period, enum pol_unit unit, uint64_t n,
    enum pol_verdict v)
{
	char err[512];
	struct pol_acct *a = pol_acct_add(accts, p, name, 2, err,
	    sizeof(err));

	T_OK(a != NULL, name);
	T_OK(pol_acct_set_track(a, track, 3, err, sizeof(err)) == 0, track);
	T_OK(pol_acct_set_period(a, period, 4, err, sizeof(err)) == 0,
	    "period");
	if (v != POL_V_NONE) {
		T_OK(pol_acct_add_limit(a, unit, n, 5, err, sizeof(err)) == 0,
		    "limit");
		T_OK(pol_acct_set_verdict(a, v, NULL, 6, err, sizeof(err)) ==
		    0, "verdict");
	}
	return a;
}

static void
aresolve(void)
{
	resolve();
	T_EQ_INT(pol_accts_resolve(accts, set, NULL, NULL), 0,
	    "accountings resolve");
	T_OK(addr_parse("192.0.2.77", &client4) == 0, "client");
}

/* A fresh set with policy "out" for every sender. */
static struct pol_policy *
out_policy(void)
{
	afresh();
	return policy("out", 10, POL_SENDER, "any");
}

/* out_policy() with one accounting, resolved. */
static void
single(const char *name, const char *track, const struct pol_period *period,
    enum pol_unit unit, uint64_t n, enum pol_verdict v)
{
	acct(out_policy(), name, track, period, unit, n, v);
	aresolve();
}

/* One message ("r1 r2 ..." recipients); the decision is the caller's. */
static void
amsg(const char *sender, const char *sasl, const char *rcpts, uint64_t size,
    int64_t now, bool commit, struct pol_acct_decision *d, struct buf *why)
{
	const char **rv;
	size_t n = msg_rcpts(rcpts, &rv);
	struct pol_msg m;

	memset(&m, 0, sizeof(m));
	m.client = &client4;
	m.sender = sender;
	m.sasl = sasl;
	m.skip = skip_next;
	m.rcpts = rv;
	m.nrcpt = n;
	m.size = size;
	pol_acct_decide(accts, actr, &m, now, commit, d, why);
}

/* A committed message in a word: "refused:550" or each recipient's
 * verdict joined by commas. */
static const char *
outcome(const char *sender, const char *rcpts, uint64_t size, int64_t now)
{
	static char out[512];
	struct pol_acct_decision d;
	size_t i, len = 0;

	amsg(sender, NULL, rcpts, size, now, true, &d, NULL);
	out[0] = '\0';
	if (d.refuse != POL_V_NONE)
		snprintf(out, sizeof(out), "refused:%.3s", d.reply);
	for (i = 0; d.refuse == POL_V_NONE && i < d.nrcpt; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s",
		    i ? "," : "", pol_verdict_name(d.rcpt[i].verdict));
	pol_acct_decision_clear(&d);
	return out;
}

static char rep[2048];

static void
rep_cb(const struct pol_acct_usage *u, void *arg)
{
	size_t len = strlen(rep);
	unsigned k;

	(void)arg;
	len += (size_t)snprintf(rep + len, sizeof(rep) - len, "%s%s %s %s%s",
	    len ? "; " : "", u->acct->ident, u->key, u->period,
	    u->current ? "" : " (old)");
	for (k = 0; k < POL_NUNIT; k++) {
		len += (size_t)snprintf(rep + len, sizeof(rep) - len, " %llu",
		    (unsigned long long)u->used[k]);
		if (u->has_limit[k])
			len += (size_t)snprintf(rep + len, sizeof(rep) - len,
			    "/%llu (%.0f%%)", (unsigned long long)u->limit[k],
			    u->pct[k]);
	}
}

/* The report as one line: "ident key period m r s; ...", "" if none. */
static const char *
report(const char *key, bool history, int64_t now)
{
	rep[0] = '\0';
	pol_acct_report(actr, accts, key, history, now, rep_cb, NULL);
	return rep;
}

static const struct {
	const char			*tz;
	int				 t[6];
	const struct pol_period		*p;
	const char			*want;
} key_cases[] = {
	{ "UTC0", { 2026, 11, 24, 12, 0, 0 }, &P_DAY, "2026-11-24" },
	{ "UTC0", { 2026, 11, 24, 12, 0, 0 }, &P_WEEK, "2026-W48" },
	{ "UTC0", { 2026, 11, 24, 12, 0, 0 }, &P_MONTH, "2026-11" },
	{ "UTC0", { 2024, 2, 29, 23, 59, 59 }, &P_DAY, "2024-02-29" },
	{ "UTC0", { 2024, 3, 1, 0, 0, 0 }, &P_DAY, "2024-03-01" },
	{ "UTC0", { 2020, 12, 31, 12, 0, 0 }, &P_WEEK, "2020-W53" },
	{ "UTC0", { 2021, 1, 3, 23, 59, 59 }, &P_WEEK, "2020-W53" },
	{ "UTC0", { 2021, 1, 4, 0, 0, 0 }, &P_WEEK, "2021-W01" },
	{ "UTC0", { 2026, 12, 27, 23, 59, 59 }, &P_WEEK, "2026-W52" },
	{ "UTC0", { 2026, 12, 28, 0, 0, 0 }, &P_WEEK, "2026-W53" },
	{ "UTC0", { 2027, 1, 1, 0, 0, 0 }, &P_WEEK, "2026-W53" },
	{ "UTC0", { 2027, 1, 3, 23, 59, 59 }, &P_WEEK, "2026-W53" },
	{ "UTC0", { 2027, 1, 4, 0, 0, 0 }, &P_WEEK, "2027-W01" },
	{ "UTC0", { 2019, 12, 30, 0, 0, 0 }, &P_WEEK, "2020-W01" },
	{ "UTC0", { 2025, 12, 29, 0, 0, 0 }, &P_WEEK, "2026-W01" },
	{ "UTC0", { 2026, 11, 30, 23, 59, 59 }, &P_MONTH, "2026-11" },
	{ "UTC0", { 2026, 12, 1, 0, 0, 0 }, &P_MONTH, "2026-12" },
	/* Paris: 23 h day on 2024-03-31 (from 23:00Z), 25 h on 10-27 */
	{ "Europe/Paris", { 2024, 3, 30, 22, 59, 59 }, &P_DAY, "2024-03-30" },
	{ "Europe/Paris", { 2024, 3, 30, 23, 0, 0 }, &P_DAY, "2024-03-31" },
	{ "Europe/Paris", { 2024, 3, 31, 21, 59, 59 }, &P_DAY, "2024-03-31" },
	{ "Europe/Paris", { 2024, 3, 31, 22, 0, 0 }, &P_DAY, "2024-04-01" },
	{ "Europe/Paris", { 2024, 3, 31, 21, 59, 59 }, &P_MONTH, "2024-03" },
	{ "Europe/Paris", { 2024, 3, 31, 22, 0, 0 }, &P_MONTH, "2024-04" },
	{ "Europe/Paris", { 2024, 10, 27, 22, 59, 59 }, &P_DAY,
	    "2024-10-27" },
	{ "Europe/Paris", { 2024, 10, 27, 23, 0, 0 }, &P_DAY, "2024-10-28" },
	/* São Paulo 2018-11-04: 00:00 -03 jumped to 01:00 -02 */
	{ "America/Sao_Paulo", { 2018, 11, 4, 2, 59, 59 }, &P_DAY,
	    "2018-11-03" },
	{ "America/Sao_Paulo", { 2018, 11, 4, 3, 0, 0 }, &P_DAY,
	    "2018-11-04" },
	{ "America/New_York", { 2027, 1, 4, 4, 59, 59 }, &P_WEEK,
	    "2026-W53" },
	{ "America/New_York", { 2027, 1, 4, 5, 0, 0 }, &P_WEEK, "2027-W01" },
	{ "America/New_York", { 2027, 1, 1, 4, 59, 59 }, &P_MONTH,
	    "2026-12" },
	{ "America/New_York", { 2027, 1, 1, 5, 0, 0 }, &P_MONTH, "2027-01" },
};

static void
test_period_keys(void)
{
	char name[128], key[POL_ACCT_PERIOD_MAX];
	int64_t now, s, e, ws, we, ps, pe;
	struct pol_period p;
	const char *es;
	const int *t;
	size_t i;

	for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		t = key_cases[i].t;
		zone(key_cases[i].tz);
		now = utc(t[0], t[1], t[2], t[3], t[4], t[5]);
		pol_acct_period_at(key_cases[i].p, now, key, sizeof(key), &s,
		    &e);
		snprintf(name, sizeof(name), "key %s %04d-%02d-%02d "
		    "%02d:%02d:%02dZ", key_cases[i].tz, t[0], t[1], t[2], t[3],
		    t[4], t[5]);
		T_EQ_STR(key, key_cases[i].want, name);
		pol_window_at(key_cases[i].p, now, &ws, &we);
		snprintf(name, sizeof(name), "%s: window.c's bounds",
		    key_cases[i].want);
		T_OK(s == ws && e == we && s <= now && now < e, name);
		snprintf(name, sizeof(name), "%s: parsed back",
		    key_cases[i].want);
		T_OK(pol_acct_period_parse(key, &p, &ps, &pe, &es) == 0 &&
		    p.kind == key_cases[i].p->kind && ps == s && pe == e, name);
	}
}

static void
test_period_parse_bad(void)
{
	static const char *const bad[] = {
		"2026-W54", "2021-W53", "2026-W00", "2026-02-30", "2026-13",
		"2026-00", "2026-1", "2026/11", "x", "", "2026-11-24x",
		"2026-W5", "-2026-11", "02026-11-24", "@1234",
	};
	struct pol_period p;
	const char *es;
	int64_t s, e;
	size_t i;

	zone("UTC0");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_EQ_INT(pol_acct_period_parse(bad[i], &p, &s, &e, &es), -1,
		    bad[i]);
	T_OK(pol_acct_period_parse("2020-W53", &p, &s, &e, &es) == 0 &&
	    s == utc(2020, 12, 28, 0, 0, 0) && e == utc(2021, 1, 4, 0, 0, 0),
	    "2020-W53: 28 Dec 2020 to 4 Jan 2021");
	T_OK(pol_acct_period_parse("2026-W53", &p, &s, &e, &es) == 0 &&
	    s == utc(2026, 12, 28, 0, 0, 0) && e == utc(2027, 1, 4, 0, 0, 0),
	    "2026-W53: 28 Dec 2026 to 4 Jan 2027");
}

static char errs[2048];

static void
err_cb(void *arg, int line, const char *msg)
{
	size_t len = strlen(errs);

	(void)arg;
	snprintf(errs + len, sizeof(errs) - len, "%d: %s\n", line, msg);
}

/* The setters' errors: a name, a track, a verdict, a limit, keep. */
static void
test_model_setters(void)
{
	struct pol_policy *p;
	struct pol_acct *a;
	struct pol_period hour = { POL_PERIOD_SECONDS, 3600 };
	char err[512];

	p = out_policy();
	T_OK(pol_acct_add(accts, p, "bad name", 1, err, sizeof(err)) == NULL
	    && strstr(err, "only letters") != NULL, err);
	a = pol_acct_add(accts, p, "monthly", 7, err, sizeof(err));
	T_OK(pol_acct_add(accts, p, "Monthly", 8, err, sizeof(err)) == NULL
	    && strstr(err, "already defined in policy out at line 7"), err);
	T_OK(pol_acct_set_track(a, "Sendr:user@domain", 9, err, sizeof(err))
	    == -1 && strstr(err, "did you mean \"Sender:user@domain\"") !=
	    NULL, err);
	T_EQ_INT(pol_acct_set_track(a, "sender:user@domain", 9, err,
	    sizeof(err)), 0, "track in any case");
	T_OK(pol_acct_set_track(a, "Policy", 9, err, sizeof(err)) == -1 &&
	    strstr(err, "second track"), err);
	T_OK(pol_acct_set_verdict(a, POL_V_DEFER, NULL, 10, err, sizeof(err))
	    == -1 && strstr(err, "use a quota") != NULL, err);
	T_OK(pol_acct_set_verdict(a, POL_V_OK, NULL, 10, err, sizeof(err))
	    == -1 && strstr(err, "not a verdict of an accounting"), err);
	T_OK(pol_acct_set_verdict(a, POL_V_REJECT, "451 4.7.1 no", 10, err,
	    sizeof(err)) == -1, "a reply of the wrong class");
	T_EQ_INT(pol_acct_add_limit(a, POL_UNIT_SIZE, 100, 11, err,
	    sizeof(err)), 0, "limit size");
	T_OK(pol_acct_add_limit(a, POL_UNIT_SIZE, 5, 12, err, sizeof(err))
	    == -1 && strstr(err, "first at line 11"), err);
	T_OK(pol_acct_set_keep(a, POL_ACCT_KEEP_MAX + 1, 13, err,
	    sizeof(err)) == -1, "keep past the bound");
	T_EQ_INT(pol_acct_set_keep(a, 12, 13, err, sizeof(err)), 0, "keep 12");
	T_OK(pol_acct_set_keep(a, 1, 14, err, sizeof(err)) == -1,
	    "a second keep");
	T_EQ_INT(pol_acct_set_period(a, &hour, 15, err, sizeof(err)), 0,
	    "period 1h is read (and refused at resolve)");
}

/* The checks of resolve, on test_model_setters's accounting and one more
 * with neither track nor period. */
static void
test_model_resolve(void)
{
	struct pol_policy *p = accts->accts[0]->policy;
	char err[512];
	struct pol_acct *b;

	b = pol_acct_add(accts, p, "empty", 20, err, sizeof(err));
	b->v6_line = 21;
	T_EQ_INT(pol_acct_set_verdict(b, POL_V_HOLD, NULL, 22, err,
	    sizeof(err)), 0, "verdict hold");
	resolve();
	errs[0] = '\0';
	T_EQ_INT(pol_accts_resolve(accts, set, err_cb, NULL), 5,
	    "five errors");
	T_OK(strstr(errs, "15: policy out: accounting monthly: period 1h: "
	    "an accounting counts per calendar period") != NULL,
	    "a period in time is refused at its line");
	T_OK(strstr(errs, "11: policy out: accounting monthly: a limit "
	    "without a verdict") != NULL, "a limit needs a verdict");
	T_OK(strstr(errs, "20: policy out: accounting empty: no track") !=
	    NULL && strstr(errs, "20: policy out: accounting empty: no "
	    "period") != NULL, "no track, no period");
	T_OK(strstr(errs, "22: policy out: accounting empty: verdict hold "
	    "without a limit: nothing can exceed") != NULL,
	    "a verdict needs a limit");
	T_OK(!accts->resolved, "not usable");
	T_EQ_INT(pol_acct_set_track(b, "Sender:@domain", 23, err,
	    sizeof(err)), 0, "track");
	T_EQ_INT(pol_acct_set_period(b, &P_DAY, 24, err, sizeof(err)), 0,
	    "day");
	errs[0] = '\0';
	T_EQ_INT(pol_accts_resolve(accts, set, err_cb, NULL), 4,
	    "still four");
	T_OK(strstr(errs, "21: policy out: accounting empty: ipv6-prefix is "
	    "for track SenderIP only") != NULL, "ipv6-prefix off SenderIP");
}

static const struct {
	const char	*track;
	const char	*sasl;
	const char	*want;
} track_cases[] = {
	{ "Sender:user@domain", NULL,
	    "all/a alice@example.com 2026-11-24 1 3 300" },
	{ "Sender:@domain", NULL, "all/a @example.com 2026-11-24 1 3 300" },
	{ "Sender:user@", NULL, "all/a alice@ 2026-11-24 1 3 300" },
	{ "SASLUsername", "Alice.Login", "all/a alice.login 2026-11-24 1 3 "
	    "300" },
	{ "SASLUsername", NULL, "" },
	{ "SenderIP:/24", NULL, "all/a 192.0.2.0/24 2026-11-24 1 3 300" },
	{ "Policy", NULL, "all/a all 2026-11-24 1 3 300" },
	/* a message counts once per key; size once per recipient */
	{ "Recipient:user@domain", NULL, "all/a x@y.net 2026-11-24 1 2 600; "
	    "all/a z@w.org 2026-11-24 1 1 300" },
	{ "Recipient:@domain", NULL, "all/a @w.org 2026-11-24 1 1 300; "
	    "all/a @y.net 2026-11-24 1 2 600" },
	{ "Recipient:user@", NULL, "all/a x@ 2026-11-24 1 2 600; all/a z@ "
	    "2026-11-24 1 1 300" },
};

static void
test_tracks(void)
{
	int64_t now = utc(2026, 11, 24, 12, 0, 0);
	struct pol_acct_decision d;
	struct pol_policy *p;
	char name[128];
	size_t i;

	zone("UTC0");
	for (i = 0; i < sizeof(track_cases) / sizeof(track_cases[0]); i++) {
		afresh();
		p = policy("all", 10, POL_SENDER, "any");
		acct(p, "a", track_cases[i].track, &P_DAY, 0, 0, POL_V_NONE);
		aresolve();
		amsg("Alice@Example.COM", track_cases[i].sasl,
		    "x@y.net X@Y.NET z@w.org", 300, now, true, &d, NULL);
		pol_acct_decision_clear(&d);
		snprintf(name, sizeof(name), "track %s%s", track_cases[i].track,
		    track_cases[i].sasl ? "" : " (no login)");
		T_EQ_STR(report(NULL, false, now), track_cases[i].want, name);
	}
}

static void
test_limits(void)
{
	int64_t now = utc(2024, 3, 30, 12, 0, 0);
	struct pol_acct_decision d;

	zone("Europe/Paris");
	single("msgs", "Sender:user@domain", &P_DAY, POL_UNIT_MESSAGES, 3,
	    POL_V_REJECT);
	T_EQ_STR(outcome("a@x.org", "1@y 2@y", 10, now), "none,none",
	    "messages 3: 1st (two recipients count 1)");
	T_EQ_STR(outcome("a@x.org", "1@y", 10, now), "none", "2nd");
	T_EQ_STR(outcome("a@x.org", "1@y", 10, now + 1), "none",
	    "3rd: exactly the limit passes");
	amsg("a@x.org", NULL, "1@y", 10, now + 2, true, &d, NULL);
	T_EQ_INT(d.refuse, POL_V_REJECT, "4th refused");
	T_EQ_STR(d.reply, "550 5.7.1 Accounting limit reached (out/msgs: "
	    "messages 3 per day)", "the default reply");
	T_EQ_INT(d.nrow, 0, "a refusal writes nothing");
	pol_acct_decision_clear(&d);
	T_EQ_STR(report(NULL, false, now), "out/msgs a@x.org 2024-03-30 3/3 "
	    "(100%) 4 30", "a refused message is not counted");
	T_EQ_STR(outcome("b@x.org", "1@y", 10, now), "none",
	    "another sender has its own count");
	T_EQ_STR(outcome("a@x.org", "1@y", 10, utc(2024, 3, 30, 22, 59, 59)),
	    "refused:550", "still refused at 23:59:59 local");
	T_EQ_STR(outcome("a@x.org", "1@y", 10, utc(2024, 3, 30, 23, 0, 0)),
	    "none", "counts again from local midnight (a 23 h day)");

	single("rcpts", "Sender:@domain", &P_WEEK, POL_UNIT_RECIPIENTS, 5,
	    POL_V_TEMPFAIL);
	T_EQ_STR(outcome("a@x.org", "1@y 2@y 3@y", 1, now), "none,none,none",
	    "recipients: 3 of 5");
	T_EQ_STR(outcome("b@X.org", "1@y 2@y 3@y", 1, now), "refused:451",
	    "recipients: 6 would be over");
	T_EQ_STR(outcome("b@x.org", "1@y 2@y", 1, now), "none,none",
	    "recipients: 5 of 5");

	single("bytes", "Sender:user@domain", &P_MONTH, POL_UNIT_SIZE, 1000,
	    POL_V_HOLD);
	T_EQ_STR(outcome("a@x.org", "1@y 2@y", 600, now), "none,none",
	    "size: once per message on a Sender track");
	T_EQ_STR(outcome("a@x.org", "1@y", 400, now), "none",
	    "size: 1000 of 1000");
	T_EQ_STR(outcome("a@x.org", "1@y 2@y", 1, now), "hold,hold",
	    "size: one byte more is held");
	T_EQ_STR(report(NULL, false, now), "out/bytes a@x.org 2024-03 2 3 "
	    "1000/1000 (100%)", "held mail is not counted");
}

/* Per-recipient verdicts on a Recipient track, pass, limit 0, a reply,
 * a recipient decided before. */
static void
test_verdicts(void)
{
	static const bool skip[] = { true, false };
	int64_t now = utc(2026, 11, 24, 12, 0, 0);
	struct pol_acct_decision d;
	struct pol_policy *p;
	struct pol_acct *a;
	char err[256];

	zone("UTC0");
	afresh();
	p = policy("in", 10, POL_RECIPIENT, "any");
	acct(p, "per-rcpt", "Recipient:user@domain", &P_DAY,
	    POL_UNIT_MESSAGES, 1, POL_V_HOLD);
	acct(p, "per-domain", "Recipient:@domain", &P_DAY,
	    POL_UNIT_RECIPIENTS, 4, POL_V_DISCARD);
	aresolve();
	T_EQ_STR(outcome("s@x.org", "a@y b@y", 1, now), "none,none",
	    "1 message each");
	T_EQ_STR(outcome("s@x.org", "a@y c@y", 1, now), "hold,none",
	    "a's 2nd is held, c goes");
	T_EQ_STR(report(NULL, false, now), "in/per-rcpt a@y 2026-11-24 1/1 "
	    "(100%) 1 1; in/per-rcpt b@y 2026-11-24 1/1 (100%) 1 1; "
	    "in/per-rcpt c@y 2026-11-24 1/1 (100%) 1 1; in/per-domain @y "
	    "2026-11-24 2 3/4 (75%) 3", "held recipients count nowhere");
	T_EQ_STR(outcome("s@x.org", "d@y f@y", 1, now), "discard,discard",
	    "@y's 4th and 5th recipients would be over: discarded");
	T_EQ_STR(outcome("s@x.org", "a@y e@z", 1, now), "hold,none",
	    "hold beats nothing, per recipient");

	p = out_policy();
	acct(p, "dry", "Sender:user@domain", &P_DAY, POL_UNIT_MESSAGES, 1,
	    POL_V_PASS);
	a = acct(policy("bad", 20, POL_SENDER, "@bad.example"), "none",
	    "Sender:@domain", &P_DAY, 0, 0, POL_V_NONE);
	T_OK(pol_acct_add_limit(a, POL_UNIT_MESSAGES, 0, 5, err, sizeof(err))
	    == 0 && pol_acct_set_verdict(a, POL_V_TEMPFAIL, "Not today", 6,
	    err, sizeof(err)) == 0, "limit 0, tempfail with a reply");
	aresolve();
	amsg("a@bad.example", NULL, "1@y", 1, now, true, &d, NULL);
	T_EQ_STR(d.reply, "451 4.7.1 Not today", "limit 0 lets nothing "
	    "through; the accounting's reply");
	pol_acct_decision_clear(&d);
	T_EQ_STR(outcome("a@x.org", "1@y", 1, now), "none", "pass: 1st");
	skip_next = skip;
	T_EQ_STR(outcome("a@x.org", "1@y 2@y", 1, now), "none,pass",
	    "pass: 2nd goes, over (the 1st recipient was decided before)");
	skip_next = NULL;
	T_EQ_STR(report(NULL, false, now), "out/dry a@x.org 2026-11-24 2/1 "
	    "(200%) 2 2", "pass counts; a skipped recipient does not");
}

static void
test_stop_and_order(void)
{
	int64_t now = utc(2026, 11, 24, 12, 0, 0);
	struct pol_acct_decision d;
	struct pol_policy *late, *early, *rp;
	struct pol_acct *a;
	struct buf why = BUF_INIT;

	zone("UTC0");
	afresh();
	late = policy("late", 20, POL_SENDER, "any");	/* defined first */
	acct(late, "l", "Sender:user@domain", &P_DAY, 0, 0, POL_V_NONE);
	early = policy("early", 10, POL_SENDER, "@x.org");
	acct(early, "e1", "Sender:@domain", &P_DAY, 0, 0, POL_V_NONE);
	acct(early, "e2", "Policy", &P_MONTH, 0, 0, POL_V_NONE);
	rp = policy("rcpt", 5, POL_RECIPIENT, "@y.net");
	acct(rp, "r", "Recipient:@domain", &P_DAY, POL_UNIT_MESSAGES, 1,
	    POL_V_REJECT);
	aresolve();
	T_EQ_STR(outcome("a@x.org", "1@y.net 2@w.org", 5, now), "none,none",
	    "every accounting of every matched policy");
	T_EQ_STR(report(NULL, false, now), "rcpt/r @y.net 2026-11-24 1/1 "
	    "(100%) 1 5; early/e1 @x.org 2026-11-24 1 2 5; early/e2 early "
	    "2026-11 1 2 5; late/l a@x.org 2026-11-24 1 2 5",
	    "ascending priority; a recipient policy counts its recipient");
	T_EQ_STR(outcome("a@x.org", "3@y.net 4@w.org", 5, now),
	    "refused:550", "one accounting refuses the message");
	T_EQ_STR(report("a@x.org", false, now), "late/l a@x.org 2026-11-24 1 "
	    "2 5", "and none counts it");

	afresh();
	late = policy("late", 20, POL_SENDER, "any");
	acct(late, "l", "Sender:user@domain", &P_DAY, 0, 0, POL_V_NONE);
	early = policy("early", 10, POL_SENDER, "@x.org");
	a = acct(early, "e1", "Sender:@domain", &P_DAY, 0, 0, POL_V_NONE);
	a->stop = true;
	acct(early, "e2", "Policy", &P_MONTH, 0, 0, POL_V_NONE);
	aresolve();
	amsg("a@x.org", NULL, "1@y.net", 5, now, true, &d, &why);
	pol_acct_decision_clear(&d);
	T_EQ_STR(report(NULL, false, now), "early/e1 @x.org 2026-11-24 1 1 5",
	    "stop: no later accounting, in its policy or after");
	buf_addc(&why, '\0');
	T_OK(strstr(why.data, "accounting early/e1 applies: key @x.org; stop"
	    ": no later accounting applies") != NULL, "explain says stop");
	buf_free(&why);
	T_EQ_STR(outcome("b@z.org", "1@y.net", 5, now), "none",
	    "a sender the stop's policy does not match");
	T_EQ_STR(report("b@z.org", false, now), "late/l b@z.org 2026-11-24 1 "
	    "1 5", "goes on to the later policy");
}

static void
test_explain_commit_undo(void)
{
	int64_t now = utc(2026, 11, 24, 12, 0, 0);
	struct pol_acct_decision d, d2;
	struct pol_policy *p;
	struct buf why = BUF_INIT;
	char name[512];

	zone("UTC0");
	p = out_policy();
	acct(p, "daily", "Sender:user@domain", &P_DAY, POL_UNIT_MESSAGES, 2,
	    POL_V_REJECT);
	acct(p, "monthly", "Sender:@domain", &P_MONTH, 0, 0, POL_V_NONE);
	aresolve();
	T_EQ_STR(outcome("a@x.org", "1@y", 10, now), "none", "one message");
	snprintf(name, sizeof(name), "%s", report(NULL, false, now));
	amsg("a@x.org", NULL, "1@y 2@y", 20, now, false, &d, &why);
	T_OK(d.refuse == POL_V_NONE && d.nuse == 2 && d.nrow == 0 &&
	    d.use[0].counted[POL_UNIT_RECIPIENTS] == 2, "explain: the "
	    "decision and what it would count, no rows");
	T_EQ_STR(report(NULL, false, now), name, "explain changes nothing");
	buf_addc(&why, '\0');
	T_OK(strstr(why.data, "accounting out/daily: key a@x.org period "
	    "2026-11-24: messages 1+1/2, recipients 1+2, size 10+20: within "
	    "the limits") != NULL, "explain: figures and limit");
	buf_free(&why);
	pol_acct_decision_clear(&d);
	pol_acct_undo(actr, &d);
	T_EQ_STR(report(NULL, false, now), name, "undo of nothing");

	amsg("a@x.org", NULL, "1@y 2@y", 20, now, true, &d, NULL);
	T_EQ_INT(d.nrow, 2, "commit: a row per changed period");
	T_OK(d.nrow == 2 && strcmp(d.rows[0].acct, "out/daily") == 0 &&
	    strcmp(d.rows[0].key, "a@x.org") == 0 &&
	    strcmp(d.rows[0].period, "2026-11-24") == 0 &&
	    d.rows[0].start == utc(2026, 11, 24, 0, 0, 0) &&
	    d.rows[0].used[0] == 2 && d.rows[0].used[1] == 3 &&
	    d.rows[0].used[2] == 30, "row: identity, key, period, start, "
	    "figures");
	T_OK(d.nrow == 2 && strcmp(d.rows[1].acct, "out/monthly") == 0 &&
	    strcmp(d.rows[1].period, "2026-11") == 0 &&
	    d.rows[1].start == utc(2026, 11, 1, 0, 0, 0), "row of the month");
	pol_acct_undo(actr, &d);
	pol_acct_decision_clear(&d);
	T_EQ_STR(report(NULL, false, now), name, "undo: as before");

	single("daily", "Sender:user@domain", &P_DAY, 0, 0, POL_V_NONE);
	amsg("a@x.org", NULL, "1@y", 10, now, true, &d, NULL);
	amsg("a@x.org", NULL, "2@y", 20, now, true, &d2, NULL);
	pol_acct_undo(actr, &d);
	T_EQ_STR(report(NULL, false, now), "out/daily a@x.org 2026-11-24 1 1 "
	    "20", "undo of the first keeps the second");
	pol_acct_undo(actr, &d2);
	T_EQ_INT(pol_acct_counters_count(actr), 0, "both undone: the key is "
	    "forgotten");
	pol_acct_decision_clear(&d);
	pol_acct_decision_clear(&d2);
}

static void
load(const char *ident, const char *key, const char *period, uint64_t n)
{
	struct pol_acct_row r = { ident, key, period, 0, { n, n, n * 100 } };
	const char *es = NULL;

	T_EQ_INT(pol_acct_load(actr, &r, &es), 0, period);
}

static char dels[2048];

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Prunes at now: the deleted rows ("acct key period", sorted) in dels;
 * returns the keys left. */
static size_t
prune(int64_t now)
{
	static char lines[64][128];
	struct pol_acct_row *del;
	size_t ndel, i, n, left, len = 0;

	left = pol_acct_prune(actr, accts, now, &del, &ndel);
	for (n = 0; n < ndel && n < 64; n++)
		snprintf(lines[n], sizeof(lines[n]), "%s %s %s", del[n].acct,
		    del[n].key, del[n].period);
	pol_acct_rows_free(del, ndel);
	qsort(lines, n, sizeof(lines[0]), str_cmp);
	for (dels[0] = '\0', i = 0; i < n; i++)
		len += (size_t)snprintf(dels + len, sizeof(dels) - len, "%s%s",
		    i ? "; " : "", lines[i]);
	return left;
}

static void
test_prune_load(void)
{
	int64_t now = utc(2026, 11, 24, 12, 0, 0);
	struct pol_acct_row bad = { "out/d", "k", "2026-02-30", 0, { 1 } };
	struct pol_policy *p;
	struct pol_acct *a;
	const char *es = NULL;
	char err[256];

	zone("UTC0");
	p = out_policy();
	acct(p, "d", "Sender:user@domain", &P_DAY, 0, 0, POL_V_NONE);
	a = acct(p, "m", "Sender:@domain", &P_MONTH, POL_UNIT_MESSAGES, 100,
	    POL_V_REJECT);
	T_EQ_INT(pol_acct_set_keep(a, 3, 7, err, sizeof(err)), 0, "keep 3");
	aresolve();
	T_OK(pol_acct_load(actr, &bad, &es) == -1 && es != NULL, "a row with "
	    "a date the calendar does not have");
	load("out/d", "a@x.org", "2026-11-20", 1);
	load("out/d", "a@x.org", "2026-11-22", 2);
	load("out/d", "a@x.org", "2026-11-23", 3);
	load("out/d", "a@x.org", "2026-11-24", 4);
	load("out/d", "a@x.org", "2026-11-25", 5);	/* a clock set back */
	load("out/d", "b@x.org", "2026-11-21", 1);
	load("out/d", "c@x.org", "2026-11-24", 0);	/* nothing: skipped */
	load("out/m", "@x.org", "2026-06", 1);
	load("out/m", "@x.org", "2026-07", 2);
	load("out/m", "@x.org", "2026-08", 3);
	load("out/m", "@x.org", "2026-11", 4);
	load("out/gone", "a@x.org", "2026-11", 1);
	load("out/m", "@x.org", "2026-11-24", 9);	/* m as a day */
	T_EQ_STR(report(NULL, true, now), "out/d a@x.org 2026-11-25 (old) 5 5 "
	    "500; out/d a@x.org 2026-11-24 4 4 400; out/d a@x.org 2026-11-23 "
	    "(old) 3 3 300; out/d a@x.org 2026-11-22 (old) 2 2 200; out/d "
	    "a@x.org 2026-11-20 (old) 1 1 100; out/d b@x.org 2026-11-21 (old) "
	    "1 1 100; out/m @x.org 2026-11 4/100 (4%) 4 400; out/m @x.org "
	    "2026-08 (old) 3/100 (3%) 3 300; out/m @x.org 2026-07 (old) "
	    "2/100 (2%) 2 200; out/m @x.org 2026-06 (old) 1/100 (1%) 1 100",
	    "loaded: the report with history, newest first");
	T_EQ_STR(report(NULL, false, now), "out/d a@x.org 2026-11-24 4 4 400; "
	    "out/m @x.org 2026-11 4/100 (4%) 4 400", "the current periods");
	T_EQ_INT(prune(now), 2, "prune: two keys left");
	T_EQ_STR(dels, "out/d a@x.org 2026-11-20; out/d a@x.org 2026-11-22; "
	    "out/d b@x.org 2026-11-21; out/gone a@x.org 2026-11; out/m "
	    "@x.org 2026-06; out/m @x.org 2026-07; out/m @x.org 2026-11-24",
	    "prune: what goes");
	T_EQ_STR(report(NULL, true, now), "out/d a@x.org 2026-11-25 (old) 5 5 "
	    "500; out/d a@x.org 2026-11-24 4 4 400; out/d a@x.org 2026-11-23 "
	    "(old) 3 3 300; out/m @x.org 2026-11 4/100 (4%) 4 400; out/m "
	    "@x.org 2026-08 (old) 3/100 (3%) 3 300", "keep 1: yesterday and "
	    "tomorrow; keep 3: August to October");
	T_EQ_INT(prune(now), 2, "prune again: nothing more");
	T_EQ_STR(dels, "", "nothing to delete");
	T_EQ_INT(prune(utc(2026, 12, 1, 0, 0, 0)), 1, "on 1 December");
	T_EQ_STR(dels, "out/d a@x.org 2026-11-23; out/d a@x.org 2026-11-24; "
	    "out/d a@x.org 2026-11-25; out/m @x.org 2026-08",
	    "the periods that aged out");
	T_EQ_INT(prune(utc(2027, 3, 1, 0, 0, 0)), 0, "March 2027");
	T_EQ_STR(dels, "out/m @x.org 2026-11", "everything aged out");
	T_EQ_INT(pol_acct_counters_count(actr), 0, "memory: no key left");
}

/* Rows a commit gave, loaded into new counters, read the same. */
static void
test_round_trip(void)
{
	int64_t now = utc(2026, 11, 24, 12, 0, 0);
	struct pol_acct_decision d;
	struct pol_acct_counters *c2;
	struct pol_policy *p;
	const char *es;
	char before[2048];
	size_t i;

	zone("Europe/Paris");
	p = out_policy();
	acct(p, "w", "Sender:user@domain", &P_WEEK, POL_UNIT_SIZE, 5000,
	    POL_V_TEMPFAIL);
	acct(p, "r", "Recipient:@domain", &P_DAY, 0, 0, POL_V_NONE);
	aresolve();
	T_EQ_STR(outcome("a@x.org", "1@y 2@z", 1000, now), "none,none", "1st");
	amsg("a@x.org", NULL, "3@y", 1500, now, true, &d, NULL);
	c2 = pol_acct_counters_new();
	for (i = 0; i < d.nrow; i++)
		T_EQ_INT(pol_acct_load(c2, &d.rows[i], &es), 0, d.rows[i].key);
	T_EQ_INT(pol_acct_load(c2, &(struct pol_acct_row){ "out/r", "@z",
	    "2026-11-24", 0, { 1, 1, 1000 } }, &es), 0, "@z");
	pol_acct_decision_clear(&d);
	snprintf(before, sizeof(before), "%s", report(NULL, true, now));
	T_EQ_STR(before, "out/w a@x.org 2026-W48 2 3 2500/5000 (50%); out/r "
	    "@y 2026-11-24 2 2 2500; out/r @z 2026-11-24 1 1 1000",
	    "the figures");
	pol_acct_counters_free(&actr);
	actr = c2;
	T_EQ_STR(report(NULL, true, now), before, "loaded back: the same");
	T_EQ_STR(outcome("a@x.org", "4@y", 2501, now), "refused:451",
	    "and the limit still holds");
}

int
main(void)
{
	test_period_keys();
	test_period_parse_bad();
	test_model_setters();
	test_model_resolve();
	test_tracks();
	test_limits();
	test_verdicts();
	test_stop_and_order();
	test_explain_commit_undo();
	test_prune_load();
	test_round_trip();
	pol_accts_free(&accts);
	pol_acct_counters_free(&actr);
	pol_set_free(&set);
	pol_counters_free(&ctr);
	return t_done();
}
