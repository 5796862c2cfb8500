/*
 * fuzz_dns_wire: libFuzzer target for the answer parser of
 * relay/dns_wire.c.  The input is one DNS message as a server would send
 * it (at most 65535 bytes, the TCP length bound).  It is read for MX, A
 * and AAAA, each time for "example.com" and for the first question's
 * name when it is a valid host name (so that the fuzzer's answers can
 * match the question through compression pointers); CNAME chains are
 * followed by the parser itself.  The message sits in a heap block of
 * exactly its size, so a read past its end is an ASan report.
 * Invariants checked (abort on violation):
 *   - the result is 0 or -1, and -1 comes with a printable error text;
 *   - the canonical name is NUL-terminated within its buffer, printable;
 *   - MX: at most DNS_MX_READ hosts, no address; each name NUL-terminated
 *     in DNS_NAME_SIZE and printable, pref <= 65535, and "valid" exactly
 *     when the name passes dns_name_ok();
 *   - A/AAAA: at most DNS_ADDR_MAX addresses of the family asked, no MX;
 *     each text NUL-terminated and the address it parses back to;
 *   - an unsupported type is refused; parsing is deterministic.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/dns_priv.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c)	do { if (!(c)) abort(); } while (0)

static struct dns_wire_answer	ans, again;

static void
check_text(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);
	size_t i;

	CHECK(nul != NULL);
	for (i = 0; s + i < nul; i++)
		CHECK(s[i] >= 0x20 && s[i] < 0x7f);
}

static void
check_mx(const struct dns_wire_answer *a)
{
	size_t i;

	CHECK(a->nmx <= DNS_MX_READ && a->naddr == 0);
	for (i = 0; i < a->nmx; i++) {
		check_text(a->mx[i].name, sizeof(a->mx[i].name));
		CHECK(a->mx[i].pref <= 65535);
		CHECK(a->mx[i].valid == dns_name_ok(a->mx[i].name));
		CHECK(a->mx[i].name[0] != '\0');
	}
}

static void
check_addrs(const struct dns_wire_answer *a, uint16_t type)
{
	int family = type == DNS_T_A ? AF_INET : AF_INET6;
	uint8_t bytes[16];
	const void *want;
	size_t i;

	CHECK(a->naddr <= DNS_ADDR_MAX && a->nmx == 0 && a->nnull == 0);
	for (i = 0; i < a->naddr; i++) {
		const struct dns_addr *d = &a->addrs[i];

		check_text(d->text, sizeof(d->text));
		CHECK(d->sa.ss_family == family);
		if (family == AF_INET) {
			CHECK(d->salen == sizeof(struct sockaddr_in));
			want = &((const struct sockaddr_in *)&d->sa)->sin_addr;
		} else {
			CHECK(d->salen == sizeof(struct sockaddr_in6));
			want = &((const struct sockaddr_in6 *)&d->sa)->sin6_addr;
		}
		CHECK(inet_pton(family, d->text, bytes) == 1);
		CHECK(memcmp(bytes, want, family == AF_INET ? 4 : 16) == 0);
	}
}

static void
parse(const uint8_t *m, size_t len, const char *qname, uint16_t type)
{
	const char *err = NULL, *err2 = NULL;
	int r;

	r = dns_wire_parse(m, len, qname, type, &ans, &err);
	CHECK(r == 0 || r == -1);
	if (r == -1) {
		CHECK(err != NULL);
		check_text(err, strlen(err) + 1);
	}
	check_text(ans.canon, sizeof(ans.canon));
	if (type == DNS_T_MX)
		check_mx(&ans);
	else
		check_addrs(&ans, type);
	CHECK(dns_wire_parse(m, len, qname, type, &again, &err2) == r);
	CHECK(again.nmx == ans.nmx && again.nnull == ans.nnull &&
	    again.naddr == ans.naddr && strcmp(again.canon, ans.canon) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = { DNS_T_MX, DNS_T_A, DNS_T_AAAA };
	char qname[NS_MAXDNAME];
	const char *err;
	uint8_t *m;
	size_t i, n;
	bool have_q = false;

	if (size > DNS_MSG_MAX)
		return 0;
	m = malloc(size > 0 ? size : 1);
	CHECK(m != NULL);
	memcpy(m, data, size);
	if (size > 12 && dn_expand(m, m + size, m + 12, qname,
	    sizeof(qname)) >= 0) {
		n = strlen(qname);
		if (n > 0 && qname[n - 1] == '.')
			qname[n - 1] = '\0';
		have_q = dns_name_ok(qname);
	}
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		parse(m, size, "example.com", types[i]);
		if (have_q)
			parse(m, size, qname, types[i]);
	}
	CHECK(dns_wire_parse(m, size, "example.com", DNS_T_CNAME, &ans,
	    &err) == -1);
	free(m);
	return 0;
}
