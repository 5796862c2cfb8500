/*
 * test_reload: the pieces a reload is made of, below the daemon: the
 * configuration's references (conf_ref/conf_unref), the settings a
 * reload keeps from the running configuration (conf_keep_restart), the
 * admin socket read from a file with errors (conf_admin_socket), and the
 * schedule following new limits and new destinations (sched_set_limits,
 * sched_rekey).  Run under ASan too: a reference dropped once too often
 * or never is a failure there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "relay/sched.h"
#include "t.h"

#define BASE	"hostname a.test\nstate-dir /tmp/a\nlisten 127.0.0.1:2525\n" \
		"admin socket /tmp/a/admin.sock\n"

static struct conf *
load(const char *text)
{
	struct buf errors = BUF_INIT;
	struct conf *c = NULL;

	if (conf_load_string("t.conf", text, &c, &errors) == -1)
		printf("# %s", errors.data ? errors.data : "(no error text)\n");
	buf_free(&errors);
	return c;
}

static void
test_refs(void)
{
	struct conf *c = load(BASE), *r;

	T_OK(c != NULL, "the base configuration loads");
	if (c == NULL)
		return;
	T_EQ_INT(c->refs, 1, "conf_load gives one reference");
	r = conf_ref(c);
	T_OK(r == c, "conf_ref returns its argument");
	T_EQ_INT(c->refs, 2, "two holders");
	conf_unref(&r);
	T_OK(r == NULL, "conf_unref clears the caller's pointer");
	T_EQ_INT(c->refs, 1, "one holder left, the conf still there");
	T_EQ_STR(c->hostname, "a.test", "and still readable");
	conf_free(&c);
	T_OK(c == NULL, "the last reference frees (ASan: no leak)");
	conf_unref(&c);
	T_OK(c == NULL, "conf_unref(NULL) is harmless");
}

struct kept {
	char	names[256];
	int	n;
};

static void
note(void *arg, const char *setting, const char *why)
{
	struct kept *k = arg;
	size_t len = strlen(k->names);

	snprintf(k->names + len, sizeof(k->names) - len, "%s%s",
	    k->n++ ? "," : "", setting);
	T_OK(strstr(why, "restart") != NULL, "the note says a restart is "
	    "needed");
}

static void
test_keep_restart(void)
{
	static const struct {
		const char	*next, *want;
	} cases[] = {
		{ BASE "relay-domains new.test\n", "" },
		{ "hostname a.test\nstate-dir /tmp/b\nlisten 127.0.0.1:2525\n"
		  "admin socket /tmp/a/admin.sock\n", "state-dir" },
		{ "hostname a.test\nstate-dir /tmp/a\nlisten 127.0.0.1:2526\n"
		  "listen 127.0.0.1:2527\nadmin socket /tmp/b.sock\n"
		  "user nobody\n", "listen,user,admin socket" },
		{ "hostname a.test\nstate-dir /tmp/a\n"
		  "listen 127.0.0.1:2525 tls\ntls certificate /etc/passwd key "
		  "/etc/passwd\nadmin socket /tmp/a/admin.sock\n", "listen" },
	};
	struct conf *running = load(BASE), *next;
	struct kept k;
	char name[128];
	size_t i;

	if (running == NULL)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if ((next = load(cases[i].next)) == NULL) {
			T_OK(0, "a case's configuration loads");
			continue;
		}
		memset(&k, 0, sizeof(k));
		snprintf(name, sizeof(name), "case %zu: the settings kept", i);
		T_EQ_INT(conf_keep_restart(next, running, note, &k), k.n,
		    name);
		T_EQ_STR(k.names, cases[i].want, name);
		snprintf(name, sizeof(name), "case %zu: next runs what "
		    "runs", i);
		T_EQ_INT(next->nlisten, 1, name);
		T_EQ_STR(next->listen[0].text, "127.0.0.1:2525", name);
		T_OK(!next->listen[0].tls, name);
		T_EQ_STR(next->state_dir, "/tmp/a", name);
		T_EQ_STR(next->admin_socket, "/tmp/a/admin.sock", name);
		T_EQ_STR(next->user, running->user, name);
		memset(&k, 0, sizeof(k));
		snprintf(name, sizeof(name), "case %zu: nothing to keep "
		    "twice", i);
		T_EQ_INT(conf_keep_restart(next, running, note, &k), 0, name);
		conf_unref(&next);
	}
	conf_unref(&running);
}

static void
test_admin_socket(void)
{
	char path[] = "/tmp/test_reload.XXXXXX";
	const char *text = "hostname x.test\nno-such-keyword 1\n"
	    "admin socket /tmp/x/admin.sock\nlimits { recipients many }\n";
	char *sock;
	FILE *f;
	int fd;

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		T_OK(0, "a temporary file");
		return;
	}
	fputs(text, f);
	fclose(f);
	sock = conf_admin_socket(path);
	T_EQ_STR(sock, "/tmp/x/admin.sock", "the socket of a file with errors");
	free(sock);
	unlink(path);
	sock = conf_admin_socket(path);
	T_OK(sock == NULL, "no socket from a file that is not there");
}

static const char *relayhost;	/* NULL: by domain */

static const char *
dest_of(const char *addr, void *arg)
{
	const char *at = strrchr(addr, '@');

	(void)arg;
	return relayhost != NULL ? relayhost : at ? at + 1 : addr;
}

/* "ID/dest:n" of a delivery, or "-". */
static const char *
show(struct sched_delivery *d)
{
	static char out[128];

	if (d == NULL)
		return "-";
	snprintf(out, sizeof(out), "%s/%s:%zu", d->id, d->dest, d->nrcpt);
	return out;
}

static void
test_sched(void)
{
	struct sched_limits one = { 1, 1 }, more = { 4, 2 };
	struct sched *s;
	struct sched_delivery *a, *b, *c;

	relayhost = "[relayhost]";
	s = sched_new(&one, dest_of, NULL);
	sched_add(s, "AAAA", 0, "u@x.test", 5);
	sched_add(s, "AAAA", 1, "v@y.test", 5);
	sched_add(s, "BBBB", 0, "w@x.test", 7);
	a = sched_next(s, 10);
	T_EQ_STR(show(a), "AAAA/[relayhost]:2", "one delivery to the "
	    "relayhost");
	T_EQ_STR(show(sched_next(s, 10)), "-", "the limit holds BBBB");
	T_EQ_INT(sched_waiting(s), 1, "BBBB waits in the line");

	/* the reload: deliver mx, more room */
	relayhost = NULL;
	sched_set_limits(s, &more);
	sched_rekey(s);
	T_EQ_INT(sched_waiting(s), 1, "still one waiting after the rekey");
	T_EQ_INT(sched_next_due(s), 7, "out of the line, at its due time");
	b = sched_next(s, 10);
	T_EQ_STR(show(b), "BBBB/x.test:1", "BBBB goes by its domain now");
	sched_add(s, "CCCC", 0, "p@x.test", 8);
	sched_add(s, "CCCC", 1, "q@y.test", 8);
	c = sched_next(s, 10);
	T_EQ_STR(show(c), "CCCC/x.test:1", "a message is split per domain");
	sched_finish(s, &c);
	c = sched_next(s, 10);
	T_EQ_STR(show(c), "CCCC/y.test:1", "its other domain");
	T_EQ_INT(sched_active(s), 3, "three at once under the new limits");
	sched_finish(s, &a);		/* the old delivery's slot comes back */
	sched_finish(s, &b);
	sched_finish(s, &c);
	T_EQ_INT(sched_active(s), 0, "every slot back");
	T_EQ_STR(show(sched_next(s, 100)), "-", "nothing left");
	sched_free(&s);
}

int
main(void)
{
	test_refs();
	test_keep_restart();
	test_admin_socket();
	test_sched();
	return t_done();
}
