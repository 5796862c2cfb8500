/*
 * sluicectl: the administrator's command-line tool.  It reads the admin
 * socket's path from the configuration (conf_load, default
 * /etc/sluice/sluice.conf) and talks to sluiced's admin API over it
 * (ctl_http.c); `--json` prints the API's JSON as it came, otherwise
 * ctl_print.c formats it for people.
 *
 * `check` needs no daemon: it loads the configuration and every file it
 * names as sluiced would (reload.c, the checks of `sluiced -n`).
 *
 * Exit status: 0 success, 1 failure (daemon unreachable, API error, no
 * such message, invalid configuration, a reload refused), 2 usage
 * error.
 *
 * What an attacker controls: nothing beyond the local user's own
 * arguments; the strings in the answers came from SMTP peers and are
 * escaped for the terminal by ctl_put().  `queue cat` writes the stored
 * message raw, as postcat does: pipe it to a pager to be safe.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/conf.h"
#include "../lib/buf.h"
#include "ctl_priv.h"
#include "reload.h"

#define CTL_DEFAULT_CONF	"/etc/sluice/sluice.conf"

/*
 * The options of a command, read anywhere after the command word (and
 * --json before it too): --json, --state S, --sender A, --now,
 * -h/--help.
 */
struct ctl_opts {
	bool		 json;
	bool		 help;
	bool		 now;		/* queue release --now */
	const char	*state;
	const char	*sender;
	const char	*conf;		/* check -c FILE */
	struct ctl_policy_opts pol;	/* quota --key, explain's */
	char		**args;		/* positional arguments */
	int		 nargs;
};

/* The states a listing can be filtered by, as the API names them. */
static const char *const ctl_states[] = {
	"ready", "deferred", "retry", "hold"
};

static void
ctl_usage(FILE *f)
{
	fputs("usage: sluicectl [-c FILE] [-s SOCKET] COMMAND [ARGS]\n"
	    "  status [--json]                  the daemon and its queue\n"
	    "  queue [--json] [--state S] [--sender A]\n"
	    "                                   list the queue (S: ready,"
	    " deferred,\n"
	    "                                   retry, hold; A: <> for the"
	    " null sender);\n"
	    "                                   deferred: each recipient, the"
	    " quota and\n"
	    "                                   key that hold it, when it"
	    " leaves\n"
	    "  queue show ID [--json]           one message and its"
	    " recipients\n"
	    "  queue cat ID                     the stored message, raw\n"
	    "  queue hold ID...|--sender A      keep messages from delivery\n"
	    "  queue release [--now] ID...|--sender A\n"
	    "                                   a held message goes through"
	    " its quotas\n"
	    "                                   again (it may be deferred);"
	    " --now sends\n"
	    "                                   it now, deferred mail too,"
	    " bypassing\n"
	    "                                   quotas (logged, and shown by"
	    " queue show)\n"
	    "  queue delete ID...|--sender A    remove messages\n"
	    "  queue flush                      what waits for a retry: due"
	    " now\n"
	    "  quota [--json] [--key K]         usage per quota and key\n"
	    "  quota set KEY LIMIT              another limit for KEY (each"
	    " quota's\n"
	    "                                   first), kept until cleared\n"
	    "  quota exempt KEY                 KEY is counted, never limited\n"
	    "  quota clear KEY                  KEY's limits as configured\n"
	    "  accounting [--json] [--key K] [--history]\n"
	    "                                   what each accounting counted"
	    " per key in\n"
	    "                                   the current period (--history:"
	    " the\n"
	    "                                   previous periods kept too)\n"
	    "  explain --sender A --recipient B [--recipient C...]"
	    " [--client-ip IP]\n"
	    "          [--helo H] [--sasl U] [--size N] [--json]\n"
	    "                                   what the policies would decide"
	    " now, and\n"
	    "                                   why (changes nothing)\n"
	    "  check [-c FILE]                  validate a configuration"
	    " (no daemon\n"
	    "                                   needed): FILE: ok, or its"
	    " errors\n"
	    "  reload [--json]                  sluiced reads its configuration"
	    " again\n"
	    "  notify test NAME [--json]        a sample quota alert to"
	    " notifier NAME\n"
	    "                                   (a webhook: its answer; mail:"
	    " queued)\n"
	    "  help                             this text\n"
	    "A command's options may come in any order after it; --json may"
	    " also come\nbefore it; every queue command but cat takes it."
	    "  Queue ids are not\ncase-sensitive.  --sender '' or '<>' is the"
	    " null sender (bounces).\n"
	    "-c FILE    the configuration (default " CTL_DEFAULT_CONF ")\n"
	    "-s SOCKET  the admin socket, instead of the configuration's\n"
	    "-h, --help this text\n",
	    f);
}

/* A usage error: msg (and arg), then a pointer to `help`; with no msg,
 * the whole usage. */
int
ctl_bad_usage(const char *msg, const char *arg)
{
	if (msg == NULL) {
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	fprintf(stderr, "sluicectl: %s%s%s\n", msg, arg ? ": " : "",
	    arg ? arg : "");
	fputs("run `sluicectl help` for the commands\n", stderr);
	return CTL_EXIT_USAGE;
}

int
ctl_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

/* Reads every option a command may take, in any order, and collects the
 * rest (all of it after `--`); 0, or -1 after a usage message.  Which
 * options the command accepts is checked by ctl_opts_allow(). */
static int
ctl_parse_opts(int argc, char **argv, struct ctl_opts *o)
{
	int i, rc;
	bool opts = true;

	memset(o, 0, sizeof(*o));
	o->args = argv;
	for (i = 0; i < argc; i++) {
		if (!opts || argv[i][0] != '-' || argv[i][1] == '\0') {
			o->args[o->nargs++] = argv[i];
			continue;
		}
		if (strcmp(argv[i], "--") == 0) {
			opts = false;
			continue;
		}
		if (strcmp(argv[i], "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			o->help = true;
			continue;
		}
		if (strcmp(argv[i], "--now") == 0) {
			o->now = true;
			continue;
		}
		rc = ctl_opt(argc, argv, &i, "--state", &o->state);
		if (rc == 0)
			rc = ctl_opt(argc, argv, &i, "--sender", &o->sender);
		if (rc == 0)
			rc = ctl_policy_opt(argc, argv, &i, &o->pol);
		if (rc == 0)
			rc = ctl_opt(argc, argv, &i, "-c", &o->conf);
		if (rc == -1) {
			ctl_bad_usage("missing value for", argv[i]);
			return -1;
		}
		if (rc == 0) {
			ctl_bad_usage("unknown option", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* Refuses the options cmd does not take (allowed holds j for --json, t
 * for --state, s for --sender, n for --now, c for -c, k for --key, h for
 * --history, x for explain's options); 0, or -1 after a usage message. */
static int
ctl_opts_allow(const struct ctl_opts *o, const char *allowed,
    const char *cmd)
{
	const char *bad = NULL;

	if (o->json && strchr(allowed, 'j') == NULL)
		bad = "--json";
	else if (o->state != NULL && strchr(allowed, 't') == NULL)
		bad = "--state";
	else if (o->sender != NULL && strchr(allowed, 's') == NULL)
		bad = "--sender";
	else if (o->now && strchr(allowed, 'n') == NULL)
		bad = "--now";
	else if (o->conf != NULL && strchr(allowed, 'c') == NULL)
		bad = "-c";
	if (bad == NULL)
		bad = ctl_policy_opt_bad(&o->pol, allowed);
	if (bad == NULL)
		return 0;
	fprintf(stderr, "sluicectl: %s does not take %s\n", cmd, bad);
	fputs("run `sluicectl help` for the commands\n", stderr);
	return -1;
}

/* Queue ids are upper-case base36 (queue_id_new); an administrator may
 * type or paste them in lower case, so ids are folded here, in place,
 * before any request or message uses them. */
static void
ctl_id_fold(char *id)
{
	for (; *id != '\0'; id++)
		if (*id >= 'a' && *id <= 'z')
			*id = (char)(*id - 'a' + 'A');
}

/* The sender as the API takes it: the null sender is "" there, and an
 * administrator may type it as '' or '<>'. */
static const char *
ctl_sender_arg(const char *sender)
{
	return strcmp(sender, "<>") == 0 ? "" : sender;
}

static int
ctl_load_conf(struct ctl *c)
{
	struct buf errors = BUF_INIT;

	if (conf_load(c->conf_path, &c->conf, &errors) == -1) {
		if (errors.len > 0)
			fputs(errors.data, stderr);
		else
			fprintf(stderr, "sluicectl: %s: invalid "
			    "configuration\n", c->conf_path);
		buf_free(&errors);
		return -1;
	}
	buf_free(&errors);
	return 0;
}

/* Finds the socket: -s, else the configuration's admin socket. */
static int
ctl_socket(struct ctl *c)
{
	if (c->sock != NULL)
		return 0;
	if (ctl_load_conf(c) == -1)
		return -1;
	if (c->conf->admin_socket == NULL || *c->conf->admin_socket == '\0') {
		fprintf(stderr, "sluicectl: %s: no admin socket configured\n",
		    c->conf_path);
		return -1;
	}
	c->sock = c->conf->admin_socket;
	return 0;
}

int
ctl_call(struct ctl *c, const char *method, const char *path,
    const char *id, struct ctl_resp *r)
{
	struct ctl_json *j;
	const char *errstr, *msg = NULL;
	char err[PATH_MAX + 512];	/* the message names the cwd */

	if (ctl_socket(c) == -1)
		return -2;
	if (ctl_http(c->sock, method, path, r, err, sizeof(err)) == -1) {
		fprintf(stderr, "sluicectl: %s\n", err);
		return -2;
	}
	if (r->status == 200)
		return 0;
	j = ctl_json_parse(r->body, r->len, &errstr);
	if (j != NULL)
		msg = ctl_json_str(j, "error");
	if (id != NULL && r->status == 404 && msg != NULL &&
	    strcmp(msg, "no such message") == 0)
		fprintf(stderr, "sluicectl: no such message: %s\n", id);
	else {
		fprintf(stderr, "sluicectl: %s%s", id ? id : "",
		    id ? ": " : "");
		if (msg != NULL)
			ctl_put(stderr, msg);
		else
			fprintf(stderr, "the daemon answered HTTP %d",
			    r->status);
		fputc('\n', stderr);
	}
	ctl_json_free(&j);
	ctl_resp_free(r);
	return -1;
}

int
ctl_output(struct ctl_resp *r, bool json, ctl_print_fn *print)
{
	struct ctl_json *j;
	const char *errstr;
	int rc = 0;

	if (json) {
		fwrite(r->body, 1, r->len, stdout);
		return 0;
	}
	if ((j = ctl_json_parse(r->body, r->len, &errstr)) == NULL ||
	    print(stdout, j, (int64_t)time(NULL), &errstr) == -1) {
		fprintf(stderr, "sluicectl: bad answer from the daemon: %s\n",
		    errstr);
		rc = -1;
	}
	ctl_json_free(&j);
	return rc;
}

static int
ctl_cmd_status(struct ctl *c, const struct ctl_opts *o)
{
	struct ctl_resp r;
	int rc;

	if (ctl_opts_allow(o, "j", "status") == -1)
		return CTL_EXIT_USAGE;
	if (o->nargs > 0)
		return ctl_bad_usage("unexpected argument", o->args[0]);
	if (ctl_call(c, "GET", "/v1/status", NULL, &r) != 0)
		return 1;
	rc = ctl_output(&r, o->json, ctl_print_status);
	ctl_resp_free(&r);
	return rc == 0 ? 0 : 1;
}

/* Checks --state here, so a typo is a usage error that lists the states
 * instead of the API's bare "unknown state". */
static bool
ctl_state_is_valid(const char *state)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_states) / sizeof(ctl_states[0]); i++)
		if (strcmp(state, ctl_states[i]) == 0)
			return true;
	return false;
}

static int
ctl_bad_state(const char *state)
{
	size_t i;

	fputs("sluicectl: unknown state \"", stderr);
	ctl_put(stderr, state);
	fputs("\" (one of: ", stderr);
	for (i = 0; i < sizeof(ctl_states) / sizeof(ctl_states[0]); i++)
		fprintf(stderr, "%s%s", i ? ", " : "", ctl_states[i]);
	fputs(")\n", stderr);
	return CTL_EXIT_USAGE;
}

static int
ctl_cmd_list(struct ctl *c, const struct ctl_opts *o)
{
	struct ctl_resp r;
	struct buf path = BUF_INIT;
	char sep = '?';
	int rc = 1;

	if (o->nargs > 0)
		return ctl_bad_usage("unknown queue command", o->args[0]);
	if (o->state != NULL && !ctl_state_is_valid(o->state))
		return ctl_bad_state(o->state);
	buf_addstr(&path, "/v1/queue");
	if (o->state != NULL) {
		buf_printf(&path, "%cstate=", sep);
		ctl_url_escape(&path, o->state);
		sep = '&';
	}
	if (o->sender != NULL) {
		buf_printf(&path, "%csender=", sep);
		ctl_url_escape(&path, ctl_sender_arg(o->sender));
	}
	if (ctl_call(c, "GET", path.data, NULL, &r) == 0) {
		rc = ctl_output(&r, o->json, o->state || o->sender ?
		    ctl_print_queue_filtered : ctl_print_queue) == 0 ? 0 : 1;
		ctl_resp_free(&r);
	}
	buf_free(&path);
	return rc;
}

/* /v1/queue/ID plus suffix, the id escaped. */
static char *
ctl_msg_path(const char *id, const char *suffix)
{
	struct buf path = BUF_INIT;

	buf_addstr(&path, "/v1/queue/");
	ctl_url_escape(&path, id);
	buf_addstr(&path, suffix);
	return buf_take(&path);
}

static int
ctl_cmd_show(struct ctl *c, const struct ctl_opts *o, bool cat)
{
	struct ctl_resp r;
	char *path;
	int rc = 1;

	if (ctl_opts_allow(o, cat ? "" : "j", cat ? "queue cat" :
	    "queue show") == -1)
		return CTL_EXIT_USAGE;
	if (o->nargs != 1)
		return ctl_bad_usage(o->nargs ? "one message at a time" :
		    "missing queue id", NULL);
	ctl_id_fold(o->args[0]);
	path = ctl_msg_path(o->args[0], cat ? "/body" : "");
	if (ctl_call(c, "GET", path, o->args[0], &r) == 0) {
		if (cat) {
			fwrite(r.body, 1, r.len, stdout);
			rc = 0;
		} else
			rc = ctl_output(&r, o->json, ctl_print_show) == 0 ? 0 :
			    1;
		ctl_resp_free(&r);
	}
	free(path);
	return rc;
}

/* `queue hold|release|delete ID...`: one call per id, each reported;
 * --json prints the answers as one array.  1 when an id failed. */
static int
ctl_op_ids(struct ctl *c, const struct ctl_opts *o, const char *action)
{
	struct buf suffix = BUF_INIT, json = BUF_INIT;
	struct ctl_resp r;
	char *path;
	int i, rc = 0, crc = 0;

	buf_printf(&suffix, "/%s%s", action, o->now ? "?now=1" : "");
	buf_addc(&json, '[');
	for (i = 0; i < o->nargs && crc != -2; i++) {
		ctl_id_fold(o->args[i]);
		path = ctl_msg_path(o->args[i], suffix.data);
		if ((crc = ctl_call(c, "POST", path, o->args[i], &r)) != 0)
			rc = 1;
		else if (o->json) {
			while (r.len > 0 && r.body[r.len - 1] == '\n')
				r.len--;
			if (json.len > 1)
				buf_addc(&json, ',');
			buf_add(&json, r.body, r.len);
		} else if (ctl_output(&r, false, ctl_print_op) == -1)
			rc = 1;
		if (crc == 0)
			ctl_resp_free(&r);
		free(path);
	}
	if (o->json && crc != -2) {
		buf_addstr(&json, "]\n");
		fwrite(json.data, 1, json.len, stdout);
	}
	buf_free(&json);
	buf_free(&suffix);
	return rc;
}

/* One call for the whole queue (flush) or a sender's messages. */
static int
ctl_op_all(struct ctl *c, const struct ctl_opts *o, const char *action)
{
	struct buf path = BUF_INIT;
	struct ctl_resp r;
	int rc = 1;

	buf_printf(&path, "/v1/queue/%s", action);
	if (o->sender != NULL) {
		buf_addstr(&path, "?sender=");
		ctl_url_escape(&path, ctl_sender_arg(o->sender));
	}
	if (o->now)
		buf_addstr(&path, "&now=1");	/* release takes a sender */
	if (ctl_call(c, "POST", path.data, NULL, &r) == 0) {
		rc = ctl_output(&r, o->json, ctl_print_op) == 0 ? 0 : 1;
		ctl_resp_free(&r);
	}
	buf_free(&path);
	return rc;
}

/* `queue hold|release|delete ID... | --sender A` and `queue flush`. */
static int
ctl_cmd_op(struct ctl *c, const struct ctl_opts *o, const char *action)
{
	bool flush = strcmp(action, "flush") == 0;
	char name[32];

	snprintf(name, sizeof(name), "queue %s", action);
	if (ctl_opts_allow(o, flush ? "j" : strcmp(action, "release") == 0 ?
	    "jsn" : "js", name) == -1)
		return CTL_EXIT_USAGE;
	if (flush)
		return o->nargs > 0 ? ctl_bad_usage("queue flush takes no "
		    "argument", o->args[0]) : ctl_op_all(c, o, action);
	if (o->sender != NULL && o->nargs > 0)
		return ctl_bad_usage("give queue ids or --sender, not both",
		    NULL);
	if (o->sender == NULL && o->nargs == 0)
		return ctl_bad_usage("missing queue id or --sender", NULL);
	if (o->sender != NULL)
		return ctl_op_all(c, o, action);
	return ctl_op_ids(c, o, action);
}

/* `queue` and its subcommands; the subcommand is the first positional
 * argument, so options may come before it. */
static int
ctl_cmd_queue(struct ctl *c, struct ctl_opts *o)
{
	static const char *const ops[] = {
		"hold", "release", "delete", "flush"
	};
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	bool cat = strcmp(sub, "cat") == 0;
	size_t i;

	if (!cat && strcmp(sub, "show") != 0) {
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (strcmp(sub, ops[i]) == 0) {
				o->args++;
				o->nargs--;
				return ctl_cmd_op(c, o, ops[i]);
			}
		if (ctl_opts_allow(o, "jts", "queue") == -1)
			return CTL_EXIT_USAGE;
		return ctl_cmd_list(c, o);
	}
	o->args++;
	o->nargs--;
	return ctl_cmd_show(c, o, cat);
}

/* `check [-c FILE]`: what `sluiced -n` checks, without a daemon. */
static int
ctl_cmd_check(struct ctl *c, const struct ctl_opts *o)
{
	struct buf errors = BUF_INIT;
	const char *path = o->conf != NULL ? o->conf : c->conf_path;
	int rc = 0;

	if (ctl_opts_allow(o, "c", "check") == -1)
		return CTL_EXIT_USAGE;
	if (o->nargs > 0)
		return ctl_bad_usage("unexpected argument", o->args[0]);
	if (reload_check(path, &c->conf, &errors) == -1) {
		if (errors.len > 0)
			fputs(errors.data, stderr);
		rc = 1;
	} else {
		reload_warnings(c->conf, stderr);
		printf("%s: ok\n", path);
	}
	buf_free(&errors);
	return rc;
}

/* The lines of a reload answer's array member, one per line, escaped
 * for the terminal; false when it is not an array of strings. */
static bool
ctl_put_lines(FILE *f, const struct ctl_json *j, const char *key)
{
	const struct ctl_json *a = ctl_json_get(j, key);
	size_t i;

	if (a == NULL || a->type != CTL_JSON_ARRAY)
		return false;
	for (i = 0; i < a->n; i++) {
		if (a->items[i]->type != CTL_JSON_STRING)
			return false;
		ctl_put(f, a->items[i]->str);
		fputc('\n', f);
	}
	return true;
}

#define CTL_NOT_RELOADED \
	"sluicectl: the configuration was not reloaded: sluiced runs on as " \
	"before\n"

/* Prints a reload's answer; the exit status. */
static int
ctl_reload_answer(struct ctl_resp *r, bool json)
{
	struct ctl_json *j;
	const char *errstr = "not JSON";
	int rc = 1;

	if (json && (r->status == 200 || r->status == 422)) {
		fwrite(r->body, 1, r->len, stdout);
		return r->status == 200 ? 0 : 1;
	}
	if ((j = ctl_json_parse(r->body, r->len, &errstr)) == NULL)
		fprintf(stderr, "sluicectl: bad answer from the daemon (HTTP "
		    "%d): %s\n", r->status, errstr);
	else if (r->status == 200) {
		puts("configuration reloaded");
		rc = ctl_put_lines(stdout, j, "notes") ? 0 : 1;
	} else if (r->status == 422 && ctl_put_lines(stderr, j, "errors"))
		fputs(CTL_NOT_RELOADED, stderr);
	else {
		fputs("sluicectl: ", stderr);
		ctl_put(stderr, ctl_json_str(j, "error") ? ctl_json_str(j,
		    "error") : "unexpected answer");
		fputc('\n', stderr);
	}
	ctl_json_free(&j);
	return rc;
}

/*
 * `reload`: sluiced reads its configuration file again.  Applied: a line
 * saying so and one per setting kept until a restart; refused (HTTP
 * 422): the file's errors, exit 1, the daemon running on as it was.  A
 * file with errors still names the admin socket: the daemon is asked
 * all the same, so that it logs why it refuses; should it be out of
 * reach, the errors found here are printed.
 */
static int
ctl_cmd_reload(struct ctl *c, const struct ctl_opts *o)
{
	char err[PATH_MAX + 512], *salvaged = NULL;
	struct buf local = BUF_INIT;
	struct ctl_resp r;
	int rc = 1;

	if (ctl_opts_allow(o, "j", "reload") == -1)
		return CTL_EXIT_USAGE;
	if (o->nargs > 0)
		return ctl_bad_usage("unexpected argument", o->args[0]);
	if (c->sock == NULL && conf_load(c->conf_path, &c->conf, &local) == 0)
		c->sock = c->conf->admin_socket;
	else if (c->sock == NULL)
		c->sock = salvaged = conf_admin_socket(c->conf_path);
	if (c->sock == NULL)
		fputs(local.data, stderr);
	else if (ctl_http(c->sock, "POST", "/v1/reload", &r, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sluicectl: %s\n", err);
		if (local.len > 0)
			fprintf(stderr, "%s" CTL_NOT_RELOADED, local.data);
	} else {
		rc = ctl_reload_answer(&r, o->json);
		ctl_resp_free(&r);
	}
	free(salvaged);
	buf_free(&local);
	return rc;
}

static bool
ctl_notify_ok(const struct ctl_resp *r)
{
	struct ctl_json *j;
	const char *errstr;
	bool ok;

	if ((j = ctl_json_parse(r->body, r->len, &errstr)) == NULL)
		return false;
	ok = ctl_json_bool(j, "delivered") || ctl_json_bool(j, "queued");
	ctl_json_free(&j);
	return ok;
}

/* `notify test NAME`: exit 0 when the sample was delivered (a webhook
 * answered 2xx) or queued (mail), 1 otherwise. */
static int
ctl_cmd_notify(struct ctl *c, const struct ctl_opts *o)
{
	struct buf path = BUF_INIT;
	struct ctl_resp r;
	int rc = 1;

	if (ctl_opts_allow(o, "j", "notify") == -1)
		return CTL_EXIT_USAGE;
	if (o->nargs == 0 || strcmp(o->args[0], "test") != 0)
		return ctl_bad_usage(o->nargs ? "unknown notify command" :
		    "missing notify command (test)", o->nargs ? o->args[0] :
		    NULL);
	if (o->nargs != 2)
		return ctl_bad_usage(o->nargs < 2 ? "missing notifier name" :
		    "unexpected argument", o->nargs < 2 ? NULL : o->args[2]);
	buf_addstr(&path, "/v1/notify/");
	ctl_url_escape(&path, o->args[1]);
	buf_addstr(&path, "/test");
	if (ctl_call(c, "POST", path.data, NULL, &r) == 0) {
		rc = ctl_output(&r, o->json, ctl_print_notify_test) == 0 &&
		    ctl_notify_ok(&r) ? 0 : 1;
		ctl_resp_free(&r);
	}
	buf_free(&path);
	return rc;
}

/*
 * The global options, before the command: -c, -s, -h/--help and --json.
 * 0 with *optind past them, 1 when the usage was printed for -h, or the
 * usage error's exit status.
 */
static int
ctl_global_opts(struct ctl *c, int argc, char **argv, bool *json)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	char opt[3];
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:s:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			c->conf_path = optarg;
			break;
		case 's':
			c->sock = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return 1;
		case 'j':
			*json = true;
			break;
		case ':':
			snprintf(opt, sizeof(opt), "-%c", optopt);
			return ctl_bad_usage("missing value for", opt);
		default:
			/* optopt is 0 for an unknown long option */
			if (optopt != 0)
				snprintf(opt, sizeof(opt), "-%c", optopt);
			return ctl_bad_usage("unknown option", optopt != 0 ?
			    opt : argv[optind - 1]);
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctl c = { CTL_DEFAULT_CONF, NULL, NULL };
	struct ctl_opts o;
	const char *cmd;
	bool json = false;
	int rc;

	if ((rc = ctl_global_opts(&c, argc, argv, &json)) != 0)
		return rc == 1 ? 0 : rc;
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return ctl_bad_usage(NULL, NULL);
	cmd = argv[0];
	if (strcmp(cmd, "help") != 0 && strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "queue") != 0 && strcmp(cmd, "check") != 0 &&
	    strcmp(cmd, "reload") != 0 && strcmp(cmd, "quota") != 0 &&
	    strcmp(cmd, "explain") != 0 && strcmp(cmd, "notify") != 0 &&
	    strcmp(cmd, "accounting") != 0) {
		fprintf(stderr, "sluicectl: unknown command: %s\n", cmd);
		return ctl_bad_usage(NULL, NULL);
	}
	if (ctl_parse_opts(argc - 1, argv + 1, &o) == -1)
		return CTL_EXIT_USAGE;
	o.json = o.json || json;
	if (o.help || strcmp(cmd, "help") == 0) {
		ctl_usage(stdout);
		rc = 0;
	} else if (strcmp(cmd, "status") == 0)
		rc = ctl_cmd_status(&c, &o);
	else if (strcmp(cmd, "queue") == 0)
		rc = ctl_cmd_queue(&c, &o);
	else if (strcmp(cmd, "reload") == 0)
		rc = ctl_cmd_reload(&c, &o);
	else if (strcmp(cmd, "notify") == 0)
		rc = ctl_cmd_notify(&c, &o);
	else if (strcmp(cmd, "quota") == 0)
		rc = ctl_opts_allow(&o, "jk", "quota") == -1 ? CTL_EXIT_USAGE :
		    ctl_cmd_quota(&c, o.json, &o.pol, o.args, o.nargs);
	else if (strcmp(cmd, "accounting") == 0)
		rc = ctl_opts_allow(&o, "jkh", "accounting") == -1 ?
		    CTL_EXIT_USAGE : ctl_cmd_accounting(&c, o.json, &o.pol,
		    o.args, o.nargs);
	else if (strcmp(cmd, "explain") == 0)
		rc = ctl_opts_allow(&o, "jsx", "explain") == -1 ?
		    CTL_EXIT_USAGE : ctl_cmd_explain(&c, o.json, o.sender,
		    &o.pol, o.args, o.nargs);
	else
		rc = ctl_cmd_check(&c, &o);
	conf_unref(&c.conf);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("sluicectl: stdout");
		rc = 1;
	}
	return rc;
}
