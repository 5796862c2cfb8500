/*
 * spf_settings: one policy's spf block and the merge of the matched
 * policies' blocks (spf.h).  Pure: no DNS, no clock.  What a result means
 * for a recipient, with the SMTP replies, is relay/spf_policy.c's.
 *
 * Ownership: a block owns nothing but itself; the merge copies values.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "spf.h"

struct spf_settings *
spf_settings_new(int line)
{
	struct spf_settings *s = xcalloc(1, sizeof(*s));

	s->line = line;
	return s;
}

void
spf_settings_free(struct spf_settings **sp)
{
	free(*sp);
	*sp = NULL;
}

const char *
spf_verdict_name(enum spf_verdict v)
{
	static const char *const names[] = { "accept", "tempfail", "reject" };

	return (size_t)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

void
spf_merge(const struct spf_settings *const *v, size_t n, struct spf_eff *out)
{
	const struct spf_settings *s;
	bool seen = false, on = true, temp_written = false;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->softfail = SPF_ACCEPT;
	out->permerror = SPF_ACCEPT;
	for (i = 0; i < n; i++) {
		if ((s = v[i]) == NULL)
			continue;
		seen = true;
		if (s->has_on)
			on = s->on;
		if (s->has_reject_fail)
			out->reject_fail = s->reject_fail;
		if (s->has_add_header)
			out->add_header = s->add_header;
		if (s->has_softfail)
			out->softfail = s->softfail;
		if (s->has_permerror)
			out->permerror = s->permerror;
		if (s->has_temperror) {
			out->temperror = s->temperror;
			temp_written = true;
		}
	}
	if (!temp_written)
		out->temperror = out->reject_fail ? SPF_TEMPFAIL : SPF_ACCEPT;
	out->enabled = seen && on;
}
