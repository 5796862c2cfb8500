/*
 * addr: address and network parsing with inet_pton; no DNS, ever.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "strutil.h"

static const uint8_t v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

/* Turns ::ffff:a.b.c.d into the IPv4 address a.b.c.d. */
static void
addr_unmap(struct addr *a)
{
	if (a->family == AF_INET6 && memcmp(a->bytes, v4mapped, 12) == 0) {
		memmove(a->bytes, a->bytes + 12, 4);
		memset(a->bytes + 4, 0, 12);
		a->family = AF_INET;
	}
}

int
addr_parse(const char *s, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->bytes) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->bytes) == 1) {
		a->family = AF_INET6;
		addr_unmap(a);
		return 0;
	}
	return -1;
}

int
addr_from_sockaddr(const struct sockaddr *sa, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		a->family = AF_INET;
		memcpy(a->bytes, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		a->family = AF_INET6;
		memcpy(a->bytes, &sin6->sin6_addr, 16);
		addr_unmap(a);
		return 0;
	}
	return -1;
}

void
addr_format(const struct addr *a, char *buf, size_t bufsz)
{
	if (inet_ntop(a->family, a->bytes, buf, (socklen_t)bufsz) == NULL)
		str_copy(buf, "?", bufsz);
}

bool
addr_equal(const struct addr *a, const struct addr *b)
{
	return a->family == b->family &&
	    memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16) == 0;
}

static unsigned
addr_bits(const struct addr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

int
cidr_parse(const char *s, struct cidr *c, const char **errstr)
{
	char tmp[ADDR_STRLEN + 8];
	char *slash;
	uint64_t prefix;
	unsigned i;

	if (str_copy(tmp, s, sizeof(tmp)) >= sizeof(tmp)) {
		*errstr = "invalid address or network";
		return -1;
	}
	if ((slash = strchr(tmp, '/')) != NULL)
		*slash++ = '\0';
	if (addr_parse(tmp, &c->net) == -1) {
		*errstr = "invalid address or network";
		return -1;
	}
	/* a mapped address given with a v6 prefix: keep the v4 meaning */
	c->prefix = addr_bits(&c->net);
	if (slash != NULL) {
		if (str_to_u64(slash, 0, addr_bits(&c->net), &prefix,
		    errstr) == -1) {
			*errstr = "invalid prefix length";
			return -1;
		}
		c->prefix = (unsigned)prefix;
	}
	for (i = c->prefix; i < addr_bits(&c->net); i++) {
		if (c->net.bytes[i / 8] & (0x80 >> (i % 8))) {
			*errstr = "host bits set in network";
			return -1;
		}
	}
	return 0;
}

bool
cidr_match(const struct cidr *c, const struct addr *a)
{
	unsigned full, rest;

	if (c->net.family != a->family)
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(c->net.bytes, a->bytes, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((c->net.bytes[full] ^ a->bytes[full]) &
	    (uint8_t)(0xff << (8 - rest))) == 0;
}

void
cidr_format(const struct cidr *c, char *buf, size_t bufsz)
{
	char a[ADDR_STRLEN];

	addr_format(&c->net, a, sizeof(a));
	snprintf(buf, bufsz, "%s/%u", a, c->prefix);
}

int
addr_parse_hostport(const char *s, const char *defport,
    struct sockaddr_storage *ss, socklen_t *sslen, const char **errstr)
{
	char host[ADDR_STRLEN + 2];
	const char *port = defport, *colon, *close;
	uint64_t pnum;
	struct addr a;
	size_t hlen;

	if (*s == '[') {
		if ((close = strchr(s, ']')) == NULL) {
			*errstr = "missing ']' in address";
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		s++;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0') {
			*errstr = "junk after ']' in address";
			return -1;
		}
	} else if ((colon = strrchr(s, ':')) != NULL &&
	    strchr(s, ':') == colon) {
		hlen = (size_t)(colon - s);
		port = colon + 1;
	} else
		hlen = strlen(s);
	if (hlen >= sizeof(host)) {
		*errstr = "invalid address";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (port == NULL) {
		*errstr = "missing port";
		return -1;
	}
	if (str_to_u64(port, 1, 65535, &pnum, errstr) == -1) {
		*errstr = "invalid port";
		return -1;
	}
	if (strcmp(host, "*") == 0)
		str_copy(host, "::", sizeof(host));
	if (addr_parse(host, &a) == -1) {
		*errstr = "invalid address (a numeric IPv4 or IPv6 address)";
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (a.family == AF_INET) {
		struct sockaddr_in *sin = (void *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pnum);
		memcpy(&sin->sin_addr, a.bytes, 4);
		*sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)pnum);
		memcpy(&sin6->sin6_addr, a.bytes, 16);
		*sslen = sizeof(*sin6);
	}
	return 0;
}
