/*
 * spf (policy): what a policy says about SPF (RFC 7208), as a pure model:
 * one policy's block, and the merge of the matched policies' blocks.
 * The check itself (libspf2, DNS, workers) and what a result means for a
 * recipient (spf_decide, the SMTP replies) are relay/'s: relay/spf.h
 * includes this header.  conf/ builds the blocks from
 *
 *	spf [on|off] {
 *	    reject-fail yes|no                fail: 550 5.7.23
 *	    add-header yes|no                 prepend Received-SPF
 *	    softfail accept|tempfail|reject   (default accept)
 *	    permerror accept|tempfail|reject  (default accept)
 *	    temperror accept|tempfail         (default: tempfail, 451 4.7.24,
 *	                                       when reject-fail is yes)
 *	}
 *
 * Merging (cbpolicyd 1.6): the matched policies' blocks in ascending
 * priority; a setting written overrides what came before, so the highest
 * priority number that writes it wins.  SPF is checked when some matched
 * policy has a block and the last on/off written is not off.  As in
 * helo and greylisting, a yes/no nobody writes is no (cbpolicyd's NULL):
 * DESIGN.md's "spf { reject-fail yes add-header yes }" says both.  Like
 * cbpolicyd, only a policy that refuses failed mail defers on a DNS
 * error unless temperror is written: a block that only adds headers
 * never holds mail up.
 */
#ifndef SLUICE_POLICY_SPF_H
#define SLUICE_POLICY_SPF_H

#include <stdbool.h>
#include <stddef.h>

enum spf_verdict { SPF_ACCEPT, SPF_TEMPFAIL, SPF_REJECT };

/* One policy's block: has_X says X was written. */
struct spf_settings {
	bool		 has_on, on;
	bool		 has_reject_fail, reject_fail;
	bool		 has_add_header, add_header;
	bool		 has_softfail, has_permerror, has_temperror;
	enum spf_verdict softfail, permerror, temperror;
	int		 line;		/* of the block, or 0 */
};

/* The settings in force for one recipient (spf_merge). */
struct spf_eff {
	bool		 enabled;
	bool		 reject_fail, add_header;
	enum spf_verdict softfail, permerror, temperror;
};

/* An empty block (nothing written) at line; free clears the pointer and
 * accepts NULL. */
struct spf_settings *spf_settings_new(int line);
void	spf_settings_free(struct spf_settings **);
/* "accept", "tempfail", "reject", as conf/ reads and writes them. */
const char *spf_verdict_name(enum spf_verdict);
/* Merges blocks v[0..n), ascending priority (NULL entries skipped). */
void	spf_merge(const struct spf_settings *const *v, size_t n,
	    struct spf_eff *out);

#endif
