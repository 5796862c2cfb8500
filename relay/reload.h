/*
 * reload: a configuration as the daemon takes it.  Beyond the language
 * (conf_load), a configuration names files the daemon loads: the server
 * certificate and key, the delivery CA files.  reload_check() loads all
 * of it, for `sluiced -n` and `sluicectl check`; reload_prepare() does
 * the same for a running daemon's reload and decides what the daemon
 * keeps (the settings that need a restart, a certificate it can no longer
 * read).  Swapping the result in is the daemon's (sluiced.c).
 */
#ifndef SLUICE_RELOAD_H
#define SLUICE_RELOAD_H

#include <stdio.h>

#include <openssl/ssl.h>

#include "../conf/conf.h"
#include "../lib/buf.h"

/* A configuration ready to be swapped in. */
struct reload_next {
	struct conf	*conf;		/* a reference */
	SSL_CTX		*tls;		/* a reference; NULL: no STARTTLS */
};

/*
 * Loads path and every file it names, as sluiced does at start-up.
 * 0 with *confp (the caller's reference); or -1 with every problem in
 * errors, one per line, "file:line: message" (the certificate's as
 * "file: message").
 */
int	reload_check(const char *path, struct conf **confp,
	    struct buf *errors);
/* Prints what a valid configuration sets but this version does not act
 * on, as "file:line: warning: ..." lines (sluiced -n, sluicectl check). */
void	reload_warnings(const struct conf *, FILE *);

/*
 * A reload of the daemon that runs `running` (with the server context
 * tls, or NULL): reads running->path again and checks it as
 * reload_check() does.  The settings that need a restart are kept from
 * running (conf_keep_restart), each noted in notes as "SETTING: why\n";
 * the server certificate is loaded again, or the running one is kept
 * (noted) when the file cannot be read as the daemon's user any more
 * under the same name, or when the kept listeners offer STARTTLS and the
 * new file names no certificate.  On success 0 and *next, and delivery's
 * CA files are those of next->conf from now on; on failure -1 with the
 * problems in errors, and nothing changed.
 */
int	reload_prepare(const struct conf *running, SSL_CTX *tls,
	    struct reload_next *next, struct buf *errors, struct buf *notes);
/* Drops next's references. */
void	reload_next_clear(struct reload_next *);

#endif
