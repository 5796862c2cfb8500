/*
 * spf: SPF checks with libspf2 on worker threads, answered on the loop;
 * spf_policy.c has what a result means for a recipient.
 *
 * Threads.  The loop thread owns struct spf, every struct spf_req and
 * every callback.  The worker threads (SPF_WORKERS, growing to
 * SPF_WORKERS_MAX while checks wait) share struct spf_pool (its queue
 * under pool->mtx) and each owns a struct spf_worker: its libspf2 server
 * (SPF_server_t keeps per-evaluation state and is not meant to be shared)
 * with our DNS layer, its resolver state and its answer buffer.  A worker
 * runs one job at a time, the whole evaluation of one check; the finished
 * job goes back to the loop by loop_call() and spf_job_done() hands its
 * result to the request, if any.
 *
 * Ownership of a job: the loop's while it is queued (a cancel takes it out
 * under the mutex and frees it) or answered locally (queue full); the
 * worker's from the moment it leaves the queue until spf_job_done() frees
 * it on the loop.  Cancelling a running job only clears job->req, which
 * the workers never read.  Each request has a safety timer one second
 * past its deadline, so a callback always comes.  The pool outlives
 * struct spf until its last worker leaves: spf_free() never waits for a
 * thread, and a worker that finishes after it frees its job itself.
 *
 * The deadline.  Our DNS layer gives each query the time left (whole
 * seconds, rounded up: glibc's unit) and refuses to ask once it is gone;
 * a check that ran out of time is a temperror whatever libspf2 concluded
 * (it reads a failed look-up in a mechanism as "no match").  glibc's TCP
 * retry of a truncated answer has no timer of its own: a server that
 * accepts and never answers holds a worker past the deadline (the caller
 * still has its answer from the safety timer).
 *
 * What an attacker controls: the sender and HELO (bounded and checked
 * before any look-up), and through the sender's domain, which names are
 * asked (macros, include, redirect, a, mx, ptr, exists: libspf2 limits
 * them to 10 each) and every record that comes back: the TXT records
 * libspf2 parses (it has had memory-safety bugs: CVE-2021-20314 and
 * others, fixed in the Debian 1.2.10-7.1 we build against; the worker
 * threads are no sandbox) and the exp= text that ends up in our reply.
 * Answers are read with ns_parserr(3) into bounded records; a malformed
 * one is a temporary failure.  Every text we hand out is cleaned to one
 * line of printable ASCII and truncated to its buffer.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <spf2/spf.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "loop.h"
#include "spf.h"

#define SPF_ANSWER_MAX	65535		/* a DNS message (TCP's bound) */
#define SPF_SAFETY_SECS	1		/* the loop's timer: past deadline */
#define SPF_HELO_CHARS	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
			"0123456789.-_[]:"
/* Our explanation when the domain has no exp= (libspf2's points to the
 * defunct openspf.org).  A macro-string: %_ is a space (RFC 7208 7.1). */
#define SPF_EXPLANATION	"%{o}%_does%_not%_designate%_%{i}%_as%_permitted" \
			"%_sender"

struct spf_job {
	TAILQ_ENTRY(spf_job)	 link;		/* in pool->queue */
	bool			 queued;	/* under pool->mtx */
	struct spf_req		*req;		/* loop thread only */
	struct addr		 client;
	char			*helo;		/* NULL: none given */
	char			*sender;	/* "" for the null sender */
	bool			 too_long;	/* helo or sender: "none" */
	struct timespec		 deadline;	/* CLOCK_MONOTONIC */
	struct spf_result	 res;
};

struct spf_pool {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	TAILQ_HEAD(, spf_job)	 queue;
	size_t			 nqueued;
	size_t			 nworkers;	/* started */
	size_t			 idle;		/* waiting for a job */
	bool			 stopping;
	unsigned		 refs;		/* struct spf + live workers */
	struct event_base	*base;
};

/* One thread's: set up by spf_new(), then the worker's alone. */
struct spf_worker {
	struct spf_pool		*pool;
	SPF_server_t		*server;
	SPF_dns_server_t	 layer;		/* ours: its destroy is NULL, so
						   libspf2 leaves it alone */
	struct __res_state	 res;
	bool			 res_open;	/* res_ninit() succeeded */
	unsigned char		*ans;		/* SPF_ANSWER_MAX bytes */
	const struct timespec	*deadline;	/* of the running job */
	bool			 timed_out;	/* it ran out of time */
	char			 receiver[SPF_HELO_MAX + 1];
};

struct spf_req {
	TAILQ_ENTRY(spf_req)	 link;		/* in spf->reqs */
	struct spf		*spf;
	struct spf_job		*job;		/* NULL once detached */
	bool			 local;		/* answered by the loop */
	struct event		*timer;
	spf_cb			*cb;
	void			*arg;
};

struct spf {
	struct event_base	*base;
	struct spf_pool		*pool;
	unsigned		 timeout;
	TAILQ_HEAD(, spf_req)	 reqs;
	/* for the workers started later */
	struct sockaddr_storage	 resolver;
	bool			 has_resolver;
	char			*receiver;	/* or NULL */
};

/* Copies src as one line of printable ASCII: controls (CR, LF, TAB...)
 * become spaces, other bytes '?'; no leading or trailing space. */
static void
spf_clean(char *dst, const char *src, size_t dstsz)
{
	size_t n = 0;

	if (src != NULL)
		for (src += strspn(src, " \t\r\n"); *src != '\0' &&
		    n + 1 < dstsz; src++) {
			unsigned char c = (unsigned char)*src;

			dst[n++] = c < 0x20 ? ' ' : c >= 0x7f ? '?' : (char)c;
		}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* An ASCII name of at least min_labels labels of 1..63 letters, digits,
 * '-' or '_', at most 253 characters without the final dot, the last
 * label not all digits (an address is not a name).  With 2: a domain
 * SPF can check (RFC 7208 4.3: "multi-label"). */
static bool
spf_name_ok(const char *d, size_t min_labels)
{
	size_t len = strlen(d), label = 0, labels = 0, i;
	bool digits = true;

	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++) {
		char c = i < len ? d[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63)
				return false;
			labels++;
			label = 0;
			if (i < len)
				digits = true;
			continue;
		}
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '-' && c != '_')
			return false;
		if (c < '0' || c > '9')
			digits = false;
		label++;
	}
	return labels >= min_labels && !digits;
}

/* Whole seconds left before deadline, rounded up; 0 once it has passed. */
static int
spf_secs_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : (int)((ms + 999) / 1000);
}

/* -- our DNS layer for libspf2 (worker threads) ----------------------------- */

/* Adds record data of len bytes to rr as its record number idx.  NULL
 * when libspf2 cannot allocate. */
static void *
spf_rr_slot(SPF_dns_rr_t *rr, int idx, size_t len)
{
	if (SPF_dns_rr_buf_realloc(rr, idx, len) != SPF_E_SUCCESS)
		return NULL;
	return rr->rr[idx];
}

/*
 * libspf2 1.2.10 compiles an exp= text (RFC 7208 6.2) as a macro-string
 * but stops at spaces: "Not allowed" comes out "Not%allowed", its macros
 * unexpanded.  In TXT records that are not SPF records, which it reads
 * only for that text, each space (n bytes, room for 2n) becomes the macro
 * "%_", a space once expanded (7.1): the text means what it meant.
 */
static void
spf_txt_spaces(char *t, size_t n)
{
	size_t k = 0, i;

	for (i = 0; i < n; i++)
		k += t[i] == ' ';
	t[n + k] = '\0';
	for (i = n; k > 0 && i-- > 0;) {
		if (t[i] == ' ') {
			t[i + k--] = '_';
			t[i + k] = '%';
		} else
			t[i + k] = t[i];
	}
}

/* One answer record of the type asked into rr->rr[idx].  -1 if it is
 * malformed. */
static int
spf_rr_add(SPF_dns_rr_t *rr, int idx, const ns_msg *msg, const ns_rr *r)
{
	const unsigned char *rd = ns_rr_rdata(*r), *eom = ns_msg_end(*msg);
	size_t rdlen = ns_rr_rdlen(*r), i, n = 0;
	char name[NS_MAXDNAME], *p;

	switch (ns_rr_type(*r)) {
	case ns_t_a:
	case ns_t_aaaa:
		if (rdlen != (ns_rr_type(*r) == ns_t_a ? 4u : 16u))
			return -1;
		if ((p = spf_rr_slot(rr, idx, rdlen)) == NULL)
			return -1;
		memcpy(p, rd, rdlen);
		return 0;
	case ns_t_mx:
	case ns_t_ptr:
		i = ns_rr_type(*r) == ns_t_mx ? NS_INT16SZ : 0;
		if (rdlen <= i || ns_name_uncompress(ns_msg_base(*msg), eom,
		    rd + i, name, sizeof(name)) < 0)
			return -1;
		if ((p = spf_rr_slot(rr, idx, strlen(name) + 1)) == NULL)
			return -1;
		memcpy(p, name, strlen(name) + 1);
		return 0;
	case ns_t_txt:
		/* character-strings, joined (RFC 7208 3.3): at most rdlen - 1
		 * bytes, twice that with spaces spelled out, and the NUL */
		if ((p = spf_rr_slot(rr, idx, 2 * rdlen + 1)) == NULL)
			return -1;
		for (i = 0; i < rdlen; i += 1 + rd[i]) {
			if (rd[i] > rdlen - i - 1)
				return -1;
			memcpy(p + n, rd + i + 1, rd[i]);
			n += rd[i];
		}
		p[n] = '\0';
		if (strncasecmp(p, "v=spf1", 6) != 0)
			spf_txt_spaces(p, n);
		return 0;
	default:
		return -1;
	}
}

/* Reads the answer section's records of type into rr.  -1 if the
 * message is malformed. */
static int
spf_rr_read(SPF_dns_rr_t *rr, const unsigned char *ans, int len,
    ns_type type)
{
	ns_msg msg;
	ns_rr r;
	int i, n;

	if (ns_initparse(ans, len, &msg) < 0)
		return -1;
	n = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < n; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &r) < 0)
			return -1;
		/* CNAMEs on the way: the server followed them for us */
		if (ns_rr_type(r) != type || ns_rr_class(r) != ns_c_in)
			continue;
		if (spf_rr_add(rr, rr->num_rr, &msg, &r) == -1)
			return -1;
		rr->num_rr++;
	}
	return 0;
}

/* libspf2's look-up hook: one query to the worker's server, by the
 * deadline.  Always returns a record set; its herrno says how it went
 * (NO_DATA, HOST_NOT_FOUND, TRY_AGAIN for every other failure). */
static SPF_dns_rr_t *
spf_dns_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type,
    int should_cache)
{
	struct spf_worker *w = layer->hook;
	SPF_dns_rr_t *rr;
	int len, secs, herr;

	(void)should_cache;
	if (type == ns_t_spf)		/* RFC 7208 14.1: obsolete */
		return SPF_dns_rr_new_init(layer, domain, type, 0, NO_DATA);
	if ((secs = spf_secs_left(w->deadline)) == 0) {
		w->timed_out = true;
		return SPF_dns_rr_new_init(layer, domain, type, 0, TRY_AGAIN);
	}
	/* glibc waits about nscount times retrans over all its servers */
	w->res.retrans = (secs + w->res.nscount - 1) / w->res.nscount;
	w->res.retry = 1;
	len = res_nquery(&w->res, domain, ns_c_in, type, w->ans,
	    SPF_ANSWER_MAX);
	if (len < 0) {
		herr = w->res.res_h_errno;
		if (herr != HOST_NOT_FOUND && herr != NO_DATA) {
			herr = TRY_AGAIN;	/* SERVFAIL, REFUSED, timeout */
			if (spf_secs_left(w->deadline) == 0)
				w->timed_out = true;
		}
		return SPF_dns_rr_new_init(layer, domain, type, 0, herr);
	}
	rr = SPF_dns_rr_new_init(layer, domain, type, 0, NETDB_SUCCESS);
	if (rr == NULL)
		return NULL;
	if (spf_rr_read(rr, w->ans, len < SPF_ANSWER_MAX ? len :
	    SPF_ANSWER_MAX, type) == -1) {
		rr->num_rr = 0;
		rr->herrno = TRY_AGAIN;
	} else if (rr->num_rr == 0)
		rr->herrno = NO_DATA;
	return rr;
}

/* -- evaluation (worker threads) ---------------------------------------------- */

static enum spf_status
spf_status_of(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return SPF_PASS;
	case SPF_RESULT_FAIL:
		return SPF_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return SPF_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return SPF_NEUTRAL;
	case SPF_RESULT_NONE:
		return SPF_NONE;
	case SPF_RESULT_PERMERROR:
		return SPF_PERMERROR;
	default:
		return SPF_TEMPERROR;
	}
}

/* Gives rp the result libspf2 left out (a record that does not compile,
 * a failed TXT look-up) or the temperror of a check out of time, with
 * libspf2's comment and header for it. */
static void
spf_settle(struct spf_worker *w, SPF_response_t *rp, SPF_errcode_t err)
{
	SPF_errcode_t code = err;

	if (w->timed_out) {
		SPF_i_done(rp, SPF_RESULT_TEMPERROR, SPF_REASON_NONE,
		    SPF_E_DNS_ERROR);
		return;
	}
	if (SPF_response_result(rp) != SPF_RESULT_INVALID)
		return;
	if (SPF_response_messages(rp) > 0)	/* the first error says why */
		code = SPF_error_code(SPF_response_message(rp, 0));
	if (err == SPF_E_DNS_ERROR)
		SPF_i_done(rp, SPF_RESULT_TEMPERROR, SPF_REASON_NONE, err);
	else
		SPF_i_done(rp, SPF_RESULT_PERMERROR, SPF_REASON_FAILURE,
		    code != SPF_E_SUCCESS ? code : SPF_E_INTERNAL_ERROR);
}

static void
spf_fill(struct spf_worker *w, struct spf_job *job, SPF_response_t *rp)
{
	static const char prefix[] = SPF_HEADER_NAME ": ";
	struct spf_result *res = &job->res;
	const char *v = SPF_response_get_received_spf(rp);
	char value[SPF_HEADER_SIZE];

	res->status = spf_status_of(SPF_response_result(rp));
	spf_clean(res->comment, SPF_response_get_header_comment(rp),
	    sizeof(res->comment));
	if (res->status == SPF_FAIL || res->status == SPF_SOFTFAIL ||
	    res->status == SPF_NEUTRAL)
		spf_clean(res->explanation, SPF_response_get_explanation(rp),
		    sizeof(res->explanation));
	if (v != NULL && strncmp(v, prefix, sizeof(prefix) - 1) == 0)
		v += sizeof(prefix) - 1;
	spf_clean(value, v, sizeof(value));
	if (value[0] == '\0')
		return;
	/* RFC 7208 9.1's receiver and identity, which libspf2 leaves out */
	snprintf(value + strlen(value), sizeof(value) - strlen(value),
	    " receiver=%s; identity=%s;", w->receiver,
	    res->helo_identity ? "helo" : "mailfrom");
	spf_clean(res->header, value, sizeof(res->header));
}

/* The whole check of job, into job->res. */
static void
spf_eval(struct spf_worker *w, struct spf_job *job)
{
	SPF_request_t *rq;
	SPF_response_t *rp = NULL;
	SPF_errcode_t err = SPF_E_SUCCESS;
	struct in_addr v4;
	struct in6_addr v6;
	const char *id, *at;

	w->deadline = &job->deadline;
	w->timed_out = false;
	if ((rq = SPF_request_new(w->server)) == NULL)
		fatal("event=spf-failed reason=\"out of memory\"");
	if (job->client.family == AF_INET) {
		memcpy(&v4, job->client.bytes, sizeof(v4));
		SPF_request_set_ipv4(rq, v4);
	} else {
		memcpy(&v6, job->client.bytes, sizeof(v6));
		SPF_request_set_ipv6(rq, v6);
	}
	/* the HELO first: with it, the null sender is postmaster@HELO */
	if (job->helo != NULL)
		SPF_request_set_helo_dom(rq, job->helo);
	SPF_request_set_env_from(rq, job->sender);
	job->res.helo_identity = job->sender[0] == '\0';
	id = job->res.helo_identity ? job->helo : job->sender;
	if (id != NULL && (at = strrchr(id, '@')) != NULL)
		id = at + 1;
	if (job->too_long || id == NULL || !spf_name_ok(id, 2)) {
		rp = SPF_response_new(rq);
		err = SPF_i_done(rp, SPF_RESULT_NONE, SPF_REASON_FAILURE,
		    SPF_E_NOT_SPF);
	} else if (spf_secs_left(w->deadline) == 0) {
		w->timed_out = true;	/* waited for a worker too long */
		rp = SPF_response_new(rq);
	} else
		err = SPF_request_query_mailfrom(rq, &rp);
	if (rp == NULL)
		fatal("event=spf-failed reason=\"out of memory\"");
	spf_settle(w, rp, err);
	spf_fill(w, job, rp);
	SPF_response_free(rp);
	SPF_request_free(rq);
}

/* -- the pool ------------------------------------------------------------------- */

static void
spf_job_free(struct spf_job *job)
{
	free(job->helo);
	free(job->sender);
	free(job);
}

static void
spf_pool_free(struct spf_pool *pool)
{
	struct spf_job *job;

	while ((job = TAILQ_FIRST(&pool->queue)) != NULL) {
		TAILQ_REMOVE(&pool->queue, job, link);
		spf_job_free(job);
	}
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->mtx);
	free(pool);
}

/* Drops a reference (the last frees the pool); stop: tell the workers
 * to go. */
static void
spf_pool_unref(struct spf_pool *pool, bool stop)
{
	bool last;

	pthread_mutex_lock(&pool->mtx);
	if (stop) {
		pool->stopping = true;
		pthread_cond_broadcast(&pool->cond);
	}
	last = --pool->refs == 0;
	pthread_mutex_unlock(&pool->mtx);
	if (last)
		spf_pool_free(pool);
}

static void
spf_worker_free(struct spf_worker *w)
{
	if (w->server != NULL)
		SPF_server_free(w->server);
	if (w->res_open)
		res_nclose(&w->res);
	free(w->ans);
	free(w);
}

static void spf_job_done(void *);

static void *
spf_worker_main(void *arg)
{
	struct spf_worker *w = arg;
	struct spf_pool *pool = w->pool;
	struct spf_job *job;

	pthread_mutex_lock(&pool->mtx);
	for (;;) {
		pool->idle++;
		while (!pool->stopping && TAILQ_EMPTY(&pool->queue))
			pthread_cond_wait(&pool->cond, &pool->mtx);
		pool->idle--;
		if (pool->stopping)
			break;
		job = TAILQ_FIRST(&pool->queue);
		TAILQ_REMOVE(&pool->queue, job, link);
		job->queued = false;
		pool->nqueued--;
		pthread_mutex_unlock(&pool->mtx);
		spf_eval(w, job);
		pthread_mutex_lock(&pool->mtx);
		/* under the mutex: spf_free() cannot slip in between */
		if (pool->stopping)
			spf_job_free(job);
		else
			loop_call(pool->base, spf_job_done, job);
	}
	pthread_mutex_unlock(&pool->mtx);
	spf_worker_free(w);
	spf_pool_unref(pool, false);
	return NULL;
}

/* Points w's resolver state at server (NULL: resolv.conf's).  glibc keeps
 * IPv6 servers in _u._ext.nsaddrs, and uses one when the classic slot's
 * family is 0; it frees them in res_nclose(). */
static int
spf_res_setup(struct spf_worker *w, const struct sockaddr *server,
    const char **errstr)
{
	int i;

	memset(&w->res, 0, sizeof(w->res));
	if (res_ninit(&w->res) != 0) {
		*errstr = "cannot set up a resolver (res_ninit)";
		return -1;
	}
	w->res_open = true;
	w->res.options |= RES_USE_EDNS0;	/* fewer answers need TCP */
	if (server == NULL)
		return 0;
	for (i = 0; i < w->res.nscount && i < MAXNS; i++) {
		free(w->res._u._ext.nsaddrs[i]);
		w->res._u._ext.nsaddrs[i] = NULL;
	}
	memset(&w->res.nsaddr_list[0], 0, sizeof(w->res.nsaddr_list[0]));
	if (server->sa_family == AF_INET)
		memcpy(&w->res.nsaddr_list[0], server,
		    sizeof(struct sockaddr_in));
	else {
		w->res._u._ext.nsaddrs[0] = xmalloc(sizeof(struct sockaddr_in6));
		memcpy(w->res._u._ext.nsaddrs[0], server,
		    sizeof(struct sockaddr_in6));
	}
	w->res.nscount = 1;
	return 0;
}

static struct spf_worker *
spf_worker_new(struct spf_pool *pool, const struct sockaddr *server,
    const char *receiver, const char **errstr)
{
	struct spf_worker *w = xcalloc(1, sizeof(*w));
	SPF_response_t *rp = NULL;

	w->pool = pool;
	w->ans = xmalloc(SPF_ANSWER_MAX);
	if (spf_res_setup(w, server, errstr) == -1)
		goto fail;
	w->layer.lookup = spf_dns_lookup;
	w->layer.name = "sluice";
	w->layer.hook = w;
	if ((w->server = SPF_server_new_dns(&w->layer, 0)) == NULL) {
		*errstr = "cannot set up libspf2";
		goto fail;
	}
	if (SPF_server_set_rec_dom(w->server, receiver) != SPF_E_SUCCESS ||
	    SPF_server_set_sanitize(w->server, 1) != SPF_E_SUCCESS ||
	    SPF_server_set_explanation(w->server, SPF_EXPLANATION, &rp) !=
	    SPF_E_SUCCESS) {
		*errstr = "cannot set up libspf2";
		goto fail;
	}
	SPF_response_free(rp);
	spf_clean(w->receiver, w->server->rec_dom, sizeof(w->receiver));
	return w;
fail:
	if (rp != NULL)
		SPF_response_free(rp);
	spf_worker_free(w);
	return NULL;
}

/* Starts w's thread, with every signal blocked (the loop's handlers
 * stay the loop's).  0, or -1 (w is then still the caller's). */
static int
spf_worker_start(struct spf_pool *pool, struct spf_worker *w)
{
	sigset_t all, old;
	pthread_t t;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&pool->mtx);
	pool->refs++;
	pool->nworkers++;
	pthread_mutex_unlock(&pool->mtx);
	if ((rc = pthread_create(&t, NULL, spf_worker_main, w)) != 0) {
		pthread_mutex_lock(&pool->mtx);
		pool->refs--;
		pool->nworkers--;
		pthread_mutex_unlock(&pool->mtx);
	} else
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc == 0 ? 0 : -1;
}

/* One more worker, when checks wait and none is idle (a worker that
 * cannot be made is logged; the queue still drains). */
static void
spf_grow(struct spf *spf)
{
	struct spf_worker *w;
	const char *errstr;

	if ((w = spf_worker_new(spf->pool, spf->has_resolver ?
	    (const struct sockaddr *)&spf->resolver : NULL, spf->receiver,
	    &errstr)) == NULL) {
		log_warn("event=spf-worker-failed reason=\"%s\"", errstr);
		return;
	}
	if (spf_worker_start(spf->pool, w) == -1) {
		log_warn("event=spf-worker-failed reason=\"cannot start a "
		    "thread\"");
		spf_worker_free(w);
	}
}

/* -- the loop side ---------------------------------------------------------------- */

/* Takes the request's job away from it: a queued or local job is freed
 * here; a running one by whoever finishes it. */
static void
spf_detach(struct spf_req *req)
{
	struct spf_pool *pool = req->spf->pool;
	struct spf_job *job = req->job;
	bool mine = req->local;

	if (job == NULL)
		return;
	req->job = NULL;
	if (!mine) {
		pthread_mutex_lock(&pool->mtx);
		if ((mine = job->queued)) {
			TAILQ_REMOVE(&pool->queue, job, link);
			pool->nqueued--;
		} else
			job->req = NULL;
		pthread_mutex_unlock(&pool->mtx);
	}
	if (mine)
		spf_job_free(job);
}

/* Unlinks and frees the request; with res, runs its callback first. */
static void
spf_req_end(struct spf_req *req, const struct spf_result *res)
{
	TAILQ_REMOVE(&req->spf->reqs, req, link);
	event_free(req->timer);
	if (res != NULL)
		req->cb(req->arg, res);
	free(req);
}

static void
spf_job_done(void *arg)
{
	struct spf_job *job = arg;
	struct spf_req *req = job->req;

	if (req != NULL) {
		req->job = NULL;
		spf_req_end(req, &job->res);
	}
	spf_job_free(job);
}

/* A local answer is due, or the safety net: no worker answered in time. */
static void
spf_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct spf_req *req = arg;
	struct spf_result res;

	(void)fd;
	(void)ev;
	spf_detach(req);
	memset(&res, 0, sizeof(res));
	res.status = SPF_TEMPERROR;
	str_copy(res.comment, req->local ? "too many SPF checks waiting" :
	    "SPF check timed out", sizeof(res.comment));
	spf_req_end(req, &res);
}

/* A HELO is a name or an address literal: other characters become '?',
 * so that it adds no key=value of its own to Received-SPF (its helo=
 * comes after ours). */
static void
spf_helo_tame(char *h)
{
	for (; *h != '\0'; h++)
		if (strchr(SPF_HELO_CHARS, *h) == NULL)
			*h = '?';
}

struct spf_req *
spf_check(struct spf *spf, const struct addr *client, const char *helo,
    const char *sender, spf_cb *cb, void *arg)
{
	struct spf_pool *pool = spf->pool;
	struct spf_req *req = xcalloc(1, sizeof(*req));
	struct spf_job *job = xcalloc(1, sizeof(*job));
	struct timeval tv = { 0, 0 };
	size_t slen, hlen;
	bool grow;

	req->spf = spf;
	req->job = job;
	req->cb = cb;
	req->arg = arg;
	if ((req->timer = evtimer_new(spf->base, spf_timer_cb, req)) == NULL)
		fatal("event=spf-timer-failed");
	TAILQ_INSERT_TAIL(&spf->reqs, req, link);
	job->req = req;
	job->client = *client;
	if (sender == NULL)
		sender = "";
	/* cut for the header; a cut domain must not be asked */
	slen = strnlen(sender, SPF_SENDER_MAX + 1);
	hlen = helo != NULL ? strnlen(helo, SPF_HELO_MAX + 1) : 0;
	job->too_long = slen > SPF_SENDER_MAX || hlen > SPF_HELO_MAX;
	job->sender = xstrndup(sender, slen > SPF_SENDER_MAX ?
	    SPF_SENDER_MAX : slen);
	if (hlen > 0) {
		job->helo = xstrndup(helo, hlen > SPF_HELO_MAX ? SPF_HELO_MAX :
		    hlen);
		spf_helo_tame(job->helo);
	}
	clock_gettime(CLOCK_MONOTONIC, &job->deadline);
	job->deadline.tv_sec += spf->timeout;
	pthread_mutex_lock(&pool->mtx);
	if (pool->nqueued < SPF_QUEUE_MAX) {
		job->queued = true;
		TAILQ_INSERT_TAIL(&pool->queue, job, link);
		pool->nqueued++;
		pthread_cond_signal(&pool->cond);
		tv.tv_sec = spf->timeout + SPF_SAFETY_SECS;
	} else
		req->local = true;
	grow = pool->nqueued > pool->idle && pool->nworkers < SPF_WORKERS_MAX;
	pthread_mutex_unlock(&pool->mtx);
	if (grow)
		spf_grow(spf);
	evtimer_add(req->timer, &tv);
	return req;
}

void
spf_cancel(struct spf_req **rp)
{
	struct spf_req *req = *rp;

	if (req == NULL)
		return;
	*rp = NULL;
	spf_detach(req);
	spf_req_end(req, NULL);
}

/* libspf2 reports broken invariants and failed allocations here (its
 * default prints and aborts); its warnings are ours to drop. */
static void __attribute__((noreturn))
spf_lib_error(const char *file, int line, const char *msg)
{
	fatal("event=spf-library-error file=%s line=%d reason=\"%s\"",
	    file != NULL ? file : "?", line, msg != NULL ? msg : "");
}

static void
spf_lib_init(void)
{
	SPF_error_handler = spf_lib_error;
	SPF_warning_handler = NULL;
	SPF_info_handler = NULL;
	SPF_debug_handler = NULL;
}

int
spf_new(struct spf **spfp, struct event_base *base,
    const struct sockaddr *resolver, const char *receiver,
    unsigned timeout_secs, const char **errstr)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct spf_worker *w[SPF_WORKERS];
	struct spf_pool *pool;
	struct spf *spf;
	size_t i, n;

	*spfp = NULL;
	if (timeout_secs == 0)
		timeout_secs = SPF_TIMEOUT_DEFAULT;
	if (timeout_secs > SPF_TIMEOUT_MAX) {
		*errstr = "SPF timeout out of range (1..300 seconds)";
		return -1;
	}
	if (resolver != NULL && resolver->sa_family != AF_INET &&
	    resolver->sa_family != AF_INET6) {
		*errstr = "SPF resolver: not an IPv4 or IPv6 address";
		return -1;
	}
	if (receiver != NULL && !spf_name_ok(receiver, 1)) {
		*errstr = "SPF receiver: not a host name";
		return -1;
	}
	pthread_once(&once, spf_lib_init);
	pool = xcalloc(1, sizeof(*pool));
	pthread_mutex_init(&pool->mtx, NULL);
	pthread_cond_init(&pool->cond, NULL);
	TAILQ_INIT(&pool->queue);
	pool->base = base;
	pool->refs = 1;
	for (n = 0; n < SPF_WORKERS; n++)
		if ((w[n] = spf_worker_new(pool, resolver, receiver,
		    errstr)) == NULL)
			break;
	for (i = 0; i < n && n == SPF_WORKERS; i++)
		if (spf_worker_start(pool, w[i]) == -1)
			break;
	spf = xcalloc(1, sizeof(*spf));
	spf->base = base;
	spf->pool = pool;
	spf->timeout = timeout_secs;
	TAILQ_INIT(&spf->reqs);
	if (resolver != NULL) {
		memcpy(&spf->resolver, resolver, resolver->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		spf->has_resolver = true;
	}
	spf->receiver = receiver != NULL ? xstrdup(receiver) : NULL;
	if (i < SPF_WORKERS) {
		if (n == SPF_WORKERS)
			*errstr = "cannot start the SPF threads";
		for (; i < n; i++)	/* never started */
			spf_worker_free(w[i]);
		spf_free(&spf);
		return -1;
	}
	*spfp = spf;
	return 0;
}

void
spf_free(struct spf **spfp)
{
	struct spf *spf = *spfp;
	struct spf_req *req;

	if (spf == NULL)
		return;
	*spfp = NULL;
	while ((req = TAILQ_FIRST(&spf->reqs)) != NULL) {
		spf_detach(req);
		spf_req_end(req, NULL);
	}
	spf_pool_unref(spf->pool, true);
	free(spf->receiver);
	free(spf);
}
