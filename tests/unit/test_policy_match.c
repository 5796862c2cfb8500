/*
 * test_policy_match: policy items, groups, resolution and matching
 * (policy/policy.h).  Every item form in every dimension, valid and not;
 * cbpolicyd's traps as errors; resolution errors with their lines; both
 * matchers (the indexed pol_set_match and the item walk of
 * pol_policy_matches) against the same tables and against each other on
 * random sets; explain texts.
 *
 * Configurations are written in a small test notation, one thing a line
 * so that the line numbers in the expected errors can be counted:
 *   group NAME            then indented lines of items
 *   policy NAME PRIORITY  then `match` lines and dimension lines
 *   DIM ITEM... [except ITEM...]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "policy/policy.h"
#include "t.h"

static void
on_error(void *arg, int line, const char *msg)
{
	buf_printf(arg, "%d: %s\n", line, msg);
}

static size_t
split_words(char *s, char **w, size_t max)
{
	size_t n = 0;

	for (;;) {
		while (*s == ' ')
			*s++ = '\0';
		if (*s == '\0' || n == max)
			return n;
		w[n++] = s;
		while (*s != ' ' && *s != '\0')
			s++;
	}
}

static int
dim_of(const char *w)
{
	int d;

	for (d = 0; d < POL_NDIM; d++) {
		if (strcmp(w, pol_dim_name((enum pol_dim)d)) == 0)
			return d;
	}
	return -1;
}

static void
add_clause(struct pol_match *m, enum pol_dim dim, char **w, size_t nw,
    int line, struct buf *errs)
{
	struct pol_item it;
	char err[256];
	bool except = false;
	size_t i;

	for (i = 1; i < nw; i++) {
		if (strcmp(w[i], "except") == 0)
			except = true;
		else if (pol_item_parse(dim, w[i], line, &it, err,
		    sizeof(err)) == -1)
			on_error(errs, line, err);
		else
			pol_match_add(m, dim, except, &it);
	}
}

static int resolve_errors;	/* what the last load's resolve returned */

/* Builds and resolves a set from the notation; errors go to errs. */
static struct pol_set *
load(const char *text, struct buf *errs)
{
	struct pol_set *set = pol_set_new();
	struct pol_group *g = NULL;
	struct pol_policy *p = NULL;
	struct pol_match *m = NULL;
	char lb[1024], err[256], *w[64];
	size_t len, nw, i;
	int line = 0, d;

	while (*text != '\0') {
		len = strcspn(text, "\n");
		snprintf(lb, sizeof(lb), "%.*s", (int)len, text);
		text += len + (text[len] == '\n');
		line++;
		if ((nw = split_words(lb, w, 64)) == 0)
			continue;
		if (strcmp(w[0], "group") == 0) {
			p = NULL;
			if ((g = pol_group_add(set, w[1], line, err,
			    sizeof(err))) == NULL)
				on_error(errs, line, err);
		} else if (strcmp(w[0], "policy") == 0) {
			g = NULL;
			m = NULL;
			if ((p = pol_policy_add(set, w[1], strtol(w[2], NULL,
			    10), line, err, sizeof(err))) == NULL)
				on_error(errs, line, err);
		} else if (p != NULL && strcmp(w[0], "match") == 0)
			m = pol_policy_add_match(p, line);
		else if (p != NULL && (d = dim_of(w[0])) >= 0) {
			if (m == NULL)
				m = pol_policy_add_match(p, line);
			add_clause(m, (enum pol_dim)d, w, nw, line, errs);
		} else if (g != NULL) {
			for (i = 0; i < nw; i++)
				pol_group_add_text(g, w[i], line);
		}
	}
	resolve_errors = pol_set_resolve(set, on_error, errs);
	return set;
}

/* ---- items ---- */

struct icase {
	enum pol_dim	 dim;
	const char	*text;
	const char	*want;	/* "kind fields" or "error: message" */
};

static const char *
show_item(const struct pol_item *it)
{
	static const char *const kinds[] = { "any", "group", "addr", "domain",
		"subdomain", "local", "null", "cidr", "sasl-any", "sasl-none",
		"sasl-name" };
	static char out[300];
	char net[ADDR_STRLEN + 8];

	if (it->kind == POL_ITEM_CIDR) {
		cidr_format(&it->cidr, net, sizeof(net));
		snprintf(out, sizeof(out), "cidr %s", net);
	} else
		snprintf(out, sizeof(out), "%s%s%s%s%s", kinds[it->kind],
		    it->local ? " " : "", it->local ? it->local : "",
		    it->domain ? " " : "", it->domain ? it->domain : "");
	return out;
}

static const struct icase icases[] = {
	/* every dimension */
	{ POL_CLIENT, "any", "any" },
	{ POL_SENDER, "ANY", "any" },
	{ POL_RECIPIENT, "Any", "any" },
	{ POL_SASL, "any", "any" },
	{ POL_CLIENT, "%nets", "group" },
	{ POL_SENDER, "%staff", "group" },
	{ POL_RECIPIENT, "%st.a-f_f", "group" },
	{ POL_SASL, "%users", "group" },
	{ POL_SENDER, "%", "error: \"%\": a group name must follow \"%\"" },
	{ POL_SENDER, "%st*ff", "error: \"%st*ff\": a group name has only "
	    "letters, digits, '-', '_' and '.'" },
	{ POL_SENDER, "", "error: an empty item" },
	{ POL_CLIENT, "", "error: an empty item" },
	{ POL_SENDER, "!", "error: \"!\": sluice has no \"!\": write the item "
	    "after \"except\"" },
	{ POL_RECIPIENT, "!", "error: \"!\": sluice has no \"!\": write the "
	    "item after \"except\"" },
	{ POL_SENDER, "!%missing", "error: \"!%missing\": sluice has no "
	    "\"!\": write the item after \"except\"" },
	{ POL_CLIENT, "!10.0.0.0/8", "error: \"!10.0.0.0/8\": sluice has no "
	    "\"!\": write the item after \"except\"" },
	{ POL_SASL, "!any", "error: \"!any\": sluice has no \"!\": write the "
	    "item after \"except\"" },
	{ POL_SENDER, "%a,", "error: \"%a,\": items are separated by spaces, "
	    "not \",\"" },
	{ POL_SENDER, "a b@x", "error: an item contains a space or a control "
	    "character" },
	{ POL_SENDER, "a\x01@x", "error: an item contains a space or a "
	    "control character" },
	{ POL_SENDER, "\xff@x", "error: an item is not valid UTF-8" },
	{ POL_SENDER, "$alice", "error: \"$alice\" is a SASL login "
	    "(cbpolicyd's \"$\"): write it in sasl as \"alice\"" },
	{ POL_SASL, "$alice", "error: \"$alice\": write the login without "
	    "\"$\": \"alice\"" },
	{ POL_SASL, "$", "error: \"$\": in sasl, \"*\" is any login and \"-\" "
	    "none" },
	/* sender and recipient */
	{ POL_SENDER, "alice@example.com", "addr alice example.com" },
	{ POL_SENDER, "Alice@Example.COM", "addr alice example.com" },
	{ POL_RECIPIENT, "user+tag@example.com", "addr user+tag example.com" },
	{ POL_SENDER, "@example.com", "domain example.com" },
	{ POL_RECIPIENT, "@EXAMPLE.com", "domain example.com" },
	{ POL_SENDER, "@*.example.com", "subdomain example.com" },
	{ POL_RECIPIENT, "@*.Example.NET", "subdomain example.net" },
	{ POL_SENDER, "alice@", "local alice" },
	{ POL_RECIPIENT, "Postmaster@", "local postmaster" },
	{ POL_SENDER, "<>", "null" },
	{ POL_SENDER, "@bücher.example", "domain bücher.example" },
	{ POL_SENDER, "@ex_ample-1.com", "domain ex_ample-1.com" },
	{ POL_SENDER, "a%b!c@example.com", "addr a%b!c example.com" },
	{ POL_RECIPIENT, "<>", "error: \"<>\" (the null sender) is a sender "
	    "item, not a recipient" },
	{ POL_SENDER, "@.example.com", "error: \"@.example.com\": did you "
	    "mean \"@*.example.com\" (its subdomains) or \"@example.com\"?" },
	{ POL_RECIPIENT, "@.example.com", "error: \"@.example.com\": did you "
	    "mean \"@*.example.com\" (its subdomains) or \"@example.com\"?" },
	{ POL_SENDER, "alice@.example.com", "error: \"alice@.example.com\": "
	    "did you mean \"alice@example.com\"?" },
	{ POL_SENDER, ".example.com", "error: \".example.com\": did you mean "
	    "\"@*.example.com\" (its subdomains) or \"@example.com\"?" },
	{ POL_SENDER, "example.com", "error: \"example.com\": did you mean "
	    "\"@example.com\" (any address at that domain)?" },
	{ POL_SENDER, "alice", "error: \"alice\": an address has \"@\" "
	    "(\"user@domain\", \"@domain\" or \"user@\")" },
	{ POL_SENDER, "10.0.0.0/8", "error: \"10.0.0.0/8\" is a client "
	    "address, not a sender" },
	{ POL_RECIPIENT, "10.0.0.0/8", "error: \"10.0.0.0/8\" is a client "
	    "address, not a recipient" },
	{ POL_SENDER, "10.1.2.3/8", "error: \"10.1.2.3/8\" is a client "
	    "address, not a sender" },
	{ POL_SENDER, "2001:db8::1", "error: \"2001:db8::1\" is a client "
	    "address, not a sender" },
	{ POL_SENDER, "*", "error: \"*\": for any sender write \"any\"" },
	{ POL_SENDER, "@*", "error: \"@*\": for any address write \"any\" "
	    "(which also matches the null sender)" },
	{ POL_RECIPIENT, "*@*", "error: \"*@*\": for any address write "
	    "\"any\" (which also matches the null sender)" },
	{ POL_SENDER, "*@example.com", "error: \"*@example.com\": write "
	    "\"@example.com\" for any address at that domain" },
	{ POL_SENDER, "alice@*.example.com", "error: \"alice@*.example.com\": "
	    "the only wildcard is a leading \"@*.\" (\"@*.example.com\": its "
	    "subdomains)" },
	{ POL_SENDER, "@*example.com", "error: \"@*example.com\": the only "
	    "wildcard is a leading \"@*.\" (\"@*.example.com\": its "
	    "subdomains)" },
	{ POL_RECIPIENT, "@mail.*.com", "error: \"@mail.*.com\": the only "
	    "wildcard is a leading \"@*.\" (\"@*.example.com\": its "
	    "subdomains)" },
	{ POL_SENDER, "al*ce@example.com", "error: \"al*ce@example.com\": the "
	    "only wildcard is a leading \"@*.\" (\"@*.example.com\": its "
	    "subdomains)" },
	{ POL_SENDER, "a@b@example.com", "error: \"a@b@example.com\": more "
	    "than one \"@\"" },
	{ POL_SENDER, "@", "error: \"@\": write \"<>\" for the null sender" },
	{ POL_RECIPIENT, "@", "error: \"@\" is not an address "
	    "(\"user@domain\", \"@domain\" or \"user@\")" },
	{ POL_SENDER, "<alice@example.com>", "error: \"<alice@example.com>\": "
	    "write the address without \"<\" and \">\"" },
	{ POL_SENDER, "@exa!mple.com", "error: \"@exa!mple.com\": '!' is not "
	    "allowed in a domain" },
	{ POL_SENDER, "@[192.0.2.1]", "error: \"@[192.0.2.1]\": '[' is not "
	    "allowed in a domain" },
	{ POL_SENDER, "@example..com", "error: \"@example..com\": an empty "
	    "label in the domain" },
	{ POL_SENDER, "@example.com.", "error: \"@example.com.\": a domain "
	    "does not end with \".\"" },
	/* client */
	{ POL_CLIENT, "10.0.0.0/8", "cidr 10.0.0.0/8" },
	{ POL_CLIENT, "192.0.2.1", "cidr 192.0.2.1/32" },
	{ POL_CLIENT, "0.0.0.0/0", "cidr 0.0.0.0/0" },
	{ POL_CLIENT, "2001:DB8::/32", "cidr 2001:db8::/32" },
	{ POL_CLIENT, "2001:db8::1", "cidr 2001:db8::1/128" },
	{ POL_CLIENT, "::ffff:192.0.2.1", "cidr 192.0.2.1/32" },
	{ POL_CLIENT, "10.1.2.3/8", "error: \"10.1.2.3/8\": host bits set in "
	    "network (the network is 10.0.0.0/8; one host is written without "
	    "\"/\")" },
	{ POL_CLIENT, "2001:db8::1/32", "error: \"2001:db8::1/32\": host bits "
	    "set in network (the network is 2001:db8::/32; one host is written "
	    "without \"/\")" },
	{ POL_CLIENT, "10.0.0.0/33", "error: \"10.0.0.0/33\": invalid prefix "
	    "length" },
	{ POL_CLIENT, "300.1.2.3", "error: \"300.1.2.3\": invalid address or "
	    "network" },
	{ POL_CLIENT, "10.1", "error: \"10.1\": write the whole network: "
	    "\"10.1.0.0/16\"" },
	{ POL_CLIENT, "10", "error: \"10\": write the whole network: "
	    "\"10.0.0.0/8\"" },
	{ POL_CLIENT, "172.16/12", "error: \"172.16/12\": write the whole "
	    "network: \"172.16.0.0/12\"" },
	{ POL_CLIENT, "10.0.0.*", "error: \"10.0.0.*\": write the whole "
	    "network: \"10.0.0.0/24\"" },
	{ POL_CLIENT, "10.*.*.*", "error: \"10.*.*.*\": write the whole "
	    "network: \"10.0.0.0/8\"" },
	{ POL_CLIENT, "2001:db8::*", "error: \"2001:db8::*\": no wildcards in "
	    "client items: write a network (\"10.0.0.0/24\")" },
	{ POL_CLIENT, "*", "error: \"*\": for any client write \"any\"" },
	{ POL_CLIENT, "fe80::1%eth0", "error: \"fe80::1%eth0\": zone ids "
	    "(\"%eth0\") are not allowed" },
	{ POL_CLIENT, "[10.0.0.0/8]", "error: \"[10.0.0.0/8]\": write the "
	    "address without \"[\" and \"]\"" },
	{ POL_CLIENT, "alice@example.com", "error: \"alice@example.com\" is "
	    "an address, not a client: write it in sender or recipient" },
	{ POL_CLIENT, "@example.com", "error: \"@example.com\" is an address, "
	    "not a client: write it in sender or recipient" },
	{ POL_CLIENT, "<>", "error: \"<>\" (the null sender) is a sender "
	    "item, not a client" },
	{ POL_CLIENT, "mail.example.com", "error: \"mail.example.com\": "
	    "client items are addresses and networks, not host names" },
	{ POL_CLIENT, ".example.com", "error: \".example.com\": client items "
	    "are addresses and networks, not host names" },
	/* sasl */
	{ POL_SASL, "*", "sasl-any" },
	{ POL_SASL, "-", "sasl-none" },
	{ POL_SASL, "Alice", "sasl-name alice" },
	{ POL_SASL, "Alice@Example.com", "sasl-name alice@example.com" },
	{ POL_SASL, "<>", "error: \"<>\" (the null sender) is a sender item; "
	    "for mail without a login write \"-\"" },
	{ POL_SASL, "@example.com", "error: \"@example.com\": sasl matches "
	    "whole logins: write the login (\"user@example.com\"), \"*\" or "
	    "\"-\"" },
	{ POL_SASL, "al*ce", "error: \"al*ce\": no wildcards in logins: \"*\" "
	    "alone is any login" },
	{ POL_SASL, "10.0.0.0/8", "error: \"10.0.0.0/8\" is a client address, "
	    "not a login" },
};

static void
test_items(void)
{
	struct pol_item it;
	char err[512], got[600], name[200];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(icases) / sizeof(icases[0]); i++) {
		const struct icase *c = &icases[i];

		err[0] = '\0';
		rc = pol_item_parse(c->dim, c->text, 7, &it, err, sizeof(err));
		if (rc == 0)
			snprintf(got, sizeof(got), "%s", show_item(&it));
		else
			snprintf(got, sizeof(got), "error: %s", err);
		snprintf(name, sizeof(name), "item %s \"%s\"",
		    pol_dim_name(c->dim), c->text);
		T_EQ_STR(got, c->want, name);
		if (rc == 0) {
			T_OK(it.line == 7 && strcmp(it.text, c->text) == 0,
			    name);
			pol_item_clear(&it);
		}
	}
}

/* ---- matching ---- */

struct mcase {
	const char	*client;	/* "mapped:" + v4: an AF_INET6 input */
	const char	*sender;
	const char	*rcpt;
	const char	*sasl;
	const char	*want;		/* policy names in order, or "-" */
};

static void
names_add(struct buf *b, const char *name)
{
	if (b->len > 0)
		buf_addc(b, ',');
	buf_addstr(b, name);
}

static void
run_matches(const char *what, const char *conf, const struct mcase *cases,
    size_t n)
{
	struct buf errs = BUF_INIT, got = BUF_INIT, walk = BUF_INIT;
	struct buf why = BUF_INIT;
	const struct pol_policy *out[64];
	struct pol_input in;
	struct pol_set *set = load(conf, &errs);
	struct addr a;
	char name[300];
	size_t i, j, k;

	T_EQ_STR(errs.len ? errs.data : "", "", what);
	for (i = 0; i < n; i++) {
		const struct mcase *c = &cases[i];

		memset(&in, 0, sizeof(in));
		memset(&a, 0, sizeof(a));
		if (c->client != NULL && strncmp(c->client, "mapped:", 7) == 0) {
			a.family = AF_INET6;
			a.bytes[10] = a.bytes[11] = 0xff;
			inet_pton(AF_INET, c->client + 7, a.bytes + 12);
			in.client = &a;
		} else if (c->client != NULL) {
			if (addr_parse(c->client, &a) == -1)
				T_OK(0, "bad client in the table");
			in.client = &a;
		}
		in.sender = c->sender;
		in.recipient = c->rcpt;
		in.sasl = c->sasl;
		buf_reset(&got);
		buf_reset(&walk);
		k = pol_set_match(set, &in, out, 64);
		for (j = 0; j < k && j < 64; j++)
			names_add(&got, out[j]->name);
		for (j = 0; j < set->npolicy; j++) {
			buf_reset(&why);
			if (pol_policy_matches(set->policies[j], &in, NULL))
				names_add(&walk, set->policies[j]->name);
			if (pol_policy_matches(set->policies[j], &in, &why) !=
			    pol_policy_matches(set->policies[j], &in, NULL))
				T_OK(0, "explain agrees with the answer");
		}
		snprintf(name, sizeof(name), "%s: client=%s sender=%s rcpt=%s "
		    "sasl=%s", what, c->client ? c->client : "(null)",
		    c->sender, c->rcpt ? c->rcpt : "(null)",
		    c->sasl ? c->sasl : "(null)");
		T_EQ_STR(got.len ? got.data : "-", c->want, name);
		T_EQ_STR(walk.len ? walk.data : "-", c->want, name);
	}
	pol_set_free(&set);
	buf_free(&errs);
	buf_free(&got);
	buf_free(&walk);
	buf_free(&why);
}

static const char addr_conf[] =
    "group staff\n"
    "  alice@example.com Bob@Example.com\n"
    "  %admins\n"
    "group admins\n"
    "  root@example.com @admin.example.com\n"
    "policy staff 10\n"
    "  sender %staff except bob@example.com\n"
    "policy sub 20\n"
    "  recipient @*.example.net\n"
    "policy null 30\n"
    "  sender <>\n"
    "policy all 40\n"
    "  sender any\n"
    "policy local 7\n"
    "  recipient postmaster@\n"
    "policy tag 8\n"
    "  sender user+tag@example.com\n"
    "policy dom 9\n"
    "  sender @example.com\n"
    "policy bare 50\n"
    "  sender alice@\n";

static const struct mcase addr_cases[] = {
	{ NULL, "alice@example.com", "x@y.test", NULL, "dom,staff,all,bare" },
	{ NULL, "ALICE@EXAMPLE.COM", "x@y.test", NULL, "dom,staff,all,bare" },
	{ NULL, "<alice@example.com>", "x@y.test", NULL,
	    "dom,staff,all,bare" },
	{ NULL, "bob@example.com", "x@y.test", NULL, "dom,all" },
	{ NULL, "root@example.com", "x@y.test", NULL, "dom,staff,all" },
	{ NULL, "x@admin.example.com", "x@y.test", NULL, "staff,all" },
	{ NULL, "x@sub.admin.example.com", "x@y.test", NULL, "all" },
	{ NULL, "", "x@y.test", NULL, "null,all" },
	{ NULL, "<>", "x@y.test", NULL, "null,all" },
	{ NULL, "user+tag@example.com", "x@y.test", NULL, "tag,dom,all" },
	{ NULL, "userrtag@example.com", "x@y.test", NULL, "dom,all" },
	{ NULL, "usertag@example.com", "x@y.test", NULL, "dom,all" },
	{ NULL, "x@other.test", "a@b.example.net", NULL, "sub,all" },
	{ NULL, "x@other.test", "a@x.y.Example.NET", NULL, "sub,all" },
	{ NULL, "x@other.test", "a@example.net", NULL, "all" },
	{ NULL, "x@other.test", "a@badexample.net", NULL, "all" },
	{ NULL, "x@other.test", "Postmaster@anything.test", NULL,
	    "local,all" },
	{ NULL, "x@other.test", "postmaster", NULL, "local,all" },
	{ NULL, "alice", "x@y.test", NULL, "all,bare" },
	{ NULL, "alice@other.test", "x@y.test", NULL, "all,bare" },
	{ NULL, "\"a@b\"@example.com", "x@y.test", NULL, "dom,all" },
	{ NULL, "x@other.test", NULL, NULL, "local,sub,all" },
	{ NULL, "", NULL, NULL, "local,sub,null,all" },
};

static const char client_conf[] =
    "group nets\n"
    "  10.0.0.0/8 2001:db8::/32\n"
    "  %more\n"
    "group more\n"
    "  192.0.2.1\n"
    "policy nets 10\n"
    "  client %nets except 10.9.0.0/16\n"
    "policy v4all 20\n"
    "  client 0.0.0.0/0\n"
    "policy v6all 30\n"
    "  client ::/0\n"
    "policy unknown 40\n"
    "  client any except 0.0.0.0/0 ::/0\n";

static const struct mcase client_cases[] = {
	{ "10.1.2.3", "a@b.c", "d@e.f", NULL, "nets,v4all" },
	{ "10.9.1.1", "a@b.c", "d@e.f", NULL, "v4all" },
	{ "192.0.2.1", "a@b.c", "d@e.f", NULL, "nets,v4all" },
	{ "192.0.2.2", "a@b.c", "d@e.f", NULL, "v4all" },
	{ "2001:db8::5", "a@b.c", "d@e.f", NULL, "nets,v6all" },
	{ "2001:db9::1", "a@b.c", "d@e.f", NULL, "v6all" },
	{ "mapped:10.1.2.3", "a@b.c", "d@e.f", NULL, "nets,v4all" },
	{ "mapped:10.9.1.1", "a@b.c", "d@e.f", NULL, "v4all" },
	{ "::ffff:192.0.2.1", "a@b.c", "d@e.f", NULL, "nets,v4all" },
	{ "::10.1.2.3", "a@b.c", "d@e.f", NULL, "v6all" },
	{ "::1", "a@b.c", "d@e.f", NULL, "v6all" },
	{ NULL, "a@b.c", "d@e.f", NULL, "unknown" },
};

static const char sasl_conf[] =
    "group users\n"
    "  alice carol@example.com\n"
    "policy auth 10\n"
    "  sasl *\n"
    "policy noauth 20\n"
    "  sasl -\n"
    "policy named 30\n"
    "  sasl %users Dave\n"
    "policy anyl 40\n"
    "  sasl any\n"
    "policy notalice 50\n"
    "  sasl * except alice\n";

static const struct mcase sasl_cases[] = {
	{ NULL, "a@b.c", "d@e.f", NULL, "noauth,anyl" },
	{ NULL, "a@b.c", "d@e.f", "", "noauth,anyl" },
	{ NULL, "a@b.c", "d@e.f", "alice", "auth,named,anyl" },
	{ NULL, "a@b.c", "d@e.f", "ALICE", "auth,named,anyl" },
	{ NULL, "a@b.c", "d@e.f", "dave", "auth,named,anyl,notalice" },
	{ NULL, "a@b.c", "d@e.f", "eve", "auth,anyl,notalice" },
	{ NULL, "a@b.c", "d@e.f", "Carol@Example.com",
	    "auth,named,anyl,notalice" },
	{ NULL, "a@b.c", "d@e.f", "carol", "auth,anyl,notalice" },
};

static const char block_conf[] =
    "policy or 50\n"
    "  match\n"
    "  sender @a.example\n"
    "  match\n"
    "  recipient @b.example\n"
    "policy and 40\n"
    "  client 192.0.2.0/24\n"
    "  sender @a.example\n"
    "  sasl *\n"
    "policy first 10\n"
    "  sender any\n"
    "policy eq_b 20\n"
    "  sender any\n"
    "policy eq_a 20\n"
    "  sender any\n"
    "policy neg -5\n"
    "  recipient any\n"
    "policy open 60\n"
    "  match\n";

static const struct mcase block_cases[] = {
	{ "192.0.2.9", "x@a.example", "y@c.example", "u",
	    "neg,first,eq_b,eq_a,and,or,open" },
	{ "192.0.2.9", "x@a.example", "y@c.example", NULL,
	    "neg,first,eq_b,eq_a,or,open" },
	{ "198.51.100.1", "x@a.example", "y@c.example", "u",
	    "neg,first,eq_b,eq_a,or,open" },
	{ NULL, "x@c.example", "y@b.example", NULL,
	    "neg,first,eq_b,eq_a,or,open" },
	{ NULL, "x@c.example", "y@c.example", NULL,
	    "neg,first,eq_b,eq_a,open" },
	{ NULL, "x@c.example", NULL, NULL, "neg,first,eq_b,eq_a,or,open" },
};

static void
test_matching(void)
{
#define RUN(w, conf, cases) \
	run_matches(w, conf, cases, sizeof(cases) / sizeof(cases[0]))
	RUN("addresses", addr_conf, addr_cases);
	RUN("client", client_conf, client_cases);
	RUN("sasl", sasl_conf, sasl_cases);
	RUN("blocks and priorities", block_conf, block_cases);
#undef RUN
}

/* ---- resolution ---- */

struct rcase {
	const char	*name;
	const char	*conf;
	const char	*want;	/* "LINE: message\n" each, in order */
};

static const struct rcase rcases[] = {
	{ "unknown group, close name",
	    "group staff\n"
	    "  alice@example.com\n"
	    "policy p 10\n"
	    "  sender %Staf\n",
	    "4: unknown group \"Staf\" (did you mean \"staff\"?)\n" },
	{ "unknown group, nothing close",
	    "group staff\n"
	    "  alice@example.com\n"
	    "policy p 10\n"
	    "  recipient %limitToRecipient\n",
	    "4: unknown group \"limitToRecipient\"\n" },
	{ "unknown group in a group",
	    "group a\n"
	    "  %nope\n"
	    "policy p 10\n"
	    "  sender %a\n",
	    "2: unknown group \"nope\"\n" },
	{ "group names ignore case",
	    "group Staff\n"
	    "  alice@example.com\n"
	    "policy p 10\n"
	    "  sender %STAFF\n",
	    "" },
	{ "empty group",
	    "group empty\n"
	    "policy p 10\n"
	    "  sender %empty\n",
	    "1: group \"empty\" has no items\n" },
	{ "loop of two",
	    "group a\n"
	    "  %b\n"
	    "group b\n"
	    "  alice@example.com %a\n"
	    "policy p 10\n"
	    "  sender %a\n",
	    "4: group a includes itself: a -> b -> a\n" },
	{ "loop on itself",
	    "group a\n"
	    "  alice@example.com\n"
	    "  %a\n"
	    "policy p 10\n"
	    "  sender %a\n",
	    "3: group a includes itself: a -> a\n" },
	{ "loop of three, entered from outside",
	    "group top\n"
	    "  %a\n"
	    "group a\n"
	    "  %b\n"
	    "group b\n"
	    "  %c\n"
	    "group c\n"
	    "  %a\n"
	    "policy p 10\n"
	    "  client %top\n",
	    "8: group a includes itself: a -> b -> c -> a\n" },
	{ "a group in two dimensions, an item for one",
	    "group mixed\n"
	    "  alice@example.com\n"
	    "  10.0.0.0/8\n"
	    "policy p 10\n"
	    "  sender %mixed\n"
	    "policy q 20\n"
	    "  client %mixed\n"
	    "policy r 30\n"
	    "  sender %mixed\n",
	    "5: group \"mixed\" used in sender: line 3: \"10.0.0.0/8\" is a "
	    "client address, not a sender\n"
	    "7: group \"mixed\" used in client: line 2: \"alice@example.com\" "
	    "is an address, not a client: write it in sender or recipient\n" },
	{ "a nested group's item that does not fit",
	    "group outer\n"
	    "  @example.com %inner\n"
	    "group inner\n"
	    "  <>\n"
	    "policy p 10\n"
	    "  recipient %outer\n",
	    "6: group \"inner\" used in recipient: line 4: \"<>\" (the null "
	    "sender) is a sender item, not a recipient\n" },
	{ "one group in sender and recipient",
	    "group dom\n"
	    "  @example.com\n"
	    "policy p 10\n"
	    "  sender %dom\n"
	    "  recipient %dom\n",
	    "" },
	{ "any with other items",
	    "policy p 10\n"
	    "  sender any alice@example.com\n",
	    "2: sender: \"any\" cannot be listed with other items\n" },
	{ "any with other items in a group",
	    "group g\n"
	    "  any\n"
	    "  alice@example.com\n"
	    "policy p 10\n"
	    "  sender %g\n",
	    "2: group \"g\": \"any\" cannot be listed with other items\n" },
	{ "except any",
	    "policy p 10\n"
	    "  client 10.0.0.0/8 except any\n",
	    "2: client: \"except any\" leaves nothing to match\n" },
	{ "except alone",
	    "policy p 10\n"
	    "  sender except alice@example.com\n",
	    "2: sender: \"except\" needs items before it (\"sender any except "
	    "...\")\n" },
	{ "cbpolicyd traps in a list",
	    "policy p 10\n"
	    "  sender !%missing\n"
	    "  recipient !\n"
	    "  recipient @.example.com\n",
	    "2: \"!%missing\": sluice has no \"!\": write the item after "
	    "\"except\"\n"
	    "3: \"!\": sluice has no \"!\": write the item after \"except\"\n"
	    "4: \"@.example.com\": did you mean \"@*.example.com\" (its "
	    "subdomains) or \"@example.com\"?\n" },
	{ "duplicate names",
	    "group g\n"
	    "  @a.example\n"
	    "group G\n"
	    "policy p 10\n"
	    "  sender %g\n"
	    "policy p 20\n",
	    "3: group \"G\" is already defined at line 1\n"
	    "6: policy \"p\" is already defined at line 4\n" },
	{ "bad names",
	    "group a/b\n"
	    "policy p:q 10\n",
	    "1: \"a/b\": a group name has only letters, digits, '-', '_' and "
	    "'.' (at most 127)\n"
	    "2: \"p:q\": a policy name has only letters, digits, '-', '_' and "
	    "'.'\n" },
	{ "policy without a match",
	    "policy p 10\n",
	    "1: policy \"p\" has no match\n" },
	{ "unused group with an item that fits nothing",
	    "group spare\n"
	    "  @.example.com 10.1.2.3/8 alice\n",
	    "2: group \"spare\": \"@.example.com\": did you mean "
	    "\"@*.example.com\" (its subdomains) or \"@example.com\"?\n"
	    "2: group \"spare\": \"10.1.2.3/8\": host bits set in network (the "
	    "network is 10.0.0.0/8; one host is written without \"/\")\n" },
};

static void
test_resolve(void)
{
	struct buf errs = BUF_INIT;
	struct pol_set *set;
	size_t i;

	for (i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
		buf_reset(&errs);
		set = load(rcases[i].conf, &errs);
		T_EQ_STR(errs.len ? errs.data : "", rcases[i].want,
		    rcases[i].name);
		T_OK(set->resolved == (resolve_errors == 0), rcases[i].name);
		pol_set_free(&set);
		T_OK(set == NULL, "pol_set_free clears the pointer");
	}
	buf_free(&errs);
}

/* A chain of groups: 32 levels are fine, 33 are not. */
static void
test_depth(void)
{
	struct buf conf = BUF_INIT, errs = BUF_INIT;
	struct pol_set *set;
	int levels, i;

	for (levels = 32; levels <= 33; levels++) {
		buf_reset(&conf);
		buf_reset(&errs);
		for (i = 0; i < levels; i++) {
			buf_printf(&conf, "group g%d\n", i);
			if (i + 1 < levels)
				buf_printf(&conf, "  %%g%d\n", i + 1);
			else
				buf_addstr(&conf, "  @deep.example\n");
		}
		buf_addstr(&conf, "policy p 1\n  sender %g0\n");
		set = load(conf.data, &errs);
		if (levels == 32)
			T_EQ_STR(errs.len ? errs.data : "", "", "32 levels");
		else
			T_OK(strstr(errs.len ? errs.data : "", "groups nested "
			    "more than 32 deep") != NULL, "33 levels");
		pol_set_free(&set);
	}
	buf_free(&conf);
	buf_free(&errs);
}

/* ---- explain ---- */

static void
test_explain(void)
{
	static const char conf[] =
	    "group staff\n"
	    "  alice@example.com\n"
	    "  %admins\n"
	    "group admins\n"
	    "  root@example.com\n"
	    "policy p 10\n"
	    "  match\n"
	    "  sender %staff except alice@example.com\n"
	    "  recipient any\n"
	    "  match\n"
	    "  client 10.0.0.0/8\n"
	    "  sasl *\n"
	    "policy q 20\n"
	    "  match\n";
	struct buf errs = BUF_INIT, why = BUF_INIT;
	struct pol_set *set = load(conf, &errs);
	struct pol_input in = { NULL, "Root@example.com", "bob@example.net",
		NULL };
	struct addr a;
	bool ok;

	T_EQ_STR(errs.len ? errs.data : "", "", "explain config");
	ok = pol_policy_matches(set->policies[0], &in, &why);
	T_OK(ok, "explain: through nested groups");
	T_EQ_STR(why.data, "match line 7: sender Root@example.com matched "
	    "%staff: %admins: root@example.com (line 5); recipient "
	    "bob@example.net matched any\n"
	    "match line 10: client unknown matched no item\n",
	    "explain: through nested groups");
	buf_reset(&why);
	in.sender = "alice@example.com";
	addr_parse("10.1.2.3", &a);
	in.client = &a;
	in.sasl = "";
	ok = pol_policy_matches(set->policies[0], &in, &why);
	T_OK(!ok, "explain: excepted");
	T_EQ_STR(why.data, "match line 7: sender alice@example.com matched "
	    "%staff: alice@example.com (line 2) but except alice@example.com\n"
	    "match line 10: client 10.1.2.3 matched 10.0.0.0/8; sasl (no "
	    "login) matched no item\n", "explain: excepted");
	buf_reset(&why);
	in.sender = "";
	in.recipient = NULL;
	in.sasl = "u\x01";
	ok = pol_policy_matches(set->policies[0], &in, &why);
	T_OK(ok, "explain: null sender, no recipient");
	T_EQ_STR(why.data, "match line 7: sender <> matched no item\n"
	    "match line 10: client 10.1.2.3 matched 10.0.0.0/8; sasl u? "
	    "matched *\n", "explain: null sender, no recipient");
	buf_reset(&why);
	in.sender = "x@y";
	in.recipient = NULL;
	T_OK(pol_policy_matches(set->policies[0], &in, NULL),
	    "explain: no why");
	ok = pol_policy_matches(set->policies[1], &in, &why);
	T_EQ_STR(why.data, "match line 14: no conditions (matches "
	    "anything)\n", "explain: empty block");
	pol_set_free(&set);
	buf_free(&errs);
	buf_free(&why);
}

/* ---- the two matchers on random sets ---- */

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;

static unsigned
rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

static const char *const r_addr[] = { "a@x.test", "b@x.test", "@x.test",
	"@*.x.test", "a@", "@y.x.test", "c@y.x.test", "B@Z.test", "<>" };
static const char *const r_addr_in[] = { "a@x.test", "b@x.test", "",
	"c@y.x.test", "a@z.test", "b@z.test", "d@q.y.x.test", "a", "A@X.TEST" };
static const char *const r_net[] = { "10.0.0.0/8", "10.1.0.0/16",
	"192.0.2.7", "2001:db8::/32", "::/0", "0.0.0.0/0", "10.1.2.0/24" };
static const char *const r_net_in[] = { "10.1.2.3", "10.2.0.1", "192.0.2.7",
	"2001:db8::1", "2001:db9::1", "10.1.3.3" };
static const char *const r_login[] = { "*", "-", "u1", "u2", "U3" };
static const char *const r_login_in[] = { "", "u1", "u2", "u3", "x" };

#define PICK(a)	((a)[rnd(sizeof(a) / sizeof((a)[0]))])

static const char *
random_item(int dim, int ngroup, char *tmp, size_t tmpsz)
{
	if (rnd(8) == 0 && ngroup > 0) {
		snprintf(tmp, tmpsz, "%%g%u", rnd((unsigned)ngroup));
		return tmp;
	}
	if (dim == POL_CLIENT)
		return PICK(r_net);
	if (dim == POL_SASL)
		return PICK(r_login);
	return PICK(r_addr);
}

/* Random sets in the test notation; groups only include later groups,
 * and `<>` is dropped where the dimension is recipient. */
static void
random_conf(struct buf *b)
{
	char tmp[32];
	int ngroup = (int)rnd(4), g, p, nm, m, d, k, n;
	const char *it;

	for (g = 0; g < ngroup; g++) {
		buf_printf(b, "group g%d\n ", g);
		for (k = 0, n = 1 + (int)rnd(3); k < n; k++) {
			it = random_item(POL_SENDER, 0, tmp, sizeof(tmp));
			if (rnd(5) == 0 && g + 1 < ngroup)
				buf_printf(b, " %%g%d", g + 1);
			else if (strcmp(it, "<>") != 0 && strchr(it, '*') ==
			    NULL)
				buf_printf(b, " %s", it);
			else
				buf_addstr(b, " q@x.test");
		}
		buf_addc(b, '\n');
	}
	for (p = 0; p < 6; p++) {
		buf_printf(b, "policy p%d %u\n", p, rnd(3));
		for (m = 0, nm = 1 + (int)rnd(2); m < nm; m++) {
			buf_addstr(b, "  match\n");
			for (d = 0; d < POL_NDIM; d++) {
				if (rnd(2) == 0)
					continue;
				buf_printf(b, "  %s", pol_dim_name(d));
				for (k = 0, n = 1 + (int)rnd(3); k < n; k++) {
					if (k > 0 && rnd(3) == 0)
						buf_addstr(b, " except");
					it = random_item(d, d == POL_CLIENT ||
					    d == POL_SASL ? 0 : ngroup, tmp,
					    sizeof(tmp));
					if (d == POL_RECIPIENT &&
					    strcmp(it, "<>") == 0)
						it = "@x.test";
					buf_printf(b, " %s", it);
				}
				buf_addc(b, '\n');
			}
		}
	}
}

static void
test_random_agree(void)
{
	struct buf conf = BUF_INIT, errs = BUF_INIT, a = BUF_INIT, w = BUF_INIT;
	const struct pol_policy *out[16];
	struct pol_set *set;
	struct pol_input in;
	struct addr ad;
	int round, q, bad = 0, sets = 0, some = 0;
	size_t j, k;

	for (round = 0; round < 300; round++) {
		buf_reset(&conf);
		buf_reset(&errs);
		random_conf(&conf);
		set = load(conf.data, &errs);
		if (!set->resolved) {
			pol_set_free(&set);
			continue;	/* `any` with others, except alone */
		}
		sets++;
		for (q = 0; q < 100; q++) {
			addr_parse(PICK(r_net_in), &ad);
			in.client = rnd(6) ? &ad : NULL;
			in.sender = PICK(r_addr_in);
			in.recipient = rnd(6) ? PICK(r_addr_in) : NULL;
			in.sasl = PICK(r_login_in);
			buf_reset(&a);
			buf_reset(&w);
			k = pol_set_match(set, &in, out, 16);
			some += k > 0 && k < set->npolicy;
			for (j = 0; j < k; j++)
				names_add(&a, out[j]->name);
			for (j = 0; j < set->npolicy; j++) {
				if (pol_policy_matches(set->policies[j], &in,
				    NULL))
					names_add(&w, set->policies[j]->name);
			}
			if (strcmp(a.len ? a.data : "", w.len ? w.data : "") &&
			    bad++ == 0)
				printf("# disagree on sender=%s rcpt=%s: %s vs "
				    "%s\n%s", in.sender, in.recipient ?
				    in.recipient : "(null)", a.data, w.data,
				    conf.data);
		}
		pol_set_free(&set);
	}
	T_OK(sets > 100, "random: enough valid sets");
	T_OK(some > sets * 30, "random: most decisions match some policies");
	T_EQ_INT(bad, 0, "random: index and walk agree");
	buf_free(&conf);
	buf_free(&errs);
	buf_free(&a);
	buf_free(&w);
}

/* pol_set_match fills at most max and counts all; an unresolved set
 * matches nothing. */
static void
test_set_match_bounds(void)
{
	struct buf errs = BUF_INIT;
	struct pol_set *set = load("policy a 1\n  sender any\n"
	    "policy b 2\n  sender any\n", &errs);
	struct pol_input in = { NULL, "x@y", "z@w", NULL };
	const struct pol_policy *out[1] = { NULL };
	struct pol_policy *p;
	char err[100];

	T_EQ_INT(pol_set_match(set, &in, out, 1), 2, "counts beyond max");
	T_EQ_STR(out[0]->name, "a", "fills up to max");
	p = pol_policy_add(set, "c", 0, 5, err, sizeof(err));
	pol_policy_add_match(p, 6);
	T_EQ_INT(pol_set_match(set, &in, out, 1), 0, "unresolved: nothing");
	T_EQ_INT(pol_set_resolve(set, NULL, NULL), 0, "resolves again");
	T_EQ_INT(pol_set_match(set, &in, out, 1), 3, "after resolve");
	T_EQ_STR(out[0]->name, "c", "the new one first");
	pol_set_free(&set);
	pol_set_free(&set);
	buf_free(&errs);
}

int
main(void)
{
	test_items();
	test_matching();
	test_resolve();
	test_depth();
	test_explain();
	test_random_agree();
	test_set_match_bounds();
	return t_done();
}
