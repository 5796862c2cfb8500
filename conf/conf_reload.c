/*
 * conf_reload: what a reload may not change.  A running daemon has bound
 * its listeners and admin socket, opened its queue in state-dir and
 * dropped to user; a new file that says otherwise cannot be obeyed
 * without a restart.  Those settings are carried over from the running
 * configuration into the new one, so that the new one describes what
 * actually runs (the dump, the status, the listeners' addresses delivery
 * compares against), and each difference is reported once.
 *
 * Everything else in a new configuration takes effect: the daemon hands
 * it to new sessions and new delivery attempts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "conf.h"

static bool
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* The same listeners, in the same order, with the same options. */
static bool
listen_same(const struct conf *a, const struct conf *b)
{
	size_t i;

	if (a->nlisten != b->nlisten)
		return false;
	for (i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].text, b->listen[i].text) != 0 ||
		    a->listen[i].tls != b->listen[i].tls ||
		    a->listen[i].tls_required != b->listen[i].tls_required)
			return false;
	return true;
}

static void
listen_copy(struct conf *next, const struct conf *running)
{
	size_t i;

	for (i = 0; i < next->nlisten; i++)
		free(next->listen[i].text);
	free(next->listen);
	next->listen = xcalloc(running->nlisten ? running->nlisten : 1,
	    sizeof(*next->listen));
	for (i = 0; i < running->nlisten; i++) {
		next->listen[i] = running->listen[i];
		next->listen[i].text = xstrdup(running->listen[i].text);
	}
	next->nlisten = running->nlisten;
}

/* The settings held as one string that a reload keeps. */
static const struct {
	const char	*name;
	size_t		 off;		/* of the char * in struct conf */
	const char	*why;
} restart_strs[] = {
	{ "state-dir", offsetof(struct conf, state_dir),
	  "a restart is needed to move the queue; the running state-dir "
	  "stays" },
	{ "user", offsetof(struct conf, user),
	  "a restart is needed to run as another user; the running one "
	  "stays" },
	{ "admin socket", offsetof(struct conf, admin_socket),
	  "a restart is needed to move the admin socket; the running one "
	  "stays" },
};

size_t
conf_keep_restart(struct conf *next, const struct conf *running,
    conf_kept_fn *kept, void *arg)
{
	size_t i, n = 0;
	char **to;
	const char *from;

	if (!listen_same(next, running)) {
		listen_copy(next, running);
		kept(arg, "listen", "a restart is needed to change the "
		    "listeners; the running ones stay");
		n++;
	}
	for (i = 0; i < sizeof(restart_strs) / sizeof(restart_strs[0]); i++) {
		to = (char **)(void *)((char *)next + restart_strs[i].off);
		from = *(char *const *)(const void *)((const char *)running +
		    restart_strs[i].off);
		if (str_same(*to, from))
			continue;
		free(*to);
		*to = from != NULL ? xstrdup(from) : NULL;
		kept(arg, restart_strs[i].name, restart_strs[i].why);
		n++;
	}
	return n;
}
