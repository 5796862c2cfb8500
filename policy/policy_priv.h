/*
 * policy_priv.h: what policy.c (model, resolve), item.c (item parsing),
 * match.c (the item-by-item matcher and explain) and match_index.c (the
 * indexed matcher) share.  Not for use outside policy/.
 */
#ifndef SLUICE_POLICY_PRIV_H
#define SLUICE_POLICY_PRIV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define POL_NONE	UINT32_MAX	/* no node, no posting */

/* Hash keys are a tag byte and bytes (policy/htab.c): the tag keeps
 * a domain apart from the same text as a subdomain or a login. */
enum pol_key_tag {
	POL_K_NAME = 'n',	/* a group or policy name, lower-cased */
	POL_K_ANY = 'A',
	POL_K_NULL = 'N',	/* the null sender */
	POL_K_ADDR = 'a',	/* local@domain */
	POL_K_DOMAIN = 'd',
	POL_K_SUB = 's',	/* a parent domain of the input's domain */
	POL_K_LOCAL = 'l',
	POL_K_V4 = '4',		/* prefix length, then the masked bytes */
	POL_K_V6 = '6',
	POL_K_SASL_ANY = '*',
	POL_K_SASL_NONE = '-',
	POL_K_LOGIN = 'u'
};

struct pol_hent {
	uint64_t	 hash;
	char		*key;		/* tag then bytes, owned */
	uint32_t	 len;		/* of key, tag included */
	uint32_t	 val;
};

/* Open addressing with linear probes; the caller keeps what val
 * numbers.  Keys come from the configuration only: look-ups with
 * network input never insert. */
struct pol_htab {
	struct pol_hent	*ent;
	size_t		 cap;		/* 0 or a power of two */
	size_t		 n;
};

uint64_t pol_hash(uint8_t tag, const void *, size_t);
/* The value stored under tag+key, or NULL. */
const uint32_t *pol_htab_get(const struct pol_htab *, uint64_t hash,
	    uint8_t tag, const void *, size_t);
/* Stores val under tag+key unless the key is there; returns the stored
 * value (the earlier one when the key was there, *added false). */
uint32_t *pol_htab_put(struct pol_htab *, uint64_t hash, uint8_t tag,
	    const void *, size_t, uint32_t val, bool *added);
void	pol_htab_clear(struct pol_htab *);

struct pol_u32vec {
	uint32_t	*v;
	uint32_t	 n, cap;
};

void	pol_u32vec_push(struct pol_u32vec *, uint32_t);

/* A group read in one dimension where it is used. */
struct pol_gres {
	struct pol_item	*items;		/* parsed; GROUP items linked */
	size_t		 nitem;
	bool		 bad;		/* an item did not fit: reported */
	uint32_t	 node;		/* in that dimension's index */
};

/* One dimension's index.  Nodes are the groups read in the dimension and
 * the item and except lists of the match blocks that write it; a node is
 * hit when the input has a key posted to it or one of its children (the
 * groups it references) is hit. */
struct pol_dindex {
	struct pol_htab		 keys;		/* key -> posting */
	struct pol_u32vec	*post;		/* posting -> nodes */
	size_t			 npost;
	uint32_t		 nnode;
	struct pol_u32vec	*parents;	/* node -> referencing nodes */
	uint32_t		*node_match;	/* item list -> match id, or
						   POL_NONE */
	uint32_t		*node_except;	/* item list -> its except
						   list, or POL_NONE */
	uint64_t		 v4len[1];	/* prefix lengths in use */
	uint64_t		 v6len[3];
};

struct pol_priv {
	struct pol_htab		 gnames;	/* group name -> index */
	struct pol_htab		 pnames;	/* policy name -> its line */
	struct pol_dindex	 dim[POL_NDIM];
	uint32_t		 nmatch;
	uint32_t		*match_pol;	/* match id -> policy position */
	uint8_t			*match_need;	/* dimensions written */
	uint8_t			*match_rcpt;	/* 1 when recipient is one */
	struct pol_u32vec	 always;	/* match ids with no dimension */
	struct pol_u32vec	 rcpt_only;	/* recipient their only one */
	size_t			 nword;		/* scratch bitmap words */
	uint32_t		 maxnode;
};

/* A counted string. */
struct pol_str {
	const char	*p;
	size_t		 len;
};

/* An address of the input, lower-cased and split at its last '@'. */
struct pol_addrv {
	bool		 given;		/* recipient: not NULL */
	bool		 null;		/* the null sender */
	bool		 has_at;
	struct pol_str	 addr, local, domain;
};

/* The input as the matchers read it. */
struct pol_view {
	const struct pol_input	*in;
	struct pol_addrv	 sender, rcpt;
	bool			 has_client;
	struct addr		 client;	/* IPv4-mapped made IPv4 */
	bool			 has_login;
	struct pol_str		 login;
	char			*mem;
	char			 small[256];
};

/* Lower-cases and splits the input (no copy of the struct: it points
 * into itself).  pol_view_clear() frees what init took. */
void	pol_view_init(struct pol_view *, const struct pol_input *);
void	pol_view_clear(struct pol_view *);
const struct pol_addrv *pol_view_addr(const struct pol_view *,
	    enum pol_dim);

/* item.c: writes the message to err and returns -1. */
int	pol_fail(char *err, size_t errsz, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Letters, digits, '-', '_', '.'; not empty. */
bool	pol_name_is_valid(const char *);

/* access.c: 0 when reply may answer verdict v (printable ASCII, at most
 * POL_REPLY_MAX bytes, a reply code only of the verdict's class and never
 * on a verdict that accepts), else -1 with a message in err that starts
 * with what ("access reply"). */
int	pol_reply_check(enum pol_verdict v, const char *reply,
	    const char *what, char *err, size_t errsz);
/* quota.c: the edit distance of two words without regard to ASCII case;
 * SIZE_MAX when one is longer than 64 bytes (for "did you mean"). */
size_t	pol_distance(const char *, const char *);

/* match.c: whether one item matches (through its group, if any). */
bool	pol_item_matches(const struct pol_item *, enum pol_dim,
	    const struct pol_view *);

/* quota.c: frees a quota; checks one (each error to err, counted in the
 * return value) for pol_set_resolve. */
void	pol_quota_free(struct pol_quota *);
/* Reports "policy P: WHAT NAME: " and the message to errfn (may be
 * NULL) at line: one error of a policy's quota or accounting. */
void	pol_verror(pol_error_fn *errfn, void *arg, int line, const char *what,
	    const char *policy, const char *name, const char *fmt, va_list ap)
	    __attribute__((format(printf, 7, 0)));
int	pol_quota_check(const struct pol_quota *, pol_error_fn *err,
	    void *arg);

/* match_index.c */
void	pol_index_build(struct pol_set *);
void	pol_index_free(struct pol_priv *);

#endif
