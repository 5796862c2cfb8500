/*
 * queue_resv: what a deferred recipient reserves, as the `resv` column of
 * its row holds it, and the changes that give it up.
 *
 * queue/ knows nothing of quotas: a reservation is a struct queue_counter
 * (what the recipient holds in window `start` of the counter (quota,
 * key)) that relay/ hands over when it defers a recipient, and that the
 * change callbacks hand back when the recipient stops waiting by an
 * administrator's hand (hold, delete, release) or relay/'s own
 * (queue_txn_rcpt_requeue), so that the capacity can be given back.
 *
 * The encoding (version 1), chosen to be small (a reservation is a few
 * bytes besides its names) and to read any bytes but NUL in the names:
 *
 *	'R' 0x01  count:varint  entry * count
 *	entry:	quota NUL  key NUL  start:zigzag-varint  kinds:1  value * 3
 *	kinds:	two bits per used[i] (i = 0, 1, 2 from the low bits; the top
 *		two bits 0): 0 zero, nothing follows; 1 a whole number in
 *		1..2^53 as a varint; 2 any other finite value as 8 bytes of
 *		IEEE 754 binary64, little-endian.
 *	varint: LEB128, unsigned, at most 10 bytes.
 *
 * Invariants:
 * - What is encoded decodes to the same values (a zero's sign aside);
 *   a value that is not finite is refused on the way in.
 * - Decoding checks every length against the bytes there are and takes
 *   nothing on trust: a bad magic, a count past QUEUE_RESV_MAX or the
 *   bytes left, a name without its NUL, an overlong varint, a kind of 3,
 *   a value that is not finite, or bytes left over fail the decoding, with
 *   nothing allocated.  A change whose reservations cannot be read is
 *   still made and reported (resv_bad): an administrator must always be
 *   able to hold or delete mail.
 * - Only a QUEUE_DEFERRED recipient has reservations (queue_resv_check on
 *   the way in; every change that moves a recipient clears them), so
 *   "the reservations a change gave up" is simply what the row held.
 * - Ownership: decoded names point into the blob they came from: in a
 *   change, into SQLite's row or the collected copy, valid during the
 *   callback only.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "queue_priv.h"

#define RESV_MAGIC	'R'
#define RESV_VERSION	1
#define RESV_KIND_ZERO	0
#define RESV_KIND_INT	1
#define RESV_KIND_REAL	2
#define RESV_INT_MAX	9007199254740992.0	/* 2^53: exact in a double */
#define RESV_ENTRY_MIN	4	/* two NULs, a start, the kinds */

static void
resv_put_varint(struct buf *b, uint64_t v)
{
	unsigned char c;

	do {
		c = v & 0x7f;
		v >>= 7;
		buf_addc(b, (char)(c | (v ? 0x80 : 0)));
	} while (v != 0);
}

static void
resv_put_real(struct buf *b, double d)
{
	uint64_t u;
	int i;

	memcpy(&u, &d, sizeof(u));
	for (i = 0; i < 8; i++)
		buf_addc(b, (char)(u >> (8 * i) & 0xff));
}

static unsigned
resv_kind(double d)
{
	if (d == 0)
		return RESV_KIND_ZERO;
	if (d >= 1 && d <= RESV_INT_MAX && d == (double)(uint64_t)d)
		return RESV_KIND_INT;
	return RESV_KIND_REAL;
}

int
queue_resv_encode(const struct queue_counter *resv, size_t n,
    struct buf *out, const char **errstr)
{
	const struct queue_counter *c;
	unsigned kinds, k;
	size_t i, u;

	buf_reset(out);
	if (n > QUEUE_RESV_MAX || (n > 0 && resv == NULL)) {
		*errstr = "queue: too many reservations for one recipient";
		return -1;
	}
	buf_addc(out, RESV_MAGIC);
	buf_addc(out, RESV_VERSION);
	resv_put_varint(out, n);
	for (i = 0; i < n; i++) {
		c = &resv[i];
		if (c->quota == NULL || c->key == NULL) {
			*errstr = "queue: a reservation without quota or key";
			return -1;
		}
		if (!isfinite(c->used[0]) || !isfinite(c->used[1]) ||
		    !isfinite(c->used[2])) {
			*errstr = "queue: a reservation that is not a number";
			return -1;
		}
		buf_add(out, c->quota, strlen(c->quota) + 1);
		buf_add(out, c->key, strlen(c->key) + 1);
		/* zigzag: small negative starts stay small too */
		resv_put_varint(out, ((uint64_t)c->start << 1) ^
		    (uint64_t)(c->start < 0 ? -1 : 0));
		for (kinds = 0, u = 0; u < 3; u++)
			kinds |= resv_kind(c->used[u]) << (2 * u);
		buf_addc(out, (char)kinds);
		for (u = 0; u < 3; u++) {
			k = resv_kind(c->used[u]);
			if (k == RESV_KIND_INT)
				resv_put_varint(out, (uint64_t)c->used[u]);
			else if (k == RESV_KIND_REAL)
				resv_put_real(out, c->used[u]);
		}
	}
	return 0;
}

/* A cursor over the bytes being decoded. */
struct resv_rd {
	const unsigned char	*p, *end;
};

static int
resv_get_varint(struct resv_rd *r, uint64_t *v)
{
	unsigned shift;
	uint64_t c;

	*v = 0;
	for (shift = 0; shift < 70; shift += 7) {
		if (r->p == r->end)
			return -1;
		c = *r->p++;
		/* the tenth byte has room for one bit */
		if (shift == 63 && c > 1)
			return -1;
		*v |= (c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return 0;
	}
	return -1;
}

static int
resv_get_str(struct resv_rd *r, const char **s)
{
	const unsigned char *nul;

	if ((nul = memchr(r->p, '\0', (size_t)(r->end - r->p))) == NULL)
		return -1;
	*s = (const char *)r->p;
	r->p = nul + 1;
	return 0;
}

static int
resv_get_value(struct resv_rd *r, unsigned kind, double *d)
{
	uint64_t u = 0;
	int i;

	switch (kind) {
	case RESV_KIND_ZERO:
		*d = 0;
		return 0;
	case RESV_KIND_INT:
		if (resv_get_varint(r, &u) == -1 || u > (1ull << 53))
			return -1;
		*d = (double)u;
		return 0;
	case RESV_KIND_REAL:
		if (r->end - r->p < 8)
			return -1;
		for (i = 0; i < 8; i++)
			u |= (uint64_t)r->p[i] << (8 * i);
		r->p += 8;
		memcpy(d, &u, sizeof(*d));
		return isfinite(*d) ? 0 : -1;
	}
	return -1;
}

static int
resv_get_entry(struct resv_rd *r, struct queue_counter *c)
{
	uint64_t zz;
	unsigned kinds, u;

	if (resv_get_str(r, &c->quota) == -1 ||
	    resv_get_str(r, &c->key) == -1 ||
	    resv_get_varint(r, &zz) == -1 || r->p == r->end)
		return -1;
	c->start = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
	if ((kinds = *r->p++) >> 6 != 0)
		return -1;
	for (u = 0; u < 3; u++)
		if (resv_get_value(r, kinds >> (2 * u) & 3, &c->used[u]) == -1)
			return -1;
	return 0;
}

int
queue_resv_decode(const void *blob, size_t len, struct queue_counter **out,
    size_t *n, const char **errstr)
{
	struct resv_rd r;
	struct queue_counter *v = NULL;
	uint64_t count;
	size_t i;

	*out = NULL;
	*n = 0;
	if (blob == NULL || len < 3)	/* SQLite reads x'' as NULL */
		goto bad;
	r.p = blob;
	r.end = r.p + len;
	if (r.p[0] != RESV_MAGIC || r.p[1] != RESV_VERSION)
		goto bad;
	r.p += 2;
	if (resv_get_varint(&r, &count) == -1 || count > QUEUE_RESV_MAX ||
	    count > (uint64_t)(r.end - r.p) / RESV_ENTRY_MIN)
		goto bad;
	if (count > 0)
		v = xcalloc((size_t)count, sizeof(*v));
	for (i = 0; i < count; i++)
		if (resv_get_entry(&r, &v[i]) == -1)
			goto bad;
	if (r.p != r.end)
		goto bad;
	*out = v;
	*n = (size_t)count;
	return 0;
bad:
	free(v);
	*errstr = "queue: unreadable reservations";
	return -1;
}

int
queue_bind_quota(sqlite3_stmt *st, int col, const struct queue_rcpt_in *r,
    struct buf *out, const char **errstr)
{
	queue_bind_opt_text(st, col, r->quota);
	queue_bind_opt_text(st, col + 1, r->qkey);
	queue_bind_opt_time(st, col + 2, r->expire);
	sqlite3_bind_int64(st, col + 3, r->rflags);
	if (r->nresv == 0)
		return sqlite3_bind_null(st, col + 4) == SQLITE_OK ? 0 : -1;
	if (queue_resv_encode(r->resv, r->nresv, out, errstr) == -1)
		return -1;
	if (sqlite3_bind_blob64(st, col + 4, out->data, out->len,
	    SQLITE_STATIC) != SQLITE_OK) {
		*errstr = "queue: cannot bind reservations";
		return -1;
	}
	return 0;
}

int
queue_resv_check(const struct queue_rcpt_in *r, const char **errstr)
{
	size_t i;

	if (r->nresv == 0)
		return 0;
	if (r->state != QUEUE_DEFERRED) {
		*errstr = "queue: reservations on a recipient not deferred";
		return -1;
	}
	if (r->nresv > QUEUE_RESV_MAX || r->resv == NULL) {
		*errstr = "queue: too many reservations for one recipient";
		return -1;
	}
	for (i = 0; i < r->nresv; i++)
		if (r->resv[i].quota == NULL || r->resv[i].key == NULL) {
			*errstr = "queue: a reservation without quota or key";
			return -1;
		}
	return 0;
}

/* One recipient's reservations before a change, copied out of its row. */
struct resv_old_row {
	char		*id;
	int		 rcpt;
	void		*blob;
	size_t		 len;
};

struct queue_resv_old {
	struct resv_old_row	*v;
	size_t			 n;
};

static int
resv_old_cmp(const void *a, const void *b)
{
	const struct resv_old_row *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : (x->rcpt > y->rcpt) - (x->rcpt < y->rcpt);
}

/* bsearch's: a change's (id, rcpt) against a row. */
static int
resv_old_find(const void *key, const void *elem)
{
	const struct queue_change *c = key;
	const struct resv_old_row *o = elem;
	int d = strcmp(c->id, o->id);

	return d != 0 ? d : (c->rcpt > o->rcpt) - (c->rcpt < o->rcpt);
}

static void
resv_old_row(sqlite3_stmt *st, void *arg)
{
	struct queue_resv_old *old = arg;
	const unsigned char *id = sqlite3_column_text(st, 0);
	struct resv_old_row *o;
	const void *blob;
	size_t len;

	if (id == NULL || sqlite3_column_type(st, 2) == SQLITE_NULL)
		return;
	old->v = xreallocarray(old->v, old->n + 1, sizeof(*old->v));
	o = &old->v[old->n++];
	o->id = xstrdup((const char *)id);
	o->rcpt = sqlite3_column_int(st, 1);
	blob = sqlite3_column_blob(st, 2);
	len = (size_t)sqlite3_column_bytes(st, 2);
	o->blob = xmalloc(len + 1);
	if (len > 0)
		memcpy(o->blob, blob, len);
	o->len = len;
}

int
queue_resv_collect(struct queue_db *d, sqlite3_stmt *st,
    struct queue_resv_old **oldp, const char **errstr)
{
	struct queue_resv_old *old = xcalloc(1, sizeof(*old));

	*oldp = NULL;
	if (queue_db_rows(d, st, "queue: read reservations", resv_old_row,
	    old, errstr) == -1) {
		queue_resv_old_free(&old);
		return -1;
	}
	if (old->n == 0) {
		queue_resv_old_free(&old);
		return 0;
	}
	qsort(old->v, old->n, sizeof(*old->v), resv_old_cmp);
	*oldp = old;
	return 0;
}

void
queue_resv_old_free(struct queue_resv_old **oldp)
{
	struct queue_resv_old *old = *oldp;
	size_t i;

	if (old == NULL)
		return;
	for (i = 0; i < old->n; i++) {
		free(old->v[i].id);
		free(old->v[i].blob);
	}
	free(old->v);
	free(old);
	*oldp = NULL;
}

/* queue_resv_changes' callback, its argument and the old reservations. */
struct resv_change_cb {
	queue_change_cb			*cb;
	void				*arg;
	const struct queue_resv_old	*old;
};

/* Fills c's reservations from blob; *owned is what to free after. */
static void
resv_change_decode(struct queue_change *c, const void *blob, size_t len,
    struct queue_counter **owned)
{
	const char *err;
	size_t n;

	if (queue_resv_decode(blob, len, owned, &n, &err) == -1)
		c->resv_bad = true;
	c->resv = *owned;
	c->nresv = n;
}

static void
resv_change_row(sqlite3_stmt *st, void *arg)
{
	const struct resv_change_cb *ccb = arg;
	const struct resv_old_row *o;
	struct queue_counter *owned = NULL;
	struct queue_change c;
	const void *blob;

	memset(&c, 0, sizeof(c));
	c.id = (const char *)sqlite3_column_text(st, 0);
	c.rcpt = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 :
	    sqlite3_column_int(st, 1);
	c.state = queue_state_col(st, 2);
	c.due = sqlite3_column_int64(st, 3);
	if (c.id == NULL)
		return;
	if (sqlite3_column_count(st) > 4 &&
	    sqlite3_column_type(st, 4) != SQLITE_NULL) {
		blob = sqlite3_column_blob(st, 4);
		resv_change_decode(&c, blob,
		    (size_t)sqlite3_column_bytes(st, 4), &owned);
	} else if (ccb->old != NULL && c.rcpt >= 0 &&
	    (o = bsearch(&c, ccb->old->v, ccb->old->n, sizeof(*ccb->old->v),
	    resv_old_find)) != NULL)
		resv_change_decode(&c, o->blob, o->len, &owned);
	ccb->cb(&c, ccb->arg);
	free(owned);
}

int
queue_resv_changes(struct queue_db *d, sqlite3_stmt *st, const char *what,
    const struct queue_resv_old *old, queue_change_cb *cb, void *arg,
    const char **errstr)
{
	struct resv_change_cb ccb = { cb, arg, old };

	return queue_db_rows(d, st, what, cb != NULL ? resv_change_row : NULL,
	    &ccb, errstr);
}
