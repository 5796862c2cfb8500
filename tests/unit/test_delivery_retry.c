/*
 * test_delivery_retry: the backoff of a recipient after a temporary
 * failure (delivery_retry_due): initial, doubling up to max, never past
 * the end of the lifetime.
 */
#include <stdio.h>

#include "relay/delivery.h"
#include "t.h"

int
main(void)
{
	struct conf_retry r = { 300, 3600, 5 * 86400 };	/* 5m 1h 5d */
	struct conf_retry tight = { 1, 1, 3 };
	int64_t t0 = 1000000;

	T_EQ_INT(delivery_retry_due(&r, 1, t0, t0), t0 + 300, "first wait");
	T_EQ_INT(delivery_retry_due(&r, 2, t0, t0), t0 + 600, "doubles");
	T_EQ_INT(delivery_retry_due(&r, 3, t0, t0), t0 + 1200, "doubles again");
	T_EQ_INT(delivery_retry_due(&r, 4, t0, t0), t0 + 2400, "2400");
	T_EQ_INT(delivery_retry_due(&r, 5, t0, t0), t0 + 3600, "capped at max");
	T_EQ_INT(delivery_retry_due(&r, 500, t0, t0), t0 + 3600,
	    "many attempts: max, no overflow");
	T_EQ_INT(delivery_retry_due(&r, 0, t0, t0), t0 + 300,
	    "attempt 0 counts as the first");
	/* the last retry moves forward to the end of the lifetime */
	T_EQ_INT(delivery_retry_due(&r, 5, t0 + 5 * 86400 - 60, t0),
	    t0 + 5 * 86400, "not past the lifetime");
	T_EQ_INT(delivery_retry_due(&tight, 1, t0 + 2, t0), t0 + 3,
	    "tight: one second, to the end");
	T_EQ_INT(delivery_retry_due(&tight, 1, t0, t0), t0 + 1, "tight: 1s");
	return t_done();
}
