/*
 * addr: IPv4/IPv6 addresses and CIDR networks.  IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are treated as the IPv4 address they carry, so a client
 * that reaches a dual-stack socket matches IPv4 networks.
 */
#ifndef SLUICE_ADDR_H
#define SLUICE_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_STRLEN	64	/* enough for any IPv6 text form */

struct addr {
	int	family;		/* AF_INET or AF_INET6 */
	uint8_t	bytes[16];	/* 4 used for AF_INET */
};

struct cidr {
	struct addr	net;	/* host bits cleared */
	unsigned	prefix;	/* 0..32 or 0..128 */
};

/* Parses an address literal (no brackets, no port).  0 or -1. */
int	addr_parse(const char *, struct addr *);
/* Takes the address of a socket address, unmapping IPv4-mapped IPv6. */
int	addr_from_sockaddr(const struct sockaddr *, struct addr *);
void	addr_format(const struct addr *, char *buf, size_t bufsz);
bool	addr_equal(const struct addr *, const struct addr *);
/* Parses "a.b.c.d", "a.b.c.d/n", "v6", "v6/n".  A network with host bits
 * set is an error ("host bits set"), as a typo should not silently widen
 * or narrow a trust boundary.  0, or -1 with *errstr. */
int	cidr_parse(const char *, struct cidr *, const char **errstr);
bool	cidr_match(const struct cidr *, const struct addr *);
void	cidr_format(const struct cidr *, char *buf, size_t bufsz);

/* Splits "host:port", "[v6]:port" or "v6" with a separate default port
 * into a socket address (numeric only, no DNS).  0, or -1 with *errstr. */
int	addr_parse_hostport(const char *, const char *defport,
	    struct sockaddr_storage *, socklen_t *, const char **errstr);

#endif
