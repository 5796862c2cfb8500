/*
 * smtp_parse: the ingress SMTP command parser (RFC 5321 with 8BITMIME,
 * SIZE, SMTPUTF8, BINARYMIME and Postfix's XFORWARD).
 *
 * What an attacker controls: every byte of the line, up to the session's
 * line-length bound: its verb, the path between the brackets, every ESMTP
 * parameter and every XFORWARD value (XFORWARD is honoured only from
 * trusted networks, but it is parsed before that decision can matter).
 * The parser therefore never trusts a length or a delimiter it has not
 * seen, reads nothing past the terminating NUL, allocates nothing and
 * writes only into the line it is given (NULs that end pieces, xtext
 * decoded in place; decoding only ever shrinks a value).
 *
 * Invariants: an address returned as valid contains no control character,
 * no space outside quotes, no '<' or '>' anywhere and, without SMTPUTF8,
 * no byte >= 0x80; with SMTPUTF8 its non-ASCII bytes are well-formed
 * UTF-8 without C1 controls.  Its domain is after the last '@'.  Reply
 * texts are printable ASCII: an option name echoed back is sanitised and
 * truncated, so a peer cannot inject a CR LF into our reply.
 *
 * The two replies that name an option ("Unsupported option: NAME", "Bad
 * XFORWARD attribute name: X") live in thread-local storage that the next
 * failing call on the same thread overwrites; every other error is const.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/strutil.h"
#include "relay/smtp_parse.h"

#define SMTP_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define SMTP_LABEL_MAX	63	/* RFC 1035 2.3.4 */
#define SMTP_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, with the brackets */
#define SMTP_ADDR_MAX	(SMTP_PATH_MAX - 2)
#define SMTP_HELO_MAX	255
#define SMTP_ECHO_MAX	64	/* bytes of a peer's option name we echo */

static const struct smtp_error e_mail_syntax =
	{ 501, "5.5.4", "Syntax: MAIL FROM:<address>" };
static const struct smtp_error e_rcpt_syntax =
	{ 501, "5.5.4", "Syntax: RCPT TO:<address>" };
static const struct smtp_error e_bad_sender =
	{ 501, "5.1.7", "Bad sender address syntax" };
static const struct smtp_error e_bad_rcpt =
	{ 501, "5.1.3", "Bad recipient address syntax" };
static const struct smtp_error e_param_syntax =
	{ 501, "5.5.4", "Bad parameter syntax" };
static const struct smtp_error e_param_dup =
	{ 501, "5.5.4", "Duplicate parameter" };
static const struct smtp_error e_size =
	{ 501, "5.5.4", "Bad SIZE parameter value" };
static const struct smtp_error e_body =
	{ 501, "5.5.4", "Bad BODY parameter value" };
static const struct smtp_error e_smtputf8 =
	{ 501, "5.5.4", "SMTPUTF8 takes no value" };
static const struct smtp_error e_auth =
	{ 501, "5.5.4", "Bad AUTH parameter value" };
static const struct smtp_error e_xf_syntax =
	{ 501, "5.5.4", "Syntax: XFORWARD attribute=value..." };
static const struct smtp_error e_xf_dup =
	{ 501, "5.5.4", "Duplicate XFORWARD attribute" };
static const struct smtp_error e_xf_xtext =
	{ 501, "5.5.4", "Bad XFORWARD attribute value" };
static const struct smtp_error e_xf_addr =
	{ 501, "5.5.4", "Bad XFORWARD address" };
static const struct smtp_error e_xf_port =
	{ 501, "5.5.4", "Bad XFORWARD port" };
static const struct smtp_error e_xf_proto =
	{ 501, "5.5.4", "Bad XFORWARD protocol" };

static _Thread_local struct {
	struct smtp_error	err;
	char			text[128];
} named_err;

/* ASCII only: the C library's ctype and strcasecmp follow the locale. */
static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool
is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
eq_ci(const char *a, const char *b)
{
	for (; *a && lower((unsigned char)*a) == lower((unsigned char)*b);
	    a++, b++)
		;
	return *a == '\0' && *b == '\0';
}

/* Case-insensitive prefix test on the first strlen(prefix) bytes. */
static bool
prefix_ci(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (lower((unsigned char)*s) != lower((unsigned char)*prefix))
			return false;
	return true;
}

static int
hexval(int c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Builds "PREFIX NAME" in thread-local storage.  NAME is the peer's: only
 * printable non-space ASCII is echoed, at most SMTP_ECHO_MAX bytes of it.
 */
static const struct smtp_error *
named_error(int code, const char *prefix, const char *name, size_t namelen)
{
	size_t i, n = 0;

	for (; n < sizeof(named_err.text) - 1 && prefix[n] != '\0'; n++)
		named_err.text[n] = prefix[n];
	for (i = 0; i < namelen && i < SMTP_ECHO_MAX &&
	    n < sizeof(named_err.text) - 4; i++) {
		unsigned char c = (unsigned char)name[i];

		named_err.text[n++] = c > 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (i < namelen)
		for (i = 0; i < 3; i++)
			named_err.text[n++] = '.';
	named_err.text[n] = '\0';
	named_err.err.code = code;
	named_err.err.ecode = "5.5.4";
	named_err.err.text = named_err.text;
	return &named_err.err;
}

/* A non-ASCII character's UTF-8 length (lib's str_utf8_len), 0 also for
 * the C1 controls U+0080..U+009F, which have no place in an address. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	if (n >= 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return 0;
	return s[0] >= 0x80 ? str_utf8_len(s, n) : 0;
}

/* RFC 5321 atext (RFC 5322 3.2.3). */
static bool
is_atext(int c)
{
	return is_alpha(c) || is_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * The length of the local part at the start of s (n bytes): a dot-string,
 * or a quoted-string of qtextSMTP and quoted-pairSMTP.  0 when invalid.
 * '<' and '>' are refused even quoted: a path that carries them would be
 * cut short by a less careful parser downstream.
 */
static size_t
local_len(const char *s, size_t n, bool utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, atom = 0, k;

	if (n > 0 && u[0] == '"') {
		for (i = 1; i < n && u[i] != '"'; i += k) {
			k = 1;
			if (u[i] == '\\')
				k = 2;
			if (u[i] >= 0x80)
				k = utf8 ? utf8_len(u + i, n - i) : 0;
			else if (i + k >= n || u[i + k - 1] < 0x20 ||
			    u[i + k - 1] > 0x7e || u[i + k - 1] == '<' ||
			    u[i + k - 1] == '>')
				k = 0;
			if (k == 0)
				return 0;
		}
		return i < n && i > 1 ? i + 1 : 0;
	}
	for (; i < n; i += k) {
		k = 1;
		if (u[i] == '.' && atom > 0)
			atom = 0;
		else if (is_atext(u[i]) || (u[i] >= 0x80 && utf8 &&
		    (k = utf8_len(u + i, n - i)) > 0))
			atom++;
		else
			break;
	}
	return atom > 0 ? i : 0;
}

/* An address literal "[1.2.3.4]" or "[IPv6:...]" (RFC 5321 4.1.3). */
static bool
literal_is_valid(const char *s, size_t n)
{
	unsigned char bin[16];
	char buf[ADDR_STRLEN];
	int family = AF_INET;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return false;
	s++;
	n -= 2;
	if (n > 5 && prefix_ci(s, "IPv6:")) {
		family = AF_INET6;
		s += 5;
		n -= 5;
	}
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(family, buf, bin) == 1;
}

/*
 * A domain of n bytes: labels of letters, digits, hyphens (not first or
 * last) and underscores (seen in the wild), or UTF-8 U-labels with utf8;
 * or an address literal.
 */
static bool
domain_is_valid(const char *s, size_t n, bool utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, k, label = 0;
	bool ascii = true;

	if (n > 0 && s[0] == '[')
		return literal_is_valid(s, n);
	for (i = 0; i < n; i += k) {
		k = 1;
		if (u[i] == '.') {
			if (label == 0 || u[i - 1] == '-')
				return false;
			label = 0;
			ascii = true;
			continue;
		}
		if (u[i] >= 0x80) {
			if (!utf8 || (k = utf8_len(u + i, n - i)) == 0)
				return false;
			ascii = false;
		} else if (u[i] == '-') {
			if (label == 0)
				return false;
		} else if (!is_alpha(u[i]) && !is_digit(u[i]) && u[i] != '_')
			return false;
		label += k;
		/* an IDN's A-label, not its UTF-8 form, has the 63 limit */
		if (ascii && label > SMTP_LABEL_MAX)
			return false;
	}
	return label > 0 && u[n - 1] != '-';
}

bool
smtp_addr_is_valid(const char *addr, bool utf8)
{
	size_t n, l;

	if (addr == NULL)
		return false;
	/* the path bound also keeps the domain under its 255 (4.5.3.1.2) */
	n = strnlen(addr, SMTP_ADDR_MAX + 1);
	if (n > SMTP_ADDR_MAX)
		return false;
	l = local_len(addr, n, utf8);
	if (l == 0 || l > SMTP_LOCAL_MAX || l >= n || addr[l] != '@')
		return false;
	return domain_is_valid(addr + l + 1, n - l - 1, utf8);
}

const char *
smtp_addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

static const struct {
	const char	*name;
	enum smtp_cmd	 cmd;
} verbs[] = {
	{ "HELO", SMTP_CMD_HELO }, { "EHLO", SMTP_CMD_EHLO },
	{ "MAIL", SMTP_CMD_MAIL }, { "RCPT", SMTP_CMD_RCPT },
	{ "DATA", SMTP_CMD_DATA }, { "RSET", SMTP_CMD_RSET },
	{ "NOOP", SMTP_CMD_NOOP }, { "QUIT", SMTP_CMD_QUIT },
	{ "VRFY", SMTP_CMD_VRFY }, { "EXPN", SMTP_CMD_EXPN },
	{ "HELP", SMTP_CMD_HELP }, { "STARTTLS", SMTP_CMD_STARTTLS },
	{ "XFORWARD", SMTP_CMD_XFORWARD }, { "AUTH", SMTP_CMD_AUTH },
	{ "BDAT", SMTP_CMD_BDAT },
};

/*
 * The verb ends at the first space; runs of spaces around the arguments
 * are dropped, as Postfix's smtpd does, so "MAIL FROM:<a> " still parses.
 */
enum smtp_cmd
smtp_parse_verb(char *line, char **args)
{
	char *p = line, *end;
	size_t i;

	while (*p != '\0' && *p != ' ')
		p++;
	if (*p == ' ')
		*p++ = '\0';
	while (*p == ' ')
		p++;
	end = p + strlen(p);
	while (end > p && end[-1] == ' ')
		*--end = '\0';
	*args = p;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (eq_ci(line, verbs[i].name))
			return verbs[i].cmd;
	return SMTP_CMD_UNKNOWN;
}

/*
 * Takes "<path>" at s: NUL-terminates the path and returns it in *path,
 * and the parameters after it (spaces skipped) in *rest.  -1 when the
 * brackets are missing or something other than a space follows '>'.
 */
static int
take_path(char *s, char **path, char **rest)
{
	char *gt;

	while (*s == ' ')
		s++;
	if (*s != '<' || (gt = strchr(s, '>')) == NULL)
		return -1;
	if (gt[1] != '\0' && gt[1] != ' ')
		return -1;
	*path = s + 1;
	*rest = gt + 1;
	*gt = '\0';
	while (**rest == ' ')
		(*rest)++;
	return 0;
}

/*
 * Strips a source route "@a,@b:" (RFC 5321 4.1.2 and appendix C: accept
 * and ignore) and checks the mailbox.  Returns it, or NULL when invalid.
 */
static char *
path_mailbox(char *path, bool utf8)
{
	char *p = path, *end;

	/* the bound is on the path as sent, brackets included */
	if (strnlen(path, SMTP_PATH_MAX) > SMTP_PATH_MAX - 2)
		return NULL;
	while (*p == '@') {
		end = p + 1 + strcspn(p + 1, ",:");
		if (*end == '\0' || !domain_is_valid(p + 1,
		    (size_t)(end - p - 1), utf8))
			return NULL;
		p = end + 1;
		if (*end == ':')
			break;
		if (*p != '@')
			return NULL;
	}
	return smtp_addr_is_valid(p, utf8) ? p : NULL;
}

/*
 * Cuts the next "KEYWORD[=value]" off *cursor.  1 with *kw and *val (NULL
 * without '='), 0 at the end, -1 with *err on a bad keyword or an empty
 * value (RFC 5321 4.1.2 esmtp-keyword, esmtp-value).
 */
static int
next_param(char **cursor, char **kw, char **val,
    const struct smtp_error **err)
{
	char *p = *cursor, *eq;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	*kw = p;
	p += strcspn(p, " ");
	if (*p != '\0')
		*p++ = '\0';
	*cursor = p;
	*val = NULL;
	if ((eq = strchr(*kw, '=')) != NULL) {
		*eq = '\0';
		*val = eq + 1;
		if (**val == '\0') {
			*err = &e_param_syntax;
			return -1;
		}
	}
	for (p = *kw; *p != '\0'; p++)
		if (!is_alpha(*p) && !is_digit(*p) && (*p != '-' || p == *kw))
			break;
	if (p == *kw || *p != '\0') {
		*err = &e_param_syntax;
		return -1;
	}
	return 1;
}

/* RFC 1870: SIZE=1*20DIGIT; a value past uint64_t is an error too. */
static int
parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!is_digit(*s) ||
		    v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* RFC 3461 4 xtext: "+" and two hex digits, or '!'..'~' but '+', '='. */
static bool
xtext_is_valid(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if (hexval((unsigned char)s[1]) < 0 ||
			    hexval((unsigned char)s[2]) < 0)
				return false;
			s += 2;
		} else if ((unsigned char)*s < '!' ||
		    (unsigned char)*s > '~' || *s == '=')
			return false;
	}
	return true;
}

/* Handles one MAIL parameter; seen has one bit per known keyword. */
static const struct smtp_error *
mail_param(const char *kw, const char *val, struct smtp_mail_args *m,
    unsigned *seen)
{
	static const char *const known[] = {
		"SIZE", "BODY", "SMTPUTF8", "AUTH"
	};
	unsigned i;

	for (i = 0; i < 4 && !eq_ci(kw, known[i]); i++)
		;
	if (i == 4)	/* DSN's RET, ENVID too: we do not announce DSN */
		return named_error(555, "Unsupported option: ", kw,
		    strlen(kw));
	if (*seen & (1u << i))
		return &e_param_dup;
	*seen |= 1u << i;
	switch (i) {
	case 0:
		m->has_size = true;
		return val == NULL || parse_size(val, &m->size) == -1 ?
		    &e_size : NULL;
	case 1:
		if (val != NULL && eq_ci(val, "7BIT"))
			m->body = SMTP_BODY_7BIT;
		else if (val != NULL && eq_ci(val, "8BITMIME"))
			m->body = SMTP_BODY_8BITMIME;
		else if (val != NULL && eq_ci(val, "BINARYMIME"))
			m->body = SMTP_BODY_BINARYMIME;
		else
			return &e_body;
		return NULL;
	case 2:
		m->smtputf8 = true;
		return val != NULL ? &e_smtputf8 : NULL;
	default:
		/* RFC 4954 5: accepted and ignored, we trust no peer's */
		return val == NULL || (strcmp(val, "<>") != 0 &&
		    !xtext_is_valid(val)) ? &e_auth : NULL;
	}
}

int
smtp_parse_mail(char *args, struct smtp_mail_args *out,
    const struct smtp_error **err)
{
	struct smtp_mail_args m = { .body = SMTP_BODY_7BIT };
	char *path, *rest, *kw, *val;
	unsigned seen = 0;
	int r;

	if (!prefix_ci(args, "FROM:") ||
	    take_path(args + 5, &path, &rest) == -1) {
		*err = &e_mail_syntax;
		return -1;
	}
	while ((r = next_param(&rest, &kw, &val, err)) == 1)
		if ((*err = mail_param(kw, val, &m, &seen)) != NULL)
			return -1;
	if (r == -1)
		return -1;
	if (*path == '\0')
		m.addr = path;		/* the null sender */
	else if ((m.addr = path_mailbox(path, m.smtputf8)) == NULL) {
		*err = &e_bad_sender;
		return -1;
	}
	*out = m;
	return 0;
}

/*
 * RCPT addresses may be UTF-8 here: only MAIL's SMTPUTF8 allows it, and
 * the session, which saw MAIL, refuses non-ASCII without it.
 */
int
smtp_parse_rcpt(char *args, struct smtp_rcpt_args *out,
    const struct smtp_error **err)
{
	char *path, *rest, *kw, *val, *addr;
	int r;

	if (!prefix_ci(args, "TO:") ||
	    take_path(args + 3, &path, &rest) == -1) {
		*err = &e_rcpt_syntax;
		return -1;
	}
	/* no DSN yet (NOTIFY, ORCPT), so any parameter is unknown */
	if ((r = next_param(&rest, &kw, &val, err)) == -1)
		return -1;
	if (r == 1) {
		*err = named_error(555, "Unsupported option: ", kw,
		    strlen(kw));
		return -1;
	}
	/* RFC 5321 4.1.1.3: "<Postmaster>" without a domain, any case */
	if (eq_ci(path, "postmaster"))
		addr = path;
	else if ((addr = path_mailbox(path, true)) == NULL) {
		*err = &e_bad_rcpt;
		return -1;
	}
	out->addr = addr;
	return 0;
}

/*
 * Decodes xtext in place (RFC 3461 4; lower-case hex tolerated).  A
 * decoded control character or NUL is refused: the values end up in logs
 * and in our Received header.
 */
static int
xtext_decode(char *s)
{
	char *w = s;
	int hi, lo;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if ((hi = hexval((unsigned char)s[1])) < 0 ||
			    (lo = hexval((unsigned char)s[2])) < 0 ||
			    hi * 16 + lo < 0x20 || hi * 16 + lo == 0x7f)
				return -1;
			*w++ = (char)(hi * 16 + lo);
			s += 2;
		} else if ((unsigned char)*s < '!' ||
		    (unsigned char)*s > '~' || *s == '=')
			return -1;
		else
			*w++ = *s;
	}
	*w = '\0';
	return 0;
}

/* PORT is 0..65535 in decimal. */
static bool
port_is_valid(const char *s)
{
	unsigned long v = 0;
	size_t n;

	for (n = 0; is_digit(s[n]); n++)
		if (n < 5)
			v = v * 10 + (unsigned long)(s[n] - '0');
	return n > 0 && n <= 5 && s[n] == '\0' && v <= 65535;
}

/* Checks a decoded value; may move *val past ADDR's "IPv6:" prefix. */
static const struct smtp_error *
xforward_value(size_t attr, char **val)
{
	struct addr a;

	if (eq_ci(*val, "[UNAVAILABLE]") || eq_ci(*val, "[TEMPUNAVAIL]"))
		**val = '\0';
	if (**val == '\0')
		return NULL;
	switch (attr) {
	case 1:	/* ADDR */
		if (prefix_ci(*val, "IPv6:"))
			*val += 5;
		return addr_parse(*val, &a) == 0 ? NULL : &e_xf_addr;
	case 2:	/* PORT */
		return port_is_valid(*val) ? NULL : &e_xf_port;
	case 3:	/* PROTO: SMTP or ESMTP from Postfix; a 5xx here would make
		 * mta1 bounce the mail, so any short name is recorded */
		return strlen(*val) <= 32 ? NULL : &e_xf_proto;
	default:
		return NULL;
	}
}

static const char *const xf_names[] = {
	"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"
};
#define XF_NATTR	(sizeof(xf_names) / sizeof(xf_names[0]))

/*
 * Takes one "NAME=value" token: returns the attribute's index and the
 * decoded value in *val, or -1 with *err.
 */
static int
xforward_attr(char *tok, unsigned *seen, char **val,
    const struct smtp_error **err)
{
	char *eq = strchr(tok, '=');
	size_t i, len;

	if (eq == NULL || eq == tok) {
		*err = &e_xf_syntax;
		return -1;
	}
	len = (size_t)(eq - tok);
	for (i = 0; i < XF_NATTR; i++)
		if (strlen(xf_names[i]) == len && prefix_ci(tok, xf_names[i]))
			break;
	if (i == XF_NATTR) {
		*err = named_error(501, "Bad XFORWARD attribute name: ", tok,
		    len);
		return -1;
	}
	if (*seen & (1u << i)) {
		*err = &e_xf_dup;
		return -1;
	}
	*seen |= 1u << i;
	*val = eq + 1;
	if (xtext_decode(*val) == -1) {
		*err = &e_xf_xtext;
		return -1;
	}
	if ((*err = xforward_value(i, val)) != NULL)
		return -1;
	return (int)i;
}

/*
 * Postfix may split its attributes over several XFORWARD commands, so
 * only the attributes given are set; on failure *xf is left untouched.
 */
int
smtp_parse_xforward(char *args, struct smtp_xforward *xf,
    const struct smtp_error **err)
{
	struct smtp_xforward x = *xf;
	char **slot[XF_NATTR] = { &x.name, &x.addr, &x.port, &x.proto,
	    &x.helo, &x.ident, &x.source };
	char *p = args, *tok, *val;
	unsigned seen = 0;
	int i;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		tok = p;
		p += strcspn(p, " ");
		if (*p != '\0')
			*p++ = '\0';
		if ((i = xforward_attr(tok, &seen, &val, err)) == -1)
			return -1;
		*slot[i] = val;
	}
	if (seen == 0) {
		*err = &e_xf_syntax;
		return -1;
	}
	*xf = x;
	return 0;
}

bool
smtp_helo_is_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= SMTP_HELO_MAX || (unsigned char)s[n] <= ' ' ||
		    (unsigned char)s[n] > '~')
			return false;
	return n > 0;
}
