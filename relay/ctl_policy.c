/*
 * ctl_policy: sluicectl's commands for the policy engine (DESIGN.md,
 * "Contracts"): `quota`, the usage report per quota and key that
 * cbpolicyd never had (one line per limit: used/limit, what is reserved
 * for deferred mail, when the window resets), the overrides `quota
 * set|exempt|clear`, and `explain`, what the engine would decide now for
 * a message and why, with no side effect; `accounting`, what the
 * accountings counted per key and calendar period.
 *
 * Arguments are checked here before any request (a usage error exits 2,
 * as for the other commands); the daemon checks them again.  The answers
 * are printed by ctl_print_policy.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../lib/addr.h"
#include "../lib/strutil.h"
#include "ctl_priv.h"

#define CTL_LIMIT_MAX	1000000000000000ULL	/* as the API's */

int
ctl_policy_opt(int argc, char **argv, int *i, struct ctl_policy_opts *p)
{
	const struct {
		const char	 *name;
		const char	**val;
	} opts[] = {
		{ "--key", &p->key }, { "--client-ip", &p->client_ip },
		{ "--helo", &p->helo }, { "--sasl", &p->sasl },
		{ "--size", &p->size }
	};
	const char *v = NULL;
	size_t k;
	int rc;

	if (strcmp(argv[*i], "--history") == 0) {
		p->history = true;
		return 1;
	}
	if ((rc = ctl_opt(argc, argv, i, "--recipient", &v)) == 1) {
		if (p->nrcpt < CTL_RCPT_MAX)
			p->rcpts[p->nrcpt] = v;
		p->nrcpt++;
	}
	for (k = 0; rc == 0 && k < sizeof(opts) / sizeof(opts[0]); k++)
		rc = ctl_opt(argc, argv, i, opts[k].name, opts[k].val);
	return rc;
}

const char *
ctl_policy_opt_bad(const struct ctl_policy_opts *p, const char *allowed)
{
	if (p->key != NULL && strchr(allowed, 'k') == NULL)
		return "--key";
	if (p->history && strchr(allowed, 'h') == NULL)
		return "--history";
	if (strchr(allowed, 'x') != NULL)
		return NULL;
	if (p->nrcpt > 0)
		return "--recipient";
	if (p->client_ip != NULL)
		return "--client-ip";
	if (p->helo != NULL)
		return "--helo";
	if (p->sasl != NULL)
		return "--sasl";
	return p->size != NULL ? "--size" : NULL;
}

/* GET /v1/quotas[?key=K] */
static int
ctl_quota_report(struct ctl *c, bool json, const char *key)
{
	struct buf path = BUF_INIT;
	struct ctl_resp r;
	int rc = 1;

	buf_addstr(&path, "/v1/quotas");
	if (key != NULL) {
		buf_addstr(&path, "?key=");
		ctl_url_escape(&path, key);
	}
	if (ctl_call(c, "GET", path.data, NULL, &r) == 0) {
		rc = ctl_output(&r, json, ctl_print_quota) == 0 ? 0 : 1;
		ctl_resp_free(&r);
	}
	buf_free(&path);
	return rc;
}

/* GET /v1/accounting[?key=K][&history=1] */
int
ctl_cmd_accounting(struct ctl *c, bool json, const struct ctl_policy_opts *p,
    char **args, int nargs)
{
	struct buf path = BUF_INIT;
	struct ctl_resp r;
	int rc = 1;

	if (nargs > 0)
		return ctl_bad_usage("unexpected argument", args[0]);
	if (p->key != NULL && *p->key == '\0')
		return ctl_bad_usage("empty key", NULL);
	buf_addstr(&path, p->history ? "/v1/accounting?history=1" :
	    "/v1/accounting?history=0");
	if (p->key != NULL) {
		buf_addstr(&path, "&key=");
		ctl_url_escape(&path, p->key);
	}
	if (ctl_call(c, "GET", path.data, NULL, &r) == 0) {
		rc = ctl_output(&r, json, ctl_print_acct) == 0 ? 0 : 1;
		ctl_resp_free(&r);
	}
	buf_free(&path);
	return rc;
}

/* `quota set KEY LIMIT`, `quota exempt KEY`, `quota clear KEY`. */
static int
ctl_quota_override(struct ctl *c, bool json, char **args, int nargs)
{
	const char *sub = args[0], *errstr;
	bool set = strcmp(sub, "set") == 0;
	struct buf path = BUF_INIT;
	struct ctl_resp r;
	uint64_t limit;
	int rc = 1;

	if (nargs != (set ? 3 : 2))
		return ctl_bad_usage(set ? "usage: quota set KEY LIMIT" :
		    strcmp(sub, "exempt") == 0 ? "usage: quota exempt KEY" :
		    "usage: quota clear KEY", NULL);
	if (*args[1] == '\0')
		return ctl_bad_usage("empty key", NULL);
	if (set && str_to_size(args[2], 0, CTL_LIMIT_MAX, &limit,
	    &errstr) == -1)
		return ctl_bad_usage("LIMIT: not a number (a count, or a size "
		    "with K, M or G)", args[2]);
	buf_printf(&path, "/v1/quotas/%s?key=", sub);
	ctl_url_escape(&path, args[1]);
	if (set)
		buf_printf(&path, "&limit=%" PRIu64, limit);
	if (ctl_call(c, "POST", path.data, NULL, &r) == 0) {
		rc = ctl_output(&r, json, ctl_print_quota_op) == 0 ? 0 : 1;
		ctl_resp_free(&r);
	}
	buf_free(&path);
	return rc;
}

int
ctl_cmd_quota(struct ctl *c, bool json, const struct ctl_policy_opts *p,
    char **args, int nargs)
{
	if (nargs == 0)
		return ctl_quota_report(c, json, p->key);
	if (strcmp(args[0], "set") != 0 && strcmp(args[0], "exempt") != 0 &&
	    strcmp(args[0], "clear") != 0)
		return ctl_bad_usage("unknown quota command", args[0]);
	if (p->key != NULL)
		return ctl_bad_usage("the key of quota set, exempt and clear is "
		    "an argument, not --key", NULL);
	return ctl_quota_override(c, json, args, nargs);
}

/* Checks explain's arguments; 0, or the usage error's exit status. */
static int
ctl_explain_check(const char *sender, const struct ctl_policy_opts *p)
{
	struct addr a;
	uint64_t size;
	const char *ip = p->client_ip, *errstr;

	if (sender == NULL)
		return ctl_bad_usage("missing --sender ('<>' for the null "
		    "sender)", NULL);
	if (p->nrcpt == 0)
		return ctl_bad_usage("missing --recipient", NULL);
	if (p->nrcpt > CTL_RCPT_MAX)
		return ctl_bad_usage("too many --recipient (at most 100)",
		    NULL);
	if (ip != NULL && strncasecmp(ip, "IPv6:", 5) == 0)
		ip += 5;
	if (ip != NULL && addr_parse(ip, &a) == -1)
		return ctl_bad_usage("--client-ip: not an IPv4 or IPv6 address",
		    p->client_ip);
	if (p->size != NULL && str_to_size(p->size, 0, UINT64_MAX / 2, &size,
	    &errstr) == -1)
		return ctl_bad_usage("--size: not a number of bytes (K, M or G "
		    "may follow)", p->size);
	return 0;
}

/* "&name=VALUE", escaped, when value is given. */
static void
ctl_param(struct buf *path, const char *name, const char *value)
{
	if (value == NULL)
		return;
	buf_printf(path, "&%s=", name);
	ctl_url_escape(path, value);
}

int
ctl_cmd_explain(struct ctl *c, bool json, const char *sender,
    const struct ctl_policy_opts *p, char **args, int nargs)
{
	struct buf path = BUF_INIT;
	struct ctl_resp r;
	int i, rc;

	if (nargs > 0)
		return ctl_bad_usage("unexpected argument", args[0]);
	if ((rc = ctl_explain_check(sender, p)) != 0)
		return rc;
	buf_addstr(&path, "/v1/explain?sender=");
	ctl_url_escape(&path, strcmp(sender, "<>") == 0 ? "" : sender);
	for (i = 0; i < p->nrcpt; i++)
		ctl_param(&path, "recipient", p->rcpts[i]);
	ctl_param(&path, "client_ip", p->client_ip);
	ctl_param(&path, "helo", p->helo);
	ctl_param(&path, "sasl", p->sasl);
	ctl_param(&path, "size", p->size);
	rc = 1;
	if (ctl_call(c, "GET", path.data, NULL, &r) == 0) {
		rc = ctl_output(&r, json, ctl_print_explain) == 0 ? 0 : 1;
		ctl_resp_free(&r);
	}
	buf_free(&path);
	return rc;
}
