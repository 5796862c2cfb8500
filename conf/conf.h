/*
 * conf: the configuration language (lexer, parser, validator) and the
 * daemon settings it yields.  One table of settings (name, default, unit,
 * bounds) is shared by the parser, `sluiced -n` and the dump.
 *
 * Ownership: conf_load() returns a struct conf holding one reference,
 * which the caller drops with conf_unref() (or conf_free(), the same).
 * A daemon that reloads shares one conf between the parts and the
 * sessions that started under it: each holder takes its own reference
 * (conf_ref) and drops it when done, and the last one frees the conf.
 * Nothing is applied by this module; the daemon decides.
 */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../lib/addr.h"
#include "../lib/buf.h"
#include "../policy/policy.h"

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

/* How delivery uses STARTTLS (RFC 3207), as Postfix's
 * smtp_tls_security_level. */
enum conf_tls {
	CONF_TLS_NONE,		/* never, even when offered */
	CONF_TLS_MAY,		/* when offered; the certificate is not checked */
	CONF_TLS_ENCRYPT,	/* required; the certificate is not checked */
	CONF_TLS_VERIFY		/* required; chain checked against ca_file and
				 * the next hop's host name (an MX: its name) */
};

/* One next hop: `[host]:port`, `[host]` (no MX look-up, as Postfix),
 * `host:port` or `host` (MX look-up of host, A/AAAA when it has none). */
struct conf_nexthop {
	char		*host;		/* a name, lower-cased, or an address
					 * literal without brackets */
	uint16_t	 port;		/* 25 unless given */
	bool		 mx;		/* look up the MX records of host */
	bool		 literal;	/* host is an IPv4/IPv6 address */
};

/*
 * Where and how a recipient's mail goes: `deliver ...` or `route ...`.
 * With nhop == 0 (`deliver mx`) the next hops are the MX hosts of the
 * recipient's domain; else hop[0..nhop) are tried in order.  auth_user
 * and auth_pass are read from auth_file at load (NULL: no AUTH); the
 * password is wiped by conf_free().
 */
struct conf_nexthops {
	struct conf_nexthop	*hop;
	size_t			 nhop;
	enum conf_tls		 tls;
	char			*ca_file;	/* PEM CAs for tls verify */
	char			*auth_file;	/* as written, or NULL */
	char			*auth_user;
	char			*auth_pass;
	int			 line;		/* of the statement; 0: default */
};

struct conf_route {
	char			*domain;	/* exact, lower-cased */
	struct conf_nexthops	 via;
};

struct conf_delivery {
	uint64_t	connections;		/* outbound, at once, in all */
	uint64_t	per_destination;	/* at once, per next hop */
	uint64_t	timeout_connect;	/* seconds to connect */
	uint64_t	timeout_command;	/* seconds per reply, outside DATA */
	uint64_t	timeout_data;		/* seconds per reply in/after DATA */
};

/* Backoff of a recipient after a temporary failure: the first wait is
 * initial, no wait is longer than max, and once lifetime has passed
 * since arrival it bounces.  Seconds; initial <= max <= lifetime. */
struct conf_retry {
	uint64_t	initial;
	uint64_t	max;
	uint64_t	lifetime;
};

/*
 * Where quota alerts go (`notifier NAME { ... }`): a webhook (an HTTP
 * POST signed with the secret, retried until lifetime has passed) or
 * mail to addresses.  The secret is read from secret_file at load and
 * wiped by conf_free(); the dump names the file only.
 */
enum conf_notifier_kind { CONF_NOTIFIER_WEBHOOK, CONF_NOTIFIER_MAIL };

struct conf_notifier {
	char			*name;
	enum conf_notifier_kind	 kind;
	char			*url;		/* webhook */
	char			*secret_file;	/* as written, or NULL */
	char			*secret;	/* read at load, or NULL; wiped
						 * by conf_free */
	size_t			 secret_len;
	uint64_t		 timeout;	/* seconds */
	uint64_t		 lifetime;	/* seconds */
	char			**to;		/* mail: the recipients */
	size_t			 nto;
	char			*from;		/* mail: or NULL (the daemon
						 * uses MAILER-DAEMON@hostname) */
	int			 line;
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
	struct conf_nexthops	 deliver;	/* default: MX, tls may */
	struct conf_route	*routes;	/* per-domain overrides */
	size_t			 nroutes;
	struct conf_delivery	 delivery;
	struct conf_retry	 retry;
	char			*resolver;	/* DNS server as written, or NULL:
						 * the system's (resolv.conf) */
	struct sockaddr_storage	 resolver_ss;	/* its address, port 53 unless
						 * given */
	socklen_t		 resolver_sslen;
	uint64_t		 spf_timeout;	/* seconds, a whole SPF check */
	char			*postmaster;	/* told of bounces that bounce; a
						 * bare local part is @hostname */
	struct conf_notifier	*notifiers;	/* in the order of the file */
	size_t			 nnotifiers;
	struct pol_set		*policy;	/* groups and policies; NULL when
						 * there are none */
	unsigned		 refs;		/* conf_ref/conf_unref; 1 from
						 * conf_load (loop thread only) */
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
/* Another holder of c: returns c with one more reference.  References
 * are taken and dropped on one thread (the daemon's loop). */
struct conf *conf_ref(struct conf *c);
/* Drops the caller's reference and clears its pointer; the conf is freed
 * with its last reference.  Accepts NULL. */
void	conf_unref(struct conf **);
/* conf_unref(), for code that is the sole owner (conf_load's caller). */
void	conf_free(struct conf **);
/* The admin socket path can be read from a file with errors elsewhere
 * (`sluicectl reload` must reach the daemon, which reports them): the
 * path as the file sets it, or the default, in a malloc'd string; NULL
 * when the file cannot be read. */
char	*conf_admin_socket(const char *path);

/* Told of each setting a reload cannot change (see conf_keep_restart):
 * its name as written in the file and a sentence for the log. */
typedef void conf_kept_fn(void *arg, const char *setting, const char *why);
/*
 * A reload: the settings that need a restart (listen, state-dir, user,
 * admin socket) are copied from running into next, which then describes
 * what the daemon really runs; kept(arg, ...) is called for each one whose
 * value next had changed.  Returns how many were.
 */
size_t	conf_keep_restart(struct conf *next, const struct conf *running,
	    conf_kept_fn *kept, void *arg);
/* Writes every setting with its effective value, defaults included, one
 * per line, in the configuration language (`sluiced -n -d`). */
void	conf_dump(const struct conf *, struct buf *out);

/* True when addr is in trusted-networks. */
bool	conf_is_trusted(const struct conf *, const struct addr *);
/* True when domain (any case) is a relay-domain. */
bool	conf_is_relay_domain(const struct conf *, const char *domain);
/* Where mail for domain (any case) goes: its route, or the deliver
 * setting.  Never NULL; owned by the conf. */
const struct conf_nexthops *conf_route_for(const struct conf *,
	    const char *domain);
/* Settings that are valid but likely a mistake, one call of warn each
 * with its line: pol_set_warnings' (deferral bounds), greylisting in a
 * policy that matches mail to recipients outside relay-domains (it is
 * for inbound mail), and a notifier no quota notifies. */
void	conf_warnings(const struct conf *, pol_error_fn *warn, void *arg);
/* The notifier called name (exact), or NULL.  Owned by the conf; every
 * name a quota's notify gives is defined. */
const struct conf_notifier *conf_notifier(const struct conf *,
	    const char *name);

#endif
