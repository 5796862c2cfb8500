/*
 * test_conf: the configuration language of the daemon: values parsed,
 * defaults, one-line and multi-line forms, units and bounds, the dump read
 * back, and the exact "file:line: message" text of errors, several at once.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_priv.h"
#include "lib/addr.h"
#include "lib/buf.h"
#include "policy/accounting.h"
#include "policy/greylist.h"
#include "policy/helo.h"
#include "policy/quota.h"
#include "policy/spf.h"
#include "t.h"

#define HOST	"hostname relay.example.com\n"

/* A deliver or route setting as text: "[host]:port" (no MX look-up),
 * "host:port" (MX) or "mx" (the recipient's), "=" after an address
 * literal, then tls, ca-file (with verify), credentials, line. */
static void
hops_text(const struct conf_nexthops *h, struct buf *b)
{
	static const char *const tls[] = { "none", "may", "encrypt",
	    "verify" };
	size_t i;

	if (h->nhop == 0)
		buf_addstr(b, "mx");
	for (i = 0; i < h->nhop; i++)
		buf_printf(b, h->hop[i].mx ? "%s%s:%u%s" : "%s[%s]:%u%s",
		    i ? " " : "", h->hop[i].host, h->hop[i].port,
		    h->hop[i].literal ? "=" : "");
	buf_printf(b, " tls=%s", tls[h->tls]);
	if (h->tls == CONF_TLS_VERIFY)
		buf_printf(b, " ca=%s", h->ca_file);
	if (h->auth_file != NULL)
		buf_printf(b, " auth=%s/%s", h->auth_user, h->auth_pass);
	buf_printf(b, "@%d", h->line);
}

/* Renders one field of c as text, so a table can name what to check. */
static void
field(const struct conf *c, const char *which, struct buf *b)
{
	char net[ADDR_STRLEN + 8];
	size_t i;

	buf_reset(b);
	if (strcmp(which, "hostname") == 0)
		buf_addstr(b, c->hostname);
	else if (strcmp(which, "state-dir") == 0)
		buf_addstr(b, c->state_dir);
	else if (strcmp(which, "user") == 0)
		buf_addstr(b, c->user);
	else if (strcmp(which, "admin") == 0)
		buf_addstr(b, c->admin_socket);
	else if (strcmp(which, "tls") == 0)
		buf_printf(b, "%s %s", c->tls_cert ? c->tls_cert : "-",
		    c->tls_key ? c->tls_key : "-");
	else if (strcmp(which, "listen") == 0)
		for (i = 0; i < c->nlisten; i++)
			buf_printf(b, "%s%s%s%s@%d", i ? " " : "",
			    c->listen[i].text, c->listen[i].tls ? "+tls" : "",
			    c->listen[i].tls_required ? "+req" : "",
			    c->listen[i].line);
	else if (strcmp(which, "trusted") == 0)
		for (i = 0; i < c->ntrusted; i++) {
			cidr_format(&c->trusted[i], net, sizeof(net));
			buf_printf(b, "%s%s", i ? " " : "", net);
		}
	else if (strcmp(which, "domains") == 0)
		for (i = 0; i < c->nrelay_domains; i++)
			buf_printf(b, "%s%s", i ? " " : "",
			    c->relay_domains[i]);
	else if (strcmp(which, "limits") == 0)
		buf_printf(b, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		    " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
		    c->limits.message_size, c->limits.recipients,
		    c->limits.connections, c->limits.connections_per_ip,
		    c->limits.command_timeout, c->limits.data_timeout,
		    c->limits.errors, c->limits.line_length);
	else if (strcmp(which, "deliver") == 0)
		hops_text(&c->deliver, b);
	else if (strcmp(which, "routes") == 0)
		for (i = 0; i < c->nroutes; i++) {
			buf_printf(b, "%s%s: ", i ? "; " : "",
			    c->routes[i].domain);
			hops_text(&c->routes[i].via, b);
		}
	else if (strcmp(which, "delivery") == 0)
		buf_printf(b, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		    " %" PRIu64, c->delivery.connections,
		    c->delivery.per_destination, c->delivery.timeout_connect,
		    c->delivery.timeout_command, c->delivery.timeout_data);
	else if (strcmp(which, "retry") == 0)
		buf_printf(b, "%" PRIu64 " %" PRIu64 " %" PRIu64,
		    c->retry.initial, c->retry.max, c->retry.lifetime);
	else if (strcmp(which, "resolver") == 0) {
		buf_addstr(b, c->resolver ? c->resolver : "-");
		if (c->resolver_sslen > 0) {
			const struct sockaddr_in *sin =
			    (const void *)&c->resolver_ss;
			const struct sockaddr_in6 *sin6 =
			    (const void *)&c->resolver_ss;
			struct addr a;

			addr_from_sockaddr((const void *)&c->resolver_ss, &a);
			addr_format(&a, net, sizeof(net));
			buf_printf(b, " = %s port %u", net, ntohs(
			    c->resolver_ss.ss_family == AF_INET ?
			    sin->sin_port : sin6->sin6_port));
		}
	} else if (strcmp(which, "postmaster") == 0)
		buf_addstr(b, c->postmaster);
	else
		buf_addstr(b, "(unknown field)");
}

static void
test_values(void)
{
	static const struct {
		const char	*name;
		const char	*text;
		const char	*field;
		const char	*want;
	} cases[] = {
		{ "hostname", HOST, "hostname", "relay.example.com" },
		{ "state-dir quoted", HOST "state-dir \"/srv/a b\"",
		  "state-dir", "/srv/a b" },
		{ "escapes", HOST "state-dir \"a\\\"b\\\\c\"", "state-dir",
		  "a\"b\\c" },
		{ "# inside a word", HOST "state-dir /x#y # comment",
		  "state-dir", "/x#y" },
		{ "user", HOST "user mail", "user", "mail" },
		{ "admin inline", HOST "admin socket /tmp/a.sock", "admin",
		  "/tmp/a.sock" },
		{ "admin block", HOST "admin {\nsocket /tmp/b.sock\n}", "admin",
		  "/tmp/b.sock" },
		{ "listen default", HOST, "listen", "127.0.0.1:2525@0" },
		{ "listen several", HOST "listen 127.0.0.1:25\n"
		  "listen [::1]:25\nlisten 192.0.2.1:26", "listen",
		  "127.0.0.1:25@2 [::1]:25@3 192.0.2.1:26@4" },
		{ "listen star", HOST "listen *:2525", "listen",
		  "0.0.0.0:2525@2 [::]:2525@2" },
		{ "trusted default", HOST, "trusted", "127.0.0.0/8 ::1/128" },
		{ "trusted list", HOST "trusted-networks 10.0.0.5, 10.1.0.0/16"
		  "\n  2001:db8::/32 ::ffff:192.0.2.1", "trusted",
		  "10.0.0.5/32 10.1.0.0/16 2001:db8::/32 192.0.2.1/32" },
		{ "domains default", HOST, "domains", "" },
		{ "domains lower-cased", HOST "relay-domains Example.COM a.org",
		  "domains", "example.com a.org" },
		{ "limits default", HOST, "limits",
		  "52428800 1000 500 50 300 600 20 2048" },
		{ "limits block", HOST "limits {\n message-size 10M\n"
		  " recipients 5\n connections 7\n connections-per-ip 3\n"
		  " command-timeout 1m\n data-timeout 1h\n errors 1\n"
		  " line-length 512\n}", "limits",
		  "10485760 5 7 3 60 3600 1 512" },
		{ "limits units", HOST "limits { message-size 1536 "
		  "command-timeout 90 data-timeout 1h }", "limits",
		  "1536 1000 500 50 90 3600 20 2048" },
		{ "limits split", HOST "limits { errors 3 }\nlimits "
		  "recipients 9", "limits",
		  "52428800 9 500 50 300 600 3 2048" },
		{ "lines do not matter", "hostname\nrelay.example.com",
		  "hostname", "relay.example.com" },
		{ "deliver default", HOST, "deliver", "mx tls=may@0" },
		{ "deliver relayhost forms", HOST "deliver relayhost "
		  "[Smtp.Example.NET]:587 Relay.example.net [192.0.2.1] "
		  "192.0.2.2:2525 [2001:DB8::1]:26 mx.example.org:24",
		  "deliver", "[smtp.example.net]:587 relay.example.net:25 "
		  "[192.0.2.1]:25= [192.0.2.2]:2525= [2001:db8::1]:26= "
		  "mx.example.org:24 tls=may@2" },
		{ "deliver mapped IPv6 is IPv4", HOST "deliver relayhost "
		  "[::ffff:192.0.2.9]", "deliver", "[192.0.2.9]:25= tls=may@2" },
		{ "deliver mx tls none", HOST "deliver mx tls none", "deliver",
		  "mx tls=none@2" },
		{ "deliver block", HOST "deliver {\n  relayhost [a.example]\n"
		  "  tls encrypt\n}", "deliver", "[a.example]:25 tls=encrypt@2" },
		{ "deliver options first", HOST "deliver tls encrypt relayhost "
		  "[a.example]", "deliver", "[a.example]:25 tls=encrypt@2" },
		{ "deliver over lines", HOST "deliver relayhost [a.example]:25\n"
		  "  [b.example]:25, c.example\n  tls none", "deliver",
		  "[a.example]:25 [b.example]:25 c.example:25 tls=none@2" },
		{ "deliver verify", HOST "deliver relayhost [a.example] tls "
		  "verify ca-file /etc/passwd", "deliver",
		  "[a.example]:25 tls=verify ca=/etc/passwd@2" },
		{ "deliver quoted keyword as host", HOST "deliver relayhost "
		  "\"mx\"", "deliver", "mx:25 tls=may@2" },
		{ "one-label hosts", HOST "deliver relayhost mx1 [relay] "
		  "smarthost:2525 \"tsl\"", "deliver", "mx1:25 [relay]:25 "
		  "smarthost:2525 tsl:25 tls=may@2" },
		{ "routes default", HOST, "routes", "" },
		{ "routes", HOST "route B.example [10.0.0.1]\nroute a.example "
		  "relay.a.example:2525 [10.0.0.2] tls none\n", "routes",
		  "b.example: [10.0.0.1]:25= tls=may@2; a.example: "
		  "relay.a.example:2525 [10.0.0.2]:25= tls=none@3" },
		{ "route then deliver", HOST "route a.example [10.0.0.1] "
		  "deliver relayhost [b.example]", "deliver",
		  "[b.example]:25 tls=may@2" },
		{ "delivery default", HOST, "delivery", "100 20 30 300 600" },
		{ "delivery block", HOST "delivery {\n connections 50\n"
		  " per-destination 5\n timeout-connect 10s\n"
		  " timeout-command 1m\n timeout-data 15m\n}", "delivery",
		  "50 5 10 60 900" },
		{ "delivery inline", HOST "delivery per-destination 100",
		  "delivery", "100 100 30 300 600" },
		{ "retry default", HOST, "retry", "300 3600 432000" },
		{ "retry block", HOST "retry { initial 1m max 2h lifetime 1w }",
		  "retry", "60 7200 604800" },
		{ "retry all equal", HOST "retry initial 1s max 1s lifetime 1s",
		  "retry", "1 1 1" },
		{ "resolver default", HOST, "resolver", "-" },
		{ "resolver IPv4", HOST "resolver 127.0.0.1", "resolver",
		  "127.0.0.1 = 127.0.0.1 port 53" },
		{ "resolver IPv4 port", HOST "resolver 127.0.0.1:5353",
		  "resolver", "127.0.0.1:5353 = 127.0.0.1 port 5353" },
		{ "resolver IPv6", HOST "resolver ::1", "resolver",
		  "::1 = ::1 port 53" },
		{ "resolver IPv6 port", HOST "resolver [2001:db8::53]:5353",
		  "resolver", "[2001:db8::53]:5353 = 2001:db8::53 port 5353" },
		{ "postmaster default", HOST, "postmaster", "postmaster" },
		{ "postmaster quoted", HOST "postmaster \"postmaster\"",
		  "postmaster", "postmaster" },
		{ "postmaster address", HOST "postmaster hostmaster@example.com",
		  "postmaster", "hostmaster@example.com" },
		{ "postmaster atext", HOST "postmaster o'neil+dsn.x@example.com",
		  "postmaster", "o'neil+dsn.x@example.com" },
	};
	struct buf b = BUF_INIT, err = BUF_INIT;
	struct conf *c;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&err);
		rc = conf_load_string("t.conf", cases[i].text, &c, &err);
		T_EQ_STR(err.data ? err.data : "", "", cases[i].name);
		if (rc == -1) {
			T_OK(c == NULL, cases[i].name);
			continue;
		}
		field(c, cases[i].field, &b);
		T_EQ_STR(b.data ? b.data : "", cases[i].want, cases[i].name);
		conf_free(&c);
		T_OK(c == NULL, "conf_free clears the pointer");
	}
	buf_free(&b);
	buf_free(&err);
}

/* Texts that must mean the same: their dumps are compared. */
static void
test_equivalence(void)
{
	static const struct {
		const char	*name;
		const char	*a, *b;
	} cases[] = {
		{ "block on one line",
		  HOST "limits { message-size 10M recipients 100 }",
		  HOST "limits {\n\tmessage-size 10M\n\trecipients 100\n}\n" },
		{ "block or inline",
		  HOST "limits { errors 5 line-length 1024 }",
		  HOST "limits errors 5 line-length 1024" },
		{ "inline per setting",
		  HOST "limits errors 5 line-length 1024",
		  HOST "limits errors 5\nlimits line-length 1024" },
		{ "commas are spaces",
		  HOST "trusted-networks 10.0.0.0/8,192.168.0.0/16",
		  HOST "trusted-networks 10.0.0.0/8 192.168.0.0/16" },
		{ "everything on one line",
		  "hostname a.example user u listen 127.0.0.1:25 listen "
		  "127.0.0.1:26 trusted-networks 10.0.0.0/8 ::1 relay-domains "
		  "x.org y.org admin socket /s limits { errors 2 }",
		  "hostname a.example\nuser u\nlisten 127.0.0.1:25\n"
		  "listen 127.0.0.1:26\ntrusted-networks 10.0.0.0/8\n  ::1\n"
		  "relay-domains x.org\n y.org\nadmin socket /s\n"
		  "limits {\n errors 2\n}\n" },
		{ "sizes in any unit",
		  HOST "limits message-size 1G", HOST "limits message-size "
		  "1073741824" },
		{ "durations in any unit",
		  HOST "limits command-timeout 1h", HOST "limits "
		  "command-timeout 3600" },
		{ "deliver default written",
		  HOST, HOST "deliver mx tls may" },
		{ "deliver block or inline",
		  HOST "deliver { relayhost [a.example]:587 tls encrypt }",
		  HOST "deliver relayhost [a.example]:587 tls encrypt" },
		{ "next hop default port",
		  HOST "deliver relayhost [a.example] b.example [192.0.2.1]",
		  HOST "deliver relayhost [a.example]:25 b.example:25 "
		  "192.0.2.1:25" },
		{ "route with commas",
		  HOST "route a.example [10.0.0.1],[10.0.0.2]",
		  HOST "route A.Example [10.0.0.1] [10.0.0.2] tls may" },
		{ "delivery and retry blocks or lines",
		  HOST "delivery { connections 9 per-destination 3 }\n"
		  "retry { initial 10m max 2h }",
		  HOST "delivery connections 9\ndelivery per-destination 3\n"
		  "retry initial 10m\nretry max 2h" },
		{ "policy checks: braces or inline",
		  HOST "policy p priority 1 { recipient any greylisting { "
		  "period 5m } helo { reject-ip yes hrp 3 within 1h } spf { "
		  "reject-fail yes } accounting a { track Policy period day } }",
		  HOST "policy p priority 1 { recipient any greylisting period "
		  "5m helo reject-ip yes hrp 3 within 1h spf reject-fail yes "
		  "accounting a track Policy period day }" },
		{ "policy checks: one line or several",
		  HOST "policy p priority 1 { recipient any greylisting { "
		  "auto-whitelist 5 50% within 1d whitelist 192.0.2.0/24 "
		  "whitelist @a.example } }",
		  HOST "policy p priority 1 {\n recipient any\n greylisting {\n"
		  "  auto-whitelist 5 50%\n   within 86400\n"
		  "  whitelist 192.0.2.0/24 @a.example\n }\n}\n" },
		{ "greylisting on before its braces",
		  HOST "policy p priority 1 { recipient any greylisting on { "
		  "period 5m } }",
		  HOST "policy p priority 1 { recipient any greylisting { on "
		  "period 5m } }" },
		{ "accounting reply with its verdict or apart",
		  HOST "policy p priority 1 { recipient any accounting a { "
		  "track Policy period day limit messages 5 verdict reject "
		  "reply \"no\" } }",
		  HOST "policy p priority 1 { recipient any accounting a { "
		  "reply \"no\" limit messages 5 track Policy verdict reject "
		  "period DAY } }" },
	};
	struct buf da = BUF_INIT, db = BUF_INIT, err = BUF_INIT;
	struct conf *ca, *cb;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&da);
		buf_reset(&db);
		buf_reset(&err);
		if (conf_load_string("a.conf", cases[i].a, &ca, &err) == -1 ||
		    conf_load_string("b.conf", cases[i].b, &cb, &err) == -1) {
			T_EQ_STR(err.data, "", cases[i].name);
			continue;
		}
		conf_dump(ca, &da);
		conf_dump(cb, &db);
		T_EQ_STR(da.data, db.data, cases[i].name);
		conf_free(&ca);
		conf_free(&cb);
	}
	buf_free(&da);
	buf_free(&db);
	buf_free(&err);
}

/* One setting against its bounds: the value, or the whole error line. */
static void
test_bounds(void)
{
	static const struct {
		const char	*stmt;
		const char	*want;	/* "limits" field, or the error */
	} cases[] = {
		{ "limits message-size 1K", "1024 1000 500 50 300 600 20 2048" },
		{ "limits message-size 1023",
		  "t.conf:2: limits message-size: too small (at least 1K)\n" },
		{ "limits message-size 1G",
		  "1073741824 1000 500 50 300 600 20 2048" },
		{ "limits message-size 1025M",
		  "t.conf:2: limits message-size: too large (at most 1G)\n" },
		{ "limits message-size 10X",
		  "t.conf:2: limits message-size: 10X: bad size "
		  "(use K, M or G)\n" },
		{ "limits message-size 99999999999999999999G",
		  "t.conf:2: limits message-size: too large (at most 1G)\n" },
		{ "limits recipients 100000",
		  "52428800 100000 500 50 300 600 20 2048" },
		{ "limits recipients 100001",
		  "t.conf:2: limits recipients: too large (at most 100000)\n" },
		{ "limits recipients 1K",
		  "t.conf:2: limits recipients: 1K: not a number\n" },
		{ "limits connections 0",
		  "t.conf:2: limits connections: too small (at least 1)\n" },
		{ "limits connections-per-ip 100000",
		  "52428800 1000 500 100000 300 600 20 2048" },
		{ "limits command-timeout 1s",
		  "52428800 1000 500 50 1 600 20 2048" },
		{ "limits command-timeout 0",
		  "t.conf:2: limits command-timeout: too small "
		  "(at least 1s)\n" },
		{ "limits command-timeout 61m",
		  "t.conf:2: limits command-timeout: too large "
		  "(at most 1h)\n" },
		{ "limits data-timeout 1h",
		  "52428800 1000 500 50 300 3600 20 2048" },
		{ "limits data-timeout 1d",
		  "t.conf:2: limits data-timeout: too large (at most 1h)\n" },
		{ "limits data-timeout 1.5m",
		  "t.conf:2: limits data-timeout: 1.5m: bad duration "
		  "(use s, m, h, d or w)\n" },
		{ "limits errors 1000",
		  "52428800 1000 500 50 300 600 1000 2048" },
		{ "limits errors 1001",
		  "t.conf:2: limits errors: too large (at most 1000)\n" },
		{ "limits line-length 512",
		  "52428800 1000 500 50 300 600 20 512" },
		{ "limits line-length 511",
		  "t.conf:2: limits line-length: too small (at least 512)\n" },
		{ "limits line-length 65536",
		  "52428800 1000 500 50 300 600 20 65536" },
		{ "limits line-length 65537",
		  "t.conf:2: limits line-length: too large "
		  "(at most 65536)\n" },
		{ "limits line-length -1",
		  "t.conf:2: limits line-length: -1: not a number\n" },
	};
	struct buf text = BUF_INIT, got = BUF_INIT;
	struct conf *c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&text);
		buf_reset(&got);
		buf_printf(&text, HOST "%s\n", cases[i].stmt);
		if (conf_load_string("t.conf", text.data, &c, &got) == 0) {
			field(c, "limits", &got);
			conf_free(&c);
		}
		T_EQ_STR(got.data, cases[i].want, cases[i].stmt);
	}
	buf_free(&text);
	buf_free(&got);
}

/* The delivery and retry settings against their bounds and each other. */
static void
test_delivery_bounds(void)
{
	static const struct {
		const char	*stmt;
		const char	*field;
		const char	*want;	/* the field, or the errors */
	} cases[] = {
		{ "delivery connections 10000", "delivery",
		  "10000 20 30 300 600" },
		{ "delivery connections 10001", "delivery",
		  "t.conf:2: delivery connections: too large "
		  "(at most 10000)\n" },
		{ "delivery connections 0", "delivery",
		  "t.conf:2: delivery connections: too small (at least 1)\n" },
		{ "delivery per-destination 1", "delivery",
		  "100 1 30 300 600" },
		{ "delivery per-destination 101", "delivery",
		  "t.conf:2: delivery: per-destination 101 is more than "
		  "connections 100\n" },
		{ "delivery { connections 5 }", "delivery",
		  "t.conf:2: delivery: per-destination 20 is more than "
		  "connections 5\n" },
		{ "delivery timeout-connect 10m", "delivery",
		  "100 20 600 300 600" },
		{ "delivery timeout-connect 601", "delivery",
		  "t.conf:2: delivery timeout-connect: too large "
		  "(at most 10m)\n" },
		{ "delivery timeout-command 1h", "delivery",
		  "100 20 30 3600 600" },
		{ "delivery timeout-command 3601s", "delivery",
		  "t.conf:2: delivery timeout-command: too large "
		  "(at most 1h)\n" },
		{ "delivery timeout-data 0", "delivery",
		  "t.conf:2: delivery timeout-data: too small "
		  "(at least 1s)\n" },
		{ "retry initial 1d max 1w lifetime 100d", "retry",
		  "86400 604800 8640000" },
		{ "retry initial 25h", "retry",
		  "t.conf:2: retry initial: too large (at most 1d)\n" },
		{ "retry max 8d", "retry",
		  "t.conf:2: retry max: too large (at most 1w)\n" },
		{ "retry lifetime 101d", "retry",
		  "t.conf:2: retry lifetime: too large (at most 100d)\n" },
		{ "retry lifetime 0", "retry",
		  "t.conf:2: retry lifetime: too small (at least 1s)\n" },
		{ "retry initial 2h", "retry",
		  "t.conf:2: retry: initial 2h is longer than max 1h\n" },
		{ "retry lifetime 30m", "retry",
		  "t.conf:2: retry: max 1h is longer than lifetime 30m\n" },
		{ "retry {\n initial 3h\n max 2h\n lifetime 1h\n}", "retry",
		  "t.conf:2: retry: initial 3h is longer than max 2h\n"
		  "t.conf:2: retry: max 2h is longer than lifetime 1h\n" },
		{ "retry initial 2h\nretry max 3h lifetime 1h", "retry",
		  "t.conf:2: retry: max 3h is longer than lifetime 1h\n" },
	};
	struct buf text = BUF_INIT, got = BUF_INIT;
	struct conf *c;
	char name[128], *p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&text);
		buf_reset(&got);
		buf_printf(&text, HOST "%s\n", cases[i].stmt);
		if (conf_load_string("t.conf", text.data, &c, &got) == 0) {
			field(c, cases[i].field, &got);
			conf_free(&c);
		}
		snprintf(name, sizeof(name), "%s", cases[i].stmt);
		while ((p = strchr(name, '\n')) != NULL)
			*p = ' ';
		T_EQ_STR(got.data, cases[i].want, name);
	}
	buf_free(&text);
	buf_free(&got);
}

/* Whole error outputs: every error, in line order, exactly worded. */
static void
test_errors(void)
{
	static const struct {
		const char	*name;
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "unknown keyword, did you mean",
		  HOST "lisen 127.0.0.1:25\n",
		  "e.conf:2: unknown keyword \"lisen\" "
		  "(did you mean \"listen\"?)\n" },
		{ "unknown keyword, far from all",
		  HOST "frobnicate yes\n",
		  "e.conf:2: unknown keyword \"frobnicate\"\n" },
		{ "unknown keyword in a block",
		  HOST "limits {\n  recipents 5\n}\n",
		  "e.conf:3: limits: unknown keyword \"recipents\" "
		  "(did you mean \"recipients\"?)\n" },
		{ "transposed option",
		  HOST "listen 127.0.0.1:25 tsl\n",
		  "e.conf:2: listen: unexpected \"tsl\" "
		  "(did you mean \"tls\"?)\n" },
		{ "too many values",
		  HOST "user a b\n",
		  "e.conf:2: user: unexpected \"b\"\n" },
		{ "sub-keyword after the block",
		  HOST "limits { errors 5 } errors 6\n",
		  "e.conf:2: limits: unexpected \"errors\"\n" },
		{ "missing argument",
		  "hostname\nuser\n",
		  "e.conf:1: hostname: missing argument (NAME)\n"
		  "e.conf:2: user: missing argument (NAME)\n" },
		{ "missing list",
		  HOST "trusted-networks\nlimits { errors 3 }\n",
		  "e.conf:2: trusted-networks: missing argument "
		  "(ADDRESS-OR-CIDR...)\n" },
		{ "close without open",
		  HOST "}\n",
		  "e.conf:2: \"}\" without \"{\"\n" },
		{ "block not closed, at its line",
		  HOST "limits {\n  errors 3\n\n",
		  "e.conf:2: limits: \"{\" without \"}\"\n" },
		{ "string not closed, at its line",
		  HOST "state-dir \"/var/lib\nuser x\n",
		  "e.conf:2: unterminated string\n" },
		{ "bad escape",
		  HOST "state-dir \"a\\nb\"\n",
		  "e.conf:2: bad escape in string (only \\\" and \\\\ are "
		  "escapes)\n" },
		{ "control character",
		  HOST "user \001x\n",
		  "e.conf:2: control character 0x01\n" },
		{ "quoted keyword",
		  HOST "\"user\" x\n",
		  "e.conf:2: \"user\": a quoted word is never a keyword\n" },
		{ "given twice",
		  HOST "user a\nuser b\nlimits errors 3\nlimits { errors 4 }\n",
		  "e.conf:3: user given twice (first at line 2)\n"
		  "e.conf:5: limits errors given twice (first at line 4)\n" },
		{ "empty group",
		  HOST "admin\nuser x\n",
		  "e.conf:2: admin: expected \"{\" or a keyword of admin\n" },
		{ "host bits, at the value's line",
		  HOST "trusted-networks 10.0.0.0/8\n  10.0.0.1/8\n",
		  "e.conf:3: trusted-networks: 10.0.0.1/8: host bits set in "
		  "network\n" },
		{ "bad hostname",
		  "hostname relay_1.example.com\n",
		  "e.conf:1: hostname: relay_1.example.com: not a valid "
		  "domain name\n" },
		{ "numeric hostname",
		  "hostname 192.0.2.1\n",
		  "e.conf:1: hostname: 192.0.2.1: not a valid domain name\n" },
		{ "bad relay domain",
		  HOST "relay-domains ok.example \"a b\"\n",
		  "e.conf:2: relay-domains: \"a b\": not a valid domain "
		  "name\n" },
		{ "listen without port",
		  HOST "listen 127.0.0.1\n",
		  "e.conf:2: listen: 127.0.0.1: missing port\n" },
		{ "listen twice",
		  HOST "listen 127.0.0.1:25\nlisten 127.0.0.1:025\n",
		  "e.conf:3: listen: 127.0.0.1:025 given twice "
		  "(first at line 2)\n" },
		{ "listen overlaps",
		  HOST "listen 0.0.0.0:25\nlisten 127.0.0.1:25\n",
		  "e.conf:3: listen: 127.0.0.1:25 overlaps 0.0.0.0:25 "
		  "(line 2)\n" },
		{ "listen tls without tls",
		  HOST "listen 127.0.0.1:25 tls\nlisten [::1]:25 tls-required\n",
		  "e.conf:2: listen: 127.0.0.1:25: tls needs a \"tls "
		  "certificate FILE key FILE\" statement\n"
		  "e.conf:3: listen: [::1]:25: tls-required needs a \"tls "
		  "certificate FILE key FILE\" statement\n" },
		{ "socket path too long",
		  HOST "admin socket /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaa\n",
		  "e.conf:2: admin socket: too long (at most 107 bytes)\n" },
		{ "empty path",
		  HOST "state-dir \"\"\n",
		  "e.conf:2: state-dir: empty value\n" },
		{ "several at once, resynchronised",
		  "hostname relay.example.com\n"
		  "lisen 127.0.0.1:25 tls\n"
		  "limits { mesage-size 10M errors 0 }\n"
		  "user\n"
		  "trusted-networks 10.0.0.1/8 ::1/200\n"
		  "hostname again.example.com\n"
		  "}\n"
		  "admin socket /tmp/s\n",
		  "e.conf:2: unknown keyword \"lisen\" "
		  "(did you mean \"listen\"?)\n"
		  "e.conf:3: limits: unknown keyword \"mesage-size\" "
		  "(did you mean \"message-size\"?)\n"
		  "e.conf:3: limits errors: too small (at least 1)\n"
		  "e.conf:4: user: missing argument (NAME)\n"
		  "e.conf:5: trusted-networks: 10.0.0.1/8: host bits set in "
		  "network\n"
		  "e.conf:5: trusted-networks: ::1/200: invalid prefix "
		  "length\n"
		  "e.conf:6: hostname given twice (first at line 1)\n"
		  "e.conf:7: \"}\" without \"{\"\n" },
		{ "relayhost and mx",
		  HOST "deliver relayhost [a.example] mx\n",
		  "e.conf:2: deliver: relayhost and mx exclude each other\n" },
		{ "deliver alone",
		  HOST "deliver\nuser x\n",
		  "e.conf:2: deliver: expected \"{\" or a keyword of "
		  "deliver\n" },
		{ "deliver without next hop",
		  HOST "deliver tls none\n",
		  "e.conf:2: deliver: relayhost NEXTHOP... or mx missing\n" },
		{ "relayhost without next hop, one error",
		  HOST "deliver relayhost tls none\n",
		  "e.conf:2: deliver relayhost: missing argument "
		  "(NEXTHOP...)\n" },
		{ "deliver twice",
		  HOST "deliver mx\ndeliver { mx }\n",
		  "e.conf:3: deliver given twice (first at line 2)\n" },
		{ "deliver option twice",
		  HOST "deliver mx tls may\n  tls none\n",
		  "e.conf:3: deliver tls given twice (first at line 2)\n" },
		{ "deliver misspelt option",
		  HOST "deliver mx tsl none\n",
		  "e.conf:2: deliver: unexpected \"tsl\" "
		  "(did you mean \"tls\"?)\n" },
		{ "misspelt option is no next hop",
		  HOST "route a.example [10.0.0.1] tsl verify\n"
		  "deliver relayhost [b.example] ca-fle x.pem\n",
		  "e.conf:2: route: unexpected \"tsl\" "
		  "(did you mean \"tls\"?)\n"
		  "e.conf:3: deliver relayhost: unexpected \"ca-fle\" "
		  "(did you mean \"ca-file\"?)\n" },
		{ "tls policy without tls",
		  HOST "deliver relayhost [b.example] verify\n",
		  "e.conf:2: deliver relayhost: unexpected \"verify\" "
		  "(did you mean \"tls verify\"?)\n" },
		{ "bad tls policy",
		  HOST "deliver mx tls yes\n",
		  "e.conf:2: deliver tls: yes: not none, may, encrypt or "
		  "verify\n" },
		{ "bad next hops",
		  HOST "deliver relayhost [a.example x:y a..example\n"
		  "  [a.example]:65536 [2001:db8::1 ::1 [a.example]25 \"\"\n",
		  "e.conf:2: deliver relayhost: [a.example: missing \"]\"\n"
		  "e.conf:2: deliver relayhost: x:y: invalid port "
		  "(1 to 65535)\n"
		  "e.conf:2: deliver relayhost: a..example: not a host name or "
		  "address\n"
		  "e.conf:3: deliver relayhost: [a.example]:65536: invalid port "
		  "(1 to 65535)\n"
		  "e.conf:3: deliver relayhost: [2001:db8::1: missing \"]\"\n"
		  "e.conf:3: deliver relayhost: ::1: an IPv6 address needs "
		  "brackets: [ADDRESS]:PORT\n"
		  "e.conf:3: deliver relayhost: [a.example]25: expected "
		  "\":PORT\" after \"]\"\n"
		  "e.conf:3: deliver relayhost: \"\": missing host\n" },
		{ "route errors",
		  HOST "route a.example [10.0.0.1]\nroute A.EXAMPLE [10.0.0.2]\n"
		  "route 10.0.0.1 [10.0.0.3]\nroute b.example\n",
		  "e.conf:3: route: A.EXAMPLE given twice (first at line 2)\n"
		  "e.conf:4: route: 10.0.0.1: not a valid domain name\n"
		  "e.conf:5: route: missing argument (DOMAIN NEXTHOP... "
		  "[tls POLICY] [ca-file FILE] [auth-file FILE])\n" },
		{ "verify with a missing ca-file",
		  HOST "route a.example [10.0.0.1] tls verify ca-file "
		  "/nonexistent/ca.pem\n",
		  "e.conf:2: route ca-file: /nonexistent/ca.pem: cannot read: "
		  "No such file or directory\n" },
		{ "ca-file empty",
		  HOST "deliver mx ca-file \"\"\n",
		  "e.conf:2: deliver ca-file: empty value\n" },
		{ "resolver port",
		  HOST "resolver 127.0.0.1:0\n",
		  "e.conf:2: resolver: 127.0.0.1:0: invalid port\n" },
		{ "resolver wildcard",
		  HOST "resolver *:53\n",
		  "e.conf:2: resolver: *:53: invalid address (a numeric IPv4 "
		  "or IPv6 address)\n" },
		{ "resolver name",
		  HOST "resolver localhost\n",
		  "e.conf:2: resolver: localhost: invalid address (a numeric "
		  "IPv4 or IPv6 address)\n" },
		{ "postmaster, a keyword as its value",
		  HOST "postmaster postmaster\n",
		  "e.conf:2: postmaster: missing argument (ADDRESS); to give "
		  "the word \"postmaster\", put it in quotes\n" },
		{ "postmaster double dot",
		  HOST "postmaster a..b@example.com\n",
		  "e.conf:2: postmaster: a..b@example.com: not a mail address "
		  "(local-part or local-part@domain)\n" },
		{ "postmaster without local part",
		  HOST "postmaster @example.com\n",
		  "e.conf:2: postmaster: @example.com: not a mail address "
		  "(local-part or local-part@domain)\n" },
		{ "postmaster bad domain",
		  HOST "postmaster pm@bad_domain\n",
		  "e.conf:2: postmaster: pm@bad_domain: not a mail address "
		  "(local-part or local-part@domain)\n" },
		{ "postmaster in brackets",
		  HOST "postmaster <pm@example.com>\n",
		  "e.conf:2: postmaster: <pm@example.com>: not a mail address "
		  "(local-part or local-part@domain)\n" },
		{ "postmaster trailing dot",
		  HOST "postmaster pm.@example.com\n",
		  "e.conf:2: postmaster: pm.@example.com: not a mail address "
		  "(local-part or local-part@domain)\n" },
		{ "postfix name, said how sluice writes it",
		  HOST "relayhost = [127.0.0.1]:2626\n",
		  "e.conf:2: unknown keyword \"relayhost\" (a Postfix setting; "
		  "sluice's is \"deliver relayhost [host]:port\")\n" },
		{ "postfix name glued to its value",
		  HOST "smtpd_tls_cert_file=/etc/ssl/x.pem\n",
		  "e.conf:2: unknown keyword \"smtpd_tls_cert_file\" (a Postfix "
		  "setting; sluice's is \"tls certificate FILE key FILE\")\n" },
		{ "main.cf lines, each one reported",
		  HOST "myhostname = a.example\nmydomain = example\n"
		  "mynetworks = 10.0.0.0/8\n  192.168.0.0/16\n"
		  "relay_domains = example.com\nuser = x y\n",
		  "e.conf:2: unknown keyword \"myhostname\" (a Postfix setting; "
		  "sluice's is \"hostname NAME\")\n"
		  "e.conf:3: unknown keyword \"mydomain\"\n"
		  "e.conf:4: unknown keyword \"mynetworks\" (a Postfix setting; "
		  "sluice's is \"trusted-networks ADDRESS-OR-CIDR...\")\n"
		  "e.conf:6: unknown keyword \"relay_domains\" (a Postfix "
		  "setting; sluice's is \"relay-domains DOMAIN...\")\n"
		  "e.conf:7: user: no \"=\" in sluice's syntax: write "
		  "\"user x y\"\n"
		  "e.conf:7: user: unexpected \"y\"\n" },
		{ "postfix name ends the list before it",
		  HOST "trusted-networks 10.0.0.0/8\nmynetworks_style = host\n",
		  "e.conf:3: unknown keyword \"mynetworks_style\"\n" },
		{ "equals after a keyword, value still checked",
		  "hostname = relay_1.example.com\n",
		  "e.conf:1: hostname: no \"=\" in sluice's syntax: write "
		  "\"hostname relay_1.example.com\"\n"
		  "e.conf:1: hostname: relay_1.example.com: not a valid domain "
		  "name\n" },
		{ "equals, once per line",
		  HOST "state-dir = /var/lib/sluice user = mail\n"
		  "limits { errors = 5 recipients = 0 }\n",
		  "e.conf:2: state-dir: no \"=\" in sluice's syntax: write "
		  "\"state-dir /var/lib/sluice user mail\"\n"
		  "e.conf:3: limits errors: no \"=\" in sluice's syntax: write "
		  "\"limits { errors 5 recipients 0 }\"\n"
		  "e.conf:3: limits recipients: too small (at least 1)\n" },
		{ "equals glued to a keyword",
		  HOST "state-dir=/var/lib/sluice\nlimits { errors=5 }\n",
		  "e.conf:2: state-dir: no \"=\" in sluice's syntax: write "
		  "\"state-dir /var/lib/sluice\"\n"
		  "e.conf:3: limits errors: no \"=\" in sluice's syntax: write "
		  "\"limits { errors 5 }\"\n" },
		{ "equals and nothing after",
		  HOST "user =\nrelay-domains=\n",
		  "e.conf:2: user: no \"=\" in sluice's syntax: write "
		  "\"user NAME\"\n"
		  "e.conf:3: relay-domains: no \"=\" in sluice's syntax: write "
		  "\"relay-domains DOMAIN...\"\n" },
		{ "equals before an option and among next hops",
		  HOST "deliver = relayhost = [192.0.2.1]\n"
		  "route a.example = [192.0.2.2]\n",
		  "e.conf:2: deliver: no \"=\" in sluice's syntax: write "
		  "\"deliver relayhost [192.0.2.1]\"\n"
		  "e.conf:3: route: no \"=\" in sluice's syntax: write "
		  "\"route a.example [192.0.2.2]\"\n" },
		{ "equals on the next line is no value",
		  HOST "state-dir\n= /var/lib/sluice\nuser x\n",
		  "e.conf:2: state-dir: missing argument (PATH)\n" },
		{ "listen: not an address, no port",
		  HOST "listen 1.2.3\nlisten localhost\n",
		  "e.conf:2: listen: 1.2.3: invalid address (a numeric IPv4 or "
		  "IPv6 address) and missing port\n"
		  "e.conf:3: listen: localhost: invalid address (a numeric IPv4 "
		  "or IPv6 address) and missing port\n" },
		{ "listen: IPv6 without brackets",
		  HOST "listen ::1:2525\nlisten [::1]\nlisten *\n",
		  "e.conf:2: listen: ::1:2525: missing port (an IPv6 address "
		  "needs brackets: [ADDRESS]:PORT)\n"
		  "e.conf:3: listen: [::1]: missing port\n"
		  "e.conf:4: listen: *: missing port\n" },
		{ "deliver: the choices, and a word cut short",
		  HOST "deliver relay [127.0.0.1]:25\n",
		  "e.conf:2: deliver: unknown keyword \"relay\": expected "
		  "relayhost NEXTHOP... or mx (did you mean \"relayhost\"?)\n" },
		{ "deliver: the choices, no suggestion",
		  HOST "deliver smarthost [127.0.0.1]:25\n",
		  "e.conf:2: deliver: unknown keyword \"smarthost\": expected "
		  "relayhost NEXTHOP... or mx\n" },
		{ "block: its keywords when none is close",
		  HOST "admin { path /tmp/s }\nretry { wait 5m }\n",
		  "e.conf:2: admin: unknown keyword \"path\": expected socket\n"
		  "e.conf:3: retry: unknown keyword \"wait\": expected initial, "
		  "max or lifetime\n" },
	};
	struct buf err = BUF_INIT;
	struct conf *c = (struct conf *)1;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&err);
		T_EQ_INT(conf_load_string("e.conf", cases[i].text, &c, &err),
		    -1, cases[i].name);
		T_OK(c == NULL, cases[i].name);
		T_EQ_STR(err.data, cases[i].want, cases[i].name);
	}
	buf_free(&err);
}

/* Writes text to a new temporary file; returns its name (to free). */
static char *
temp_file(const char *text)
{
	char *name = strdup("/tmp/test_conf.XXXXXX");
	FILE *f;
	int fd;

	if (name == NULL || (fd = mkstemp(name)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		perror("temp file");
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return name;
}

static void
test_tls(void)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	char *cert = temp_file("cert\n"), *key = temp_file("key\n");
	struct conf *c;

	buf_printf(&text, HOST "listen 127.0.0.1:25 tls\n"
	    "listen 127.0.0.1:587 tls-required\n"
	    "tls certificate %s key %s\n", cert, key);
	T_EQ_INT(conf_load_string("t.conf", text.data, &c, &err), 0,
	    "tls files readable");
	T_EQ_STR(err.data, NULL, "tls: no errors");
	if (c != NULL) {
		T_EQ_STR(c->tls_cert, cert, "tls certificate");
		T_EQ_STR(c->tls_key, key, "tls key");
		T_OK(c->listen[0].tls && !c->listen[0].tls_required,
		    "listen tls");
		T_OK(c->listen[1].tls && c->listen[1].tls_required,
		    "tls-required implies tls");
		conf_free(&c);
	}

	/* `tls` after a listener is the statement when "certificate"
	 * follows, and the listener's option when it does not */
	buf_reset(&text);
	buf_printf(&text, HOST "listen 127.0.0.1:25\ntls { certificate %s "
	    "key %s }\n", cert, key);
	T_EQ_INT(conf_load_string("t.conf", text.data, &c, &err), 0,
	    "tls block after listen");
	if (c != NULL) {
		T_OK(!c->listen[0].tls, "listen without tls");
		conf_free(&c);
	}

	buf_reset(&text);
	buf_printf(&text, HOST "tls certificate /nonexistent/cert.pem\n"
	    "  key /tmp\n");
	T_EQ_INT(conf_load_string("t.conf", text.data, &c, &err), -1,
	    "tls files unreadable");
	T_EQ_STR(err.data, "t.conf:2: tls certificate: /nonexistent/cert.pem: "
	    "cannot read: No such file or directory\n"
	    "t.conf:3: tls key: /tmp: not a regular file\n",
	    "tls file errors");

	buf_reset(&err);
	buf_reset(&text);
	buf_printf(&text, HOST "tls key %s\n", key);
	conf_load_string("t.conf", text.data, &c, &err);
	T_EQ_STR(err.data, "t.conf:2: tls: certificate missing "
	    "(tls certificate FILE key FILE)\n", "tls key alone");

	/* `tls` after deliver or route: their option when a policy
	 * follows, the statement when "certificate" or "{" does */
	buf_reset(&err);
	buf_reset(&text);
	buf_printf(&text, HOST "deliver mx tls encrypt\ntls certificate %s "
	    "key %s\nroute a.example [10.0.0.1] tls none\ntls { "
	    "certificate %s key %s }\n", cert, key, cert, key);
	conf_load_string("t.conf", text.data, &c, &err);
	T_EQ_STR(err.data, "t.conf:5: tls certificate given twice (first at "
	    "line 3)\nt.conf:5: tls key given twice (first at line 3)\n",
	    "tls statements after deliver and route");
	buf_reset(&err);
	buf_reset(&text);
	buf_printf(&text, HOST "deliver mx tls encrypt\ntls certificate %s "
	    "key %s\nroute a.example [10.0.0.1] tls none\n", cert, key);
	T_EQ_INT(conf_load_string("t.conf", text.data, &c, &err), 0,
	    "tls statement after deliver");
	if (c != NULL) {
		T_EQ_STR(c->tls_cert, cert, "tls statement after deliver");
		T_EQ_INT(c->deliver.tls, CONF_TLS_ENCRYPT, "deliver tls");
		T_EQ_INT(c->routes[0].via.tls, CONF_TLS_NONE, "route tls");
		conf_free(&c);
	}

	unlink(cert);
	unlink(key);
	free(cert);
	free(key);
	buf_free(&text);
	buf_free(&err);
}

/* tls verify without ca-file uses the system's CA file, which must exist
 * (whether it does depends on the machine: both outcomes are checked). */
static void
test_verify_default_ca(void)
{
	static const char *ca = "/etc/ssl/certs/ca-certificates.crt";
	struct buf err = BUF_INIT, want = BUF_INIT;
	struct conf *c;
	struct stat st;

	if (stat(ca, &st) == 0 && S_ISREG(st.st_mode)) {
		T_EQ_INT(conf_load_string("t.conf", HOST "deliver relayhost "
		    "[a.example] tls verify", &c, &err), 0,
		    "verify with the system CA file");
		if (c != NULL)
			T_EQ_STR(c->deliver.ca_file, ca, "default ca-file");
		conf_free(&c);
	} else {
		buf_printf(&want, "t.conf:2: deliver: tls verify needs ca-file "
		    "%s: cannot read: No such file or directory (install "
		    "ca-certificates or set ca-file)\n", ca);
		conf_load_string("t.conf", HOST "deliver relayhost "
		    "[a.example]\n  tls verify", &c, &err);
		T_EQ_STR(err.data, want.data, "verify without a CA file");
	}
	buf_free(&err);
	buf_free(&want);
}

/* Writes text to a new temporary file of the given mode. */
static char *
temp_file_mode(const char *text, mode_t mode)
{
	char *name = temp_file(text);

	if (chmod(name, mode) == -1) {
		perror("chmod");
		exit(1);
	}
	return name;
}

/* Appends text to b, each "FILE" in it replaced by file. */
static void
add_with_file(struct buf *b, const char *text, const char *file)
{
	const char *p;

	while ((p = strstr(text, "FILE")) != NULL) {
		buf_add(b, text, (size_t)(p - text));
		buf_addstr(b, file);
		text = p + 4;
	}
	buf_addstr(b, text);
}

/* Loads conf, whose "FILE" is the name of a new temporary file of content
 * and mode, and checks its errors against want (its "FILE" the same; ""
 * when it loads). */
static void
check_with_file(const char *conf, const char *content, mode_t mode,
    const char *want, const char *name)
{
	struct buf text = BUF_INIT, got = BUF_INIT, w = BUF_INIT;
	char *file = temp_file_mode(content, mode);
	struct conf *c;

	add_with_file(&text, conf, file);
	add_with_file(&w, want, file);
	conf_load_string("t.conf", text.data, &c, &got);
	conf_free(&c);
	T_EQ_STR(got.len > 0 ? got.data : "", w.data, name);
	unlink(file);
	free(file);
	buf_free(&text);
	buf_free(&got);
	buf_free(&w);
}

/* auth-file: the credentials are read at load, in either form, and the
 * file must not be readable by others. */
static void
test_auth(void)
{
	static const struct {
		const char	*name;
		const char	*text;
		mode_t		 mode;
		const char	*want;	/* "user/password" (a "/"), or the
					 * error after "auth-file NAME " */
	} cases[] = {
		{ "user password", "relay-user s3cret\n", 0600,
		  "relay-user/s3cret" },
		{ "user:password", "relay-user:s3cret", 0640,
		  "relay-user/s3cret" },
		{ "split at the first blank or colon",
		  "u:pa ss:word\r\n", 0600, "u/pa ss:word" },
		{ "blank first", "u\t  p:w  \n", 0600, "u/p:w" },
		{ "comments and blank lines",
		  "# for smtp.example.net\n\n  alice  pw \r\n\n", 0400,
		  "alice/pw" },
		{ "readable by others", "u p\n", 0644,
		  "is readable by others (chmod 600 or 640)" },
		{ "readable by others only", "u p\n", 0604,
		  "is readable by others (chmod 600 or 640)" },
		{ "empty", "# nothing\n\n", 0600, "is empty" },
		{ "no password", "user\n", 0600,
		  "does not hold \"username password\"" },
		{ "empty password", "user:\n", 0600,
		  "does not hold \"username password\"" },
		{ "empty user", ":pw\n", 0600,
		  "does not hold \"username password\"" },
		{ "two lines", "u p\nv q\n", 0600,
		  "holds more than one line of credentials" },
	};
	struct buf text = BUF_INIT, got = BUF_INIT, want = BUF_INIT;
	struct buf big = BUF_INIT;
	struct conf *c;
	char *name;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		name = temp_file_mode(cases[i].text, cases[i].mode);
		buf_reset(&text);
		buf_reset(&got);
		buf_reset(&want);
		buf_printf(&text, HOST "deliver relayhost [a.example]:587 "
		    "tls encrypt auth-file %s\n", name);
		if (strchr(cases[i].want, '/') != NULL)
			buf_addstr(&want, cases[i].want);
		else
			buf_printf(&want, "t.conf:2: deliver: auth-file %s "
			    "%s\n", name, cases[i].want);
		if (conf_load_string("t.conf", text.data, &c, &got) == 0) {
			T_EQ_STR(c->deliver.auth_file, name, cases[i].name);
			buf_printf(&got, "%s/%s", c->deliver.auth_user,
			    c->deliver.auth_pass);
			conf_free(&c);
		}
		T_EQ_STR(got.data, want.data, cases[i].name);
		unlink(name);
		free(name);
	}

	/* not a file, no file, too large */
	buf_reset(&got);
	conf_load_string("t.conf", HOST "deliver mx auth-file /tmp\n"
	    "route a.example [10.0.0.1] auth-file /nonexistent/auth\n", &c,
	    &got);
	T_EQ_STR(got.data, "t.conf:2: deliver: auth-file /tmp is not a "
	    "regular file\n"
	    "t.conf:3: route: auth-file /nonexistent/auth cannot be read: No "
	    "such file or directory\n", "auth-file not a file");
	for (i = 0; i < 5000; i++)
		buf_addc(&big, i % 80 == 79 ? '\n' : 'x');
	check_with_file(HOST "deliver mx auth-file FILE\n", big.data, 0600,
	    "t.conf:2: deliver: auth-file FILE is too large (at most 4K)\n",
	    "auth-file too large");

	/* a route has its own credentials; the dump names the file only */
	name = temp_file_mode("route-user route-pw\n", 0600);
	buf_reset(&text);
	buf_reset(&got);
	buf_printf(&text, HOST "route a.example [10.0.0.1]:587 tls encrypt "
	    "auth-file %s\n", name);
	T_EQ_INT(conf_load_string("t.conf", text.data, &c, &got), 0,
	    "route auth-file");
	if (c != NULL) {
		field(c, "routes", &got);
		buf_reset(&want);
		T_EQ_STR(got.data, "a.example: [10.0.0.1]:587= tls=encrypt "
		    "auth=route-user/route-pw@2", "route credentials");
		T_OK(c->deliver.auth_file == NULL &&
		    c->deliver.auth_pass == NULL, "deliver without auth");
		buf_reset(&got);
		conf_dump(c, &got);
		buf_reset(&want);
		buf_printf(&want, "route a.example [10.0.0.1]:587 tls encrypt "
		    "auth-file %s\n", name);
		T_OK(strstr(got.data, want.data) != NULL,
		    "dump names the auth-file");
		T_OK(strstr(got.data, "route-pw") == NULL &&
		    strstr(got.data, "route-user") == NULL,
		    "dump holds no credentials");
		conf_free(&c);
	}
	unlink(name);
	free(name);
	buf_free(&text);
	buf_free(&got);
	buf_free(&want);
	buf_free(&big);
}

static void
note_kept(void *arg, const char *setting, const char *why)
{
	(void)arg;
	(void)setting;
	(void)why;
}

/* secret-file: read at load as auth-file is (a file only the daemon may
 * read), trailing CR and LF off; the dump names the file, never the
 * secret. */
static void
test_secret_file(void)
{
	static const struct {
		const char	*name;
		const char	*text;
		mode_t		 mode;
		const char	*want;	/* "=secret", or the error after
					 * "secret-file NAME " */
	} cases[] = {
		{ "one line", "s3cret\n", 0600, "=s3cret" },
		{ "CRLF", "s3cret\r\n", 0640, "=s3cret" },
		{ "no line end", "s3cret", 0400, "=s3cret" },
		{ "blanks kept", " s3 cret \n\r\n", 0600, "= s3 cret " },
		{ "lines inside kept", "a\nb\n", 0600, "=a\nb" },
		{ "empty", "", 0600, "is empty" },
		{ "line ends only", "\r\n\n", 0600, "is empty" },
		{ "readable by others", "s3cret\n", 0644,
		  "is readable by others (chmod 600 or 640)" },
	};
	struct buf text = BUF_INIT, got = BUF_INIT, want = BUF_INIT;
	struct buf big = BUF_INIT;
	const struct conf_notifier *nf;
	struct conf *c;
	char *name;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		name = temp_file_mode(cases[i].text, cases[i].mode);
		buf_reset(&text);
		buf_reset(&got);
		buf_reset(&want);
		buf_printf(&text, HOST "notifier ops { webhook "
		    "https://hooks.example.com/x secret-file %s }\n", name);
		if (cases[i].want[0] == '=')
			buf_addstr(&want, cases[i].want);
		else
			buf_printf(&want, "t.conf:2: notifier ops: secret-file "
			    "%s %s\n", name, cases[i].want);
		if (conf_load_string("t.conf", text.data, &c, &got) == 0) {
			nf = conf_notifier(c, "ops");
			T_OK(nf != NULL && nf->secret_len == strlen(nf->secret),
			    cases[i].name);
			if (nf != NULL) {
				T_EQ_STR(nf->secret_file, name, cases[i].name);
				buf_printf(&got, "=%s", nf->secret);
			}
			conf_free(&c);
		}
		T_EQ_STR(got.data, want.data, cases[i].name);
		unlink(name);
		free(name);
	}

	for (i = 0; i < 4097; i++)
		buf_addc(&big, 'x');
	check_with_file(HOST "notifier ops webhook https://h.example/ "
	    "secret-file FILE\n", big.data, 0600, "t.conf:2: notifier ops: "
	    "secret-file FILE is too large (at most 4K)\n",
	    "secret-file too large");
	big.data[4095] = '\n';
	big.data[4096] = '\0';
	check_with_file(HOST "notifier ops webhook https://h.example/ "
	    "secret-file FILE\n", big.data, 0600, "", "secret-file of 4K");

	/* the dump: the file's name, not the secret; and it reads back */
	name = temp_file_mode("t0p-s3cret\n", 0600);
	buf_reset(&text);
	buf_reset(&got);
	buf_printf(&text, HOST "notifier ops {\n\twebhook "
	    "https://hooks.example.com/x\n\tsecret-file %s\n}\n", name);
	T_EQ_INT(conf_load_string("t.conf", text.data, &c, &got), 0,
	    "secret-file loads");
	if (c != NULL) {
		conf_dump(c, &got);
		buf_reset(&want);
		buf_printf(&want, "notifier ops {\n\twebhook "
		    "https://hooks.example.com/x\n\tsecret-file %s\n\t"
		    "timeout 10s\n\tlifetime 1d\n}\n", name);
		T_OK(strstr(got.data, want.data) != NULL,
		    "dump names the secret-file");
		T_OK(strstr(got.data, "t0p-s3cret") == NULL,
		    "dump holds no secret");
		conf_free(&c);
		buf_reset(&text);
		T_EQ_INT(conf_load_string("d.out", got.data, &c, &text), 0,
		    "dump with a secret-file reads back");
		if (c != NULL)
			T_EQ_STR(conf_notifier(c, "ops")->secret, "t0p-s3cret",
			    "the secret read again");
		conf_free(&c);
	}
	unlink(name);
	free(name);
	buf_free(&text);
	buf_free(&got);
	buf_free(&want);
	buf_free(&big);
}

/* Notifiers: both kinds, their defaults, the exact look-up, the quota's
 * notify, the dump read back (names that are keywords elsewhere), and a
 * reload carries the new file's notifiers. */
static void
test_notifiers(void)
{
	static const char *text = HOST
	    "notifier ops { webhook HTTPS://u:p@hooks.example.com:8443 }\n"
	    "notifier admin {\n"
	    "    mail postmaster@example.com b@example.org\n"
	    "}\n"
	    "notifier stop mail c@example.com from d@example.com\n"
	    "notifier to { mail e@example.com }\n"
	    "policy p priority 1 {\n"
	    "    sender any\n"
	    "    quota q { track Sender:user@domain period 1h\n"
	    "        limit messages 10 notify 100% 50% 90% to admin \"stop\""
	    " ops \"to\" }\n"
	    "}\n";
	const struct conf_notifier *nf;
	const struct pol_quota *q;
	struct buf err = BUF_INIT, d1 = BUF_INIT, d2 = BUF_INIT;
	struct conf *c, *next;
	size_t k;

	T_EQ_INT(conf_load_string("n.conf", text, &c, &err), 0, "notifiers");
	T_EQ_STR(err.data, NULL, "notifiers: no errors");
	if (c == NULL)
		return;
	T_EQ_INT(c->nnotifiers, 4, "four notifiers");
	nf = conf_notifier(c, "ops");
	T_OK(nf != NULL && nf->kind == CONF_NOTIFIER_WEBHOOK &&
	    strcmp(nf->url, "HTTPS://u:p@hooks.example.com:8443") == 0 &&
	    nf->secret == NULL && nf->secret_file == NULL &&
	    nf->timeout == 10 && nf->lifetime == 86400 && nf->nto == 0 &&
	    nf->line == 2, "webhook with its defaults");
	nf = conf_notifier(c, "admin");
	T_OK(nf != NULL && nf->kind == CONF_NOTIFIER_MAIL && nf->nto == 2 &&
	    strcmp(nf->to[1], "b@example.org") == 0 && nf->from == NULL &&
	    nf->url == NULL && nf->line == 3, "mail, no from");
	nf = conf_notifier(c, "stop");
	T_OK(nf != NULL && strcmp(nf->from, "d@example.com") == 0,
	    "mail with from, without braces");
	T_OK(conf_notifier(c, "Ops") == NULL && conf_notifier(c, "op") ==
	    NULL, "look-up is exact");
	q = c->policy->policies[0]->quotas[0];
	T_OK(q->nnotify == 3 && q->notify_pct[0] == 50 &&
	    q->notify_pct[1] == 90 && q->notify_pct[2] == 100,
	    "thresholds sorted");
	T_OK(q->nnotify_to == 4 && strcmp(q->notify_to[1], "stop") == 0 &&
	    strcmp(q->notify_to[3], "to") == 0 && q->notify_line == 11,
	    "notifiers in order, quoted keywords");
	for (k = 0; k < q->nnotify_to; k++)
		T_OK(conf_notifier(c, q->notify_to[k]) != NULL,
		    q->notify_to[k]);
	conf_dump(c, &d1);
	T_OK(strstr(d1.data, "\tnotify 50% 90% 100% to admin \"stop\" ops "
	    "\"to\"\n") != NULL, "dump: notify, keywords of a quota quoted");
	T_OK(strstr(d1.data, "notifier admin {\n\tmail postmaster@example.com"
	    " b@example.org\n\t# from (none: MAILER-DAEMON@relay.example.com)"
	    "\n}\n") != NULL, "dump: mail, the default from");
	T_EQ_INT(conf_load_string("d.out", d1.data, &next, &err), 0,
	    "notifiers: dump reads back");
	T_EQ_STR(err.data, NULL, "notifiers: dump reads back, no errors");
	if (next != NULL) {
		conf_dump(next, &d2);
		T_EQ_STR(d2.data, d1.data, "notifiers: dump of the dump");
		conf_free(&next);
	}

	/* a notifier with a syntax error is still defined: no echo */
	buf_reset(&err);
	T_EQ_INT(conf_load_string("e.conf", HOST "notifier ops { webhook "
	    "https://a.example/ secrt-file x }\npolicy p priority 1 {\n"
	    "sender any quota q { track Policy period 1h limit messages 5\n"
	    "notify 50% to ops pager } }\n", &next, &err), -1, "errors");
	T_EQ_STR(err.data, "e.conf:2: notifier: unknown keyword "
	    "\"secrt-file\" (did you mean \"secret-file\"?)\n"
	    "e.conf:5: policy p: quota q: notifier \"pager\" is not defined\n",
	    "a bad notifier is not said to be undefined");
	buf_reset(&err);
	T_EQ_INT(conf_load_string("e.conf", HOST "policy p priority 1 {\n"
	    "sender any quota q { track Policy period 1h limit messages 5\n"
	    "notify 50% to ops } }\n", &next, &err), -1, "no notifier");
	T_EQ_STR(err.data, "e.conf:4: policy p: quota q: notifier \"ops\" is "
	    "not defined (the file defines none)\n", "no notifier at all");

	/* a reload: what needs a restart is kept, the notifiers are new */
	T_EQ_INT(conf_load_string("n.conf", HOST "listen 127.0.0.1:2626\n"
	    "notifier pager { webhook http://pager.example.com/ timeout 1m "
	    "}\n", &next, &err), 0, "next");
	if (next != NULL) {
		conf_keep_restart(next, c, note_kept, NULL);
		T_OK(next->nnotifiers == 1 && conf_notifier(next, "ops") ==
		    NULL && conf_notifier(next, "pager") != NULL &&
		    conf_notifier(next, "pager")->timeout == 60,
		    "reload: the new notifiers");
		T_EQ_STR(next->listen[0].text, "127.0.0.1:2525",
		    "reload: listen kept");
		conf_free(&next);
	}
	conf_free(&c);
	buf_free(&err);
	buf_free(&d1);
	buf_free(&d2);
}

/* conf_route_for: the route of a domain, any case, else deliver. */
static void
test_route_for(void)
{
	static const struct {
		const char	*domain;
		int		 route;		/* index, or -1: deliver */
	} cases[] = {
		{ "a.example", 0 }, { "A.EXAMPLE", 0 }, { "b.example", 1 },
		{ "sub.a.example", -1 }, { "example", -1 }, { "", -1 },
		{ NULL, -1 },
	};
	struct buf err = BUF_INIT;
	const struct conf_nexthops *want;
	struct conf *c;
	size_t i;

	T_EQ_INT(conf_load_string("r.conf", HOST "deliver relayhost "
	    "[smart.example]\nroute A.example [10.0.0.1]\n"
	    "route b.example mx.b.example", &c, &err), 0, "route_for conf");
	if (c == NULL)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		want = cases[i].route < 0 ? &c->deliver :
		    &c->routes[cases[i].route].via;
		T_OK(conf_route_for(c, cases[i].domain) == want,
		    cases[i].domain ? cases[i].domain : "(null)");
	}
	conf_free(&c);
	buf_free(&err);
}

static void
test_load_file(void)
{
	struct buf err = BUF_INIT, want = BUF_INIT;
	struct conf *c = NULL;
	char *name;

	T_EQ_INT(conf_load("/nonexistent/sluice.conf", &c, &err), -1,
	    "load missing file");
	T_EQ_STR(err.data, "/nonexistent/sluice.conf: cannot open: "
	    "No such file or directory\n", "missing file message");
	T_OK(c == NULL, "missing file: no conf");

	buf_reset(&err);
	name = temp_file(HOST "# a comment\nuser mail\n");
	T_EQ_INT(conf_load(name, &c, &err), 0, "load file");
	if (c != NULL) {
		T_EQ_STR(c->path, name, "path kept");
		T_EQ_STR(c->user, "mail", "value from file");
		conf_free(&c);
	}
	unlink(name);
	free(name);

	name = temp_file(HOST "user a\nuser b\n");
	T_EQ_INT(conf_load(name, &c, &err), -1, "load bad file");
	buf_printf(&want, "%s:3: user given twice (first at line 2)\n", name);
	T_EQ_STR(err.data, want.data, "file name in messages");
	unlink(name);
	free(name);
	buf_free(&err);
	buf_free(&want);
	conf_free(&c);
	T_OK(c == NULL, "conf_free(NULL) is harmless");
}

static void
test_defaults(void)
{
	struct buf err = BUF_INIT;
	struct conf *c;

	T_EQ_INT(conf_load_string("d.conf", "", &c, &err), 0, "empty file");
	if (c == NULL)
		return;
	T_OK(c->hostname != NULL && c->hostname[0] != '\0',
	    "hostname from the machine");
	T_EQ_STR(c->state_dir, "/var/lib/sluice", "default state-dir");
	T_EQ_STR(c->user, "sluice", "default user");
	T_EQ_STR(c->admin_socket, "/run/sluice/admin.sock",
	    "default admin socket");
	T_EQ_INT(c->nlisten, 1, "one default listener");
	T_EQ_STR(c->listen[0].text, "127.0.0.1:2525", "default listener");
	T_OK(!c->listen[0].tls, "default listener without tls");
	T_EQ_INT(c->nrelay_domains, 0, "no relay domains");
	T_OK(c->tls_cert == NULL && c->tls_key == NULL, "no tls");
	conf_free(&c);
	buf_free(&err);
}

static void
test_predicates(void)
{
	static const struct {
		const char	*addr;
		bool		 trusted;
	} addrs[] = {
		{ "10.1.2.3", true }, { "11.0.0.1", false },
		{ "192.0.2.7", true }, { "192.0.2.8", false },
		{ "2001:db8::1", true }, { "::ffff:10.0.0.1", true },
		{ "127.0.0.1", false },
	};
	struct buf err = BUF_INIT;
	struct conf *c;
	struct addr a;
	size_t i;

	T_EQ_INT(conf_load_string("p.conf", HOST "trusted-networks "
	    "10.0.0.0/8 192.0.2.7 2001:db8::/32 relay-domains Example.com "
	    "b.example", &c, &err), 0, "predicates conf");
	if (c == NULL)
		return;
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		addr_parse(addrs[i].addr, &a);
		T_EQ_INT(conf_is_trusted(c, &a), addrs[i].trusted,
		    addrs[i].addr);
	}
	T_OK(conf_is_relay_domain(c, "example.com"), "relay domain");
	T_OK(conf_is_relay_domain(c, "EXAMPLE.COM"), "relay domain, case");
	T_OK(conf_is_relay_domain(c, "B.Example"), "second relay domain");
	T_OK(!conf_is_relay_domain(c, "sub.example.com"),
	    "not a subdomain");
	T_OK(!conf_is_relay_domain(c, NULL), "no domain");
	conf_free(&c);
	buf_free(&err);
}

/* The dump is configuration: read back, it dumps the same. */
static void
test_dump(void)
{
	static const char *text = "hostname relay.example.com\n"
	    "state-dir \"/srv/with space\"  user \"key\"\n"
	    "listen *:25 listen 192.0.2.1:2525\n"
	    "trusted-networks 127.0.0.1 10.0.0.0/8 ::1\n"
	    "relay-domains B.example a.example\n"
	    "limits { message-size 1536 command-timeout 120 "
	    "data-timeout 3600s errors 7 }\n";
	static const char *want = "hostname relay.example.com\n"
	    "state-dir \"/srv/with space\"\n"
	    "user \"key\"\n"
	    "listen 0.0.0.0:25\n"
	    "listen [::]:25\n"
	    "listen 192.0.2.1:2525\n"
	    "trusted-networks 127.0.0.1/32 10.0.0.0/8 ::1/128\n"
	    "relay-domains b.example a.example\n"
	    "# tls certificate (none)\n"
	    "# tls key (none)\n"
	    "limits message-size 1536\n"
	    "limits recipients 1000\n"
	    "limits connections 500\n"
	    "limits connections-per-ip 50\n"
	    "limits command-timeout 2m\n"
	    "limits data-timeout 1h\n"
	    "limits errors 7\n"
	    "limits line-length 2048\n"
	    "admin socket /run/sluice/admin.sock\n"
	    "deliver mx tls may\n"
	    "# route (none)\n"
	    "delivery connections 100\n"
	    "delivery per-destination 20\n"
	    "delivery timeout-connect 30s\n"
	    "delivery timeout-command 5m\n"
	    "delivery timeout-data 10m\n"
	    "retry initial 5m\n"
	    "retry max 1h\n"
	    "retry lifetime 5d\n"
	    "# resolver (none)\n"
	    "spf-timeout 20s\n"
	    "postmaster \"postmaster\"\n";
	struct buf err = BUF_INIT, d1 = BUF_INIT, d2 = BUF_INIT;
	struct conf *c;

	T_EQ_INT(conf_load_string("d.conf", text, &c, &err), 0, "dump conf");
	T_EQ_STR(err.data, NULL, "dump conf: no errors");
	if (c == NULL)
		return;
	conf_dump(c, &d1);
	conf_free(&c);
	T_EQ_STR(d1.data, want, "dump");
	T_EQ_INT(conf_load_string("d.out", d1.data, &c, &err), 0,
	    "dump reads back");
	if (c != NULL) {
		conf_dump(c, &d2);
		T_EQ_STR(d2.data, d1.data, "dump of the dump");
		conf_free(&c);
	}
	buf_free(&err);
	buf_free(&d1);
	buf_free(&d2);
}

/* Each Postfix hint names a statement the language has, and no hint is
 * shadowed by a keyword (it would never be shown). */
static void
test_hints(void)
{
	const struct conf_grammar *g = &conf_daemon_grammar;
	char first[64], name[96];
	size_t i, n;

	T_OK(g->nhint > 0, "hints: some");
	for (i = 0; i < g->nhint; i++) {
		n = strcspn(g->hint[i].instead, " ");
		snprintf(first, sizeof(first), "%.*s", (int)n,
		    g->hint[i].instead);
		snprintf(name, sizeof(name), "hint %s: %s is a statement",
		    g->hint[i].name, first);
		T_OK(conf_kw_lookup(g, "", first) != NULL, name);
		snprintf(name, sizeof(name), "hint %s: not a keyword",
		    g->hint[i].name);
		T_OK(conf_kw_lookup(g, "", g->hint[i].name) == NULL, name);
	}
}

/* The policy of that name in a loaded configuration, or NULL. */
static const struct pol_policy *
policy_named(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; c->policy != NULL && i < c->policy->npolicy; i++)
		if (strcmp(c->policy->policies[i]->name, name) == 0)
			return c->policy->policies[i];
	return NULL;
}

static const char *filters_text = HOST "relay-domains example.com\n"
    "policy low priority 10 {\n"
    "  recipient @example.com\n"
    "  greylisting { period 10m auto-whitelist 3 50% within 2d\n"
    "    whitelist 192.0.2.0/24 }\n"
    "  helo { reject-invalid yes hrp 5 within 1h blacklist localhost within "
    "1d }\n"
    "  spf { reject-fail yes }\n"
    "  accounting m { track Sender:@domain period month limit messages 100 "
    "verdict hold keep 2 }\n"
    "}\n"
    "policy high priority 20 {\n"
    "  recipient @example.com\n"
    "  greylisting { track SenderIP:/16 training yes whitelist @a.example "
    "reply \"wait\" }\n"
    "  helo { reject-invalid no reply invalid \"Bad\" }\n"
    "  spf { add-header yes softfail reject }\n"
    "  accounting d { track SenderIP:/24 period day ipv6-prefix 48 }\n"
    "}\n"
    "policy quiet priority 30 { recipient @example.com greylisting off "
    "helo off spf off }\n"
    "policy plain priority 40 { recipient any }\n";

/* What the blocks attach to their policies: what was written and only
 * that (the has_* flags, the written bits), as the merge wants it. */
static void
test_filter_blocks(void)
{
	const struct pol_policy *low, *high, *quiet, *plain;
	const struct grey_settings *g;
	const struct helo_settings *h;
	const struct pol_accts *as;
	struct buf err = BUF_INIT;
	struct conf *c;

	T_EQ_INT(conf_load_string("f.conf", filters_text, &c, &err), 0,
	    "filters: loads");
	T_EQ_STR(err.data, NULL, "filters: no errors");
	if (c == NULL)
		return;
	low = policy_named(c, "low");
	high = policy_named(c, "high");
	quiet = policy_named(c, "quiet");
	plain = policy_named(c, "plain");
	if (low == NULL || high == NULL || quiet == NULL || plain == NULL ||
	    low->grey == NULL || high->grey == NULL || low->helo == NULL ||
	    high->helo == NULL || low->spf == NULL || high->spf == NULL) {
		T_OK(0, "filters: every block attached");
		conf_free(&c);
		return;
	}
	g = low->grey;
	T_OK(g->has_period && g->period == 600 && !g->has_v4_prefix &&
	    !g->has_v6_prefix && !g->has_on && !g->has_training &&
	    !g->has_auth_validity && !g->has_unauth_validity && !g->has_abl,
	    "greylisting: only what is written");
	T_OK(g->has_awl && g->awl.on && g->awl.count == 3 && g->awl.pct == 50 &&
	    g->awl.within == 2 * 86400, "greylisting: auto-whitelist");
	T_OK(g->nwl == 1 && g->wl[0].kind == POL_ITEM_CIDR && g->reply == NULL,
	    "greylisting: whitelist");
	T_EQ_INT(g->line, 5, "greylisting: the block's line");
	g = high->grey;
	T_OK(g->has_v4_prefix && g->v4_prefix == 16 && !g->has_period &&
	    g->has_training && g->training && g->nwl == 1 &&
	    g->wl[0].kind == POL_ITEM_DOMAIN, "greylisting: second policy");
	T_EQ_STR(g->reply, "wait", "greylisting: reply");
	T_OK(quiet->grey != NULL && quiet->grey->has_on && !quiet->grey->on,
	    "greylisting off");
	h = low->helo;
	T_EQ_INT(h->written, HELO_W_REJECT_INVALID | HELO_W_HRP |
	    HELO_W_BLACKLIST, "helo: written bits");
	T_OK(h->reject_invalid && h->hrp_limit == 5 && h->hrp_within == 3600 &&
	    h->nblacklist == 1 && strcmp(h->blacklist[0], "localhost") == 0 &&
	    h->blacklist_within == 86400, "helo: values");
	h = high->helo;
	T_EQ_INT(h->written, HELO_W_REJECT_INVALID |
	    HELO_W_REPLY(HELO_R_INVALID), "helo: a no and a reply written");
	T_OK(!h->reject_invalid && h->reply[HELO_R_INVALID] != NULL &&
	    strcmp(h->reply[HELO_R_INVALID], "Bad") == 0, "helo: reply");
	T_EQ_INT(quiet->helo != NULL ? quiet->helo->written : 0, HELO_W_OFF,
	    "helo off");
	T_OK(low->spf->has_reject_fail && low->spf->reject_fail &&
	    !low->spf->has_add_header && !low->spf->has_softfail,
	    "spf: only what is written");
	T_OK(high->spf->has_add_header && high->spf->add_header &&
	    high->spf->has_softfail && high->spf->softfail == SPF_REJECT &&
	    !high->spf->has_reject_fail, "spf: second policy");
	T_OK(quiet->spf != NULL && quiet->spf->has_on && !quiet->spf->on,
	    "spf off");
	T_OK(plain->grey == NULL && plain->helo == NULL && plain->spf == NULL,
	    "no blocks: NULL");
	as = c->policy->accts;
	T_OK(as != NULL && as->resolved && as->nacct == 2, "accountings: "
	    "resolved with the set");
	if (as != NULL && as->nacct == 2) {
		T_OK(as->accts[0]->policy == low &&
		    as->accts[1]->policy == high,
		    "accountings: in the order of the policies");
		T_OK(as->accts[0]->track == POL_TRACK_SENDER_DOMAIN &&
		    as->accts[0]->period.kind == POL_PERIOD_MONTH &&
		    as->accts[0]->nlimit == 1 && as->accts[0]->limits[0].n ==
		    100 && as->accts[0]->verdict == POL_V_HOLD &&
		    as->accts[0]->keep == 2, "accounting: values");
		T_OK(as->accts[1]->v4_prefix == 24 &&
		    as->accts[1]->v6_prefix == 48 && as->accts[1]->keep ==
		    POL_ACCT_KEEP_DEFAULT &&
		    as->accts[1]->verdict == POL_V_NONE,
		    "accounting: defaults and ipv6-prefix");
	}
	conf_free(&c);
	buf_free(&err);
}

/* The blocks as the modules merge them for a recipient the policies all
 * match: a written setting of a higher priority number overrides, the
 * rest is inherited; off turns a check off. */
static void
test_filter_merge(void)
{
	const struct pol_policy *p[3];
	const struct grey_settings *gv[3];
	const struct helo_settings *hv[3];
	const struct spf_settings *sv[3];
	struct helo_settings he;
	struct grey_eff ge;
	struct spf_eff se;
	struct buf err = BUF_INIT;
	struct conf *c;
	size_t i;

	if (conf_load_string("f.conf", filters_text, &c, &err) == -1) {
		T_EQ_STR(err.data, "", "merge: loads");
		buf_free(&err);
		return;
	}
	p[0] = policy_named(c, "low");
	p[1] = policy_named(c, "high");
	p[2] = policy_named(c, "quiet");
	for (i = 0; i < 3; i++) {
		gv[i] = p[i]->grey;
		hv[i] = p[i]->helo;
		sv[i] = p[i]->spf;
	}
	grey_merge(gv, 2, &ge);
	T_OK(ge.enabled && ge.period == 600 && ge.v4_prefix == 16 &&
	    ge.v6_prefix == GREY_V6_PREFIX_DEFAULT && ge.awl.on &&
	    ge.awl.count == 3 && ge.training && ge.nblock == 2,
	    "greylisting merged: written settings override, the rest "
	    "inherited");
	T_EQ_STR(ge.reply, "wait", "greylisting merged: reply");
	grey_merge(gv, 3, &ge);
	T_OK(!ge.enabled, "greylisting merged: off");
	helo_merge(hv, 2, &he);
	T_OK(!he.reject_invalid && he.hrp_limit == 5 && he.nblacklist == 1 &&
	    he.reply[HELO_R_INVALID] != NULL, "helo merged");
	helo_merge(hv, 3, &he);
	T_OK(!helo_is_active(&he), "helo merged: off forgets");
	spf_merge(sv, 2, &se);
	T_OK(se.enabled && se.reject_fail && se.add_header &&
	    se.softfail == SPF_REJECT && se.permerror == SPF_ACCEPT &&
	    se.temperror == SPF_TEMPFAIL, "spf merged");
	spf_merge(sv, 3, &se);
	T_OK(!se.enabled, "spf merged: off");
	conf_free(&c);
	buf_free(&err);
}

/* The table's defaults are the modules': the dump shows the table's,
 * the modules apply theirs. */
static void
test_filter_defaults(void)
{
	static const struct {
		int		 row;
		uint64_t	 want;
	} nums[] = {
		{ KW_PG_PERIOD, GREY_PERIOD_DEFAULT },
		{ KW_PG_AUTH, GREY_AUTH_DEFAULT },
		{ KW_PG_UNAUTH, GREY_UNAUTH_DEFAULT },
		{ KW_PG_V6, GREY_V6_PREFIX_DEFAULT },
		{ KW_PA_KEEP, POL_ACCT_KEEP_DEFAULT },
	};
	const struct grey_settings *none = NULL;
	struct conf_errs errs = { NULL, 0, 0, 0 };
	struct grey_settings *g;
	struct spf_settings *sp;
	struct pol_set *set;
	struct pol_policy *p;
	struct pol_acct *a;
	struct grey_eff ge;
	struct spf_eff se;
	char err[256];
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		v = 0;
		conf_value_default(&conf_daemon_kws[nums[i].row], &v, &errs);
		T_EQ_INT(v, nums[i].want, conf_daemon_kws[nums[i].row].name);
	}
	T_EQ_INT(errs.n, 0, "defaults: all valid");
	conf_errs_free(&errs);
	g = grey_settings_new(1);
	T_EQ_INT(grey_settings_track(g, conf_daemon_kws[KW_PG_TRACK].def, err,
	    sizeof(err)), 0, "greylisting track default");
	T_EQ_INT(g->v4_prefix, GREY_V4_PREFIX_DEFAULT, "greylisting track "
	    "default: the module's prefix");
	grey_settings_free(&g);
	g = grey_settings_new(1);
	none = g;
	grey_merge(&none, 1, &ge);
	T_OK(!ge.awl.on && !ge.abl.on && !ge.training &&
	    strcmp(conf_daemon_kws[KW_PG_AWL].def, "off") == 0 &&
	    strcmp(conf_daemon_kws[KW_PG_TRAINING].def, "no") == 0,
	    "greylisting: auto-whitelist off, training no");
	grey_settings_free(&g);
	sp = spf_settings_new(1);
	spf_merge((const struct spf_settings *const *)&sp, 1, &se);
	T_EQ_STR(spf_verdict_name(se.softfail),
	    conf_daemon_kws[KW_PS_SOFTFAIL].def, "spf softfail default");
	T_EQ_STR(spf_verdict_name(se.permerror),
	    conf_daemon_kws[KW_PS_PERMERROR].def, "spf permerror default");
	T_OK(!se.reject_fail && !se.add_header &&
	    strcmp(conf_daemon_kws[KW_PS_REJECT_FAIL].def, "no") == 0,
	    "spf yes/no default");
	spf_settings_free(&sp);
	set = pol_set_new();
	p = pol_policy_add(set, "p", 1, 1, err, sizeof(err));
	a = pol_acct_add(set->accts, p, "a", 1, err, sizeof(err));
	conf_value_default(&conf_daemon_kws[KW_PA_V6], &v, &errs);
	T_EQ_INT(v, a->v6_prefix, "accounting ipv6-prefix default");
	pol_set_free(&set);
	T_OK(set == NULL, "pol_set_free frees the accountings too");
}

/* Greylisting is for inbound mail: a warning when a policy with it may
 * match mail to recipients outside relay-domains. */
static void
warned(void *arg, int line, const char *msg)
{
	(void)line;
	(void)msg;
	(*(int *)arg)++;
}

static void
test_filter_warnings(void)
{
	static const struct {
		const char	*name;
		const char	*policy;
		int		 want;
	} cases[] = {
		{ "inbound", "recipient @example.com greylisting { }", 0 },
		{ "any recipient", "recipient any greylisting { }", 1 },
		{ "another domain", "recipient @example.net greylisting { }",
		  1 },
		{ "an address", "recipient bob@EXAMPLE.com greylisting { }",
		  0 },
		{ "a group of relay-domains", "recipient %in greylisting { }",
		  0 },
		{ "a group with subdomains", "recipient %sub greylisting { }",
		  1 },
		{ "a match without recipient",
		  "match { recipient @example.com } match { sender "
		  "@example.com } greylisting { }", 1 },
		{ "greylisting off", "recipient any greylisting off", 0 },
		{ "no greylisting", "recipient any helo { reject-unresolvable "
		  "yes } spf { reject-fail yes }", 0 },
	};
	struct buf text = BUF_INIT, err = BUF_INIT;
	struct conf *c;
	size_t i;
	int n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&text);
		buf_reset(&err);
		buf_printf(&text, HOST "relay-domains example.com\n"
		    "group in { @example.com %%more }\ngroup more { "
		    "postmaster@example.com }\ngroup sub { @*.example.com }\n"
		    "policy p priority 1 { %s }\n", cases[i].policy);
		if (conf_load_string("w.conf", text.data, &c, &err) == -1) {
			T_EQ_STR(err.data, "", cases[i].name);
			continue;
		}
		n = 0;
		conf_warnings(c, warned, &n);
		T_EQ_INT(n, cases[i].want, cases[i].name);
		conf_free(&c);
	}
	buf_free(&text);
	buf_free(&err);
}

/* The dump of the blocks is configuration: it reads back the same. */
static void
test_filter_dump(void)
{
	struct buf err = BUF_INIT, d1 = BUF_INIT, d2 = BUF_INIT;
	struct conf *c;

	if (conf_load_string("f.conf", filters_text, &c, &err) == -1) {
		T_EQ_STR(err.data, "", "filters dump: loads");
		buf_free(&err);
		return;
	}
	conf_dump(c, &d1);
	conf_free(&c);
	T_OK(strstr(d1.data, "\tgreylisting {\n\t\tperiod 10m\n\t\t"
	    "auto-whitelist 3 50% within 2d\n\t\twhitelist 192.0.2.0/24\n"
	    "\t\t# not written here (inherited, else these defaults):\n"
	    "\t\t# on\n\t\t# track SenderIP:/24\n") != NULL,
	    "filters dump: written, then inherited as comments");
	T_OK(strstr(d1.data, "\thelo {\n\t\toff\n\t}\n") != NULL,
	    "filters dump: helo off inherits nothing");
	T_OK(strstr(d1.data, "\taccounting m {\n\t\ttrack Sender:@domain\n"
	    "\t\tperiod month\n\t\tlimit messages 100\n\t\tverdict hold\n"
	    "\t\tkeep 2\n\t}\n") != NULL, "filters dump: accounting");
	T_EQ_INT(conf_load_string("d.out", d1.data, &c, &err), 0,
	    "filters dump reads back");
	if (c != NULL) {
		conf_dump(c, &d2);
		T_EQ_STR(d2.data, d1.data, "filters dump of the dump");
		conf_free(&c);
	}
	buf_free(&err);
	buf_free(&d1);
	buf_free(&d2);
}

int
main(void)
{
	test_values();
	test_equivalence();
	test_bounds();
	test_delivery_bounds();
	test_errors();
	test_tls();
	test_verify_default_ca();
	test_auth();
	test_secret_file();
	test_notifiers();
	test_route_for();
	test_load_file();
	test_defaults();
	test_predicates();
	test_dump();
	test_hints();
	test_filter_blocks();
	test_filter_merge();
	test_filter_defaults();
	test_filter_warnings();
	test_filter_dump();
	return t_done();
}
