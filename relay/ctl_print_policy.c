/*
 * ctl_print_policy: sluicectl's human output for the policy engine: the
 * quota report as a table (one line per limit of a quota and key: used
 * and limit, what is reserved in later windows for deferred mail and
 * when the last of it leaves, when the window resets), an override's
 * one-line confirmation, and explain's trace followed by each
 * recipient's outcome.  Times are shown relative to the caller's now, so
 * the output is testable (tests/unit/test_ctl_policy.c).
 *
 * What an attacker controls: keys, addresses and the trace came from
 * SMTP peers; every string reaches the terminal through ctl_put().
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "ctl_priv.h"

void
ctl_fmt_size(char *b, size_t n, double v)
{
	static const char units[] = "KMG";
	int u = -1;

	while (v >= 1024 && u < 2) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(b, n, "%.0f", v);
	else if (v == (double)(uint64_t)v)
		snprintf(b, n, "%.0f%c", v, units[u]);
	else
		snprintf(b, n, "%.1f%c", v, units[u]);
}

/* A figure of unit: sizes in K/M/G, counts as the API wrote them. */
static void
ctl_fmt_figure(char *b, size_t n, const char *unit,
    const struct ctl_json *v)
{
	if (v == NULL || v->type != CTL_JSON_NUMBER)
		snprintf(b, n, "-");
	else if (unit != NULL && strcmp(unit, "size") == 0)
		ctl_fmt_size(b, n, strtod(v->str, NULL));
	else
		snprintf(b, n, "%s", v->str);
}

/* One line of the report: a limit of a quota and key. */
struct ctl_qrow {
	char		 pq[128];	/* policy/quota */
	const char	*key, *unit;
	char		 used[96], reserved[96], resets[48], backlog[48];
};

/* USED/LIMIT: "3/200", "3/500 (override)", "3/exempt". */
static void
ctl_qrow_used(struct ctl_qrow *row, const struct ctl_json *l,
    bool overridden)
{
	const struct ctl_json *lim = ctl_json_get(l, "limit");
	char used[32], limit[32];

	ctl_fmt_figure(used, sizeof(used), row->unit, ctl_json_get(l, "used"));
	if (lim == NULL || lim->type == CTL_JSON_NULL)
		snprintf(row->used, sizeof(row->used), "%s/exempt", used);
	else {
		ctl_fmt_figure(limit, sizeof(limit), row->unit, lim);
		snprintf(row->used, sizeof(row->used), "%s/%s%s", used, limit,
		    overridden ? " (override)" : "");
	}
}

/* RESERVED: "0", or "5 (last in 2h 10m)" while deferred mail waits. */
static void
ctl_qrow_reserved(struct ctl_qrow *row, const struct ctl_json *q,
    const struct ctl_json *l, int64_t now)
{
	const struct ctl_json *v = ctl_json_get(l, "reserved");
	char fig[32], due[48];

	ctl_fmt_figure(fig, sizeof(fig), row->unit, v);
	ctl_fmt_due(due, sizeof(due), ctl_json_str(q, "last_release"), now);
	if (v != NULL && v->str != NULL && strtod(v->str, NULL) > 0 &&
	    strncmp(due, "in ", 3) == 0)
		snprintf(row->reserved, sizeof(row->reserved), "%s (last %s)",
		    fig, due);
	else
		snprintf(row->reserved, sizeof(row->reserved), "%s", fig);
}

/* The rows of one quota and key; -1 when its JSON is not as expected. */
static int
ctl_qrows(const struct ctl_json *q, struct ctl_qrow **rows, size_t *n,
    int64_t now)
{
	const struct ctl_json *lims = ctl_json_get(q, "limits"), *l;
	const char *window = ctl_json_str(q, "window");
	struct ctl_qrow *row;
	size_t i;

	if (lims == NULL || lims->type != CTL_JSON_ARRAY ||
	    ctl_json_str(q, "key") == NULL || window == NULL)
		return -1;
	for (i = 0; i < lims->n; i++) {
		l = lims->items[i];
		*rows = xreallocarray(*rows, *n + 1, sizeof(**rows));
		row = &(*rows)[(*n)++];
		memset(row, 0, sizeof(*row));
		snprintf(row->pq, sizeof(row->pq), "%s/%s",
		    ctl_json_str(q, "policy") ? ctl_json_str(q, "policy") : "?",
		    ctl_json_str(q, "quota") ? ctl_json_str(q, "quota") : "?");
		row->key = ctl_json_str(q, "key");
		row->unit = ctl_json_str(l, "unit") ? ctl_json_str(l, "unit") :
		    "?";
		/* an override replaces one limit, which says so */
		ctl_qrow_used(row, l, ctl_json_bool(l, "overridden"));
		ctl_qrow_reserved(row, q, l, now);
		ctl_fmt_figure(row->backlog, sizeof(row->backlog), "recipients",
		    ctl_json_get(q, "backlog"));
		if (ctl_json_get(q, "backlog_max") != NULL)
			snprintf(row->backlog + strlen(row->backlog),
			    sizeof(row->backlog) - strlen(row->backlog), "/%s",
			    ctl_json_get(q, "backlog_max")->str ?
			    ctl_json_get(q, "backlog_max")->str : "?");
		if (strcmp(window, "sliding") == 0)
			snprintf(row->resets, sizeof(row->resets), "sliding");
		else
			ctl_fmt_due(row->resets, sizeof(row->resets),
			    ctl_json_str(q, "window_end"), now);
	}
	return 0;
}

static size_t
ctl_max(size_t a, size_t b)
{
	return a > b ? a : b;
}

int
ctl_print_quota(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	const struct ctl_json *list = ctl_json_get(j, "quotas");
	struct ctl_qrow *rows = NULL;
	size_t i, n = 0, w[6] = { 12, 3, 4, 10, 8, 6 };

	if (list == NULL || list->type != CTL_JSON_ARRAY) {
		*errstr = "unexpected quota JSON";
		return -1;
	}
	for (i = 0; i < list->n; i++)
		if (ctl_qrows(list->items[i], &rows, &n, now) == -1) {
			free(rows);
			*errstr = "unexpected quota JSON";
			return -1;
		}
	if (n == 0) {
		fputs("nothing counted", f);
		if (ctl_json_str(j, "key") != NULL) {
			fputs(" for ", f);
			ctl_put(f, ctl_json_str(j, "key"));
		}
		fputs(" in the current windows\n", f);
		return 0;
	}
	for (i = 0; i < n; i++) {
		w[0] = ctl_max(w[0], ctl_width(rows[i].pq));
		w[1] = ctl_max(w[1], ctl_width(rows[i].key));
		w[2] = ctl_max(w[2], strlen(rows[i].unit));
		w[3] = ctl_max(w[3], strlen(rows[i].used));
		w[4] = ctl_max(w[4], strlen(rows[i].reserved));
		w[5] = ctl_max(w[5], strlen(rows[i].resets));
	}
	fprintf(f, "%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  BACKLOG\n",
	    (int)w[0], "POLICY/QUOTA", (int)w[1], "KEY", (int)w[2], "UNIT",
	    (int)w[3], "USED/LIMIT", (int)w[4], "RESERVED", (int)w[5],
	    "RESETS");
	for (i = 0; i < n; i++) {
		ctl_put_pad(f, rows[i].pq, w[0]);
		fputs("  ", f);
		ctl_put_pad(f, rows[i].key, w[1]);
		fputs("  ", f);
		ctl_put_pad(f, rows[i].unit, w[2]);
		fprintf(f, "  %-*s  %-*s  %-*s  %s\n", (int)w[3], rows[i].used,
		    (int)w[4], rows[i].reserved, (int)w[5], rows[i].resets,
		    rows[i].backlog);
	}
	free(rows);
	return 0;
}

/* "quota override for KEY: limit 500" and the like. */
int
ctl_print_quota_op(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	const char *action = ctl_json_str(j, "action");
	const char *key = ctl_json_str(j, "key");
	const struct ctl_json *o = ctl_json_get(j, "override");
	uint64_t limit;

	(void)now;
	if (action == NULL || key == NULL) {
		*errstr = "unexpected JSON for a quota override";
		return -1;
	}
	if (strcmp(action, "clear") == 0 && !ctl_json_bool(j, "cleared")) {
		fputs("no quota override for ", f);
		ctl_put(f, key);
		fputs(": nothing to clear\n", f);
		return 0;
	}
	fputs("quota override for ", f);
	ctl_put(f, key);
	if (strcmp(action, "set") == 0 && o != NULL &&
	    ctl_json_u64(o, "limit", &limit) == 0)
		fprintf(f, ": limit %" PRIu64 "\n", limit);
	else if (strcmp(action, "exempt") == 0)
		fputs(": exempt\n", f);
	else
		fputs(": cleared\n", f);
	return 0;
}

/* Each line of text through ctl_put (which would escape the newlines). */
static void
ctl_put_text(FILE *f, const char *text)
{
	const char *nl;
	char *line;

	for (; text != NULL && *text != '\0'; text = nl ? nl + 1 : NULL) {
		nl = strchr(text, '\n');
		line = xstrndup(text, nl ? (size_t)(nl - text) : strlen(text));
		ctl_put(f, line);
		fputc('\n', f);
		free(line);
	}
}

/* The outcome of one recipient, after the trace. */
static void
ctl_explain_rcpt(FILE *f, const struct ctl_json *r, const char *refused,
    int64_t now)
{
	const char *v = ctl_json_str(r, "verdict");
	const struct ctl_json *acc = ctl_json_get(r, "access");
	const struct ctl_json *flt = ctl_json_get(r, "filter");
	char due[48];

	ctl_put(f, ctl_json_str(r, "address") ? ctl_json_str(r, "address") :
	    "?");
	fputs(": ", f);
	if (v == NULL)
		fputs("?", f);
	else if (strcmp(v, "deliver") == 0)
		fputs("deliver now", f);
	else if (strcmp(v, "defer") == 0) {
		fputs("defer until ", f);
		ctl_put(f, ctl_json_str(r, "release") ?
		    ctl_json_str(r, "release") : "?");
		ctl_fmt_due(due, sizeof(due), ctl_json_str(r, "release"), now);
		if (strncmp(due, "in ", 3) == 0)
			fprintf(f, " (%s)", due);
	} else if (flt != NULL && ctl_json_str(flt, "module") != NULL) {
		fprintf(f, "%s at RCPT (", v);
		ctl_put(f, ctl_json_str(flt, "module"));
		fputs(": ", f);
		ctl_put(f, ctl_json_str(flt, "reply") ? ctl_json_str(flt,
		    "reply") : "?");
		fputc(')', f);
	} else if (acc != NULL && ctl_json_str(acc, "policy") != NULL &&
	    ctl_json_str(acc, "verdict") != NULL &&
	    strcmp(ctl_json_str(acc, "verdict"), v) == 0 &&
	    (strcmp(v, "reject") == 0 || strcmp(v, "tempfail") == 0)) {
		fprintf(f, "%s at RCPT (policy ", v);
		ctl_put(f, ctl_json_str(acc, "policy"));
		fputc(')', f);
	} else if (refused != NULL)
		fprintf(f, "%s (the whole message, at end of DATA)", v);
	else
		fputs(v, f);
	fputc('\n', f);
}

int
ctl_print_explain(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	const struct ctl_json *rcpts = ctl_json_get(j, "recipients");
	const struct ctl_json *ref = ctl_json_get(j, "refused");
	const char *trace = ctl_json_str(j, "trace"), *reply = NULL;
	size_t i;

	if (rcpts == NULL || rcpts->type != CTL_JSON_ARRAY || trace == NULL) {
		*errstr = "unexpected explain JSON";
		return -1;
	}
	ctl_put_text(f, trace);
	fputc('\n', f);
	if (ref != NULL && ref->type == CTL_JSON_OBJECT) {
		reply = ctl_json_str(ref, "reply");
		fputs("message refused: ", f);
		ctl_put(f, reply ? reply : "?");
		fputc('\n', f);
	}
	for (i = 0; i < rcpts->n; i++)
		ctl_explain_rcpt(f, rcpts->items[i], reply, now);
	return 0;
}
