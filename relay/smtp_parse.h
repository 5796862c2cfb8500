/*
 * smtp_parse: the SMTP command parser of the ingress side, as pure
 * functions over one command line (without its CRLF).  Everything here
 * reads attacker-controlled bytes; it allocates nothing, writes only into
 * the line it is given, and is the target of tests/fuzz/fuzz_smtp_parse.c.
 */
#ifndef SLUICE_SMTP_PARSE_H
#define SLUICE_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum smtp_cmd {
	SMTP_CMD_UNKNOWN,
	SMTP_CMD_HELO, SMTP_CMD_EHLO, SMTP_CMD_MAIL, SMTP_CMD_RCPT,
	SMTP_CMD_DATA, SMTP_CMD_RSET, SMTP_CMD_NOOP, SMTP_CMD_QUIT,
	SMTP_CMD_VRFY, SMTP_CMD_EXPN, SMTP_CMD_HELP, SMTP_CMD_STARTTLS,
	SMTP_CMD_XFORWARD, SMTP_CMD_AUTH, SMTP_CMD_BDAT
};

/* A parse failure: the reply the session sends.  Static storage. */
struct smtp_error {
	int		 code;		/* 501, 555, ... */
	const char	*ecode;		/* "5.5.4" */
	const char	*text;
};

enum smtp_body { SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };

struct smtp_mail_args {
	char		*addr;		/* into the line; "" for <> */
	bool		 has_size;
	uint64_t	 size;
	enum smtp_body	 body;
	bool		 smtputf8;
};

struct smtp_rcpt_args {
	char		*addr;		/* into the line */
};

/* XFORWARD attributes (Postfix XFORWARD_README); NULL when not given,
 * "" when given as [UNAVAILABLE] or [TEMPUNAVAIL]. */
struct smtp_xforward {
	char	*name, *addr, *port, *proto, *helo, *ident, *source;
};

/* Splits a line into its verb and the rest (args, leading spaces
 * skipped; "" when none).  The verb is case-insensitive. */
enum smtp_cmd	smtp_parse_verb(char *line, char **args);

/* Parses "FROM:<path> [params]".  0, or -1 with *err. */
int	smtp_parse_mail(char *args, struct smtp_mail_args *,
	    const struct smtp_error **err);
/* Parses "TO:<path> [params]" (postmaster allowed bare: <Postmaster>).
 * 0, or -1 with *err. */
int	smtp_parse_rcpt(char *args, struct smtp_rcpt_args *,
	    const struct smtp_error **err);
/* Parses "NAME=value ..." (values xtext-decoded in place) and fills only
 * the attributes given.  0, or -1 with *err. */
int	smtp_parse_xforward(char *args, struct smtp_xforward *,
	    const struct smtp_error **err);
/* Checks an address (local@domain, without brackets): length limits of
 * RFC 5321 4.5.3.1, a dot-string or quoted local part, a domain or an
 * address literal.  utf8 allows UTF-8 (RFC 6531).  True when valid. */
bool	smtp_addr_is_valid(const char *addr, bool utf8);
/* The domain of an address (after the last '@'), or "" when none. */
const char *smtp_addr_domain(const char *addr);
/* True when a HELO/EHLO argument is acceptable to record (printable,
 * no spaces, bounded); sluice never refuses EHLO for policy. */
bool	smtp_helo_is_valid(const char *);

#endif
