/*
 * queue_id: queue ids and the names of recipient states.
 *
 * An id is 16 characters of [0-9A-Z]: 11 for a microsecond timestamp in
 * base 36 (enough until the year 6000) and 5 for a sequence within that
 * microsecond.  Both are fixed width, so the ids sort as text in the order
 * they were made.
 *
 * Invariants (per process, under id_lock):
 * - The timestamp never goes back: when the caller's clock steps back, ids
 *   carry on from the last one, so they stay unique and sorted.
 * - Each new microsecond starts its sequence at a random point in the
 *   lower half of the range, leaving the upper half (18 million ids) for
 *   ids made in the same microsecond; were it to run out, the id borrows
 *   the next microsecond.  The random start makes a clash between two
 *   processes sharing one database unlikely; the store's PRIMARY KEY turns
 *   one that happens anyway into an error, never an overwrite.
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "queue.h"

#define ID_TIME_LEN	11
#define ID_SEQ_LEN	5
#define ID_SEQ_RANGE	60466176u	/* 36^5 */

static const char id_digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t id_last_usec;
static uint32_t id_seq;
static uint64_t id_rng;		/* xorshift64 state; 0 until seeded */

static void
id_base36(char *out, size_t len, uint64_t v)
{
	while (len-- > 0) {
		out[len] = id_digits[v % 36];
		v /= 36;
	}
}

static uint32_t
id_random_start(void)
{
	uint64_t x;

	if (id_rng == 0) {
		if (getrandom(&id_rng, sizeof(id_rng), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(id_rng) || id_rng == 0)
			id_rng = 0x9e3779b97f4a7c15ull ^ id_last_usec;
	}
	x = id_rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	id_rng = x;
	return (uint32_t)(x % (ID_SEQ_RANGE / 2));
}

void
queue_id_new(char id[QUEUE_ID_SIZE], int64_t now_usec)
{
	uint64_t usec = now_usec > 0 ? (uint64_t)now_usec : 0;
	uint32_t seq;

	pthread_mutex_lock(&id_lock);
	if (usec > id_last_usec) {
		id_last_usec = usec;
		id_seq = id_random_start();
	} else if (++id_seq >= ID_SEQ_RANGE) {
		id_last_usec++;
		id_seq = id_random_start();
	}
	usec = id_last_usec;
	seq = id_seq;
	pthread_mutex_unlock(&id_lock);

	id_base36(id, ID_TIME_LEN, usec);
	id_base36(id + ID_TIME_LEN, ID_SEQ_LEN, seq);
	id[ID_TIME_LEN + ID_SEQ_LEN] = '\0';
}

bool
queue_id_is_valid(const char *id)
{
	size_t i;

	if (id == NULL)
		return false;
	for (i = 0; i < QUEUE_ID_SIZE - 1; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'A' && id[i] <= 'Z')))
			return false;
	return id[i] == '\0';
}

static const char *const state_names[QUEUE_DONE + 1] = {
	[QUEUE_READY] = "ready",
	[QUEUE_DEFERRED] = "deferred",
	[QUEUE_RETRY] = "retry",
	[QUEUE_HOLD] = "hold",
	[QUEUE_DONE] = "done",
};

const char *
queue_state_name(enum queue_state s)
{
	if ((unsigned)s > QUEUE_DONE)
		return "unknown";
	return state_names[s];
}

int
queue_state_from_name(const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i <= QUEUE_DONE; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}
