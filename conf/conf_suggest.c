/*
 * conf_suggest: what the parser's messages offer when a word is not a
 * keyword: the closest keyword (one or two typos away, or cut short),
 * the statements a block may start with, and how sluice writes a setting
 * another program (Postfix) names differently; and the closest of names
 * the file defines (a notifier).  Reads the grammar and those names only.
 */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "../lib/buf.h"
#include "conf_priv.h"

#define CONF_SUGGEST_CHOICES	16	/* sub-keywords listed in a message */

/* How the language writes another program's setting name, or NULL. */
const char *
conf_hint_find(const struct conf_grammar *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->nhint; i++)
		if (strcmp(g->hint[i].name, name) == 0)
			return g->hint[i].instead;
	return NULL;
}

/* True when row is a sub-keyword of parent (NULL: the top level). */
bool
conf_kw_is_child(const struct conf_kw *row, const struct conf_kw *parent)
{
	size_t n;

	if (parent == NULL)
		return row->parent[0] == '\0';
	if (parent->parent[0] == '\0')
		return strcmp(row->parent, parent->name) == 0;
	n = strlen(parent->parent);
	return strncmp(row->parent, parent->parent, n) == 0 &&
	    row->parent[n] == ' ' && strcmp(row->parent + n + 1,
	    parent->name) == 0;
}

/* Case-blind optimal string alignment distance (a transposition is one
 * edit: "tsl" is one away from "tls").  Both words at most
 * CONF_SUGGEST_MAXLEN bytes, so a distance fits a byte. */
static unsigned
edit_distance(const char *wa, const char *wb)
{
	uint8_t d[CONF_SUGGEST_MAXLEN + 1][CONF_SUGGEST_MAXLEN + 1];
	char a[CONF_SUGGEST_MAXLEN + 1], b[CONF_SUGGEST_MAXLEN + 1];
	size_t la = strlen(wa), lb = strlen(wb), i, j;
	unsigned v, cost;

	for (i = 0; i <= la; i++) {
		a[i] = (char)tolower((unsigned char)wa[i]);
		d[i][0] = (uint8_t)i;
	}
	for (j = 0; j <= lb; j++) {
		b[j] = (char)tolower((unsigned char)wb[j]);
		d[0][j] = (uint8_t)j;
	}
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			cost = a[i - 1] != b[j - 1];
			v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1u < v)
				v = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < v)
				v = d[i][j - 1] + 1u;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1u < v)
				v = d[i - 2][j - 2] + 1u;
			d[i][j] = (uint8_t)v;
		}
	}
	return d[la][lb];
}

/* Is name one or two typos from word (wl bytes: one in a short name,
 * two in a longer one) and closer than *bestd?  Then *bestd is its
 * distance. */
static bool
closer(const char *word, size_t wl, const char *name, unsigned *bestd)
{
	size_t kl = strlen(name);
	unsigned d, limit = kl < 6 ? 1 : 2;

	/* the distance is at least the difference in length */
	if (kl > CONF_SUGGEST_MAXLEN || (wl > kl ? wl - kl : kl - wl) > limit)
		return false;
	d = edit_distance(word, name);
	if (d > limit || d >= *bestd)
		return false;
	*bestd = d;
	return true;
}

const char *
conf_suggest(const struct conf_grammar *g, const struct conf_kw *parent,
    const char *word)
{
	const char *best = NULL;
	unsigned bestd = UINT_MAX;
	size_t i, wl = strlen(word);

	if (wl > CONF_SUGGEST_MAXLEN)
		return NULL;
	for (i = 0; i < g->n; i++)
		if (conf_kw_is_child(&g->kw[i], parent) &&
		    closer(word, wl, g->kw[i].name, &bestd))
			best = g->kw[i].name;
	return best;
}

const char *
conf_suggest_name(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	unsigned bestd = UINT_MAX;
	size_t i, wl = strlen(word);

	if (wl > CONF_SUGGEST_MAXLEN)
		return NULL;
	for (i = 0; i < n; i++)
		if (closer(word, wl, names[i], &bestd))
			best = names[i];
	return best;
}

/* The only keyword of block that starts with word (3 bytes at least),
 * for a word cut short (`relay`); NULL if none or several do. */
const char *
conf_suggest_prefix(const struct conf_grammar *g, const struct conf_kw *block,
    const char *word)
{
	const char *found = NULL;
	size_t i, wl = strlen(word);

	if (wl < 3)
		return NULL;
	for (i = 0; i < g->n; i++) {
		if (!conf_kw_is_child(&g->kw[i], block) ||
		    strncasecmp(g->kw[i].name, word, wl) != 0)
			continue;
		if (found != NULL)
			return NULL;
		found = g->kw[i].name;
	}
	return found;
}

/* What a statement of block may start with, into b: ": expected a, b or
 * c".  The sub-keywords that say what it is (CONF_KW_HEAD) with their
 * values, always; else all of them, only when no suggestion was found. */
void
conf_block_choices(const struct conf_grammar *g, const struct conf_kw *block,
    bool suggested, struct buf *b)
{
	const struct conf_kw *v[CONF_SUGGEST_CHOICES];
	size_t i, n = 0, heads = 0;

	if (block == NULL)
		return;		/* the top level: too many to list */
	for (i = 0; i < g->n; i++)
		if (conf_kw_is_child(&g->kw[i], block) &&
		    (g->kw[i].flags & CONF_KW_HEAD))
			heads++;
	if (heads == 0 && suggested)
		return;
	for (i = 0; i < g->n && n < CONF_SUGGEST_CHOICES; i++)
		if (conf_kw_is_child(&g->kw[i], block) &&
		    (heads == 0 || (g->kw[i].flags & CONF_KW_HEAD)))
			v[n++] = &g->kw[i];
	for (i = 0; i < n; i++) {
		buf_addstr(b, i == 0 ? ": expected " : i + 1 < n ? ", " :
		    " or ");
		buf_addstr(b, v[i]->name);
		if (heads > 0 && v[i]->syntax[0] != '\0')
			buf_printf(b, " %s", v[i]->syntax);
	}
}
