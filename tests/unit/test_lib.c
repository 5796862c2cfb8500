/*
 * test_lib: the base layer: addresses and CIDR networks, number, size and
 * duration parsing, the growable buffer and its JSON escaping.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/strutil.h"
#include "t.h"

static void
test_cidr(void)
{
	static const struct {
		const char	*net;
		const char	*addr;
		int		 match;	/* -1: the network is invalid */
		const char	*err;
	} cases[] = {
		{ "10.0.0.0/8", "10.255.1.2", 1, NULL },
		{ "10.0.0.0/8", "11.0.0.1", 0, NULL },
		{ "10.0.0.5", "10.0.0.5", 1, NULL },
		{ "10.0.0.5", "10.0.0.6", 0, NULL },
		{ "192.168.1.0/25", "192.168.1.127", 1, NULL },
		{ "192.168.1.0/25", "192.168.1.128", 0, NULL },
		{ "0.0.0.0/0", "203.0.113.9", 1, NULL },
		{ "0.0.0.0/0", "2001:db8::1", 0, NULL },
		{ "2001:db8::/32", "2001:db8:ffff::1", 1, NULL },
		{ "2001:db8::/32", "2001:db9::1", 0, NULL },
		{ "::1/128", "::1", 1, NULL },
		{ "127.0.0.0/8", "::ffff:127.0.0.1", 1, NULL },
		{ "::ffff:10.1.2.3", "10.1.2.3", 1, NULL },
		{ "2001:db8::/127", "2001:db8::1", 1, NULL },
		{ "10.0.0.1/8", NULL, -1, "host bits set in network" },
		{ "10.0.0.0/33", NULL, -1, "invalid prefix length" },
		{ "10.0.0.0/", NULL, -1, "invalid prefix length" },
		{ "10.0.0.0/8x", NULL, -1, "invalid prefix length" },
		{ "10.0.0", NULL, -1, "invalid address or network" },
		{ "example.com", NULL, -1, "invalid address or network" },
		{ "", NULL, -1, "invalid address or network" },
		{ "2001:db8::1/129", NULL, -1, "invalid prefix length" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = NULL;
		struct cidr c;
		struct addr a;
		char name[160];
		int rc = cidr_parse(cases[i].net, &c, &err);

		snprintf(name, sizeof(name), "cidr %s ~ %s", cases[i].net,
		    cases[i].addr ? cases[i].addr : "(invalid)");
		if (cases[i].match == -1) {
			T_EQ_INT(rc, -1, name);
			T_EQ_STR(err, cases[i].err, name);
			continue;
		}
		T_EQ_INT(rc, 0, name);
		T_EQ_INT(addr_parse(cases[i].addr, &a), 0, name);
		T_EQ_INT(cidr_match(&c, &a), cases[i].match, name);
	}
}

static void
test_addr_format(void)
{
	struct addr a;
	struct cidr c;
	char out[ADDR_STRLEN + 8];
	const char *err;

	addr_parse("::ffff:192.0.2.7", &a);
	addr_format(&a, out, sizeof(out));
	T_EQ_STR(out, "192.0.2.7", "mapped address shown as IPv4");
	addr_parse("2001:DB8:0:0::1", &a);
	addr_format(&a, out, sizeof(out));
	T_EQ_STR(out, "2001:db8::1", "IPv6 canonical form");
	cidr_parse("2001:db8::/48", &c, &err);
	cidr_format(&c, out, sizeof(out));
	T_EQ_STR(out, "2001:db8::/48", "cidr format");
	cidr_parse("10.1.2.3", &c, &err);
	cidr_format(&c, out, sizeof(out));
	T_EQ_STR(out, "10.1.2.3/32", "host as /32");
}

static void
test_hostport(void)
{
	static const struct {
		const char	*in;
		int		 family;	/* 0: invalid */
		unsigned	 port;
		const char	*err;
	} cases[] = {
		{ "127.0.0.1:2525", AF_INET, 2525, NULL },
		{ "[::1]:25", AF_INET6, 25, NULL },
		{ "*:25", AF_INET6, 25, NULL },
		{ "0.0.0.0:10025", AF_INET, 10025, NULL },
		{ "127.0.0.1", 0, 0, "missing port" },
		{ "127.0.0.1:0", 0, 0, "invalid port" },
		{ "127.0.0.1:65536", 0, 0, "invalid port" },
		{ "[::1]", 0, 0, "missing port" },
		{ "[::1:25", 0, 0, "missing ']' in address" },
		{ "localhost:25", 0, 0,
		    "invalid address (a numeric IPv4 or IPv6 address)" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *err = NULL;
		int rc = addr_parse_hostport(cases[i].in, NULL, &ss, &len, &err);
		char name[96];

		snprintf(name, sizeof(name), "hostport %s", cases[i].in);
		if (cases[i].family == 0) {
			T_EQ_INT(rc, -1, name);
			T_EQ_STR(err, cases[i].err, name);
			continue;
		}
		T_EQ_INT(rc, 0, name);
		T_EQ_INT(ss.ss_family, cases[i].family, name);
		T_EQ_INT(ntohs(cases[i].family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port), cases[i].port, name);
	}
}

static void
test_units(void)
{
	static const struct {
		const char	*in;
		int		 kind;	/* 0 number, 1 duration, 2 size */
		uint64_t	 want;
		const char	*err;
	} cases[] = {
		{ "0", 0, 0, NULL },
		{ "18446744073709551615", 0, UINT64_MAX, NULL },
		{ "18446744073709551616", 0, 0, "too large" },
		{ "-1", 0, 0, "not a number" },
		{ "12x", 0, 0, "not a number" },
		{ "", 0, 0, "not a number" },
		{ "30s", 1, 30, NULL },
		{ "5m", 1, 300, NULL },
		{ "2h", 1, 7200, NULL },
		{ "1d", 1, 86400, NULL },
		{ "1w", 1, 604800, NULL },
		{ "45", 1, 45, NULL },
		{ "5y", 1, 0, "bad duration (use s, m, h, d or w)" },
		{ "5mm", 1, 0, "bad duration (use s, m, h, d or w)" },
		{ "10K", 2, 10240, NULL },
		{ "5M", 2, 5242880, NULL },
		{ "1G", 2, 1073741824, NULL },
		{ "512", 2, 512, NULL },
		{ "99999999999G", 2, 0, "too large" },
		{ "10T", 2, 0, "bad size (use K, M or G)" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = NULL;
		uint64_t v = 0;
		int rc;

		if (cases[i].kind == 0)
			rc = str_to_u64(cases[i].in, 0, UINT64_MAX, &v, &err);
		else if (cases[i].kind == 1)
			rc = str_to_duration(cases[i].in, 0, UINT64_MAX, &v,
			    &err);
		else
			rc = str_to_size(cases[i].in, 0, UINT64_MAX, &v, &err);
		if (cases[i].err) {
			T_EQ_INT(rc, -1, cases[i].in);
			T_EQ_STR(err, cases[i].err, cases[i].in);
		} else {
			T_EQ_INT(rc, 0, cases[i].in);
			T_EQ_INT(v, cases[i].want, cases[i].in);
		}
	}
	{
		const char *err = NULL;
		uint64_t v;

		T_EQ_INT(str_to_u64("5", 10, 20, &v, &err), -1, "below min");
		T_EQ_STR(err, "too small", "below min message");
		T_EQ_INT(str_to_u64("21", 10, 20, &v, &err), -1, "above max");
		T_EQ_STR(err, "too large", "above max message");
	}
}

static void
test_buf(void)
{
	struct buf b = BUF_INIT;
	char *p;
	int i;

	for (i = 0; i < 1000; i++)
		buf_addstr(&b, "0123456789");
	T_EQ_INT(b.len, 10000, "buf grows");
	buf_reset(&b);
	buf_add_json_str(&b, "a\"b\\c\n\x01\t\xc3\xa9");
	T_EQ_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\\t\xc3\xa9\"", "json escape");
	buf_reset(&b);
	/* a stray byte, a truncated sequence, an encoded surrogate */
	buf_add_json_str(&b, "a\xff\xc3" "b\xed\xa0\x80");
	T_EQ_STR(b.data, "\"a" "\xef\xbf\xbd" "\xef\xbf\xbd" "b"
	    "\xef\xbf\xbd" "\xef\xbf\xbd" "\xef\xbf\xbd" "\"",
	    "json invalid utf-8 replaced");
	buf_reset(&b);
	buf_add(&b, "x\0y", 3);
	T_EQ_INT(b.len, 3, "buf holds NUL");
	p = buf_take(&b);
	T_EQ_INT(p[1] == '\0' && p[2] == 'y', 1, "buf_take keeps bytes");
	free(p);
	T_EQ_INT(b.len, 0, "buf_take empties");
	buf_free(&b);
}

int
main(void)
{
	test_cidr();
	test_addr_format();
	test_hostport();
	test_units();
	test_buf();
	return t_done();
}
