/*
 * conf_priv.h: what the files of conf/ share and nobody else sees.
 *
 * The pipeline is lexer -> parser -> apply.  The lexer turns the text into
 * tokens, the parser turns tokens into a tree of statements by a keyword
 * table alone (it knows nothing of what a setting means), and the apply
 * step gives the tree its meaning: conf_daemon.c holds the table and the
 * plain settings, conf_deliver.c the statements of delivery (next hops,
 * routes, the resolver), which the table's units send it, conf_policy.c
 * groups and policies, conf_quota.c the quotas of policies, conf_acct.c
 * their accountings, conf_grey.c, conf_helo.c and conf_spf.c their
 * greylisting, helo and spf blocks (conf_block.c has what those blocks
 * share), conf_notify.c the notifiers quota alerts go to.  Every step
 * records its errors in a struct conf_errs; they are sorted by line and
 * written out once, at the end.
 */
#ifndef SLUICE_CONF_PRIV_H
#define SLUICE_CONF_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "conf.h"

#define CONF_MAX_FILE	(16u * 1024 * 1024)	/* bytes of configuration */
#define CONF_MAX_ERRORS	100	/* then "too many errors" */
#define CONF_MAX_DEPTH	16	/* nesting of the grammar, not of input */
#define CONF_USER_MAX	32	/* bytes of a login name */

/* Errors, collected as found; line 0 means "no line" (a default). */
struct conf_err {
	int	 line;
	size_t	 seq;		/* discovery order, for a stable sort */
	char	*msg;
};

struct conf_errs {
	struct conf_err	*v;
	size_t		 n, cap;
	size_t		 dropped;	/* past CONF_MAX_ERRORS */
};

void	conf_err(struct conf_errs *, int line, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Appends "file:line: msg\n" for each error, sorted by line, to out. */
void	conf_errs_write(struct conf_errs *, const char *file,
	    struct buf *out);
void	conf_errs_free(struct conf_errs *);

/* Tokens.  A quoted token is never a keyword. */
enum conf_tok_kind {
	CONF_TOK_WORD,
	CONF_TOK_OPEN,		/* { */
	CONF_TOK_CLOSE,		/* } */
	CONF_TOK_END		/* end of input: always the last token */
};

struct conf_tok {
	enum conf_tok_kind	 kind;
	bool			 quoted;
	int			 line;		/* where the token starts */
	char			*text;		/* "{", "}", "" for END */
};

struct conf_toks {
	struct conf_tok	*v;
	size_t		 n, cap;
};

/* Splits text (len bytes, may hold NULs) into toks, ending with a
 * CONF_TOK_END.  Lexical errors go to errs; the tokens are still usable. */
void	conf_lex(const char *text, size_t len, struct conf_toks *,
	    struct conf_errs *);
void	conf_toks_free(struct conf_toks *);

/*
 * The grammar: one flat table of keywords per part of the language.  A row
 * is a keyword inside the statement or block named by parent (a path of
 * keywords: "" is the top level, "limits" the limits block).  A statement
 * is
 *
 *	KEYWORD value{min,max} SUBKEYWORD-statement* [ "{" statement* "}" ]
 *
 * where the sub-keywords are the rows whose parent is this keyword's path,
 * given on the same statement (`limits recipients 10 errors 5`) or, with
 * CONF_KW_BLOCK, in braces (`limits { recipients 10 errors 5 }`).  A value
 * is any token but a brace or an unquoted keyword in scope; so a list ends
 * at the next keyword, a "}" or the end.
 *
 * The same row also carries the setting's meaning: unit, default (written
 * in the language, parsed by the same code as the file) and bounds.  The
 * parser reads only parent, name, min, max, flags and syntax.
 */
#define CONF_MANY	INT_MAX

#define CONF_KW_BLOCK	0x01	/* sub-keywords may come in braces */
#define CONF_KW_REPEAT	0x02	/* may be given more than once */
#define CONF_KW_OPTION	0x04	/* an option of its statement, which applies
				 * it and its default; not dumped alone */
#define CONF_KW_HEAD	0x08	/* says what its statement is (deliver
				 * relayhost|mx): listed when a statement
				 * starts with an unknown word */
#define CONF_KW_LIST	0x10	/* more values may follow in braces, any
				 * word, one per token (group NAME { ... }) */
#define CONF_KW_NAME	0x20	/* the first value, on the keyword's line,
				 * is a name: any word, a keyword too
				 * (`notifier admin { ... }`) */

enum conf_unit {
	CONF_U_NONE,		/* a group of settings, or a flag */
	CONF_U_COUNT,		/* a plain number */
	CONF_U_SIZE,		/* bytes: 512, 10K, 5M, 1G */
	CONF_U_DURATION,	/* seconds: 30s, 5m, 1h, 1d, 1w */
	CONF_U_HOST,		/* a domain name */
	CONF_U_USER,		/* a login name; hi: its maximum length */
	CONF_U_PATH,		/* a file name; hi: its maximum length */
	CONF_U_FILE,		/* a file that must be readable now */
	CONF_U_LISTEN,		/* ADDR:PORT [tls] [tls-required] */
	CONF_U_CIDRS,		/* addresses and networks */
	CONF_U_DOMAINS,		/* domain names, lower-cased */
	CONF_U_MAILBOX,		/* local-part[@domain]; hi: its maximum length */
	CONF_U_NEXTHOPS,	/* [host]:port, [host], host:port, host */
	CONF_U_TLS,		/* none|may|encrypt|verify */
	CONF_U_DELIVER,		/* the deliver statement and its options */
	CONF_U_ROUTE,		/* DOMAIN NEXTHOP... and options */
	CONF_U_RESOLVER,	/* ADDRESS[:PORT], numeric, port 53 */
	CONF_U_GROUP,		/* group NAME ITEM... (conf_policy.c) */
	CONF_U_POLICY,		/* policy NAME ... { ... } (conf_policy.c) */
	CONF_U_NOTIFIER,	/* notifier NAME { ... } (conf_notify.c) */
	CONF_U_URL		/* http:// or https://; hi: its maximum length */
};

struct conf_kw {
	const char	*parent;	/* "" or "limits" ... */
	const char	*name;
	const char	*syntax;	/* the values, for messages: "NAME" */
	int		 min, max;	/* how many values */
	unsigned	 flags;		/* CONF_KW_* */
	enum conf_unit	 unit;
	const char	*def;		/* default; NULL: none or computed */
	uint64_t	 lo, hi;	/* bounds of a number */
	size_t		 off;		/* where the value lives */
};

/* Another program's name for a setting (Postfix's main.cf) and how the
 * language writes it, for the message when a file uses that name. */
struct conf_hint {
	const char	*name;		/* "relayhost" */
	const char	*instead;	/* "deliver relayhost [host]:port" */
};

struct conf_grammar {
	const struct conf_kw	*kw;
	size_t			 n;
	const struct conf_hint	*hint;
	size_t			 nhint;
};

/* Writes "parent name" (or "name" at the top level) into buf. */
void	conf_kw_path(const struct conf_kw *, char *buf, size_t bufsz);
/* The row of g named name under parent ("" for the top level), or NULL. */
const struct conf_kw *conf_kw_lookup(const struct conf_grammar *,
	    const char *parent, const char *name);

/* The tree of statements.  The root has kw == NULL. */
struct conf_node {
	const struct conf_kw	 *kw;
	const struct conf_tok	 *tok;		/* the keyword */
	const struct conf_tok	**args;		/* the values */
	size_t			  nargs;
	struct conf_node	 *child, *last;	/* sub-statements, in order */
	struct conf_node	 *next;
	bool			  bad;		/* error inside: do not apply */
};

/* Builds the tree of the whole token list; the tokens must outlive it.
 * Never fails: errors go to errs and the statements concerned are marked
 * bad.  After an error the parser skips to the next keyword in scope. */
struct conf_node *conf_parse(const struct conf_grammar *,
	    const struct conf_toks *, struct conf_errs *);
void	conf_node_free(struct conf_node **);
/* The keyword of the grammar closest to word by edit distance among the
 * sub-keywords of parent (NULL: top level), or NULL if none is close. */
const char *conf_suggest(const struct conf_grammar *,
	    const struct conf_kw *parent, const char *word);
/* conf_suggest.c, with conf_suggest: */
#define CONF_SUGGEST_MAXLEN	64	/* longest word given a suggestion */
/* True when row is a sub-keyword of parent (NULL: the top level). */
bool	conf_kw_is_child(const struct conf_kw *row,
	    const struct conf_kw *parent);
/* How the language writes another program's setting name, or NULL. */
const char *conf_hint_find(const struct conf_grammar *, const char *name);
/* The name of names[0..n) closest to word by the same measure (any
 * case), or NULL if none is close. */
const char *conf_suggest_name(const char *word, const char *const *names,
	    size_t n);
/* The only keyword of block that starts with word (3 bytes at least),
 * for a word cut short (`relay`); NULL if none or several do. */
const char *conf_suggest_prefix(const struct conf_grammar *,
	    const struct conf_kw *block, const char *word);
/* What a statement of block may start with, appended to b: ": expected
 * a, b or c" (see conf_suggest.c). */
void	conf_block_choices(const struct conf_grammar *,
	    const struct conf_kw *block, bool suggested, struct buf *b);

/* Values (conf_value.c).  Numbers with a unit are checked against the
 * row's bounds; messages are "path: too large (at most 1G)". */
int	conf_value_u64(const struct conf_kw *, const struct conf_tok *,
	    uint64_t *, struct conf_errs *);
/* The same, for the row's default (line 0). */
int	conf_value_default(const struct conf_kw *, uint64_t *,
	    struct conf_errs *);
/* A number in its unit's largest exact form: 52428800 -> "50M". */
void	conf_format_u64(enum conf_unit, uint64_t, char *buf, size_t bufsz);
/* Appends word, quoted and escaped when it would not read back as one
 * plain value (spaces, braces, quotes, a keyword, empty). */
void	conf_add_word(struct buf *, const struct conf_grammar *,
	    const char *word);
/* word as it is written in a file, for messages: plain, or in quotes
 * when it holds spaces or is empty; cut at about 80 bytes. */
#define CONF_SHOWN	96
const char *conf_shown(const char *word, char *buf, size_t bufsz);
/* Letters, digits and hyphens in dot-separated labels (RFC 1035 2.3.1,
 * with RFC 1123's leading digits); at most 253 bytes. */
bool	conf_is_domain(const char *);

/* The rows of conf_daemon_kws (conf_table.c), by name; the order is that
 * of conf_dump. */
enum {
	KW_HOSTNAME, KW_STATE_DIR, KW_USER, KW_LISTEN, KW_LISTEN_TLS,
	KW_LISTEN_TLS_REQ, KW_TRUSTED, KW_RELAY_DOMAINS, KW_TLS, KW_TLS_CERT,
	KW_TLS_KEY, KW_LIMITS, KW_MSG_SIZE, KW_RCPTS, KW_CONNS,
	KW_CONNS_PER_IP, KW_CMD_TIMEOUT, KW_DATA_TIMEOUT, KW_ERRORS,
	KW_LINE_LENGTH, KW_ADMIN, KW_ADMIN_SOCKET, KW_DELIVER,
	KW_DELIVER_RELAYHOST, KW_DELIVER_MX, KW_DELIVER_TLS, KW_DELIVER_CA,
	KW_DELIVER_AUTH, KW_ROUTE, KW_ROUTE_TLS, KW_ROUTE_CA, KW_ROUTE_AUTH,
	KW_DELIVERY, KW_DLV_CONNS, KW_DLV_PER_DEST, KW_DLV_TO_CONNECT,
	KW_DLV_TO_COMMAND, KW_DLV_TO_DATA, KW_RETRY, KW_RETRY_INITIAL,
	KW_RETRY_MAX, KW_RETRY_LIFETIME, KW_RESOLVER, KW_SPF_TIMEOUT,
	KW_POSTMASTER,
	KW_NOTIFIER, KW_NTF_WEBHOOK, KW_NTF_SECRET, KW_NTF_TIMEOUT,
	KW_NTF_LIFETIME, KW_NTF_MAIL, KW_NTF_FROM, KW_GROUP, KW_POLICY, KW_POL_PRIORITY, KW_POL_ACCESS,
	KW_POL_ACCESS_REPLY,
	KW_POL_CLIENT, KW_POL_CLIENT_EX, KW_POL_SENDER, KW_POL_SENDER_EX,
	KW_POL_RCPT, KW_POL_RCPT_EX, KW_POL_SASL, KW_POL_SASL_EX,
	KW_POL_MATCH, KW_PM_CLIENT, KW_PM_CLIENT_EX, KW_PM_SENDER,
	KW_PM_SENDER_EX, KW_PM_RCPT, KW_PM_RCPT_EX, KW_PM_SASL, KW_PM_SASL_EX,
	KW_POL_QUOTA, KW_PQ_TRACK, KW_PQ_PERIOD, KW_PQ_WINDOW, KW_PQ_LIMIT,
	KW_PQ_LIMIT_MSGS, KW_PQ_LIMIT_RCPTS, KW_PQ_LIMIT_SIZE, KW_PQ_VERDICT,
	KW_PQ_VERDICT_REPLY, KW_PQ_STOP, KW_PQ_V6, KW_PQ_RELEASE,
	KW_PQ_BACKLOG, KW_PQ_WHEN_FULL, KW_PQ_MAX_DEFER, KW_PQ_TELL,
	KW_PQ_NOTIFY, KW_PQ_NOTIFY_TO,
	KW_POL_GREY, KW_PG_ON, KW_PG_OFF, KW_PG_PERIOD, KW_PG_TRACK, KW_PG_V6,
	KW_PG_AUTH, KW_PG_UNAUTH, KW_PG_AWL, KW_PG_AWL_OFF, KW_PG_AWL_WITHIN,
	KW_PG_ABL, KW_PG_ABL_OFF, KW_PG_ABL_WITHIN, KW_PG_WHITELIST,
	KW_PG_TRAINING, KW_PG_REPLY, KW_PG_BL_REPLY,
	KW_POL_HELO, KW_PH_OFF, KW_PH_INVALID, KW_PH_IP, KW_PH_UNRESOLVABLE,
	KW_PH_BLACKLIST, KW_PH_BL_WITHIN, KW_PH_WHITELIST, KW_PH_HRP,
	KW_PH_HRP_WITHIN, KW_PH_REPLY,
	KW_POL_SPF, KW_PS_ON, KW_PS_OFF, KW_PS_REJECT_FAIL, KW_PS_ADD_HEADER,
	KW_PS_SOFTFAIL, KW_PS_PERMERROR, KW_PS_TEMPERROR,
	KW_POL_ACCT, KW_PA_TRACK, KW_PA_PERIOD, KW_PA_LIMIT, KW_PA_LIMIT_MSGS,
	KW_PA_LIMIT_RCPTS, KW_PA_LIMIT_SIZE, KW_PA_VERDICT, KW_PA_REPLY,
	KW_PA_STOP, KW_PA_KEEP, KW_PA_V6,
	KW_COUNT
};

extern const struct conf_kw conf_daemon_kws[KW_COUNT];

/* The daemon's part of the language (conf_daemon.c). */
extern const struct conf_grammar conf_daemon_grammar;
/* Gives the tree its meaning in c: every setting, defaults included, and
 * the checks between settings.  Errors go to errs. */
void	conf_daemon_apply(struct conf *c, const struct conf_node *root,
	    struct conf_errs *);
/* The machine's name, fully qualified when /etc/hosts says how; NULL when
 * it cannot be found (conf_load.c). */
char	*conf_machine_hostname(void);
/* NULL when path is a regular file now (stat(2) only), else why not, in
 * buf or static (conf_daemon.c). */
const char *conf_file_problem(const char *path, char *buf, size_t bufsz);

/* The delivery part (conf_deliver.c).  Each applies one statement of its
 * unit into c, the default included (a statement parsed from the row's
 * default), reporting errors to errs. */
void	conf_deliver_apply(struct conf *, const struct conf_node *,
	    struct conf_errs *);
void	conf_route_apply(struct conf *, const struct conf_node *,
	    struct conf_errs *);
void	conf_resolver_apply(struct conf *, const struct conf_node *,
	    struct conf_errs *);
/* local-part or local-part@domain, a dot-atom local part (RFC 5322
 * 3.2.3); no quoted local parts. */
bool	conf_is_mailbox(const char *);
/* The checks between delivery settings, once all are in; lines are those
 * of the delivery and retry statements (0: not written). */
void	conf_deliver_check(const struct conf *, int delivery_line,
	    int retry_line, struct conf_errs *);
/* Writes the statement(s) of row kw (a CONF_U_DELIVER, _ROUTE or
 * _RESOLVER unit) as conf_dump does. */
void	conf_deliver_dump(const struct conf *, const struct conf_kw *,
	    struct buf *);
/* Frees what h holds, the password wiped first; h is left zeroed. */
void	conf_nexthops_clear(struct conf_nexthops *h);
/*
 * A file of credentials (auth-file, secret-file): a regular file, not
 * readable by others, of at most bufsz - 1 bytes, read into buf and
 * NUL-terminated, its length in *lenp.  NULL, or what is wrong (in why or
 * static), worded to follow "KEYWORD PATH".  The caller wipes buf.
 */
#define CONF_SECRET_MAX	4096	/* bytes of a credentials file */
const char *conf_secret_read(const char *path, char *buf, size_t bufsz,
	    size_t *lenp, char *why, size_t whysz);

/* Groups and policies (conf_policy.c). */
void	conf_group_apply(struct conf *, const struct conf_node *,
	    struct conf_errs *);
void	conf_policy_apply(struct conf *, const struct conf_node *,
	    struct conf_errs *);
/* Links groups and policies once every statement is in. */
void	conf_policy_check(struct conf *, struct conf_errs *);
void	conf_policy_dump(const struct conf *, const struct conf_kw *,
	    struct buf *);
/* Whether a statement inside n had a syntax error (reported), leaving
 * out the blocks in it (quota, accounting, greylisting, helo, spf): each
 * is applied, or not, on its own. */
bool	conf_node_has_bad(const struct conf_node *n);

/*
 * A block inside a policy being applied (conf_block.c): quota,
 * accounting, greylisting, helo, spf.  Its errors read "policy P: WHAT:
 * message"; those found since conf_blk_init() say whether it is kept.
 */
struct conf_blk {
	const char		*policy;	/* its policy's name */
	char			 what[96];	/* "greylisting", "quota q" */
	struct conf_errs	*errs;
	size_t			 nerr;		/* errors before it */
};

void	conf_blk_init(struct conf_blk *, const char *policy,
	    struct conf_errs *, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
void	conf_blk_err(const struct conf_blk *, int line, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* A pol_error_fn (arg: the struct conf_blk) for a module's messages,
 * which name the block themselves: "policy P: " in front. */
void	conf_blk_report(void *arg, int line, const char *msg);
/* Whether an error was found since conf_blk_init(). */
bool	conf_blk_failed(const struct conf_blk *);
/* Statement s, of a row whose first statement is *first (NULL: none
 * yet): true to apply it; false, with "KW given twice (first at line
 * N)", for a second one of a row without CONF_KW_REPEAT. */
bool	conf_blk_once(const struct conf_blk *, const struct conf_node *s,
	    const struct conf_node **first);
/* Each statement of block n whose row is first..last (its index in
 * conf_daemon_kws), in order and once as conf_blk_once() says, to
 * fn(ctx, row, statement); opt[row - first] gets each row's first. */
typedef void conf_blk_fn(void *ctx, int row, const struct conf_node *);
void	conf_blk_apply(const struct conf_blk *, const struct conf_node *n,
	    int first, int last, const struct conf_node **opt,
	    conf_blk_fn *fn, void *ctx);
/* Whether each sub-keyword of statement n (`within` of `hrp N within
 * D`) is given once; false with "KW: SUB given twice" if not. */
bool	conf_blk_subs_once(const struct conf_blk *, const struct conf_node *n);
/* n is `on` (on true) or `off` of a block: into *val, *has set;
 * "on and off exclude each other" when the block wrote the other. */
void	conf_blk_onoff(const struct conf_blk *, const struct conf_node *n,
	    bool on, bool *has, bool *val);
/* The index in words (NULL-terminated, any case) of n's first value, or
 * -1 with "KW: VALUE: write a, b or c". */
int	conf_blk_choose(const struct conf_blk *, const struct conf_node *n,
	    const char *const *words);
/* yes or no: 0 and *out, or -1 with the error. */
int	conf_blk_yesno(const struct conf_blk *, const struct conf_node *n,
	    bool *out);
/* `limit messages N recipients N size SIZE` (n, of a quota or an
 * accounting): each unit's amount checked against its row, into out (at
 * most POL_NUNIT; repeats are the model's to refuse).  Returns how many;
 * errors reported ("limit: no unit" for none). */
struct pol_limit;
size_t	conf_blk_limits(const struct conf_blk *, const struct conf_node *n,
	    struct pol_limit *out);

/*
 * The dump of a block whose settings are inherited (greylisting, helo,
 * spf): each setting is written as a statement when the block writes it,
 * else as a comment with its default (the row's, or value), listed after
 * the statements under a line that says what they are.
 */
struct conf_bdump {
	struct buf	 set;		/* the statements written */
	struct buf	 unset;		/* the comments */
	const char	*indent;
};

void	conf_bdump_init(struct conf_bdump *, const char *indent);
/* Setting row: "name value" (written), or "# name DEFAULT" (not: the
 * row's default). */
void	conf_bdump_setting(struct conf_bdump *, int row, bool written,
	    const char *value);
/* A comment "# name value" for a setting not written whose default the
 * table cannot say (it depends on another setting). */
void	conf_bdump_unwritten(struct conf_bdump *, const char *name,
	    const char *value);
/* Appends the statements, then the comments when inherited is true, to
 * out, and frees d's buffers. */
void	conf_bdump_end(struct conf_bdump *, bool inherited, struct buf *out);

/* The quota blocks of a policy (conf_quota.c): n is a `quota NAME {...}`
 * statement of policy p; its errors go to errs. */
void	conf_quota_apply(struct pol_set *, struct pol_policy *p,
	    const struct conf_node *n, struct conf_errs *);
/* Writes the quota as conf_dump does: every setting, defaults included,
 * each line after indent. */
void	conf_quota_dump(const struct pol_quota *, const char *indent,
	    struct buf *);

/* The blocks of a policy for the RCPT-stage checks: n is a `greylisting
 * { ... }` (conf_grey.c), `helo { ... }` (conf_helo.c) or `spf { ... }`
 * (conf_spf.c) statement of policy p, attached to p (p->grey, p->helo,
 * p->spf) when it has no error; errors go to errs.  The dumps write the
 * block, each line after indent. */
void	conf_grey_apply(struct pol_policy *p, const struct conf_node *n,
	    struct conf_errs *);
void	conf_grey_dump(const struct grey_settings *, const char *indent,
	    struct buf *);
/* Greylisting in a policy that may match mail to recipients outside
 * relay-domains: it is for inbound mail. */
void	conf_grey_warnings(const struct conf *, pol_error_fn *warn,
	    void *arg);
void	conf_helo_apply(struct pol_policy *p, const struct conf_node *n,
	    struct conf_errs *);
void	conf_helo_dump(const struct helo_settings *, const char *indent,
	    struct buf *);
void	conf_spf_apply(struct pol_policy *p, const struct conf_node *n,
	    struct conf_errs *);
void	conf_spf_dump(const struct spf_settings *, const char *indent,
	    struct buf *);
/* An `accounting NAME { ... }` statement of policy p into set->accts
 * (conf_acct.c), left out when it has an error; its dump. */
struct pol_acct;
void	conf_acct_apply(struct pol_set *, struct pol_policy *p,
	    const struct conf_node *n, struct conf_errs *);
void	conf_acct_dump(const struct pol_acct *, const char *indent,
	    struct buf *);

/* Notifiers (conf_notify.c): one `notifier NAME { ... }` statement into
 * c, its secret read; errors go to errs. */
void	conf_notifier_apply(struct conf *, const struct conf_node *,
	    struct conf_errs *);
/* Once every statement is in: each notifier a quota names is defined. */
void	conf_notify_check(const struct conf *, struct conf_errs *);
/* Writes the notifiers as conf_dump does (the secret's file, never the
 * secret). */
void	conf_notifier_dump(const struct conf *, struct buf *);
/* Frees c's notifiers, their secrets wiped first. */
void	conf_notifiers_free(struct conf *);

#endif
