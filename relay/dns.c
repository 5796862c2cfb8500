/*
 * dns: MX and address look-ups for delivery, answered on the event loop.
 *
 * Threads.  The loop thread owns struct dns, every struct dns_req and
 * every callback.  DNS_WORKERS threads share struct dns_pool (its queue
 * under pool->mtx; its servers never change after dns_new()) and run one
 * job at a time: a job is the whole look-up of one request (the MX
 * records, then each host's A and AAAA), asked by dns_wire.c with
 * blocking sockets whose every wait ends at the job's deadline.  A finished job goes back to the
 * loop by loop_call(); dns_job_done() hands it to its request, if any.
 *
 * Ownership of a job: the loop's while it is answered without DNS
 * (req->local) or queued (a cancel takes it out of the queue under the
 * mutex and frees it); the worker's from the moment it leaves the queue
 * until dns_job_done() frees it on the loop.  Cancelling a running job
 * only clears job->req, a field the workers never read.  Each request
 * also has a safety timer at its deadline plus a second, so a callback
 * always comes even if the pool falls behind.  The pool outlives struct
 * dns until its last worker leaves: dns_free() never waits for a thread,
 * and a worker that finishes after dns_free() frees its job itself.
 *
 * What an attacker controls: the domain (from an envelope recipient)
 * and, through it, which servers are asked and what they answer.  Names
 * are validated before they are queried; the answers are read by
 * dns_wire.c (see there), and at most DNS_MX_MAX hosts and DNS_ADDR_MAX
 * addresses per family are kept.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../lib/addr.h"
#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "dns.h"
#include "dns_priv.h"
#include "loop.h"

#define DNS_HOST_ADDRS	(2 * DNS_ADDR_MAX)
#define DNS_RESOLV_CONF	"/etc/resolv.conf"

#define DNS_NOTFOUND	"Host or domain name not found. Name service error" \
			" for name=%s type=%s: "

enum dns_kind { DNS_KIND_MX, DNS_KIND_HOST };

struct dns_job {
	TAILQ_ENTRY(dns_job)	 link;		/* in pool->queue */
	bool			 queued;	/* under pool->mtx */
	struct dns_req		*req;		/* loop thread only */
	enum dns_kind		 kind;
	char			*name;		/* as asked */
	char			 qname[DNS_NAME_SIZE];	/* no final dot */
	struct timespec		 deadline;	/* CLOCK_MONOTONIC */
	struct dns_result	 res;
	struct dns_host		*hosts;
	struct dns_addr		*addrs;		/* DNS_HOST_ADDRS per host */
};

struct dns_pool {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	TAILQ_HEAD(, dns_job)	 queue;
	bool			 stopping;
	unsigned		 refs;		/* struct dns + live workers */
	struct event_base	*base;
	struct dns_server	 servers[DNS_NS_MAX];
	size_t			 nserver;
};

struct dns_req {
	TAILQ_ENTRY(dns_req)	 link;		/* in dns->reqs */
	struct dns		*dns;
	struct dns_job		*job;		/* NULL once detached */
	bool			 local;		/* answered without DNS */
	enum dns_kind		 kind;
	char			*name;
	struct event		*timer;
	dns_mx_cb		*cb;
	void			*arg;
};

struct dns {
	struct event_base	*base;
	struct dns_pool		*pool;
	unsigned		 timeout;
	TAILQ_HEAD(, dns_req)	 reqs;
};

static void
dns_set_status(struct dns_result *res, enum dns_status st, const char *dsn)
{
	res->status = st;
	str_copy(res->dsn, dsn, sizeof(res->dsn));
}

static void
dns_job_hosts(struct dns_job *job, size_t n)
{
	job->hosts = xcalloc(n, sizeof(*job->hosts));
	job->addrs = xcalloc(n * DNS_HOST_ADDRS, sizeof(*job->addrs));
	job->res.hosts = job->hosts;
	job->res.nhost = n;
}

static void
dns_job_free(struct dns_job *job)
{
	free(job->hosts);
	free(job->addrs);
	free(job->name);
	free(job);
}

/* -- look-ups (worker threads) ------------------------------------------ */

/* Adds the answer's addresses of type (A or AAAA) to h, at most
 * DNS_ADDR_MAX; those read before a fault too.  -1 if the answer is
 * malformed. */
static int
dns_read_addrs(const struct dns_ctx *c, struct dns_host *h,
    struct dns_addr *addrs, uint16_t type)
{
	struct dns_wire_answer ans;
	const char *err;
	size_t i;
	int r;

	r = dns_wire_parse(c->a, c->alen, h->name, type, &ans, &err);
	for (i = 0; i < ans.naddr; i++)
		addrs[h->naddr++] = ans.addrs[i];
	return r;
}

/* h->name's A, then AAAA, addresses; h->status says how it went. */
static void
dns_lookup_host(struct dns_ctx *c, struct dns_host *h,
    struct dns_addr *addrs)
{
	static const uint16_t types[] = { DNS_T_A, DNS_T_AAAA };
	const char *temp = NULL, *ttype = "A", *ntype = "A";
	size_t i;
	bool nx = false;

	h->addrs = addrs;
	h->naddr = 0;
	if (!dns_name_ok(h->name)) {
		h->status = DNS_PERMFAIL;
		str_copy(h->text, "invalid host name", sizeof(h->text));
		return;
	}
	for (i = 0; i < 2 && !nx; i++) {	/* no such name: no AAAA */
		const char *tname = types[i] == DNS_T_A ? "A" : "AAAA";

		switch (dns_ask(c, h->name, types[i])) {
		case DNS_Q_ANSWER:
			ntype = tname;
			if (dns_read_addrs(c, h, addrs, types[i]) == -1 &&
			    temp == NULL) {
				temp = "malformed answer";
				ttype = tname;
			}
			break;
		case DNS_Q_NXDOMAIN:
			nx = true;
			ntype = tname;
			break;
		case DNS_Q_TEMP:
			if (temp == NULL) {
				temp = c->why;
				ttype = tname;
			}
			break;
		}
	}
	if (h->naddr > 0) {
		h->status = DNS_OK;
		h->text[0] = '\0';
	} else if (temp != NULL) {
		h->status = DNS_TEMPFAIL;
		snprintf(h->text, sizeof(h->text), DNS_NOTFOUND
		    "Host not found, try again (%s)", h->name, ttype, temp);
	} else {
		h->status = DNS_PERMFAIL;
		snprintf(h->text, sizeof(h->text), DNS_NOTFOUND "%s", h->name,
		    ntype, nx ? "Host not found" :
		    "Host found but no data record of requested type");
	}
}

/* The result from the hosts: OK when one has an address; else the best
 * host's temporary failure, else its permanent one. */
static void
dns_conclude(struct dns_job *job)
{
	const struct dns_host *temp = NULL;
	size_t i;

	for (i = 0; i < job->res.nhost; i++) {
		if (job->hosts[i].status == DNS_OK) {
			dns_set_status(&job->res, DNS_OK, "");
			return;
		}
		if (job->hosts[i].status == DNS_TEMPFAIL && temp == NULL)
			temp = &job->hosts[i];
	}
	if (temp != NULL)
		dns_set_status(&job->res, DNS_TEMPFAIL, "4.4.3");
	else
		dns_set_status(&job->res, DNS_PERMFAIL, "5.4.4");
	str_copy(job->res.text, temp != NULL ? temp->text :
	    job->hosts[0].text, sizeof(job->res.text));
}

static int
dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return (x->pref > y->pref) - (x->pref < y->pref);
}

/* Preference order, equal preferences shuffled (RFC 5321 5.1), each name
 * once (at its best preference), at most DNS_MX_MAX.  Returns the count. */
static size_t
dns_mx_order(struct dns_mx *mx, size_t n)
{
	struct dns_mx t;
	size_t i, j, k, run, out = 0;

	qsort(mx, n, sizeof(*mx), dns_mx_cmp);
	for (i = 0; i < n; i += run) {
		for (run = 1; i + run < n && mx[i + run].pref == mx[i].pref;)
			run++;
		for (j = run; j > 1; j--) {		/* Fisher-Yates */
			k = arc4random_uniform((uint32_t)j);
			t = mx[i + j - 1];
			mx[i + j - 1] = mx[i + k];
			mx[i + k] = t;
		}
	}
	for (i = 0; i < n && out < DNS_MX_MAX; i++) {
		for (j = 0; j < out; j++)
			if (strcasecmp(mx[j].name, mx[i].name) == 0)
				break;
		if (j == out)
			mx[out++] = mx[i];
	}
	return out;
}

static void
dns_run_mx(struct dns_ctx *c, struct dns_job *job)
{
	struct dns_wire_answer ans;
	struct dns_mx *mx = ans.mx;
	size_t i, n = 0, nnull = 0;
	const char *err;
	enum dns_q q;

	if ((q = dns_ask(c, job->qname, DNS_T_MX)) == DNS_Q_ANSWER) {
		if (dns_wire_parse(c->a, c->alen, job->qname, DNS_T_MX, &ans,
		    &err) == -1) {
			q = DNS_Q_TEMP;
			c->why = "malformed answer";
		}
		n = ans.nmx;
		nnull = ans.nnull;
	}
	if (q == DNS_Q_TEMP) {
		dns_set_status(&job->res, DNS_TEMPFAIL, "4.4.3");
		snprintf(job->res.text, sizeof(job->res.text), DNS_NOTFOUND
		    "Host not found, try again (%s)", job->qname, "MX",
		    c->why);
		return;
	}
	if (q == DNS_Q_NXDOMAIN) {
		dns_set_status(&job->res, DNS_PERMFAIL, "5.4.4");
		snprintf(job->res.text, sizeof(job->res.text), DNS_NOTFOUND
		    "Host not found", job->qname, "MX");
		return;
	}
	if (n == 0 && nnull > 0) {		/* RFC 7505 */
		dns_set_status(&job->res, DNS_PERMFAIL, "5.1.10");
		snprintf(job->res.text, sizeof(job->res.text),
		    "Domain %s does not accept mail (nullMX)", job->qname);
		return;
	}
	if (n == 0) {				/* RFC 5321 5.1: implicit MX */
		job->res.implicit_mx = true;
		mx[0].pref = 0;
		mx[0].valid = true;
		str_copy(mx[0].name, job->qname, sizeof(mx[0].name));
		n = 1;
	} else
		n = dns_mx_order(mx, n);
	dns_job_hosts(job, n);
	for (i = 0; i < n; i++) {
		struct dns_host *h = &job->hosts[i];

		str_copy(h->name, mx[i].name, sizeof(h->name));
		h->pref = mx[i].pref;
		dns_lookup_host(c, h, &job->addrs[i * DNS_HOST_ADDRS]);
	}
	dns_conclude(job);
}

static void
dns_run_host(struct dns_ctx *c, struct dns_job *job)
{
	dns_job_hosts(job, 1);
	str_copy(job->hosts[0].name, job->qname, sizeof(job->hosts[0].name));
	dns_lookup_host(c, &job->hosts[0], job->addrs);
	dns_conclude(job);
}

static void dns_job_done(void *);

static void
dns_pool_free(struct dns_pool *pool)
{
	struct dns_job *job;

	while ((job = TAILQ_FIRST(&pool->queue)) != NULL) {
		TAILQ_REMOVE(&pool->queue, job, link);
		dns_job_free(job);
	}
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->mtx);
	free(pool);
}

/* Drops one reference; the last one frees the pool.  Stops the workers. */
static void
dns_pool_release(struct dns_pool *pool)
{
	bool last;

	pthread_mutex_lock(&pool->mtx);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	last = --pool->refs == 0;
	pthread_mutex_unlock(&pool->mtx);
	if (last)
		dns_pool_free(pool);
}

static void *
dns_worker(void *arg)
{
	struct dns_pool *pool = arg;
	struct dns_ctx c;
	struct dns_job *job;
	bool last;

	memset(&c, 0, sizeof(c));
	c.servers = pool->servers;
	c.nserver = pool->nserver;
	c.a = xmalloc(DNS_MSG_MAX);
	pthread_mutex_lock(&pool->mtx);
	for (;;) {
		while (!pool->stopping && TAILQ_EMPTY(&pool->queue))
			pthread_cond_wait(&pool->cond, &pool->mtx);
		if (pool->stopping)
			break;
		job = TAILQ_FIRST(&pool->queue);
		TAILQ_REMOVE(&pool->queue, job, link);
		job->queued = false;
		pthread_mutex_unlock(&pool->mtx);
		c.deadline = &job->deadline;
		if (job->kind == DNS_KIND_MX)
			dns_run_mx(&c, job);
		else
			dns_run_host(&c, job);
		pthread_mutex_lock(&pool->mtx);
		/* under the mutex: dns_free() cannot slip in between */
		if (pool->stopping)
			dns_job_free(job);
		else
			loop_call(pool->base, dns_job_done, job);
	}
	last = --pool->refs == 0;
	pthread_mutex_unlock(&pool->mtx);
	if (last)
		dns_pool_free(pool);
	free(c.a);
	return NULL;
}

/* -- the loop side --------------------------------------------------------- */

/* Takes the request's job away from it: a queued or local job is freed
 * here; a running one is freed by whoever finishes it. */
static void
dns_detach(struct dns_req *req)
{
	struct dns_pool *pool = req->dns->pool;
	struct dns_job *job = req->job;
	bool mine = req->local;

	if (job == NULL)
		return;
	req->job = NULL;
	if (!mine) {
		pthread_mutex_lock(&pool->mtx);
		if (job->queued) {
			TAILQ_REMOVE(&pool->queue, job, link);
			job->queued = false;
			mine = true;
		} else
			job->req = NULL;
		pthread_mutex_unlock(&pool->mtx);
	}
	if (mine)
		dns_job_free(job);
}

/* Unlinks the request, runs its callback, then frees it (res may point
 * into it). */
static void
dns_deliver(struct dns_req *req, const struct dns_result *res)
{
	TAILQ_REMOVE(&req->dns->reqs, req, link);
	event_free(req->timer);
	req->cb(req->arg, res);
	free(req->name);
	free(req);
}

static void
dns_req_drop(struct dns_req *req)
{
	dns_detach(req);
	TAILQ_REMOVE(&req->dns->reqs, req, link);
	event_free(req->timer);
	free(req->name);
	free(req);
}

static void
dns_job_done(void *arg)
{
	struct dns_job *job = arg;
	struct dns_req *req = job->req;

	if (req != NULL) {
		req->job = NULL;
		dns_deliver(req, &job->res);
	}
	dns_job_free(job);
}

/* A local answer is due, or the safety net: the pool did not answer in
 * time. */
static void
dns_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct dns_req *req = arg;
	struct dns_job *job = req->job;
	struct dns_result res;

	(void)fd;
	(void)ev;
	if (req->local) {
		req->job = NULL;
		dns_deliver(req, &job->res);
		dns_job_free(job);
		return;
	}
	dns_detach(req);
	memset(&res, 0, sizeof(res));
	dns_set_status(&res, DNS_TEMPFAIL, "4.4.3");
	res.name = req->name;
	snprintf(res.text, sizeof(res.text), DNS_NOTFOUND
	    "Host not found, try again (timed out)", req->name,
	    req->kind == DNS_KIND_MX ? "MX" : "A");
	dns_deliver(req, &res);
}

/* "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321 4.1.3), or for a host
 * look-up a bare literal: one host, no DNS.  -1 if s is not a literal. */
static int
dns_literal(struct dns_job *job, const char *s)
{
	char text[DNS_NAME_SIZE];
	struct addr a;
	size_t len = strlen(s);

	if (s[0] == '[' && len > 2 && s[len - 1] == ']') {
		str_copy(text, s + 1, len - 1 < sizeof(text) ? len - 1 :
		    sizeof(text));
		if (str_has_prefix_ci(text, "IPv6:")) {
			memmove(text, text + 5, strlen(text + 5) + 1);
			if (inet_pton(AF_INET6, text, a.bytes) != 1)
				return -1;
			a.family = AF_INET6;
		} else if (inet_pton(AF_INET, text, a.bytes) != 1)
			return -1;
		else
			a.family = AF_INET;
	} else if (job->kind != DNS_KIND_HOST || addr_parse(s, &a) == -1)
		return -1;
	else
		str_copy(text, s, sizeof(text));
	dns_job_hosts(job, 1);
	str_copy(job->hosts[0].name, text, sizeof(job->hosts[0].name));
	dns_addr_set(&job->addrs[0], a.family, a.bytes);
	job->hosts[0].addrs = job->addrs;
	job->hosts[0].naddr = 1;
	return 0;
}

/* Answers what needs no DNS (a literal, an invalid name) into job->res.
 * Otherwise fills job->qname and returns false. */
static bool
dns_answer_locally(struct dns_job *job)
{
	const char *name = job->name;
	size_t len = strlen(name);

	if (dns_literal(job, name) == 0)
		return true;
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len < sizeof(job->qname)) {
		memcpy(job->qname, name, len);
		job->qname[len] = '\0';
		if (name[0] != '[' && dns_name_ok(job->qname))
			return false;
	}
	dns_set_status(&job->res, DNS_PERMFAIL, "5.1.2");
	str_copy(job->res.text, job->kind == DNS_KIND_MX ?
	    "invalid domain name" : "invalid host name",
	    sizeof(job->res.text));
	return true;
}

static struct dns_req *
dns_submit(struct dns *dns, enum dns_kind kind, const char *name,
    dns_mx_cb *cb, void *arg)
{
	struct dns_pool *pool = dns->pool;
	struct dns_req *req = xcalloc(1, sizeof(*req));
	struct dns_job *job = xcalloc(1, sizeof(*job));
	struct timeval tv = { 0, 0 };

	req->dns = dns;
	req->job = job;
	req->kind = kind;
	req->name = xstrdup(name);
	req->cb = cb;
	req->arg = arg;
	if ((req->timer = evtimer_new(dns->base, dns_timer_cb, req)) == NULL)
		fatal("event=dns-timer-failed");
	job->req = req;
	job->kind = kind;
	job->name = xstrdup(name);
	job->res.name = job->name;
	TAILQ_INSERT_TAIL(&dns->reqs, req, link);
	if ((req->local = dns_answer_locally(job))) {
		evtimer_add(req->timer, &tv);
		return req;
	}
	clock_gettime(CLOCK_MONOTONIC, &job->deadline);
	job->deadline.tv_sec += dns->timeout;
	pthread_mutex_lock(&pool->mtx);
	job->queued = true;
	TAILQ_INSERT_TAIL(&pool->queue, job, link);
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->mtx);
	tv.tv_sec = dns->timeout + 1;
	evtimer_add(req->timer, &tv);
	return req;
}

struct dns_req *
dns_resolve_mx(struct dns *dns, const char *domain, dns_mx_cb *cb, void *arg)
{
	return dns_submit(dns, DNS_KIND_MX, domain, cb, arg);
}

struct dns_req *
dns_resolve_host(struct dns *dns, const char *host, dns_host_cb *cb,
    void *arg)
{
	return dns_submit(dns, DNS_KIND_HOST, host, cb, arg);
}

void
dns_cancel(struct dns_req **rp)
{
	struct dns_req *req = *rp;

	if (req == NULL)
		return;
	*rp = NULL;
	dns_req_drop(req);
}

/* "ADDR[:PORT]" or "[V6]:PORT", separated by commas or spaces. */
static int
dns_parse_servers(struct dns_pool *pool, const char *spec,
    const char **errstr)
{
	char tok[128];
	size_t len;

	for (;;) {
		spec += strspn(spec, ", \t");
		if (*spec == '\0')
			break;
		len = strcspn(spec, ", \t");
		if (pool->nserver == DNS_NS_MAX || len >= sizeof(tok)) {
			*errstr = pool->nserver == DNS_NS_MAX ?
			    "more than 3 resolver addresses" :
			    "invalid resolver address";
			return -1;
		}
		memcpy(tok, spec, len);
		tok[len] = '\0';
		spec += len;
		if (addr_parse_hostport(tok, "53",
		    &pool->servers[pool->nserver].sa,
		    &pool->servers[pool->nserver].salen, errstr) == -1)
			return -1;
		pool->nserver++;
	}
	if (pool->nserver == 0) {
		*errstr = "no resolver address";
		return -1;
	}
	return 0;
}

/* The nameserver lines of resolv.conf(5); 127.0.0.1 without any. */
static void
dns_read_resolv_conf(struct dns_pool *pool)
{
	char *line = NULL, *p, *end;
	const char *err;
	size_t cap = 0;
	FILE *f;

	if ((f = fopen(DNS_RESOLV_CONF, "re")) != NULL) {
		while (pool->nserver < DNS_NS_MAX &&
		    getline(&line, &cap, f) != -1) {
			p = line + strspn(line, " \t");
			if (strncmp(p, "nameserver", 10) != 0 ||
			    (p[10] != ' ' && p[10] != '\t'))
				continue;
			p += 10 + strspn(p + 10, " \t");
			end = p + strcspn(p, " \t\r\n#;");
			*end = '\0';
			if (addr_parse_hostport(p, "53",
			    &pool->servers[pool->nserver].sa,
			    &pool->servers[pool->nserver].salen, &err) == 0)
				pool->nserver++;
		}
		free(line);
		fclose(f);
	}
	if (pool->nserver == 0) {
		(void)addr_parse_hostport("127.0.0.1", "53",
		    &pool->servers[0].sa, &pool->servers[0].salen, &err);
		pool->nserver = 1;
	}
}

struct dns *
dns_new(struct event_base *base, const char *server, unsigned timeout_secs,
    const char **errstr)
{
	struct dns_pool *pool;
	struct dns *dns;
	sigset_t all, old;
	pthread_t t;
	unsigned i;

	if (timeout_secs < 1 || timeout_secs > 3600) {
		*errstr = "resolver timeout out of range (1..3600 seconds)";
		return NULL;
	}
	pool = xcalloc(1, sizeof(*pool));
	if (server != NULL && dns_parse_servers(pool, server, errstr) == -1) {
		free(pool);
		return NULL;
	}
	if (server == NULL)
		dns_read_resolv_conf(pool);
	pthread_mutex_init(&pool->mtx, NULL);
	pthread_cond_init(&pool->cond, NULL);
	TAILQ_INIT(&pool->queue);
	pool->base = base;
	pool->refs = 1;
	dns = xcalloc(1, sizeof(*dns));
	dns->base = base;
	dns->pool = pool;
	dns->timeout = timeout_secs;
	TAILQ_INIT(&dns->reqs);
	/* the workers take no signal: the loop's handlers stay the loop's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < DNS_WORKERS; i++) {
		if (pthread_create(&t, NULL, dns_worker, pool) != 0)
			break;
		pthread_detach(t);
		pthread_mutex_lock(&pool->mtx);
		pool->refs++;
		pthread_mutex_unlock(&pool->mtx);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i < DNS_WORKERS) {
		dns_free(&dns);
		*errstr = "cannot start the resolver threads";
		return NULL;
	}
	return dns;
}

void
dns_free(struct dns **dp)
{
	struct dns *dns = *dp;
	struct dns_req *req;

	if (dns == NULL)
		return;
	*dp = NULL;
	while ((req = TAILQ_FIRST(&dns->reqs)) != NULL)
		dns_req_drop(req);
	dns_pool_release(dns->pool);
	free(dns);
}
