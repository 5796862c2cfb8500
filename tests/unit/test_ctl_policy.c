/*
 * test_ctl_policy: sluicectl's human output for the policy engine
 * (ctl_print_policy.c) from the admin API's JSON: the quota table (limits,
 * overrides, exemptions, sizes, sliding windows, reservations), an
 * override's confirmation, and explain's trace and outcomes; terminal
 * escapes in what came from SMTP peers; JSON of the wrong shape.
 */
#include <stdlib.h>

#include "t.h"
#include "../../relay/ctl_priv.h"
#include "tctl.h"

struct t_case {
	const char	*name;
	const char	*json;
	int		 rc;
	const char	*want;		/* NULL: not compared */
};

static void
run(const struct t_case *cases, size_t n, ctl_print_fn *fn)
{
	char name[128];
	char *out;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		out = capture(cases[i].json, fn, &rc);
		snprintf(name, sizeof(name), "%s: rc", cases[i].name);
		T_EQ_INT(rc, cases[i].rc, name);
		if (cases[i].want != NULL)
			T_EQ_STR(out, cases[i].want, cases[i].name);
		free(out);
	}
}

static void
test_quota_table(void)
{
	static const struct t_case cases[] = {
		{ "table",
		  "{\"quotas\":[{\"policy\":\"out\",\"quota\":\"user\","
		  "\"key\":\"alice@x\",\"window\":\"fixed\","
		  "\"window_end\":\"2026-11-24T15:00:00Z\",\"limits\":["
		  "{\"unit\":\"messages\",\"limit\":5,\"configured\":2,"
		  "\"overridden\":true,\"used\":3,\"reserved\":2}],"
		  "\"last_release\":\"2026-11-24T16:30:00Z\","
		  "\"backlog\":2,\"backlog_max\":50,"
		  "\"override\":{\"limit\":5}},"
		  "{\"policy\":\"out\",\"quota\":\"dom\",\"key\":\"@x\","
		  "\"window\":\"sliding\",\"window_end\":"
		  "\"2026-11-24T14:30:00Z\",\"limits\":["
		  "{\"unit\":\"recipients\",\"limit\":null,\"configured\":100,"
		  "\"used\":2.27,\"reserved\":0},{\"unit\":\"size\","
		  "\"limit\":null,\"configured\":10485760,\"used\":1536,"
		  "\"reserved\":0}],\"last_release\":null,"
		  "\"override\":\"exempt\"}],\"count\":2}", 0,
		  "POLICY/QUOTA  KEY      UNIT        USED/LIMIT      "
		  "RESERVED                RESETS      BACKLOG\n"
		  "out/user      alice@x  messages    3/5 (override)  "
		  "2 (last in 2h 00m 00s)  in 30m 00s  2/50\n"
		  "out/dom       @x       recipients  2.27/exempt     "
		  "0                       sliding     -\n"
		  "out/dom       @x       size        1.5K/exempt     "
		  "0                       sliding     -\n" },
		{ "sizes and a window that has ended",
		  "{\"quotas\":[{\"policy\":\"p\",\"quota\":\"q\",\"key\":"
		  "\"k\",\"window\":\"fixed\",\"window_end\":"
		  "\"2026-11-24T14:00:00Z\",\"limits\":[{\"unit\":\"size\","
		  "\"limit\":10485760,\"configured\":10485760,\"used\":512,"
		  "\"reserved\":3221225472}],\"last_release\":"
		  "\"2026-11-24T14:00:00Z\",\"override\":null}],\"count\":1}",
		  0,
		  "POLICY/QUOTA  KEY  UNIT  USED/LIMIT  RESERVED  RESETS  BACKLOG\n"
		  "p/q           k    size  512/10M     3G        now     -\n" },
		{ "escaped key",
		  "{\"quotas\":[{\"policy\":\"p\",\"quota\":\"q\",\"key\":"
		  "\"a\\u001b[2Jb@x\",\"window\":\"fixed\",\"window_end\":"
		  "\"2026-11-24T15:00:00Z\",\"limits\":[{\"unit\":\"messages\","
		  "\"limit\":1,\"configured\":1,\"used\":1,\"reserved\":0}],"
		  "\"last_release\":null,\"override\":null}],\"count\":1}", 0,
		  "POLICY/QUOTA  KEY          UNIT      USED/LIMIT  RESERVED"
		  "  RESETS      BACKLOG\n"
		  "p/q           a\\x1b[2Jb@x  messages  1/1         0       "
		  "  in 30m 00s  -\n" },
		{ "empty", "{\"quotas\":[],\"count\":0}", 0,
		  "nothing counted in the current windows\n" },
		{ "empty for a key",
		  "{\"key\":\"bob@x\",\"quotas\":[],\"count\":0}", 0,
		  "nothing counted for bob@x in the current windows\n" },
		{ "not a list", "{\"quotas\":1}", -1, NULL },
		{ "no limits", "{\"quotas\":[{\"key\":\"k\",\"window\":"
		  "\"fixed\"}]}", -1, NULL },
	};

	run(cases, sizeof(cases) / sizeof(cases[0]), ctl_print_quota);
}

static void
test_quota_op(void)
{
	static const struct t_case cases[] = {
		{ "set", "{\"key\":\"a@x\",\"action\":\"set\","
		  "\"override\":{\"limit\":500}}", 0,
		  "quota override for a@x: limit 500\n" },
		{ "exempt", "{\"key\":\"@x\",\"action\":\"exempt\","
		  "\"override\":\"exempt\"}", 0,
		  "quota override for @x: exempt\n" },
		{ "clear", "{\"key\":\"a@x\",\"action\":\"clear\","
		  "\"override\":null,\"cleared\":true}", 0,
		  "quota override for a@x: cleared\n" },
		{ "clear, nothing there", "{\"key\":\"a@x\",\"action\":"
		  "\"clear\",\"override\":null,\"cleared\":false}", 0,
		  "no quota override for a@x: nothing to clear\n" },
		{ "no key", "{\"action\":\"set\"}", -1, NULL },
	};

	run(cases, sizeof(cases) / sizeof(cases[0]), ctl_print_quota_op);
}

static void
test_explain(void)
{
	static const struct t_case cases[] = {
		{ "outcomes",
		  "{\"recipients\":["
		  "{\"address\":\"a@x\",\"access\":null,\"verdict\":\"deliver\","
		  "\"release\":null},"
		  "{\"address\":\"b@x\",\"access\":null,\"verdict\":\"defer\","
		  "\"release\":\"2026-11-24T15:00:00Z\"},"
		  "{\"address\":\"c@x\",\"access\":{\"policy\":\"deny\","
		  "\"verdict\":\"reject\"},\"verdict\":\"reject\","
		  "\"release\":null},"
		  "{\"address\":\"d@x\",\"access\":{\"policy\":\"q\","
		  "\"verdict\":\"hold\"},\"verdict\":\"hold\","
		  "\"release\":null}],\"refused\":null,\"quotas\":[],"
		  "\"trace\":\"line one\\n  line \\u001b two\\n\"}", 0,
		  "line one\n  line \\x1b two\n\n"
		  "a@x: deliver now\n"
		  "b@x: defer until 2026-11-24T15:00:00Z (in 30m 00s)\n"
		  "c@x: reject at RCPT (policy deny)\n"
		  "d@x: hold\n" },
		{ "refused",
		  "{\"recipients\":["
		  "{\"address\":\"a@x\",\"access\":{\"policy\":\"deny\","
		  "\"verdict\":\"tempfail\"},\"verdict\":\"tempfail\","
		  "\"release\":null},"
		  "{\"address\":\"b@x\",\"access\":null,\"verdict\":\"reject\","
		  "\"release\":null}],\"refused\":{\"verdict\":\"reject\","
		  "\"reply\":\"550 5.7.1 Quota exceeded (p/q)\"},"
		  "\"quotas\":[],\"trace\":\"t\"}", 0,
		  "t\n\nmessage refused: 550 5.7.1 Quota exceeded (p/q)\n"
		  "a@x: tempfail at RCPT (policy deny)\n"
		  "b@x: reject (the whole message, at end of DATA)\n" },
		{ "no trace", "{\"recipients\":[]}", -1, NULL },
	};

	run(cases, sizeof(cases) / sizeof(cases[0]), ctl_print_explain);
}

int
main(void)
{
	test_quota_table();
	test_quota_op();
	test_explain();
	return t_done();
}
