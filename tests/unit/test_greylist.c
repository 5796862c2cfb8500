/*
 * test_greylist: the decision of greylisting (policy/greylist.c) driven
 * by `now` alone: a triplet's life (greylisted, too soon, passed, expired
 * after either validity), networks by prefix, the null sender and case,
 * whitelists, the auto-whitelist and auto-blacklist at their edges,
 * training, merging across policies, the checks of a block, replies and
 * log pairs, explain without side effects.  The store's side (caps, rows,
 * prune, load, a month, memory) is test_greylist_store.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/greylist.h"
#include "t.h"
#include "tgrey.h"

struct step {
	int64_t		 at;
	const char	*ip, *from, *to;
	const char	*want;
	const char	*name;
};

static void
run(const struct step *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		T_EQ_STR(ask(s[i].ip, s[i].from, s[i].to, s[i].at, true,
		    NULL), s[i].want, s[i].name);
}

#define RUN(v) run((v), sizeof(v) / sizeof((v)[0]))

static void
test_lifecycle(void)
{
	static const char *a = "192.0.2.10", *f = "a@x.org", *to = "b@y.net";
	const int64_t lp = T0 + 400;	/* the last pass */
	const struct step steps[] = {
		{ T0, a, f, to, "defer/greylisted t1 p0 w300", "first attempt" },
		{ T0 + 60, a, f, to, "defer/too-soon t2 p0 w240", "retry at 1m" },
		{ T0 + 299, a, f, to, "defer/too-soon t3 p0 w1",
		    "retry 1 s before the period" },
		{ T0 + 300, a, f, to, "pass/passed t3 p1", "at the period" },
		{ lp, a, f, to, "pass/passed t3 p2", "later mail passes" },
		{ lp + 35 * DAY - 1, a, f, to, "pass/passed t3 p3",
		    "1 s before auth-validity: passes, renewed" },
		{ lp + 70 * DAY - 2, a, f, to, "pass/passed t3 p4",
		    "renewed by that pass" },
		{ lp + 105 * DAY - 2, a, f, to, "defer/expired-restart t1 p0 "
		    "w300", "35 d after the last pass: greylisted afresh" },
		{ lp + 105 * DAY + 298, a, f, to, "pass/passed t1 p1",
		    "passes again after the period" },
		{ T0, a, "c@x.org", to, "defer/greylisted t1 p0 w300",
		    "another sender: new triplet" },
		{ T0 + 2 * DAY, a, "c@x.org", to, "defer/expired-restart t1 p0 "
		    "w300", "never passed, 2 d later: starts over" },
		{ T0 + 2 * DAY + 299, a, "c@x.org", to,
		    "defer/too-soon t2 p0 w1", "started over: a new period" },
		{ T0 + 2 * DAY + 300, a, "c@x.org", to, "pass/passed t2 p1",
		    "then passes" },
	};

	fresh("");
	RUN(steps);
	fresh("");
	ask(a, f, to, T0, true, NULL);
	T_EQ_STR(ask(a, f, to, T0 + 2 * DAY - 1, false, NULL),
	    "pass/passed t1 p1", "unpassed: valid until 1 s before 2 d");
	T_EQ_STR(ask(a, f, to, T0 + 2 * DAY, false, NULL),
	    "defer/expired-restart t1 p0 w300", "unpassed: at 2 d, over");
}

static void
test_networks_and_keys(void)
{
	const struct step steps[] = {
		{ T0, "192.0.2.10", "a@x.org", "b@y.net",
		    "defer/greylisted t1 p0 w300", "v4 first" },
		{ T0 + 300, "192.0.2.200", "a@x.org", "b@y.net",
		    "pass/passed t1 p1", "same /24: the same triplet" },
		{ T0 + 300, "192.0.3.1", "a@x.org", "b@y.net",
		    "defer/greylisted t1 p0 w300", "next /24: another" },
		{ T0 + 300, "::ffff:192.0.2.7", "a@x.org", "b@y.net",
		    "pass/passed t1 p2", "IPv4-mapped IPv6 is IPv4" },
		{ T0, "2001:db8:1:2::1", "a@x.org", "b@y.net",
		    "defer/greylisted t1 p0 w300", "v6 first" },
		{ T0 + 300, "2001:db8:1:2:ffff::9", "a@x.org", "b@y.net",
		    "pass/passed t1 p1", "same /64" },
		{ T0 + 300, "2001:db8:1:3::1", "a@x.org", "b@y.net",
		    "defer/greylisted t1 p0 w300", "next /64" },
		{ T0, "192.0.2.10", "<>", "b@y.net",
		    "defer/greylisted t1 p0 w300", "null sender as <>" },
		{ T0 + 300, "192.0.2.10", "", "b@y.net", "pass/passed t1 p1",
		    "null sender as \"\": the same" },
		{ T0 + 300, "192.0.2.10", "<A@X.ORG>", "<B@Y.Net>",
		    "pass/passed t1 p3", "case and brackets do not matter" },
		{ T0 + 300, "192.0.2.10", "a@x.org", "b2@y.net",
		    "defer/greylisted t1 p0 w300", "another recipient" },
		{ T0 + 300, NULL, "a@x.org", "b@y.net", "pass/no-client",
		    "no client address" },
	};
	struct grey_result r;
	char longaddr[300];

	fresh("");
	RUN(steps);
	ask("192.0.2.10", "a@x.org", "b@y.net", T0, false, &r);
	T_EQ_STR(r.net, "192.0.2.0/24", "v4 key");
	ask("::ffff:192.0.2.10", "a@x.org", "b@y.net", T0, false, &r);
	T_EQ_STR(r.net, "192.0.2.0/24", "mapped key");
	ask("2001:db8:1:2:3:4:5:6", "a@x.org", "b@y.net", T0, false, &r);
	T_EQ_STR(r.net, "2001:db8:1:2::/64", "v6 key");
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	T_EQ_STR(ask("192.0.2.10", longaddr, "b@y.net", T0, true, NULL),
	    "defer/too-long w300", "an address over 256 bytes: not stored");
	fresh("v4=32 v6=48");
	ask("192.0.2.10", "a@x.org", "b@y.net", T0, false, &r);
	T_EQ_STR(r.net, "192.0.2.10/32", "track SenderIP:/32");
	ask("2001:db8:1:2::1", "a@x.org", "b@y.net", T0, false, &r);
	T_EQ_STR(r.net, "2001:db8:1::/48", "ipv6-prefix 48");
	fresh("on=0");
	T_EQ_STR(ask("192.0.2.10", "a@x.org", "b@y.net", T0, true, NULL),
	    "pass/off", "off");
}

static void
test_whitelist(void)
{
	const char *to = "b@y.net";
	const struct step steps[] = {
		{ T0, "198.51.100.9", "a@x.org", to, "pass/whitelisted",
		    "client in a whitelisted network" },
		{ T0, "2001:db8:77::1", "a@x.org", to, "pass/whitelisted",
		    "IPv6 network" },
		{ T0, "192.0.2.1", "a@Example.COM", to, "pass/whitelisted",
		    "@domain" },
		{ T0, "192.0.2.1", "a@sub.example.com", to,
		    "defer/greylisted t1 p0 w300", "@domain: not subdomains" },
		{ T0, "192.0.2.1", "a@mx.example.org", to, "pass/whitelisted",
		    "@*.domain: a subdomain" },
		{ T0, "192.0.2.1", "a@example.org", to,
		    "defer/greylisted t1 p0 w300", "@*.domain: not itself" },
		{ T0, "192.0.2.1", "<>", to, "defer/greylisted t1 p0 w300",
		    "the null sender has no domain" },
	};
	static const char *bad[] = { "a@example.com", "any", "%grp",
	    "10.0.0.1/8", "@.example.com", "a@", "<>" };
	struct grey_result r;
	char err[200];
	size_t i;

	fresh("wl=198.51.100.0/24 wl=2001:db8:77::/48 wl=@example.com "
	    "wl=@*.example.org");
	RUN(steps);
	ask("198.51.100.9", "a@x.org", to, T0, false, &r);
	T_EQ_STR(r.matched, "198.51.100.0/24", "the item that matched");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		T_EQ_INT(grey_settings_whitelist(blk, bad[i], 3, err,
		    sizeof(err)), -1, bad[i]);
		printf("# whitelist %s: %s\n", bad[i], err);
	}
}

static void
test_awl(void)
{
	fresh("awl=3:0:86400");	/* 3 passed first seen in a day */
	triplets(NET, 0, 2, T0, true);
	go(NET, "s2@x.org", T0);
	T_EQ_STR(go(NET, "s2@x.org", T0 + 300), "pass/auto-whitelisted t1 p1",
	    "AWL count: the 3rd pass");
	T_EQ_STR(go(NET, "s7@x.org", T0 + 301), "pass/auto-whitelisted",
	    "AWL: a new triplet is not greylisted");
	fresh("awl=3:0:86400");
	triplets(NET, 10, 1, T0 - DAY - 1, true);
	triplets(NET, 0, 1, T0, true);
	go(NET, "s1@x.org", T0);
	T_EQ_STR(go(NET, "s1@x.org", T0 + 300), "pass/passed t1 p1", "AWL "
	    "count: one below (a pass first seen before the window)");
	fresh("awl=4:75:86400");
	triplets(NET, 0, 4, T0, false);
	triplets(NET, 0, 2, T0, true);
	T_EQ_STR(go(NET, "s2@x.org", T0 + 300), "pass/auto-whitelisted t1 p1",
	    "AWL 75 %: 3 of 4, exactly met");
	fresh("awl=4:80:86400");
	triplets(NET, 0, 4, T0, false);
	triplets(NET, 0, 2, T0, true);
	T_EQ_STR(go(NET, "s2@x.org", T0 + 300), "pass/passed t1 p1",
	    "AWL 80 %: 3 of 4 is not enough");
	fresh("awl=4:50:86400");
	triplets(NET, 0, 2, T0, true);
	go(NET, "s2@x.org", T0);
	T_EQ_STR(go(NET, "s2@x.org", T0 + 300), "pass/passed t1 p1",
	    "AWL %: 3 triplets, fewer than COUNT 4");
	fresh("awl=1:0:86400");
	triplets(NET, 0, 1, T0, true);	/* whitelisted at T0 + 300 */
	T_EQ_STR(go(NET, "n1@x.org", T0 + 300 + DAY - 1),
	    "pass/auto-whitelisted", "AWL: 1 s before it lapses");
	T_EQ_STR(go(NET, "n2@x.org", T0 + 300 + 2 * DAY - 2),
	    "pass/auto-whitelisted", "AWL: refreshed by that use");
	T_EQ_STR(go(NET, "n3@x.org", T0 + 300 + 3 * DAY - 2),
	    "defer/greylisted t1 p0 w300", "AWL: a day after the last use");
}

static void
test_abl(void)
{
	fresh("abl=3:0:86400");	/* 3 never passed first seen in a day */
	triplets(NET, 0, 2, T0, false);
	T_EQ_STR(go(NET, "s2@x.org", T0 + 1), "defer/greylisted t1 p0 w300",
	    "ABL count: 2 never passed");
	T_EQ_STR(go(NET, "s3@x.org", T0 + 2), "reject/auto-blacklisted",
	    "ABL count: 3 never passed");
	T_EQ_STR(go(NET, "s0@x.org", T0 + 400), "reject/auto-blacklisted",
	    "ABL: before the triplet check");
	T_EQ_STR(go(NET, "s9@x.org", T0 + 2 + DAY - 1),
	    "reject/auto-blacklisted", "ABL: 1 s before it lapses");
	T_EQ_STR(go(NET, "s9@x.org", T0 + 2 + DAY),
	    "defer/greylisted t1 p0 w300", "ABL: lapses a day after it was "
	    "added (its triplets are older than the window too)");
	T_EQ_STR(go("203.0.114.5", "s3@x.org", T0 + 3),
	    "defer/greylisted t1 p0 w300", "ABL: per network");
	fresh("abl=4:50:86400");
	triplets(NET, 0, 2, T0, true);
	triplets(NET, 2, 2, T0, false);
	T_EQ_STR(go(NET, "s4@x.org", T0 + 500), "reject/auto-blacklisted",
	    "ABL 50 %: 2 of 4, exactly met");
	fresh("abl=4:50:86400");
	triplets(NET, 0, 3, T0, true);
	triplets(NET, 3, 1, T0, false);
	T_EQ_STR(go(NET, "s4@x.org", T0 + 500), "defer/greylisted t1 p0 w300",
	    "ABL 50 %: 1 of 4 is not enough");
}

static void
test_training(void)
{
	struct grey_settings *tr = block("training=1");
	const struct grey_settings *v[2];
	struct grey_stats gs;

	fresh("training=1 abl=1:0:86400 awl=1:0:86400");
	T_EQ_STR(go(NET, "a@x.org", T0), "pass/training:greylisted t1 p0",
	    "training: first attempt");
	T_EQ_STR(go(NET, "a@x.org", T0 + 10), "pass/training:too-soon t2 p0",
	    "training: too soon, counted");
	T_EQ_STR(go(NET, "b@x.org", T0 + 20), "pass/training:greylisted t1 "
	    "p0", "training: never blacklists; a first attempt is no pass");
	grey_stats(st, &gs);
	T_OK(gs.triplets == 2 && gs.abl + gs.awl == 0, "training: records "
	    "the triplets; no AWL or ABL yet");
	T_EQ_STR(go(NET, "a@x.org", T0 + 300), "pass/auto-whitelisted t2 p1",
	    "training: a real retry passes and whitelists");
	fresh("abl=1:0:86400");
	triplets(NET, 0, 1, T0, false);
	T_EQ_STR(go(NET, "s5@x.org", T0 + 1), "reject/auto-blacklisted",
	    "ABL made outside training");
	v[0] = blk;
	v[1] = tr;
	grey_merge(v, 2, &eff);
	T_EQ_STR(go(NET, "s5@x.org", T0 + 2), "pass/training:greylisted t1 "
	    "p0", "training ignores the ABL");
	grey_settings_free(&tr);
}

static void
test_merge(void)
{
	struct grey_settings *p[5];
	const struct grey_settings *v[5];
	struct grey_eff e;
	size_t i;

	p[0] = block("period=600 awl=5:0:604800 wl=10.0.0.0/8 "
	    "reply=Later");
	p[1] = block("period=120 training=1 wl=@example.com");
	p[2] = block("on=0");
	p[3] = block("auth=3600");
	p[4] = block("on=1 unauth=100");
	for (i = 0; i < 5; i++)
		v[i] = p[i];
	grey_merge(v, 2, &e);
	T_OK(e.enabled, "merge: on by default");
	T_EQ_INT(e.period, 120, "merge: the later period wins");
	T_EQ_INT(e.awl.count, 5, "merge: inherited awl");
	T_OK(e.training, "merge: training from the later");
	T_EQ_STR(e.reply, "Later", "merge: inherited reply");
	T_EQ_INT(e.auth_validity, GREY_AUTH_DEFAULT, "merge: default");
	grey_state_free(&st);
	st = grey_state_new(0, 0);
	eff = e;
	T_EQ_STR(ask("10.1.2.3", "a@x.org", "r@y.net", T0, true, NULL),
	    "pass/whitelisted", "merge: whitelist of the first");
	T_EQ_STR(ask("192.0.2.1", "a@example.com", "r@y.net", T0, true,
	    NULL), "pass/whitelisted", "merge: whitelist of the second");
	grey_merge(v, 3, &e);
	T_OK(!e.enabled, "merge: off in a later policy turns it off");
	grey_merge(v + 1, 3, &e);
	T_OK(!e.enabled && e.auth_validity == 3600, "merge: a block that "
	    "writes no on/off inherits off");
	grey_merge(v + 2, 3, &e);
	T_OK(e.enabled, "merge: on again");
	T_EQ_INT(e.unauth_validity, 2 * GREY_PERIOD_DEFAULT,
	    "merge: unauth-validity raised to twice the period");
	v[1] = NULL;
	grey_merge(v, 2, &e);
	T_OK(e.enabled && e.period == 600, "merge: NULL is no block");
	v[0] = NULL;
	grey_merge(v, 2, &e);
	T_OK(!e.enabled, "merge: no block, no greylisting");
	for (i = 0; i < 5; i++)
		grey_settings_free(&p[i]);
}

static void
collect(void *arg, int line, const char *msg)
{
	char *out = arg;

	snprintf(out + strlen(out), 1024 - strlen(out), "%d: %s; ", line,
	    msg);
}

static void
test_checks(void)
{
	static const struct {
		const char *spec;
		int nerr;
		const char *has;
	} cases[] = {
		{ "period=300 awl=10:0:604800 abl=100:20:604800", 0, "" },
		{ "awl=0:0:604800", 1, "auto-whitelist COUNT 0 out of range" },
		{ "abl=5:101:604800", 1, "auto-blacklist percentage 101" },
		{ "awl=5:0:0", 1, "auto-whitelist within 0s out of range" },
		{ "period=0", 1, "period 0s out of range (1s to 1d)" },
		{ "period=172800", 2, "must be longer than period 2d" },
		{ "period=300 unauth=300", 1, "unauth-validity 5m must be" },
		{ "v4=33 v6=129", 2, "ipv6-prefix 129 out of range" },
		{ "v4=0", 1, "track SenderIP:/N 0 out of range" },
		{ "auth=10", 1, "auth-validity 10s out of range" },
	};
	static const struct { const char *text; int rc; unsigned prefix; }
	tracks[] = { { "SenderIP:/24", 0, 24 }, { "senderip:/16", 0, 16 },
		{ "SenderIP", 0, 32 }, { "SenderIP:/0", -1, 0 },
		{ "SenderIP:/33", -1, 0 }, { "Sender:user@domain", -1, 0 },
		{ "SenderIP:24", -1, 0 } };
	struct grey_settings *s;
	char out[1024], err[200];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = block(cases[i].spec);
		out[0] = '\0';
		T_EQ_INT(grey_settings_check(s, collect, out), cases[i].nerr,
		    cases[i].spec);
		T_OK(strstr(out, cases[i].has) != NULL && (cases[i].nerr == 0 ||
		    strncmp(out, "7: ", 3) == 0), out[0] ? out : "no error");
		grey_settings_free(&s);
	}
	s = grey_settings_new(1);
	for (i = 0; i < sizeof(tracks) / sizeof(tracks[0]); i++) {
		s->v4_prefix = 0;
		T_EQ_INT(grey_settings_track(s, tracks[i].text, err,
		    sizeof(err)), tracks[i].rc, tracks[i].text);
		if (tracks[i].rc == 0)
			T_EQ_INT(s->v4_prefix, tracks[i].prefix, tracks[i].text);
	}
	T_EQ_INT(grey_settings_reply(s, false, "550 no", err, sizeof(err)),
	    -1, "reply: a 5xx is not a deferral");
	T_EQ_INT(grey_settings_reply(s, true, "451 no", err, sizeof(err)),
	    -1, "blacklist-reply: a 4xx is not a rejection");
	T_EQ_INT(grey_settings_reply(s, false, "bad\r\nline", err,
	    sizeof(err)), -1, "reply: no line breaks");
	grey_settings_free(&s);
}

static void
test_replies(void)
{
	struct grey_result r;
	char buf[512];

	fresh("");
	ask("192.0.2.1", "a@x.org", "r@y.net", T0, true, &r);
	grey_reply(&eff, &r, buf, sizeof(buf));
	T_EQ_STR(buf, "451 4.7.1 Greylisted, please try again in 300 seconds",
	    "default reply");
	ask("192.0.2.1", "a@x.org", "r@y.net", T0 + 299, true, &r);
	grey_reply(&eff, &r, buf, sizeof(buf));
	T_EQ_STR(buf, "451 4.7.1 Greylisted, please try again in 1 second",
	    "default reply, 1 s left");
	grey_result_format(&r, buf, sizeof(buf));
	T_EQ_STR(buf, "greylist=defer reason=too-soon net=192.0.2.0/24 "
	    "tries=2 passes=0 wait=1", "log pairs");
	fresh("reply=Come_back abl=1:0:3600 blreply=Go_away");
	ask("192.0.2.1", "a@x.org", "r@y.net", T0, true, &r);
	grey_reply(&eff, &r, buf, sizeof(buf));
	T_EQ_STR(buf, "451 4.7.1 Come_back", "custom reply");
	ask("192.0.2.1", "b@x.org", "r@y.net", T0, true, &r);
	grey_reply(&eff, &r, buf, sizeof(buf));
	T_EQ_STR(buf, "550 5.7.1 Go_away", "custom blacklist reply");
	eff.bl_reply = NULL;
	grey_reply(&eff, &r, buf, sizeof(buf));
	T_OK(strncmp(buf, "550 5.7.1 Greylisting: ", 23) == 0, buf);
}

static void
test_explain(void)
{
	struct grey_stats a;

	fresh("awl=1:0:86400");
	T_EQ_STR(ask(NET, "a@x.org", "r@y.net", T0, false, NULL),
	    "defer/greylisted t1 p0 w300", "explain: new");
	grey_stats(st, &a);
	T_EQ_INT(a.triplets + a.networks + a.pending, 0,
	    "explain: nothing recorded");
	go(NET, "a@x.org", T0);
	ask(NET, "a@x.org", "r@y.net", T0 + 10, false, NULL);
	T_EQ_STR(ask(NET, "a@x.org", "r@y.net", T0 + 20, false, NULL),
	    "defer/too-soon t2 p0 w280", "explain: tries not counted");
	T_EQ_STR(ask(NET, "a@x.org", "r@y.net", T0 + 300, false, NULL),
	    "pass/auto-whitelisted t1 p1", "explain: would whitelist");
	grey_stats(st, &a);
	T_EQ_INT(a.awl, 0, "explain: no AWL entry made");
	go(NET, "a@x.org", T0 + 300);
	grey_changes(st, 0, NULL, NULL);
	T_EQ_STR(ask(NET, "z@x.org", "r@y.net", T0 + 300 + DAY - 1, false,
	    NULL), "pass/auto-whitelisted", "explain: AWL in force");
	grey_stats(st, &a);
	T_EQ_INT(a.pending, 0, "explain: no row to write");
	T_EQ_STR(go(NET, "z@x.org", T0 + 300 + DAY),
	    "defer/greylisted t1 p0 w300", "explain did not refresh the AWL");
}

int
main(void)
{
	test_lifecycle();
	test_networks_and_keys();
	test_whitelist();
	test_awl();
	test_abl();
	test_training();
	test_merge();
	test_checks();
	test_replies();
	test_explain();
	grey_state_free(&st);
	grey_settings_free(&blk);
	return t_done();
}
