/*
 * sluiced: the daemon.  Runs in the foreground (systemd style) and wires
 * the layers together: the configuration, the SMTP listeners, the queue
 * and its writer thread, and the admin API, all on one event loop.
 *
 * Start-up order matters: listeners are bound and the TLS key is read
 * while still root (port 25, a key readable by root only); then the state
 * directory is prepared and privileges are dropped to `user`; only then
 * is the queue database opened, so every file it creates belongs to that
 * user.  Shutdown (SIGTERM): new clients and idle sessions get 421,
 * transactions in progress finish, the writer commits what it was given.
 *
 * Reload (SIGHUP, POST /v1/reload): the file is read and checked in full
 * (reload.c); if it has errors they are logged and the running
 * configuration stays.  Otherwise d->conf becomes the new one and every
 * part that keeps a configuration is told (reloaded()).  Nobody is cut
 * short: each SMTP session and each delivery attempt holds a reference
 * on the configuration it started under (conf_ref), and the old one is
 * freed with the last of them.  What is not configuration (queue, quota
 * counters in the engine, schedule, connection counts) is not touched.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "../conf/conf.h"
#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "../queue/queue.h"
#include "api.h"
#include "delivery.h"
#include "engine.h"
#include "notify.h"
#include "reload.h"
#include "smtp.h"
#include "tls.h"

#define SLUICE_VERSION		"0.1.0"
#define SHUTDOWN_GRACE		30	/* seconds for transactions to end */
#define DELIVERY_GRACE		5	/* seconds for deliveries to end */

struct sluiced {
	struct conf		*conf;
	struct event_base	*base;
	SSL_CTX			*tls;
	struct smtp_server	*smtp;
	struct queue		*queue;
	struct queue_writer	*writer;
	struct api		*api;
	struct delivery		*delivery;
	struct engine		*engine;	/* policies and quota counters */
	struct notify		*notify;	/* quota alerts */
	int			 waiting;	/* shutdown: parts still busy */
	struct event		*sig_term, *sig_int, *sig_hup;
	time_t			 started;
	bool			 stopping;
};

static void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: sluiced [-n [-d]] [-v] [-s] [-V] [-c FILE]\n"
	    "  -c FILE  configuration (default /etc/sluice/sluice.conf)\n"
	    "  -n       check the configuration and exit (0 when valid)\n"
	    "  -d       with -n: print the effective configuration\n"
	    "  -s       log to syslog (facility mail) instead of stderr\n"
	    "  -v       verbose (debug) logging\n"
	    "  -V       print the version\n"
	    "  -h       this help\n");
	exit(status);
}

/* mkdir -p: the missing parents get 0755 (like mkdir -p, so that the
 * run-as user can get through them), the directory itself mode. */
static int
mkdirs(const char *path, mode_t mode)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, c == '\0' ? mode : 0755) == -1 && errno != EEXIST)
			rc = -1;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* Creates the state and socket directories; as root, hands them to the
 * run-as user and drops privileges for good. */
static void
prepare_and_drop(const struct conf *conf)
{
	char *sockdir = dir_of(conf->admin_socket);
	struct passwd *pw = NULL;

	if (geteuid() == 0) {
		if (strcmp(conf->user, "root") == 0)
			fatal("event=fatal reason=\"user root: sluiced will not "
			    "run as root; name an unprivileged account\"");
		if ((pw = getpwnam(conf->user)) == NULL)
			fatal("event=fatal reason=\"user %s does not exist: "
			    "create it (systemd-sysusers, or useradd --system "
			    "%s) or set user in %s\"", conf->user, conf->user,
			    conf->path);
	}
	if (mkdirs(conf->state_dir, 0750) == -1)
		fatal("event=fatal reason=\"state-dir %s: %s\"",
		    conf->state_dir, strerror(errno));
	if (mkdirs(sockdir, 0755) == -1)
		fatal("event=fatal reason=\"admin socket directory %s: %s\"",
		    sockdir, strerror(errno));
	if (pw != NULL) {
		if (chown(conf->state_dir, pw->pw_uid, pw->pw_gid) == -1 ||
		    chown(sockdir, pw->pw_uid, pw->pw_gid) == -1)
			fatal("event=fatal reason=\"chown to %s: %s\"",
			    conf->user, strerror(errno));
		if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
		    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
			fatal("event=fatal reason=\"cannot drop to %s: %s\"",
			    conf->user, strerror(errno));
		if (setuid(0) == 0)
			fatal("event=fatal reason=\"privileges not dropped\"");
		log_info("event=privileges-dropped user=%s", conf->user);
	}
	free(sockdir);
}

static void
status_fields(struct buf *b, void *arg)
{
	struct sluiced *d = arg;
	const struct smtp_counters *c = smtp_server_counters(d->smtp);
	struct queue_file_stats fs;
	const char *errstr;

	buf_addstr(b, "\"hostname\":");
	buf_add_json_str(b, d->conf->hostname);
	buf_printf(b, ",\"version\":\"%s\",\"pid\":%ld,\"uptime\":%lld,"
	    "\"state\":\"%s\",\"sessions\":%llu,\"sessions_total\":%llu,"
	    "\"accepted\":%llu,\"accepted_bytes\":%llu,\"rejects\":%llu,"
	    "\"policy_refusals\":%llu,",
	    SLUICE_VERSION, (long)getpid(),
	    (long long)(time(NULL) - d->started),
	    d->stopping ? "stopping" : "running",
	    (unsigned long long)c->sessions,
	    (unsigned long long)c->sessions_total,
	    (unsigned long long)c->messages, (unsigned long long)c->bytes,
	    (unsigned long long)c->rejects,
	    (unsigned long long)c->policy_refusals);
	delivery_status_json(d->delivery, b);
	if (d->engine != NULL)
		engine_status_json(d->engine, b);
	if (queue_file_stats(d->queue, &fs, &errstr) == 0)
		buf_printf(b, "\"database\":{\"bytes\":%" PRIu64 ",\"free_bytes\":%"
		    PRIu64 "},", fs.bytes, fs.free_pages * fs.page_size);
	notify_status_json(d->notify, b);
	buf_addc(b, ',');
}

static void
queued(void *arg, const struct queue_msg *m)
{
	struct sluiced *d = arg;

	if (d->delivery != NULL)
		delivery_queued(d->delivery, m);
}

/* Delivery: expired deferred recipients hand back their reservations. */
static void
giveback(void *arg, const struct queue_counter *resv, size_t n)
{
	engine_giveback(arg, resv, n);
}

static void
changed(void *arg, const char *id)
{
	struct sluiced *d = arg;

	delivery_unsuspend(d->delivery);
	delivery_sync(d->delivery, id);
}

/* Shutdown: the SMTP sessions, then the deliveries, are over. */
static void
part_done(void *arg)
{
	struct sluiced *d = arg;

	if (--d->waiting == 0)
		event_base_loopexit(d->base, NULL);
}

/*
 * Logs each line of text as one key=value line: errors ("file:line:
 * message") as event=config-error, notes ("SETTING: why") as
 * event=reload-restart-needed.  Double quotes become single ones, so
 * that a value stays whole.
 */
static void
log_lines(const char *text, bool notes)
{
	char line[1024], *why;
	const char *p, *nl;
	size_t n, i;

	for (p = text; p != NULL && (nl = strchr(p, '\n')) != NULL;
	    p = nl + 1) {
		n = (size_t)(nl - p) < sizeof(line) ? (size_t)(nl - p) :
		    sizeof(line) - 1;
		for (i = 0; i < n; i++)
			line[i] = p[i] == '"' ? '\'' : p[i];
		line[n] = '\0';
		if (!notes)
			log_err("event=config-error error=\"%s\"", line);
		else if ((why = strstr(line, ": ")) != NULL) {
			*why = '\0';
			log_warn("event=reload-restart-needed setting=\"%s\" "
			    "reason=\"%s\"", line, why + 2);
		}
	}
}

/*
 * The parts that keep a configuration, told of a new one (each takes its
 * own reference; old is still valid here and freed once the sessions and
 * deliveries that started under it have ended).  A part added later
 * that keeps configuration pointers is told here too.
 */
static void
reloaded(struct sluiced *d, struct conf *old, struct conf *conf)
{
	(void)old;
	smtp_server_set_conf(d->smtp, conf, d->tls);
	delivery_set_conf(d->delivery, conf);
	engine_set_conf(d->engine, conf);
	notify_set_conf(d->notify, conf);
}

/* Reads the configuration file again and swaps it in; 0, or -1 when it
 * was refused (errors says why, the running one stays).  notes gets
 * what was kept from the running one. */
static int
reload(void *arg, struct buf *errors, struct buf *notes)
{
	struct sluiced *d = arg;
	struct reload_next next;
	struct conf *old;

	log_info("event=reload config=%s", d->conf->path);
	if (d->stopping) {
		buf_printf(errors, "%s: sluiced is shutting down\n",
		    d->conf->path);
		log_lines(errors->data, false);
		return -1;
	}
	if (reload_prepare(d->conf, d->tls, &next, errors, notes) == -1) {
		log_lines(errors->data, false);
		log_err("event=reload-failed config=%s reason=\"the "
		    "configuration has errors; the running one stays\"",
		    d->conf->path);
		return -1;
	}
	log_lines(notes->data, true);
	old = d->conf;
	d->conf = next.conf;
	if (d->tls != NULL)
		SSL_CTX_free(d->tls);
	d->tls = next.tls;
	reloaded(d, old, d->conf);
	conf_unref(&old);
	log_info("event=reloaded config=%s hostname=%s", d->conf->path,
	    d->conf->hostname);
	return 0;
}

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct sluiced *d = arg;
	struct buf errors = BUF_INIT, notes = BUF_INIT;

	(void)ev;
	if (sig == SIGHUP) {
		reload(d, &errors, &notes);
		buf_free(&errors);
		buf_free(&notes);
		return;
	}
	if (d->stopping)
		return;
	d->stopping = true;
	log_info("event=shutdown signal=%d", (int)sig);
	d->waiting = 2;
	smtp_server_shutdown(d->smtp, SHUTDOWN_GRACE, part_done, d);
	delivery_shutdown(d->delivery, DELIVERY_GRACE, part_done, d);
}

static void
start(struct sluiced *d)
{
	struct queue_stats st;
	struct api_deps deps;
	struct delivery_deps dd;
	const char *errstr;

	if (d->conf->tls_cert != NULL && (d->tls = tls_server_ctx_new(
	    d->conf->tls_cert, d->conf->tls_key, &errstr)) == NULL)
		fatal("event=fatal reason=\"%s\"", errstr);
	if (smtp_server_new(&d->smtp, d->base, d->conf, d->tls, &errstr) == -1)
		fatal("event=fatal reason=\"%s\"", errstr);
	prepare_and_drop(d->conf);
	if (strchr(d->conf->hostname, '.') == NULL)
		log_warn("event=config-warning reason=\"hostname %s is not "
		    "fully qualified: it names sluice in EHLO, Received and "
		    "bounces (From: MAILER-DAEMON@%s); set hostname in %s\"",
		    d->conf->hostname, d->conf->hostname, d->conf->path);
	if (queue_open(&d->queue, d->conf->state_dir, &errstr) == -1)
		fatal("event=fatal reason=\"queue %s: %s\"", d->conf->state_dir,
		    errstr);
	if (queue_recover(d->queue, (int64_t)time(NULL), &st, &errstr) == -1)
		fatal("event=fatal reason=\"queue recovery: %s\"", errstr);
	log_info("event=queue-recovered messages=%llu ready=%llu deferred=%llu "
	    "retry=%llu hold=%llu bytes=%llu", (unsigned long long)st.messages,
	    (unsigned long long)st.rcpts[QUEUE_READY],
	    (unsigned long long)st.rcpts[QUEUE_DEFERRED],
	    (unsigned long long)st.rcpts[QUEUE_RETRY],
	    (unsigned long long)st.rcpts[QUEUE_HOLD],
	    (unsigned long long)st.bytes);
	if (queue_writer_start(&d->writer, d->queue, &errstr) == -1)
		fatal("event=fatal reason=\"queue writer: %s\"", errstr);
	if (engine_new(&d->engine, d->base, d->conf, d->queue, d->writer,
	    &errstr) == -1)
		fatal("event=fatal reason=\"quota counters: %s\"", errstr);
	smtp_server_set_engine(d->smtp, d->engine);
	if (notify_new(&d->notify, d->base, d->conf, d->queue, d->writer,
	    &errstr) == -1)
		fatal("event=fatal reason=\"notifications: %s\"", errstr);
	notify_set_queued(d->notify, queued, d);
	smtp_server_set_notify(d->smtp, d->notify);
	if (api_release_late(d->engine, d->notify, d->queue, d->writer,
	    &errstr) == -1)
		fatal("event=fatal reason=\"deferral resume: %s\"", errstr);
	dd.base = d->base;
	dd.conf = d->conf;
	dd.queue = d->queue;
	dd.writer = d->writer;
	dd.giveback = giveback;
	dd.giveback_arg = d->engine;
	if (delivery_start(&d->delivery, &dd, &errstr) == -1)
		fatal("event=fatal reason=\"delivery: %s\"", errstr);
	memset(&deps, 0, sizeof(deps));
	deps.queue = d->queue;
	deps.writer = d->writer;
	deps.status = status_fields;
	deps.status_arg = d;
	deps.changed = changed;
	deps.changed_arg = d;
	deps.engine = d->engine;
	deps.notify = d->notify;
	deps.reload = reload;
	deps.reload_arg = d;
	if (api_start(&d->api, d->base, d->conf->admin_socket, &deps,
	    &errstr) == -1)
		fatal("event=fatal reason=\"admin socket %s: %s\"",
		    d->conf->admin_socket, errstr);
	smtp_server_enable(d->smtp, d->writer, queued, d);
}

static void
stop(struct sluiced *d)
{
	api_stop(&d->api);
	smtp_server_free(&d->smtp);
	notify_stop(d->notify);
	engine_stop(d->engine);
	queue_writer_stop(&d->writer);
	/* run the commit callbacks the writer handed back while stopping */
	event_base_loop(d->base, EVLOOP_NONBLOCK);
	delivery_free(&d->delivery);
	engine_free(&d->engine);
	notify_free(&d->notify);
	queue_close(&d->queue);
	event_free(d->sig_term);
	event_free(d->sig_int);
	event_free(d->sig_hup);
	event_base_free(d->base);
	if (d->tls)
		SSL_CTX_free(d->tls);
	conf_unref(&d->conf);
}

int
main(int argc, char **argv)
{
	const char *path = "/etc/sluice/sluice.conf";
	bool check = false, dump = false, use_syslog = false;
	struct buf out = BUF_INIT;
	struct sluiced d;
	size_t i;
	int ch;

	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		usage(0);
	while ((ch = getopt(argc, argv, "c:hndsvV")) != -1) {
		switch (ch) {
		case 'h': usage(0); break;
		case 'c': path = optarg; break;
		case 'n': check = true; break;
		case 'd': dump = true; break;
		case 's': use_syslog = true; break;
		case 'v': log_set_level(LOG_LVL_DEBUG); break;
		case 'V': printf("sluiced %s\n", SLUICE_VERSION); return 0;
		default: usage(2);
		}
	}
	if (optind != argc || (dump && !check))
		usage(2);
	memset(&d, 0, sizeof(d));
	if (check) {
		/* what the daemon will load at start-up, -n loads now */
		if (reload_check(path, &d.conf, &out) == -1) {
			fputs(out.data ? out.data : "", stderr);
			buf_free(&out);
			return 1;
		}
		reload_warnings(d.conf, stderr);
		if (dump) {
			conf_dump(d.conf, &out);
			fputs(out.data ? out.data : "", stdout);
		}
		buf_free(&out);
		conf_unref(&d.conf);
		return 0;
	}
	if (conf_load(path, &d.conf, &out) == -1) {
		fputs(out.data ? out.data : "", stderr);
		buf_free(&out);
		return 1;
	}
	log_init("sluiced", use_syslog);
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() == -1 || (d.base = event_base_new()) == NULL)
		fatal("event=fatal reason=\"cannot set up the event loop\"");
	d.started = time(NULL);
	start(&d);
	d.sig_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
	d.sig_int = evsignal_new(d.base, SIGINT, on_signal, &d);
	d.sig_hup = evsignal_new(d.base, SIGHUP, on_signal, &d);
	evsignal_add(d.sig_term, NULL);
	evsignal_add(d.sig_int, NULL);
	evsignal_add(d.sig_hup, NULL);
	for (i = 0; i < d.conf->nlisten; i++)
		log_info("event=listening address=%s%s", d.conf->listen[i].text,
		    d.conf->listen[i].tls_required ? " tls=required" :
		    d.conf->listen[i].tls ? " tls=starttls" : "");
	log_info("event=ready version=%s hostname=%s state_dir=%s admin=%s",
	    SLUICE_VERSION, d.conf->hostname, d.conf->state_dir,
	    d.conf->admin_socket);
	event_base_dispatch(d.base);
	stop(&d);
	log_info("event=stopped");
	return 0;
}
