/*
 * ctl_print_rcpts: sluicectl's table of deferred recipients (`queue
 * --state deferred`): one line per recipient, in the order they leave,
 * with when (the time, and how far off), the message's arrival and
 * sender, the recipient, and the quota and key that hold it back.  The
 * listing's per-message rows are not repeated: `queue --json` has them.
 *
 * What an attacker controls: senders, recipients and keys came from SMTP
 * peers; ctl_put() escapes them for the terminal (ctl_print.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl_priv.h"

#define CTL_RCPT_COLS	40	/* wider columns are not padded */

/* A string member, "-" when it is missing or null, "<>" for an empty
 * sender. */
static const char *
ctl_rcpt_col(const struct ctl_json *r, const char *key)
{
	const char *s = ctl_json_str(r, key);

	if (s == NULL)
		return "-";
	return *s == '\0' && strcmp(key, "sender") == 0 ? "<>" : s;
}

static const char *const ctl_rcpt_cols[] = {
	"sender", "recipient", "quota", "key"
};
#define CTL_NCOLS	(sizeof(ctl_rcpt_cols) / sizeof(ctl_rcpt_cols[0]))

/* The widths of the variable columns: each column's widest value (up to
 * CTL_RCPT_COLS), its heading's at least; w[CTL_NCOLS] is IN's. */
static void
ctl_rcpt_widths(const struct ctl_json *list, int64_t now,
    size_t w[CTL_NCOLS + 1])
{
	static const char *const heads[] = {
		"SENDER", "RECIPIENT", "QUOTA", "KEY"
	};
	const struct ctl_json *r;
	char in[48];
	size_t i, k, n;

	for (k = 0; k < CTL_NCOLS; k++)
		w[k] = strlen(heads[k]);
	w[CTL_NCOLS] = strlen("IN");
	for (i = 0; i < list->n; i++) {
		r = list->items[i];
		for (k = 0; k < CTL_NCOLS; k++) {
			n = ctl_width(ctl_rcpt_col(r, ctl_rcpt_cols[k]));
			if (n > w[k])
				w[k] = n > CTL_RCPT_COLS ? CTL_RCPT_COLS : n;
		}
		ctl_fmt_due(in, sizeof(in), ctl_json_str(r, "release"), now);
		if (strlen(in) > w[CTL_NCOLS])
			w[CTL_NCOLS] = strlen(in);
	}
}

int
ctl_print_rcpts(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	const struct ctl_json *list = ctl_json_get(j, "recipients"), *r;
	size_t w[CTL_NCOLS + 1], i, k;
	uint64_t count = 0, msgs = 0;
	char in[48];

	if (list == NULL || list->type != CTL_JSON_ARRAY ||
	    ctl_json_u64(j, "recipient_count", &count) == -1) {
		*errstr = "unexpected JSON for deferred recipients";
		return -1;
	}
	if (list->n == 0 && count == 0) {
		fputs("no messages match\n", f);
		return 0;
	}
	ctl_rcpt_widths(list, now, w);
	fprintf(f, "%-16s  %-20s  %-*s  %-20s  %-*s  %-*s  %-*s  KEY\n", "ID",
	    "RELEASE", (int)w[CTL_NCOLS], "IN", "ARRIVAL", (int)w[0],
	    "SENDER", (int)w[1], "RECIPIENT", (int)w[2], "QUOTA");
	for (i = 0; i < list->n; i++) {
		r = list->items[i];
		ctl_put_pad(f, ctl_rcpt_col(r, "id"), 16);
		fputs("  ", f);
		ctl_put_pad(f, ctl_rcpt_col(r, "release"), 20);
		ctl_fmt_due(in, sizeof(in), ctl_json_str(r, "release"), now);
		fprintf(f, "  %-*s  ", (int)w[CTL_NCOLS], in);
		ctl_put_pad(f, ctl_rcpt_col(r, "arrival"), 20);
		for (k = 0; k < CTL_NCOLS; k++) {
			fputs("  ", f);
			if (k + 1 < CTL_NCOLS)
				ctl_put_pad(f, ctl_rcpt_col(r,
				    ctl_rcpt_cols[k]), w[k]);
			else
				ctl_put(f, ctl_rcpt_col(r, ctl_rcpt_cols[k]));
		}
		fputc('\n', f);
	}
	(void)ctl_json_u64(j, "count", &msgs);
	fprintf(f, "-- %" PRIu64 " deferred recipient%s of %" PRIu64
	    " message%s", count, count == 1 ? "" : "s", msgs,
	    msgs == 1 ? "" : "s");
	if (ctl_json_bool(j, "truncated"))
		fprintf(f, " (the first %zu listed)", list->n);
	fputc('\n', f);
	return 0;
}
