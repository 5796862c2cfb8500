/*
 * ctl_print_acct: sluicectl's human output of the accounting report
 * (GET /v1/accounting): a table with one line per accounting, key and
 * period, each unit as USED, or USED/LIMIT (P%) where the accounting has
 * a limit; sizes in K/M/G.  Tested in tests/unit/test_ctl_acct.c.
 *
 * What an attacker controls: the keys came from SMTP peers; every string
 * reaches the terminal through ctl_put().
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "ctl_priv.h"

#define CTL_ACCT_COLS	7

static const char *const ctl_acct_units[] = { "messages", "recipients",
    "size" };

/* One line: policy/accounting, track, key, period, then the units. */
struct ctl_arow {
	char		 pa[128];
	const char	*cell[CTL_ACCT_COLS];
	char		 fig[3][128];
};

/* "3", "3/10 (30%)", "1.5M/10M (15%)"; -1 when u is not an object with
 * a used figure. */
static int
ctl_acct_figure(char *b, size_t n, const char *unit,
    const struct ctl_json *u)
{
	const struct ctl_json *lim = ctl_json_get(u, "limit");
	uint64_t used, limit;
	char a[32], l[32];

	if (u == NULL || ctl_json_u64(u, "used", &used) == -1)
		return -1;
	if (strcmp(unit, "size") == 0)
		ctl_fmt_size(a, sizeof(a), (double)used);
	else
		snprintf(a, sizeof(a), "%" PRIu64, used);
	if (lim == NULL || lim->type == CTL_JSON_NULL) {
		snprintf(b, n, "%s", a);
		return 0;
	}
	if (ctl_json_u64(u, "limit", &limit) == -1)
		return -1;
	if (strcmp(unit, "size") == 0)
		ctl_fmt_size(l, sizeof(l), (double)limit);
	else
		snprintf(l, sizeof(l), "%" PRIu64, limit);
	/* whole percents, rounded down: 100% means the limit is reached */
	snprintf(b, n, "%s/%s (%" PRIu64 "%%)", a, l, limit == 0 ? 100 :
	    used >= UINT64_MAX / 100 ? used / limit * 100 : used * 100 / limit);
	return 0;
}

static int
ctl_arow_fill(struct ctl_arow *row, const struct ctl_json *e)
{
	const char *p = ctl_json_str(e, "policy");
	const char *a = ctl_json_str(e, "accounting");
	size_t k;

	row->cell[1] = ctl_json_str(e, "track");
	row->cell[2] = ctl_json_str(e, "key");
	row->cell[3] = ctl_json_str(e, "period");
	if (p == NULL || a == NULL || row->cell[1] == NULL ||
	    row->cell[2] == NULL || row->cell[3] == NULL)
		return -1;
	snprintf(row->pa, sizeof(row->pa), "%s/%s", p, a);
	row->cell[0] = row->pa;
	for (k = 0; k < 3; k++) {
		if (ctl_acct_figure(row->fig[k], sizeof(row->fig[k]),
		    ctl_acct_units[k], ctl_json_get(e, ctl_acct_units[k])) == -1)
			return -1;
		row->cell[4 + k] = row->fig[k];
	}
	return 0;
}

int
ctl_print_acct(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	static const char *const head[CTL_ACCT_COLS] = {
		"POLICY/ACCOUNTING", "TRACK", "KEY", "PERIOD", "MESSAGES",
		"RECIPIENTS", "SIZE"
	};
	const struct ctl_json *list = ctl_json_get(j, "accounting");
	struct ctl_arow *rows;
	size_t w[CTL_ACCT_COLS], i, k;

	(void)now;
	if (list == NULL || list->type != CTL_JSON_ARRAY) {
		*errstr = "unexpected accounting JSON";
		return -1;
	}
	if (list->n == 0) {
		fputs("nothing counted", f);
		if (ctl_json_str(j, "key") != NULL) {
			fputs(" for ", f);
			ctl_put(f, ctl_json_str(j, "key"));
		}
		fputs(ctl_json_bool(j, "history") ? " in the periods kept\n" :
		    " in the current periods\n", f);
		return 0;
	}
	rows = xcalloc(list->n, sizeof(*rows));
	for (k = 0; k < CTL_ACCT_COLS; k++)
		w[k] = strlen(head[k]);
	for (i = 0; i < list->n; i++) {
		if (ctl_arow_fill(&rows[i], list->items[i]) == -1) {
			free(rows);
			*errstr = "unexpected accounting JSON";
			return -1;
		}
		for (k = 0; k < CTL_ACCT_COLS; k++)
			if (ctl_width(rows[i].cell[k]) > w[k])
				w[k] = ctl_width(rows[i].cell[k]);
	}
	for (k = 0; k + 1 < CTL_ACCT_COLS; k++)
		fprintf(f, "%-*s  ", (int)w[k], head[k]);
	fprintf(f, "%s\n", head[k]);
	for (i = 0; i < list->n; i++)
		for (k = 0; k < CTL_ACCT_COLS; k++) {
			if (k + 1 < CTL_ACCT_COLS) {
				ctl_put_pad(f, rows[i].cell[k], w[k]);
				fputs("  ", f);
			} else {
				ctl_put(f, rows[i].cell[k]);
				fputc('\n', f);
			}
		}
	free(rows);
	return 0;
}
