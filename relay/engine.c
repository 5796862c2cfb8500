/*
 * engine: policies and quotas in the daemon (engine.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/timefmt.h"
#include "../lib/xalloc.h"
#include "engine.h"
#include "engine_priv.h"


/* (quota, key) pairs whose stored windows go. */
struct prune_job {
	char	**pairs;		/* quota, key, quota, key, ... */
	size_t	  n;
};

/* The queue's counter row as policy/'s (the strings are shared). */
static void
queue_row_to_pol(const struct queue_counter *qc, struct pol_counter_row *r)
{
	r->quota = qc->quota;
	r->key = qc->key;
	r->start = qc->start;
	memcpy(r->used, qc->used, sizeof(r->used));
	r->notified = qc->notified;
}

static void
load_counter(const struct queue_counter *qc, void *arg)
{
	struct pol_counter_row r;

	queue_row_to_pol(qc, &r);
	pol_counters_load(arg, &r);
}

static void
load_override(const struct queue_override *o, void *arg)
{
	pol_counters_override(arg, o->key, o->kind == QUEUE_OVR_EXEMPT ?
	    POL_OVR_EXEMPT : POL_OVR_LIMIT, o->limit);
}

static int
prune_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct prune_job *j = arg;
	size_t i;

	for (i = 0; i + 1 < j->n; i += 2)
		if (queue_txn_counters_delete(txn, j->pairs[i],
		    j->pairs[i + 1], errstr) == -1)
			return -1;
	return 0;
}

/* Writer thread: a failed prune only leaves rows the next start-up
 * loads and prunes again. */
static void
prune_done(void *arg, int rc, const char *errstr)
{
	struct prune_job *j = arg;
	size_t i;

	if (rc < 0)
		log_warn("event=quota-prune-failed error=\"%s\"",
		    errstr ? errstr : "unknown");
	for (i = 0; i < j->n; i++)
		free(j->pairs[i]);
	free(j->pairs);
	free(j);
}

static void
prune_drop(void *arg, const char *quota, const char *key)
{
	struct prune_job *j = arg;

	j->pairs = xreallocarray(j->pairs, j->n + 2, sizeof(*j->pairs));
	j->pairs[j->n++] = xstrdup(quota);
	j->pairs[j->n++] = xstrdup(key);
}

static void
prune(evutil_socket_t fd, short ev, void *arg)
{
	struct engine *e = arg;
	struct prune_job *j = xcalloc(1, sizeof(*j));
	int64_t now = (int64_t)time(NULL);
	size_t left;

	(void)fd;
	(void)ev;
	engine_filters_prune(e, now);
	engine_acct_prune(e, now);
	left = pol_counters_prune(e->ctr, e->conf->policy, now, prune_drop, j);
	if (j->n == 0) {
		prune_done(j, 0, NULL);
		return;
	}
	log_debug("event=quota-prune dropped=%zu left=%zu", j->n / 2, left);
	queue_writer_submit(e->writer, prune_run, prune_done, j);
}

static void
log_warning(void *arg, int line, const char *msg)
{
	(void)arg;
	log_warn("event=config-warning line=%d reason=\"%s\"", line, msg);
}

/* What is enforced: at start-up and after each reload. */
static void
log_policies(const struct engine *e)
{
	const struct pol_set *set = e->conf->policy;

	log_info("event=policies-loaded policies=%zu groups=%zu quotas=%zu "
	    "counters=%zu", set ? set->npolicy : 0, set ? set->ngroup : 0,
	    set ? set->nquota : 0, pol_counters_count(e->ctr));
	conf_warnings(e->conf, log_warning, NULL);
}

int
engine_new(struct engine **ep, struct event_base *base,
    const struct conf *conf, struct queue *q, struct queue_writer *writer,
    const char **errstr)
{
	struct engine *e = xcalloc(1, sizeof(*e));
	struct timeval tv = { ENGINE_PRUNE_SECS, 0 };

	e->base = base;
	e->conf = conf;
	e->writer = writer;
	e->ctr = pol_counters_new();
	if (queue_load_counters(q, load_counter, e->ctr, errstr) == -1 ||
	    queue_load_overrides(q, load_override, e->ctr, errstr) == -1 ||
	    engine_filters_new(e, q, errstr) == -1 ||
	    engine_acct_new(e, q, errstr) == -1) {
		engine_filters_free(e);
		engine_acct_free(e);
		pol_counters_free(&e->ctr);
		free(e);
		return -1;
	}
	e->prune = event_new(base, -1, EV_PERSIST, prune, e);
	event_add(e->prune, &tv);
	log_policies(e);
	*ep = e;
	return 0;
}

void
engine_set_conf(struct engine *e, const struct conf *conf)
{
	pol_counters_repoint(e->ctr, e->conf->policy, conf->policy,
	    (int64_t)time(NULL));
	e->conf = conf;
	engine_filters_reconf(e);
	engine_acct_reconf(e);
	log_policies(e);
}

void
engine_stop(struct engine *e)
{
	if (e == NULL)
		return;
	/* nothing more may go to the writer: it stops next */
	if (e->prune != NULL)
		event_del(e->prune);
	engine_filters_stop(e);
}

void
engine_free(struct engine **ep)
{
	struct engine *e = *ep;

	if (e == NULL)
		return;
	if (e->prune != NULL)
		event_free(e->prune);
	engine_filters_free(e);
	engine_acct_free(e);
	pol_counters_free(&e->ctr);
	free(e);
	*ep = NULL;
}

struct pol_counters *
engine_counters(struct engine *e)
{
	return e->ctr;
}

const struct pol_set *
engine_policies(const struct engine *e)
{
	return e->conf->policy;
}

const struct conf *
engine_conf(const struct engine *e)
{
	return e->conf;
}

bool
engine_parse_client(const char *s, struct addr *a)
{
	if (s == NULL)
		return false;
	if (strncasecmp(s, "IPV6:", 5) == 0)
		s += 5;
	return addr_parse(s, a) == 0;
}

/* The value of the header field at p (name included), unfolded, within
 * the header section [p, end). */
static char *
header_value(const char *p, const char *end, size_t namelen)
{
	struct buf v = BUF_INIT;
	const char *eol;

	p += namelen;
	for (;;) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		buf_add(&v, p, (size_t)(eol - p));
		if (eol >= end || eol + 1 >= end || (eol[1] != ' ' &&
		    eol[1] != '\t'))
			break;
		p = eol + 1;
	}
	buf_addc(&v, '\0');
	return buf_take(&v);
}

static char *
login_of(const char *s, size_t n)
{
	size_t len = 0;

	while (len < n && !isspace((unsigned char)s[len]) && s[len] != ')' &&
	    s[len] != ';' && s[len] != '\r' && s[len] != '\0')
		len++;
	if (len == 0 || len > 255)
		return NULL;
	return xstrndup(s, len);
}

/* The client address of a Received header's "from" clause ("from h
 * (name [192.0.2.1])", "[IPv6:2001:db8::1]"), into a. */
static bool
received_client(const char *v, struct addr *a)
{
	const char *from, *by, *lb, *rb;
	char ip[ADDR_STRLEN + 8];

	while (*v == ' ' || *v == '\t')
		v++;
	if (strncasecmp(v, "from", 4) != 0)
		return false;
	from = v + 4;
	by = strstr(from, "by ");
	if ((lb = strchr(from, '[')) == NULL || (by != NULL && lb > by) ||
	    (rb = strchr(lb, ']')) == NULL || (size_t)(rb - lb - 1) >=
	    sizeof(ip))
		return false;
	memcpy(ip, lb + 1, (size_t)(rb - lb - 1));
	ip[rb - lb - 1] = '\0';
	return engine_parse_client(ip, a);
}

char *
engine_sasl_from_header(const struct conf *conf, const char *msg, size_t len)
{
	static const char tag[] = "(Authenticated sender:";
	const char *p = msg, *end = msg + len, *eol, *hit;
	char *v, *login = NULL, *xauth = NULL;
	bool walking = true;
	struct addr a;

	while (p < end && *p != '\r' && *p != '\n') {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if (walking && login == NULL && (size_t)(end - p) > 9 &&
		    strncasecmp(p, "Received:", 9) == 0) {
			/* newest first: the hop that authenticated the user,
			 * past re-injections by trusted hosts (a content
			 * filter on mta1) but no further */
			v = header_value(p, end, 9);
			if ((hit = strstr(v, tag)) != NULL) {
				hit += sizeof(tag) - 1;
				while (*hit == ' ')
					hit++;
				login = login_of(hit, strlen(hit));
			} else if (!received_client(v, &a) ||
			    !conf_is_trusted(conf, &a))
				walking = false;
			free(v);
		} else if (xauth == NULL && (size_t)(end - p) > 21 &&
		    strncasecmp(p, "X-Authenticated-User:", 21) == 0) {
			v = header_value(p, end, 21);
			hit = v;
			while (*hit == ' ' || *hit == '\t')
				hit++;
			xauth = login_of(hit, strlen(hit));
			free(v);
		}
		p = eol + 1;
	}
	if (login != NULL) {
		free(xauth);
		return login;
	}
	return xauth;
}

static void
to_input(const struct engine_ident *id, const char *rcpt,
    struct pol_input *in)
{
	memset(in, 0, sizeof(*in));
	in->client = id->client;
	in->sender = id->sender;
	in->sasl = id->sasl;
	in->recipient = rcpt;
}

static bool
writes_sasl(const struct pol_policy *p)
{
	size_t i;

	for (i = 0; i < p->nmatch; i++)
		if (p->matches[i].has[POL_SASL])
			return true;
	return false;
}

size_t
engine_match_policies(const struct engine *e, const struct engine_ident *id,
    const char *rcpt, const struct pol_policy ***pols)
{
	const struct pol_set *set = e->conf->policy;
	struct pol_input in;

	*pols = NULL;
	if (set == NULL || !set->resolved || set->npolicy == 0)
		return 0;
	*pols = xcalloc(set->npolicy, sizeof(**pols));
	to_input(id, rcpt, &in);
	return pol_set_match(set, &in, *pols, set->npolicy);
}

enum pol_verdict
engine_rcpt(struct engine *e, const struct engine_ident *id,
    const char *rcpt, const char *qid, char *reply, size_t replysz)
{
	const struct pol_policy **pols;
	enum pol_verdict v;
	size_t n;

	n = engine_match_policies(e, id, rcpt, &pols);
	v = engine_access(id, rcpt, qid, pols, n, reply, replysz);
	free(pols);
	return v;
}

enum pol_verdict
engine_access(const struct engine_ident *id, const char *rcpt,
    const char *qid, const struct pol_policy *const *pols, size_t n,
    char *reply, size_t replysz)
{
	const struct pol_policy *p;

	*reply = '\0';
	if ((p = pol_access_decide(pols, n)) == NULL)
		return POL_V_NONE;
	/* the login a trusted peer's header may name is not known yet: a
	 * rule on sasl is decided at the end of DATA, not on a guess */
	if (id->login_pending && writes_sasl(p))
		return POL_V_NONE;
	if (p->access.verdict == POL_V_REJECT ||
	    p->access.verdict == POL_V_TEMPFAIL)
		pol_verdict_reply(p->access.verdict, p->access.reply, reply,
		    replysz);
	/* hold and discard act at the end of DATA, where a trusted peer's
	 * mail is asked again: logged there, once */
	if (p->access.verdict != POL_V_OK && p->access.verdict != POL_V_PASS &&
	    !(id->login_pending && (p->access.verdict == POL_V_HOLD ||
	    p->access.verdict == POL_V_DISCARD)))
		log_info("queue_id=%s event=access policy=%s from=<%s> "
		    "to=<%s> verdict=%s%s%s%s", qid, p->name, id->sender, rcpt,
		    pol_verdict_name(p->access.verdict), *reply ? " reply=\"" :
		    "", reply, *reply ? "\"" : "");
	return p->access.verdict;
}

static const char *
use_state(const struct pol_use *u)
{
	if (u->verdict == POL_V_NONE)
		return "within";
	if (u->never)
		return "never-fits";
	if (u->full)
		return u->verdict == POL_V_HOLD ? "backlog-full-hold" :
		    u->verdict == POL_V_REJECT ? "backlog-full-reject" :
		    "backlog-full-tempfail";
	return pol_verdict_name(u->verdict);
}

/* cbpolicyd's figure: quota=USED/LIMIT (P%), this message included. */
static void
log_use(const char *qid, const char *sender, const struct pol_use *u,
    bool bypass)
{
	char track[64], rel[2 * TIMEFMT_LEN + 64] = "", t[TIMEFMT_LEN];
	char t2[TIMEFMT_LEN];
	double now = u->used + u->amount;

	pol_track_format(u->quota, track, sizeof(track));
	if (u->verdict == POL_V_DEFER && !u->never && u->ndeferred > 0) {
		time_rfc3339((time_t)u->release, t, sizeof(t));
		time_rfc3339((time_t)u->release_last, t2, sizeof(t2));
		if (u->release_last != u->release)
			snprintf(rel, sizeof(rel), " release=%s "
			    "last_release=%s deferred=%zu", t, t2,
			    u->ndeferred);
		else
			snprintf(rel, sizeof(rel), " release=%s deferred=%zu",
			    t, u->ndeferred);
	}
	if (u->exempt)
		log_info("queue_id=%s event=quota policy=%s quota_name=%s "
		    "track=%s key=%s from=<%s> unit=%s quota=%.2f/exempt "
		    "verdict=within", qid, u->quota->policy->name,
		    u->quota->name, track, u->key, sender,
		    pol_unit_name(u->unit), now);
	else
		log_info("queue_id=%s event=quota policy=%s quota_name=%s "
		    "track=%s key=%s from=<%s> unit=%s quota=%.2f/%llu "
		    "(%.1f%%) verdict=%s%s", qid, u->quota->policy->name,
		    u->quota->name, track, u->key, sender,
		    pol_unit_name(u->unit), now,
		    (unsigned long long)u->limit, u->limit ? 100.0 * now /
		    (double)u->limit : 100.0, bypass ? "bypass by=admin" :
		    use_state(u), rel);
}

/* The quota stage for the recipients skip leaves in; logged. */
static void
engine_decide(struct engine *e, const struct engine_ident *id,
    const char *const *rcpts, const bool *skip, size_t nrcpt, uint64_t size,
    const char *qid, bool bypass, bool replace, struct pol_decision *d)
{
	struct pol_msg m;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.client = id->client;
	m.helo = id->helo;
	m.sender = id->sender;
	m.sasl = id->sasl;
	m.rcpts = rcpts;
	m.skip = skip;
	m.nrcpt = nrcpt;
	m.size = size;
	m.bypass = bypass;
	m.replace = replace;
	pol_quota_decide(e->conf->policy, e->ctr, &m, (int64_t)time(NULL),
	    true, d, NULL);
	for (i = 0; i < d->nuse; i++)
		log_use(qid, id->sender, &d->use[i], bypass);
	if (d->refuse != POL_V_NONE)
		log_info("queue_id=%s event=quota-refused from=<%s> reply=\"%s\"",
		    qid, id->sender, d->reply);
}

void
engine_data(struct engine *e, const struct engine_ident *id,
    const char *const *rcpts, const enum pol_verdict *access, size_t nrcpt,
    uint64_t size, const char *qid, struct pol_decision *d)
{
	bool *skip = xcalloc(nrcpt + 1, sizeof(*skip));
	size_t i;

	for (i = 0; i < nrcpt; i++)
		skip[i] = access != NULL && (access[i] == POL_V_OK ||
		    access[i] == POL_V_HOLD || access[i] == POL_V_DISCARD);
	engine_decide(e, id, rcpts, skip, nrcpt, size, qid, false, false, d);
	free(skip);
}

void
engine_release(struct engine *e, const struct engine_ident *id,
    const char *const *rcpts, const bool *skip, size_t nrcpt, uint64_t size,
    const char *qid, bool bypass, bool replace, struct pol_decision *d)
{
	engine_decide(e, id, rcpts, skip, nrcpt, size, qid, bypass, replace,
	    d);
}

/* policy/'s counter rows as the queue's (the strings are shared). */
static struct queue_counter *
to_queue_rows(const struct pol_counter_row *r, size_t n)
{
	struct queue_counter *q;
	size_t i;

	if (n == 0)
		return NULL;
	q = xcalloc(n, sizeof(*q));
	for (i = 0; i < n; i++) {
		q[i].quota = r[i].quota;
		q[i].key = r[i].key;
		q[i].start = r[i].start;
		memcpy(q[i].used, r[i].used, sizeof(q[i].used));
		q[i].notified = r[i].notified;
	}
	return q;
}

struct queue_counter *
engine_rows(const struct pol_decision *d, size_t *n)
{
	*n = d->nrow;
	return to_queue_rows(d->rows, d->nrow);
}

struct queue_counter *
engine_resv(const struct pol_decision *d)
{
	return to_queue_rows(d->resv, d->nresv);
}

/* The new figures of the keys a give-back changed, for the store. */
struct giveback_job {
	struct pol_counter_row	*prow;
	struct queue_counter	*rows;
	size_t			 n;
};

static int
giveback_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct giveback_job *j = arg;

	return queue_txn_counters_set(txn, j->rows, j->n, errstr);
}

/* Writer thread: a failed store leaves the reservations on disk; the
 * next start-up counts them (mail waits longer, no window goes over). */
static void
giveback_done(void *arg, int rc, const char *errstr)
{
	struct giveback_job *j = arg;

	if (rc < 0)
		log_warn("event=quota-giveback-failed error=\"%s\"",
		    errstr ? errstr : "unknown");
	pol_rows_free(j->prow, j->n);
	free(j->rows);
	free(j);
}

void
engine_giveback(struct engine *e, const struct queue_counter *resv, size_t n)
{
	struct pol_counter_row *in, *out;
	struct giveback_job *j;
	size_t i, nout;

	if (n == 0)
		return;
	in = xcalloc(n, sizeof(*in));
	for (i = 0; i < n; i++)
		queue_row_to_pol(&resv[i], &in[i]);
	pol_counters_giveback(e->ctr, e->conf->policy, in, n,
	    (int64_t)time(NULL), &out, &nout);
	free(in);
	if (nout == 0)
		return;
	j = xcalloc(1, sizeof(*j));
	j->prow = out;
	j->n = nout;
	j->rows = to_queue_rows(out, nout);
	queue_writer_submit(e->writer, giveback_run, giveback_done, j);
}
