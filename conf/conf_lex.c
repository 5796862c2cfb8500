/*
 * conf_lex: splits the configuration text into tokens.
 *
 * Tokens are separated by spaces, tabs, newlines and commas; "{" and "}"
 * are tokens of their own even when glued to a word.  A "#" at the start
 * of a token begins a comment to the end of the line (inside a word it is
 * an ordinary character, so a URL keeps its "#fragment").  A double-quoted
 * string holds spaces, commas, braces and "#", with \" and \\ as the only
 * escapes; it ends on its line, so a missing quote costs one line and not
 * the rest of the file.  Control characters other than tab, CR and LF are
 * errors.  The lexer never stops early: after an error the token is kept
 * as well as it can be, so the parser still reports what follows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/xalloc.h"
#include "conf_priv.h"

struct lexer {
	const char		*s;
	size_t			 len, pos;
	int			 line;
	struct conf_toks	*toks;
	struct conf_errs	*errs;
};

static void
lex_push(struct lexer *lx, enum conf_tok_kind kind, bool quoted, int line,
    char *text)
{
	struct conf_toks *t = lx->toks;
	struct conf_tok *tok;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	tok = &t->v[t->n++];
	tok->kind = kind;
	tok->quoted = quoted;
	tok->line = line;
	tok->text = text;
}

static bool
lex_is_control(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

/* Ends a word: separators, braces, a quote or a control character. */
static bool
lex_ends_word(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' ||
	    c == '{' || c == '}' || c == '"' || lex_is_control(c);
}

static void
lex_word(struct lexer *lx)
{
	size_t start = lx->pos;

	while (lx->pos < lx->len &&
	    !lex_ends_word((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	lex_push(lx, CONF_TOK_WORD, false, lx->line,
	    xstrndup(lx->s + start, lx->pos - start));
}

/* A quoted string; lx->pos is at the opening quote. */
static void
lex_string(struct lexer *lx)
{
	struct buf b = BUF_INIT;
	bool bad_escape = false;
	unsigned char c;

	lx->pos++;
	for (;;) {
		if (lx->pos == lx->len || lx->s[lx->pos] == '\n') {
			conf_err(lx->errs, lx->line, "unterminated string");
			break;
		}
		c = (unsigned char)lx->s[lx->pos++];
		if (c == '"')
			break;
		if (lex_is_control(c)) {
			conf_err(lx->errs, lx->line,
			    "control character 0x%02x in string", c);
			continue;
		}
		if (c == '\\' && lx->pos < lx->len &&
		    (lx->s[lx->pos] == '"' || lx->s[lx->pos] == '\\'))
			c = (unsigned char)lx->s[lx->pos++];
		else if (c == '\\' && !bad_escape) {
			conf_err(lx->errs, lx->line, "bad escape in string "
			    "(only \\\" and \\\\ are escapes)");
			bad_escape = true;
		}
		buf_addc(&b, (char)c);
	}
	lex_push(lx, CONF_TOK_WORD, true, lx->line, buf_take(&b));
}

static void
lex_skip_comment(struct lexer *lx)
{
	while (lx->pos < lx->len && lx->s[lx->pos] != '\n')
		lx->pos++;
}

void
conf_lex(const char *text, size_t len, struct conf_toks *toks,
    struct conf_errs *errs)
{
	struct lexer lx = { text, len, 0, 1, toks, errs };
	unsigned char c;

	/* a UTF-8 byte order mark, as some editors write one */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		lx.pos = 3;
	while (lx.pos < lx.len) {
		c = (unsigned char)lx.s[lx.pos];
		if (c == '\n') {
			lx.line++;
			lx.pos++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == ',')
			lx.pos++;
		else if (c == '#')
			lex_skip_comment(&lx);
		else if (c == '{' || c == '}') {
			lex_push(&lx, c == '{' ? CONF_TOK_OPEN : CONF_TOK_CLOSE,
			    false, lx.line, xstrdup(c == '{' ? "{" : "}"));
			lx.pos++;
		} else if (c == '"')
			lex_string(&lx);
		else if (lex_is_control(c)) {
			conf_err(errs, lx.line, "control character 0x%02x", c);
			lx.pos++;
		} else
			lex_word(&lx);
	}
	lex_push(&lx, CONF_TOK_END, false, lx.line, xstrdup(""));
}

void
conf_toks_free(struct conf_toks *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].text);
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}
