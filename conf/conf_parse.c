/*
 * conf_parse: turns tokens into a tree of statements, driven only by a
 * keyword table (struct conf_grammar, described in conf_priv.h).  It knows
 * the shape of statements, never their meaning, so new blocks of the
 * language are new rows, not new parsing code.
 *
 * Newlines mean nothing: a statement starts at a keyword its block knows
 * and its values run to the next keyword in scope, a brace or the end.
 * The scope is the statement being read, the statements it sits in on the
 * same line of thought (`limits recipients 10 errors 5`), out to the
 * nearest enclosing braces; outer blocks are not in scope inside braces.
 * A statement that names something (CONF_KW_NAME: `notifier admin`)
 * takes the word after its keyword on its line as the name, keyword or
 * not.
 *
 * Two readings make errors land where the writer made them:
 *  - a value that starts a new line and is one typo away from a keyword of
 *    the block ends the statement: it was meant as the next statement;
 *  - a word that is both an option of this statement and a statement of
 *    the block (listen's `tls` and the top-level `tls`) is the statement
 *    when the token after it can only continue that statement.
 * Postfix's habits get their own messages: a lone "=" after a keyword (or
 * glued to it, `state-dir=/x`) is reported once per line, with the line
 * as it should be written, and the statement is read on without it; a
 * main.cf name the grammar has a hint for says how sluice writes it.  A
 * line that starts `NAME = ...` or with such a name starts a statement,
 * so a pasted main.cf is reported line by line.
 * After an error the parser skips to the next keyword in scope that can
 * start a statement, skipping whole brace blocks, so every later error is
 * still found and few are echoes of the first.  Recursion follows the
 * grammar's nesting, never the input's.
 */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "conf_priv.h"

#define SUGGEST_SHOWN	100	/* bytes of a line shown in a message */

struct frame {
	const struct conf_kw	*kw;		/* NULL: the top level */
	bool			 braced;	/* a block, not a statement */
};

struct parser {
	const struct conf_grammar	*g;
	const struct conf_tok		*t;
	size_t				 pos;
	struct conf_errs		*errs;
	struct frame			 frame[CONF_MAX_DEPTH];
	int				 depth;
	int				 eq_line;	/* "=" reported */
};

static void	parse_block(struct parser *, struct conf_node *,
		    const struct conf_tok *);
static void	parse_stmt(struct parser *, struct conf_node *,
		    const struct conf_kw *);

static const struct conf_tok *
cur(const struct parser *p)
{
	return &p->t[p->pos];
}

static void
advance(struct parser *p)
{
	if (p->t[p->pos].kind != CONF_TOK_END)
		p->pos++;
}

/* A lone "=", as in Postfix's `name = value`. */
static bool
is_equals(const struct conf_tok *tok)
{
	return tok->kind == CONF_TOK_WORD && !tok->quoted &&
	    strcmp(tok->text, "=") == 0;
}

/* The length of NAME in an unquoted word "NAME=VALUE" whose NAME looks
 * like a setting (a letter, then letters, digits, "-" and "_"); else 0. */
static size_t
eq_name_len(const struct conf_tok *tok)
{
	const char *s = tok->text;
	size_t i;

	if (tok->kind != CONF_TOK_WORD || tok->quoted ||
	    !isalpha((unsigned char)s[0]))
		return 0;
	for (i = 1; isalnum((unsigned char)s[i]) || s[i] == '-' ||
	    s[i] == '_'; i++)
		;
	return s[i] == '=' ? i : 0;
}

static const struct conf_kw *
kw_find(const struct conf_grammar *g, const struct conf_kw *parent,
    const struct conf_tok *tok)
{
	size_t i;

	if (tok->kind != CONF_TOK_WORD || tok->quoted)
		return NULL;
	for (i = 0; i < g->n; i++)
		if (conf_kw_is_child(&g->kw[i], parent) &&
		    strcmp(g->kw[i].name, tok->text) == 0)
			return &g->kw[i];
	return NULL;
}

static bool
kw_has_children(const struct conf_grammar *g, const struct conf_kw *kw)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (conf_kw_is_child(&g->kw[i], kw))
			return true;
	return false;
}

/* The keyword tok is in scope: innermost frame first, out to the nearest
 * braces, skipping the top `skip` frames. */
static const struct conf_kw *
scope_find(const struct parser *p, const struct conf_tok *tok, int skip)
{
	const struct conf_kw *kw;
	int i;

	for (i = p->depth - 1 - skip; i >= 0; i--) {
		if ((kw = kw_find(p->g, p->frame[i].kw, tok)) != NULL)
			return kw;
		if (p->frame[i].braced)
			break;
	}
	return NULL;
}

/* Does tok, a word that starts its line, read as a setting in another
 * syntax (`myhostname = x`, `queue_directory=/x`, a Postfix name)?  Then
 * it starts a statement, for the block to report: it is neither a value
 * of the statement before nor rubble to skip after an error. */
static bool
is_foreign_stmt(const struct parser *p, const struct conf_tok *tok)
{
	if (tok->kind != CONF_TOK_WORD || tok->quoted ||
	    (tok != p->t && tok[-1].line == tok->line))
		return false;
	return (is_equals(tok + 1) && tok[1].line == tok->line) ||
	    eq_name_len(tok) > 0 || conf_hint_find(p->g, tok->text) != NULL;
}

/* The block the parser is in: the keyword of the nearest braces. */
static const struct conf_kw *
block_kw(const struct parser *p)
{
	int i;

	for (i = p->depth - 1; i > 0 && !p->frame[i].braced; i--)
		;
	return p->frame[i].kw;
}

static void
push(struct parser *p, const struct conf_kw *kw, bool braced)
{
	if (p->depth == CONF_MAX_DEPTH)
		fatal("event=bug reason=\"configuration grammar too deep\"");
	p->frame[p->depth].kw = kw;
	p->frame[p->depth].braced = braced;
	p->depth++;
}

static struct conf_node *
node_new(struct conf_node *parent, const struct conf_kw *kw,
    const struct conf_tok *tok)
{
	struct conf_node *n;

	n = xcalloc(1, sizeof(*n));
	n->kw = kw;
	n->tok = tok;
	if (parent->last != NULL)
		parent->last->next = n;
	else
		parent->child = n;
	parent->last = n;
	return n;
}

static void
node_add_arg(struct conf_node *n, const struct conf_tok *tok)
{
	/* grow at powers of two: long lists stay linear */
	if ((n->nargs & (n->nargs - 1)) == 0)
		n->args = xreallocarray(n->args, n->nargs ? n->nargs * 2 : 1,
		    sizeof(*n->args));
	n->args[n->nargs++] = tok;
}

void
conf_node_free(struct conf_node **np)
{
	struct conf_node *n, *next;

	for (n = *np; n != NULL; n = next) {
		next = n->next;
		conf_node_free(&n->child);
		free(n->args);
		free(n);
	}
	*np = NULL;
}

/* Skips a brace block and what it holds; cur is its "{". */
static void
skip_block(struct parser *p)
{
	const struct conf_tok *open = cur(p);
	size_t depth = 0;

	for (;;) {
		switch (cur(p)->kind) {
		case CONF_TOK_OPEN:
			depth++;
			break;
		case CONF_TOK_CLOSE:
			if (--depth == 0) {
				advance(p);
				return;
			}
			break;
		case CONF_TOK_END:
			conf_err(p->errs, open->line, "\"{\" without \"}\"");
			return;
		case CONF_TOK_WORD:
			break;
		}
		advance(p);
	}
}

/* Is tok the name of a CONF_KW_NAME statement whose keyword is kw_tok? */
static bool
is_name(const struct conf_kw *kw, const struct conf_tok *tok,
    const struct conf_tok *kw_tok)
{
	return (kw->flags & CONF_KW_NAME) && tok->kind == CONF_TOK_WORD &&
	    !is_equals(tok) && tok->line == kw_tok->line;
}

/* Could kw, at tok, start a statement?  Only a look at the next token. */
static bool
can_start(const struct parser *p, const struct conf_kw *kw,
    const struct conf_tok *tok)
{
	const struct conf_tok *next = tok + 1;

	if (is_name(kw, next, tok))
		return true;
	if (kw->min > 0)
		return next->kind == CONF_TOK_WORD &&
		    scope_find(p, next, 0) == NULL;
	if (kw->max == 0 && kw_has_children(p->g, kw))
		return (next->kind == CONF_TOK_OPEN &&
		    (kw->flags & CONF_KW_BLOCK)) ||
		    kw_find(p->g, kw, next) != NULL;
	return true;
}

/* After an error: on to the next keyword in scope, a "}" or the end.  A
 * keyword that starts a line is trusted; one in the middle of the rubble
 * must look like the start of a statement (`lisen 1.2.3.4:25 tls` is one
 * error, not two). */
static void
resync(struct parser *p)
{
	const struct conf_tok *tok;
	const struct conf_kw *kw;

	for (;;) {
		tok = cur(p);
		if (tok->kind == CONF_TOK_END || tok->kind == CONF_TOK_CLOSE)
			return;
		if ((kw = scope_find(p, tok, 0)) != NULL &&
		    (p->pos == 0 || tok[-1].line != tok->line ||
		    can_start(p, kw, tok)))
			return;
		if (is_foreign_stmt(p, tok))
			return;
		if (tok->kind == CONF_TOK_OPEN)
			skip_block(p);
		else
			advance(p);
	}
}

/* "limits: " inside the limits block, "" at the top level. */
static void
block_prefix(const struct conf_kw *kw, char *buf, size_t bufsz)
{
	size_t n;

	buf[0] = '\0';
	if (kw == NULL)
		return;
	conf_kw_path(kw, buf, bufsz - 2);
	n = strlen(buf);
	buf[n] = ':';
	buf[n + 1] = ' ';
	buf[n + 2] = '\0';
}

/* The line of tok as it should be written: its tokens without a lone
 * "=", and glued (a "NAME=VALUE" word, or NULL) split at its "=". */
static void
line_without_equals(const struct parser *p, const struct conf_tok *tok,
    const struct conf_tok *glued, struct buf *b)
{
	const struct conf_tok *t = tok;
	size_t len;

	while (t != p->t && t[-1].line == tok->line)
		t--;
	for (; t->kind != CONF_TOK_END && t->line == tok->line; t++) {
		if (is_equals(t))
			continue;
		if (b->len > 0)
			buf_addc(b, ' ');
		if (t == glued) {
			len = eq_name_len(t);
			buf_add(b, t->text, len);
			if (t->text[len + 1] != '\0')
				buf_printf(b, " %s", t->text + len + 1);
		} else if (t->quoted)
			conf_add_word(b, p->g, t->text);
		else
			buf_addstr(b, t->text);
	}
	if (b->len > SUGGEST_SHOWN) {
		b->len = SUGGEST_SHOWN - 3;
		buf_addstr(b, "...");
	}
}

/* `kw = value` or `kw=value` (glued: that word; first: no value of kw
 * before it): the language has no "=".  Said once per line, with the line
 * as it should be written; the statement is read on without the "=", so
 * its other errors are found. */
static void
equals_error(struct parser *p, const struct conf_kw *kw,
    const struct conf_tok *at, const struct conf_tok *glued, bool first)
{
	struct buf line = BUF_INIT;
	char path[128];

	if (at->line == p->eq_line)
		return;
	p->eq_line = at->line;
	conf_kw_path(kw, path, sizeof(path));
	line_without_equals(p, at, glued, &line);
	/* no value, before or after the "=": show what goes there */
	if (first && (glued != NULL ?
	    glued->text[eq_name_len(glued) + 1] == '\0' :
	    at[1].kind == CONF_TOK_END || at[1].line != at->line) &&
	    kw->syntax[0] != '\0')
		buf_printf(&line, " %s", kw->syntax);
	conf_err(p->errs, at->line, "%s: no \"=\" in sluice's syntax: "
	    "write \"%s\"", path, line.data);
	buf_free(&line);
}

/*
 * A word where a statement of block should start.  In turn: a quoted
 * keyword; Postfix's `NAME=VALUE` glued; a Postfix name the language has
 * under another name; a keyword one or two typos away, or cut short; and
 * for a block, what its statements start with.
 */
static void
unknown_keyword(struct parser *p, const struct conf_kw *block,
    const struct conf_tok *tok)
{
	struct conf_tok plain = { CONF_TOK_WORD, false, tok->line, tok->text };
	char pre[130], name[CONF_SUGGEST_MAXLEN + 1];
	const struct conf_kw *kw;
	struct buf more = BUF_INIT;
	const char *s, *word = tok->text;
	size_t len;

	block_prefix(block, pre, sizeof(pre));
	if (tok->quoted && kw_find(p->g, block, &plain) != NULL) {
		conf_err(p->errs, tok->line, "%s\"%.80s\": a quoted word is "
		    "never a keyword", pre, tok->text);
		return;
	}
	if ((len = eq_name_len(tok)) > 0 && len < sizeof(name)) {
		memcpy(name, tok->text, len);
		name[len] = '\0';
		plain.text = name;
		if ((kw = kw_find(p->g, block, &plain)) != NULL) {
			equals_error(p, kw, tok, tok, true);
			return;
		}
		word = name;
	}
	if (!tok->quoted && (s = conf_hint_find(p->g, word)) != NULL) {
		conf_err(p->errs, tok->line, "%sunknown keyword \"%s\" (a "
		    "Postfix setting; sluice's is \"%s\")", pre, word, s);
		return;
	}
	if ((s = conf_suggest(p->g, block, word)) == NULL)
		s = conf_suggest_prefix(p->g, block, word);
	conf_block_choices(p->g, block, s != NULL, &more);
	if (s != NULL)
		buf_printf(&more, " (did you mean \"%s\"?)", s);
	conf_err(p->errs, tok->line, "%sunknown keyword \"%.80s\"%s", pre,
	    word, more.len > 0 ? more.data : "");
	buf_free(&more);
}

/* May tok be a value of the statement whose last token is prev? */
static bool
is_value(const struct parser *p, const struct conf_tok *tok,
    const struct conf_tok *prev)
{
	if (tok->kind != CONF_TOK_WORD || is_equals(tok) ||
	    scope_find(p, tok, 0) != NULL)
		return false;
	/* a misspelt or foreign keyword starting a line starts a statement */
	if (!tok->quoted && tok->line > prev->line &&
	    (conf_suggest(p->g, block_kw(p), tok->text) != NULL ||
	    is_foreign_stmt(p, tok)))
		return false;
	return true;
}

/* Is tok, a sub-keyword of the statement being read, rather the start of
 * a statement of an enclosing scope?  Only if the next token says so. */
static bool
outer_wins(const struct parser *p, const struct conf_tok *tok)
{
	const struct conf_tok *next = tok + 1;
	const struct conf_kw *outer;

	if (p->frame[p->depth - 1].braced ||
	    (outer = scope_find(p, tok, 1)) == NULL)
		return false;
	if (next->kind == CONF_TOK_OPEN)
		return (outer->flags & CONF_KW_BLOCK) != 0;
	return kw_find(p->g, outer, next) != NULL;
}

/* A word right after a statement on its line that no keyword explains. */
static void
check_trailing(struct parser *p, struct conf_node *n)
{
	const struct conf_tok *tok = cur(p), *prev = tok - 1;
	const struct conf_kw *kw = n->kw;
	const char *s;
	char path[128];

	if (tok->kind != CONF_TOK_WORD || tok->line != prev->line ||
	    scope_find(p, tok, 0) != NULL)
		return;
	/* a flag has no words of its own: its statement answers */
	if (kw->max == 0 && !kw_has_children(p->g, kw))
		return;
	s = conf_suggest(p->g, kw, tok->text);
	if (s != NULL && strcmp(s, tok->text) == 0)
		s = NULL;	/* right word, wrong place: after a "}" */
	/* a misspelt statement: the block reports it */
	if (s == NULL && conf_suggest(p->g, block_kw(p), tok->text) != NULL)
		return;
	conf_kw_path(kw, path, sizeof(path));
	if (s != NULL)
		conf_err(p->errs, tok->line, "%s: unexpected \"%.80s\" "
		    "(did you mean \"%s\"?)", path, tok->text, s);
	else
		conf_err(p->errs, tok->line, "%s: unexpected \"%.80s\"", path,
		    tok->text);
	n->bad = true;
	resync(p);
}

/* A list in braces (CONF_KW_LIST): every word up to the "}" is one more
 * value of the statement, keyword or not. */
static void
parse_list(struct parser *p, struct conf_node *n, const struct conf_tok *open)
{
	const struct conf_tok *tok;
	char path[128];

	conf_kw_path(n->kw, path, sizeof(path));
	for (;;) {
		tok = cur(p);
		switch (tok->kind) {
		case CONF_TOK_WORD:
			node_add_arg(n, tok);
			advance(p);
			break;
		case CONF_TOK_CLOSE:
			advance(p);
			return;
		case CONF_TOK_OPEN:
			conf_err(p->errs, tok->line, "%s: unexpected \"{\" in "
			    "a list", path);
			n->bad = true;
			skip_block(p);
			break;
		case CONF_TOK_END:
			conf_err(p->errs, open->line, "%s: \"{\" without \"}\"",
			    path);
			n->bad = true;
			return;
		}
	}
}

/* Sub-keywords on the statement, then its brace block if it may have
 * one.  False when a group came with neither. */
static bool
parse_subs(struct parser *p, struct conf_node *n)
{
	const struct conf_kw *kw = n->kw, *sub;
	const struct conf_tok *tok;

	while ((sub = kw_find(p->g, kw, cur(p))) != NULL &&
	    !outer_wins(p, cur(p)))
		parse_stmt(p, n, sub);
	tok = cur(p);
	if (tok->kind == CONF_TOK_OPEN && (kw->flags & CONF_KW_LIST)) {
		advance(p);
		parse_list(p, n, tok);
		return true;
	}
	if (tok->kind == CONF_TOK_OPEN && (kw->flags & CONF_KW_BLOCK)) {
		p->frame[p->depth - 1].braced = true;
		advance(p);
		parse_block(p, n, tok);
		return true;
	}
	return !(kw->max == 0 && (kw->flags & CONF_KW_BLOCK) &&
	    n->child == NULL);
}

/* A group keyword followed by nothing of its own.  A word on its line is
 * taken as a misspelt sub-keyword; anything else is left to the block. */
static void
empty_group(struct parser *p, struct conf_node *n)
{
	const struct conf_tok *tok = cur(p);
	char path[128];

	n->bad = true;
	if (tok->kind == CONF_TOK_WORD && tok->line == n->tok->line &&
	    scope_find(p, tok, 0) == NULL) {
		unknown_keyword(p, n->kw, tok);
		advance(p);
		resync(p);
		return;
	}
	conf_kw_path(n->kw, path, sizeof(path));
	conf_err(p->errs, n->tok->line, "%s: expected \"{\" or a keyword of "
	    "%s", path, path);
}

/* A statement short of values.  A keyword on its line that cannot start
 * a statement there was meant as the value (`postmaster postmaster`):
 * say how to write it. */
static void
missing_argument(struct parser *p, const struct conf_node *n)
{
	const struct conf_tok *tok = cur(p);
	const struct conf_kw *kw;
	char path[128];

	conf_kw_path(n->kw, path, sizeof(path));
	if (tok->kind == CONF_TOK_WORD && tok->line == tok[-1].line &&
	    (kw = scope_find(p, tok, 0)) != NULL && !can_start(p, kw, tok))
		conf_err(p->errs, n->tok->line, "%s: missing argument (%s); "
		    "to give the word \"%s\", put it in quotes", path,
		    n->kw->syntax, tok->text);
	else
		conf_err(p->errs, n->tok->line, "%s: missing argument (%s)",
		    path, n->kw->syntax);
}

/* One statement; cur is its keyword, kw its row. */
static void
parse_stmt(struct parser *p, struct conf_node *parent,
    const struct conf_kw *kw)
{
	const struct conf_tok *prev = cur(p);
	struct conf_node *n;
	bool ok;

	n = node_new(parent, kw, prev);
	advance(p);
	/* its own sub-keywords end its values too */
	push(p, kw, false);
	for (;;) {
		/* `name = value`, or `route a.example = [192.0.2.1]` */
		if (is_equals(cur(p)) && cur(p)->line == prev->line &&
		    (n->nargs == 0 || n->nargs < (size_t)kw->max)) {
			equals_error(p, kw, cur(p), NULL, n->nargs == 0);
			advance(p);
			continue;
		}
		if (n->nargs == (size_t)kw->max || (!is_value(p, cur(p),
		    prev) && !(n->nargs == 0 && is_name(kw, cur(p), prev))))
			break;
		prev = cur(p);
		node_add_arg(n, prev);
		advance(p);
	}
	if (n->nargs < (size_t)kw->min) {
		p->depth--;
		/* `user =`: the "=" message said what goes there */
		if (n->nargs > 0 || p->eq_line != prev->line)
			missing_argument(p, n);
		n->bad = true;
		resync(p);
		return;
	}
	ok = parse_subs(p, n);
	p->depth--;
	if (!ok)
		empty_group(p, n);
	else
		check_trailing(p, n);
}

/* The statements of a block up to its "}" (open), or of the whole file
 * (open NULL).  The block's frame is on top. */
static void
parse_block(struct parser *p, struct conf_node *parent,
    const struct conf_tok *open)
{
	const struct conf_kw *block = p->frame[p->depth - 1].kw, *kw;
	const struct conf_tok *tok;
	char pre[130];

	block_prefix(block, pre, sizeof(pre));
	for (;;) {
		tok = cur(p);
		switch (tok->kind) {
		case CONF_TOK_END:
			if (open != NULL)
				conf_err(p->errs, open->line,
				    "%s\"{\" without \"}\"", pre);
			return;
		case CONF_TOK_CLOSE:
			advance(p);
			if (open != NULL)
				return;
			conf_err(p->errs, tok->line, "\"}\" without \"{\"");
			break;
		case CONF_TOK_OPEN:
			conf_err(p->errs, tok->line, "%sunexpected \"{\"", pre);
			skip_block(p);
			break;
		case CONF_TOK_WORD:
			if ((kw = kw_find(p->g, block, tok)) != NULL) {
				parse_stmt(p, parent, kw);
				break;
			}
			unknown_keyword(p, block, tok);
			advance(p);
			resync(p);
			break;
		}
	}
}

struct conf_node *
conf_parse(const struct conf_grammar *g, const struct conf_toks *toks,
    struct conf_errs *errs)
{
	struct parser p;
	struct conf_node *root;

	memset(&p, 0, sizeof(p));
	p.g = g;
	p.t = toks->v;
	p.errs = errs;
	root = xcalloc(1, sizeof(*root));
	push(&p, NULL, true);
	parse_block(&p, root, NULL);
	return root;
}
