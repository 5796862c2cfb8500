/*
 * ctl: the parts of sluicectl, the admin API's client: a small blocking
 * HTTP/1.0 client over a UNIX socket (ctl_http.c), a strict JSON reader
 * (ctl_json.c), the human-readable output (ctl_print.c, and
 * ctl_print_policy.c for quotas and explain), and the policy engine's
 * commands (ctl_policy.c) besides sluicectl.c's own.
 */
#ifndef SLUICE_CTL_PRIV_H
#define SLUICE_CTL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../lib/buf.h"

#define CTL_HTTP_TIMEOUT	30		/* seconds for a whole request */
#define CTL_HTTP_MAX		(256u << 20)	/* bytes of a response */
#define CTL_HTTP_MAX_HEAD	(64u << 10)	/* bytes of its header block */
#define CTL_JSON_DEPTH		32		/* nesting of arrays/objects */

struct ctl_resp {
	int		 status;	/* 200, 404, ... */
	char		*ctype;		/* Content-Type, or NULL */
	char		*body;		/* NUL-terminated (may hold NULs) */
	size_t		 len;
};

/* Sends `METHOD path HTTP/1.0` to the UNIX socket at sock and reads the
 * whole response into *r (free with ctl_resp_free).  0, or -1 with a
 * message in err (e.g. "cannot connect to ...: ... (is sluiced running?)";
 * a relative sock that is missing also names the current directory, so
 * err should hold PATH_MAX bytes and more). */
int	ctl_http(const char *sock, const char *method, const char *path,
	    struct ctl_resp *r, char *err, size_t errsz);
/* Parses a complete response held in data[0..len) into *r, which takes
 * copies.  0, or -1 with *errstr (static). */
int	ctl_http_parse(const char *data, size_t len, struct ctl_resp *r,
	    const char **errstr);
void	ctl_resp_free(struct ctl_resp *);
/* Appends s percent-encoded: everything but RFC 3986's unreserved set. */
void	ctl_url_escape(struct buf *, const char *s);

enum ctl_json_type {
	CTL_JSON_NULL, CTL_JSON_FALSE, CTL_JSON_TRUE, CTL_JSON_NUMBER,
	CTL_JSON_STRING, CTL_JSON_ARRAY, CTL_JSON_OBJECT
};

/* A parsed JSON value.  Strings are decoded (valid UTF-8, NUL-terminated;
 * len counts a \u0000 inside); a number keeps its text in str. */
struct ctl_json {
	enum ctl_json_type	  type;
	char			 *key;		/* as a member of an object */
	char			 *str;		/* STRING, NUMBER */
	size_t			  len;
	struct ctl_json		**items;	/* ARRAY, OBJECT */
	size_t			  n;
};

/* Parses exactly one JSON text (RFC 8259) from data[0..len): the tree, or
 * NULL with *errstr (static) when it is not strict JSON. */
struct ctl_json	*ctl_json_parse(const char *data, size_t len,
		    const char **errstr);
void		 ctl_json_free(struct ctl_json **);
/* The member key of an object (the first, if repeated), or NULL. */
const struct ctl_json *ctl_json_get(const struct ctl_json *, const char *key);
/* The member's string, or NULL when it is missing or not a string. */
const char	*ctl_json_str(const struct ctl_json *, const char *key);
/* The member as a non-negative integer; 0, or -1 when it is not one. */
int		 ctl_json_u64(const struct ctl_json *, const char *key,
		    uint64_t *);
bool		 ctl_json_bool(const struct ctl_json *, const char *key);

/* Writes s for a terminal: control characters (C0, DEL, C1) and the
 * backslash as escapes, so a sender cannot drive the admin's terminal. */
void	ctl_put(FILE *, const char *s);
/* The columns ctl_put() uses for s (code points; escapes count in full). */
size_t	ctl_width(const char *s);
/* Human output of the API's JSON; 0, or -1 with *errstr when the JSON
 * does not have the expected shape.  now (Unix seconds) is what due
 * times are shown relative to ("in 4m 10s").  ctl_print_queue_filtered
 * is the listing of a --state/--sender query: no match is not an empty
 * queue.  ctl_print_op reports a hold, release, delete or flush. */
typedef int ctl_print_fn(FILE *, const struct ctl_json *, int64_t now,
    const char **errstr);
ctl_print_fn	ctl_print_status;
ctl_print_fn	ctl_print_queue;
ctl_print_fn	ctl_print_queue_filtered;
ctl_print_fn	ctl_print_show;
ctl_print_fn	ctl_print_op;
/* notify test's answer; -1 (exit 1) when the sample did not get through. */
ctl_print_fn	ctl_print_notify_test;
/* ctl_print_rcpts.c: a listing's recipients (GET /v1/queue?state=
 * deferred): a line per recipient with the quota and key that hold it
 * and when it leaves. */
ctl_print_fn	ctl_print_rcpts;
/* ctl_print_policy.c: the quota report, an override's confirmation,
 * and explain's trace followed by each recipient's outcome. */
ctl_print_fn	ctl_print_quota;
ctl_print_fn	ctl_print_quota_op;
ctl_print_fn	ctl_print_explain;
/* ctl_print_acct.c: the accounting report, a line per accounting, key
 * and period. */
ctl_print_fn	ctl_print_acct;

/* "2026-11-24T14:27:01Z" (the API's times) as Unix seconds; 0, or -1
 * when s is not exactly that form. */
int	ctl_time_parse(const char *s, int64_t *out);
/* ctl_put, then spaces up to cols. */
void	ctl_put_pad(FILE *, const char *s, size_t cols);
/* A byte count for people: 512, 10K, 1.5M (ctl_print_policy.c). */
void	ctl_fmt_size(char *b, size_t n, double v);
/* A duration for people: 87s, 12m 05s, 1h 02m 03s, 3d 04h. */
void	ctl_fmt_duration(char *b, size_t n, uint64_t secs);
/* When an API time t comes, relative to now: "now" once it has passed,
 * else "in 4m 10s"; "-" for NULL or a time that is not one. */
void	ctl_fmt_due(char *b, size_t n, const char *t, int64_t now);

/*
 * What the command files share with sluicectl.c.
 */
#define CTL_EXIT_USAGE		2

struct conf;
struct ctl {
	const char	*conf_path;
	const char	*sock;		/* -s, or the configuration's */
	struct conf	*conf;
};

/* A usage error: msg (and arg), then a pointer to `help`; with no msg,
 * the whole usage.  Returns CTL_EXIT_USAGE. */
int	ctl_bad_usage(const char *msg, const char *arg);
/* When argv[*i] is `name V` or `name=V`: 1 and *val; 0 when it is
 * another argument; -1 when the value is missing. */
int	ctl_opt(int argc, char **argv, int *i, const char *name,
	    const char **val);
/* One API call that must answer 200: 0 with *r; else the error is
 * printed and the result is -1 for an API error, -2 when the daemon could
 * not be reached.  id names the message the call is about, or NULL. */
int	ctl_call(struct ctl *, const char *method, const char *path,
	    const char *id, struct ctl_resp *r);
/* Prints r's JSON as is (json) or through print; 0 or -1. */
int	ctl_output(struct ctl_resp *, bool json, ctl_print_fn *print);

/*
 * ctl_policy.c: `quota`, `explain` and `accounting`.  Their options, read anywhere
 * after the command like the others (ctl_policy_opt from sluicectl.c's
 * option loop).
 */
#define CTL_RCPT_MAX		100	/* --recipient per explain */
struct ctl_policy_opts {
	const char	*key;		/* quota --key */
	const char	*rcpts[CTL_RCPT_MAX];	/* explain --recipient */
	int		 nrcpt;		/* given: past CTL_RCPT_MAX is
					   an error ctl_cmd_explain reports */
	const char	*client_ip, *helo, *sasl, *size;
	bool		 history;	/* accounting --history */
};
/* Like ctl_opt, for the options above: 1 when argv[*i] was one (read),
 * 0 when not, -1 when its value is missing. */
int	ctl_policy_opt(int argc, char **argv, int *i,
	    struct ctl_policy_opts *);
/* The first of these options given that allowed does not take (k for
 * --key, h for --history, x for explain's), or NULL. */
const char *ctl_policy_opt_bad(const struct ctl_policy_opts *,
	    const char *allowed);
/* `quota [--key K]`, `quota set KEY LIMIT`, `quota exempt KEY`, `quota
 * clear KEY`; `explain --sender A --recipient B...`.  The exit status. */
int	ctl_cmd_quota(struct ctl *, bool json, const struct ctl_policy_opts *,
	    char **args, int nargs);
int	ctl_cmd_explain(struct ctl *, bool json, const char *sender,
	    const struct ctl_policy_opts *, char **args, int nargs);
/* `accounting [--key K] [--history]`.  The exit status. */
int	ctl_cmd_accounting(struct ctl *, bool json,
	    const struct ctl_policy_opts *, char **args, int nargs);

#endif
