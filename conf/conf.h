/*
 * conf: the configuration language (lexer, parser, validator) and the
 * daemon settings it yields.  One table of settings (name, default, unit,
 * bounds) is shared by the parser, `sluiced -n` and the dump.
 *
 * Ownership: conf_load() returns a struct conf the caller frees with
 * conf_free().  Nothing is applied by this module; the daemon decides.
 */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../lib/addr.h"
#include "../lib/buf.h"

struct conf_listen {
	char			*text;		/* as written, e.g. "127.0.0.1:2525" */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	bool			 tls;		/* offers STARTTLS */
	bool			 tls_required;	/* MAIL refused before STARTTLS */
	int			 line;		/* for messages about this listener */
};

struct conf_limits {
	uint64_t	message_size;		/* bytes; SIZE= and DATA bound */
	uint64_t	recipients;		/* per message */
	uint64_t	connections;		/* at once, all clients */
	uint64_t	connections_per_ip;	/* at once, per client address */
	uint64_t	command_timeout;	/* seconds idle between commands */
	uint64_t	data_timeout;		/* seconds idle inside DATA */
	uint64_t	errors;			/* bad commands before disconnect */
	uint64_t	line_length;		/* bytes per command line */
};

struct conf {
	char			*path;		/* the file loaded */
	char			*hostname;	/* banner, Received, EHLO */
	char			*state_dir;	/* queue database and state */
	char			*user;		/* run as, when started as root */
	struct conf_listen	*listen;
	size_t			 nlisten;
	struct cidr		*trusted;	/* may relay; XFORWARD honoured */
	size_t			 ntrusted;
	char			**relay_domains; /* lower-cased */
	size_t			 nrelay_domains;
	char			*tls_cert;	/* PEM chain file, or NULL */
	char			*tls_key;	/* PEM key file, or NULL */
	struct conf_limits	 limits;
	char			*admin_socket;	/* UNIX socket of the admin API */
};

/*
 * Reads and validates the file at path.  On success returns 0 and sets
 * *confp.  On failure returns -1 and appends every error found, one per
 * line, as "file:line: message\n" to errors (nothing is half-applied).
 */
int	conf_load(const char *path, struct conf **confp, struct buf *errors);
/* The same, for a configuration held in memory (tests, `sluicectl check`):
 * name is the file name used in messages. */
int	conf_load_string(const char *name, const char *text,
	    struct conf **confp, struct buf *errors);
void	conf_free(struct conf **);
/* Writes every setting with its effective value, defaults included, one
 * per line, in the configuration language (`sluiced -n -d`). */
void	conf_dump(const struct conf *, struct buf *out);

/* True when addr is in trusted-networks. */
bool	conf_is_trusted(const struct conf *, const struct addr *);
/* True when domain (any case) is a relay-domain. */
bool	conf_is_relay_domain(const struct conf *, const char *domain);

#endif
