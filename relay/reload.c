/*
 * reload: loading and checking a configuration in full (see reload.h).
 *
 * One path for the three users, so that `sluiced -n`, `sluicectl check`
 * and a reload refuse exactly the same files: the language's errors
 * (file:line, all of them), then the server certificate and key, then
 * the delivery CA files.  The files are read as whoever runs the check:
 * a reload runs as the daemon's user, after privileges were dropped.
 *
 * Nothing here logs: the caller reports errors and notes its own way
 * (stderr, the log, the admin API's answer).
 */
#include <stdbool.h>
#include <string.h>

#include "delivery.h"
#include "mta.h"
#include "../policy/quota.h"
#include "reload.h"
#include "tls.h"

/* The server context conf names (NULL when it names none); 0, or -1
 * with the problem in errors. */
static int
load_server_tls(const struct conf *conf, SSL_CTX **tlsp, const char **errstr)
{
	*tlsp = NULL;
	if (conf->tls_cert == NULL)
		return 0;
	*tlsp = tls_server_ctx_new(conf->tls_cert, conf->tls_key, errstr);
	return *tlsp != NULL ? 0 : -1;
}

struct warn_to {
	const char	*path;
	FILE		*f;
};

static void
print_warning(void *arg, int line, const char *msg)
{
	struct warn_to *w = arg;

	fprintf(w->f, "%s:%d: warning: %s\n", w->path, line, msg);
}

void
reload_warnings(const struct conf *c, FILE *f)
{
	struct warn_to w = { c->path, f };

	conf_warnings(c, print_warning, &w);
}

int
reload_check(const char *path, struct conf **confp, struct buf *errors)
{
	const char *errstr;
	SSL_CTX *tls;
	int line;

	if (conf_load(path, confp, errors) == -1)
		return -1;
	if (load_server_tls(*confp, &tls, &errstr) == -1) {
		buf_printf(errors, "%s: %s\n", path, errstr);
		conf_unref(confp);
		return -1;
	}
	if (tls != NULL)
		SSL_CTX_free(tls);
	if (delivery_preload_tls(*confp, &line, &errstr) == -1) {
		buf_printf(errors, "%s:%d: %s\n", path, line, errstr);
		mta_tls_cache_clear();
		conf_unref(confp);
		return -1;
	}
	mta_tls_cache_clear();
	return 0;
}

static void
note_kept(void *arg, const char *setting, const char *why)
{
	buf_printf(arg, "%s: %s\n", setting, why);
}

static bool
any_tls_listener(const struct conf *conf)
{
	size_t i;

	for (i = 0; i < conf->nlisten; i++)
		if (conf->listen[i].tls)
			return true;
	return false;
}

/*
 * The server context of a reload.  A certificate that fails to load
 * under the name the daemon runs with is most often a key readable by
 * root only, read at start-up before privileges were dropped: refusing
 * every reload for it would leave the administrator no way to change
 * anything else, so the running context stays, noted.  A new name that
 * fails is an error, as it is for `sluiced -n`.
 */
static int
reload_server_tls(struct conf *next, const struct conf *running,
    SSL_CTX *running_tls, SSL_CTX **tlsp, struct buf *errors,
    struct buf *notes)
{
	const char *errstr;
	bool same = next->tls_cert != NULL && running->tls_cert != NULL &&
	    next->tls_key != NULL && running->tls_key != NULL &&
	    strcmp(next->tls_cert, running->tls_cert) == 0 &&
	    strcmp(next->tls_key, running->tls_key) == 0;

	if (load_server_tls(next, tlsp, &errstr) == 0) {
		if (*tlsp != NULL || running_tls == NULL ||
		    !any_tls_listener(next))
			return 0;
		buf_printf(notes, "tls certificate: a restart is needed to "
		    "stop offering STARTTLS; the running certificate "
		    "stays\n");
	} else if (same && running_tls != NULL) {
		buf_printf(notes, "tls certificate: %s; the running "
		    "certificate stays (a restart reads it before "
		    "privileges are dropped)\n", errstr);
	} else {
		buf_printf(errors, "%s: %s\n", next->path, errstr);
		return -1;
	}
	SSL_CTX_up_ref(running_tls);
	*tlsp = running_tls;
	return 0;
}

int
reload_prepare(const struct conf *running, SSL_CTX *running_tls,
    struct reload_next *next, struct buf *errors, struct buf *notes)
{
	const char *errstr;
	int line;

	memset(next, 0, sizeof(*next));
	if (conf_load(running->path, &next->conf, errors) == -1)
		return -1;
	conf_keep_restart(next->conf, running, note_kept, notes);
	if (reload_server_tls(next->conf, running, running_tls, &next->tls,
	    errors, notes) == -1) {
		reload_next_clear(next);
		return -1;
	}
	if (delivery_reload_tls(next->conf, running, &line, &errstr) == -1) {
		buf_printf(errors, "%s:%d: %s\n", running->path, line, errstr);
		reload_next_clear(next);
		return -1;
	}
	return 0;
}

void
reload_next_clear(struct reload_next *next)
{
	if (next->tls != NULL)
		SSL_CTX_free(next->tls);
	next->tls = NULL;
	conf_unref(&next->conf);
}
