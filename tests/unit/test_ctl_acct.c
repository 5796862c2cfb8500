/*
 * test_ctl_acct: `sluicectl accounting`'s table (relay/ctl_print_acct.c)
 * from the admin API's JSON: figures with and without limits, sizes in
 * K/M/G, percents rounded down, nothing counted (with a key, with
 * history), terminal escapes in keys from SMTP peers, JSON of the wrong
 * shape.
 */
#include <stdlib.h>

#include "t.h"
#include "../../relay/ctl_priv.h"
#include "tctl.h"

struct t_case {
	const char	*name;
	const char	*json;
	int		 rc;
	const char	*want;
};

#define ENTRY(key, period, msgs, rcpts, size)				\
	"{\"policy\":\"out\",\"accounting\":\"daily\","			\
	"\"track\":\"Sender:user@domain\",\"key\":\"" key "\","		\
	"\"period\":\"" period "\",\"period_kind\":\"day\","		\
	"\"current\":true,\"messages\":" msgs ",\"recipients\":" rcpts	\
	",\"size\":" size ",\"verdict\":null}"
#define NOLIM(n)	"{\"used\":" #n ",\"limit\":null,\"percent\":null}"
#define LIM(n, l)	"{\"used\":" #n ",\"limit\":" #l ",\"percent\":0}"

static const struct t_case cases[] = {
	{ "table",
	  "{\"history\":false,\"accounting\":["
	  ENTRY("alice@example.com", "2026-11-24", LIM(3, 10), NOLIM(5),
	      NOLIM(1536)) ","
	  ENTRY("bob@example.com", "2026-11-24", LIM(10, 10), NOLIM(12),
	      LIM(7340032, 10485760))
	  "],\"count\":2}", 0,
	  "POLICY/ACCOUNTING  TRACK               KEY                "
	  "PERIOD      MESSAGES      RECIPIENTS  SIZE\n"
	  "out/daily          Sender:user@domain  alice@example.com  "
	  "2026-11-24  3/10 (30%)    5           1.5K\n"
	  "out/daily          Sender:user@domain  bob@example.com    "
	  "2026-11-24  10/10 (100%)  12          7M/10M (70%)\n" },
	{ "rounded down, a limit of 0",
	  "{\"accounting\":["
	  ENTRY("a", "2026-W48", LIM(2, 3), LIM(0, 0), NOLIM(0))
	  "],\"count\":1}", 0,
	  "POLICY/ACCOUNTING  TRACK               KEY  PERIOD    MESSAGES   "
	  "RECIPIENTS  SIZE\n"
	  "out/daily          Sender:user@domain  a    2026-W48  2/3 (66%)  "
	  "0/0 (100%)  0\n" },
	{ "escapes", "{\"accounting\":["
	  ENTRY("e\\u001b[31m", "2026-11", NOLIM(1), NOLIM(1), NOLIM(1))
	  "],\"count\":1}", 0, NULL },
	{ "nothing", "{\"history\":false,\"accounting\":[],\"count\":0}", 0,
	  "nothing counted in the current periods\n" },
	{ "nothing for a key, history",
	  "{\"key\":\"x@y\",\"history\":true,\"accounting\":[],\"count\":0}",
	  0, "nothing counted for x@y in the periods kept\n" },
	{ "not a list", "{\"accounting\":{}}", -1, "" },
	{ "no figures", "{\"accounting\":[{\"policy\":\"p\","
	  "\"accounting\":\"a\",\"track\":\"t\",\"key\":\"k\","
	  "\"period\":\"2026-11\"}]}", -1, "" },
	{ "bad limit", "{\"accounting\":["
	  ENTRY("k", "2026-11", "{\"used\":1,\"limit\":\"x\"}", NOLIM(1),
	      NOLIM(1)) "]}", -1, "" },
};

int
main(void)
{
	char name[128], *out;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = capture(cases[i].json, ctl_print_acct, &rc);
		snprintf(name, sizeof(name), "%s: rc", cases[i].name);
		T_EQ_INT(rc, cases[i].rc, name);
		if (cases[i].want != NULL)
			T_EQ_STR(out, cases[i].want, cases[i].name);
		else
			T_OK(strstr(out, "\x1b") == NULL &&
			    strstr(out, "e\\x1b[31m") != NULL, cases[i].name);
		free(out);
	}
	return t_done();
}
