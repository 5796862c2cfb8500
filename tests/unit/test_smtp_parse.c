/*
 * test_smtp_parse: the ingress SMTP command parser, one table per entry
 * point.  Each row is one case: its input and the rendering of the result
 * it must give ("ok ..." with the parsed fields, or "CODE X.Y.Z text").
 * In inputs and wants, "{{N*c}}" stands for N copies of the byte c, so
 * the length limits are tested at their exact edges.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/smtp_parse.h"
#include "t.h"

#define BUFSZ	2048

/* Expands "{{N*c}}" runs into dst. */
static void
expand(const char *src, char *dst, size_t dstsz)
{
	size_t n = 0;

	while (*src != '\0' && n + 1 < dstsz) {
		char *end;
		unsigned long count;

		if (src[0] == '{' && src[1] == '{' &&
		    (count = strtoul(src + 2, &end, 10)) > 0 && end[0] == '*' &&
		    end[1] != '\0' && end[2] == '}' && end[3] == '}') {
			for (; count > 0 && n + 1 < dstsz; count--)
				dst[n++] = end[1];
			src = end + 4;
		} else
			dst[n++] = *src++;
	}
	dst[n] = '\0';
}

/* p points into the len bytes of the line (or at its final NUL). */
static bool
inside(const char *p, const char *buf, size_t len)
{
	return p >= buf && p <= buf + len;
}

static void
render_err(char *out, size_t outsz, const struct smtp_error *err)
{
	if (err == NULL)
		snprintf(out, outsz, "error without reply");
	else
		snprintf(out, outsz, "%d %s %s", err->code, err->ecode,
		    err->text);
}

/* ---- smtp_parse_verb ---- */

static const char *const cmd_names[] = {
	"UNKNOWN", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP",
	"QUIT", "VRFY", "EXPN", "HELP", "STARTTLS", "XFORWARD", "AUTH",
	"BDAT"
};

static const struct {
	const char *name, *line, *want;
} verb_cases[] = {
	{ "verb MAIL", "MAIL FROM:<a@b.example>", "MAIL [FROM:<a@b.example>]" },
	{ "verb lower case", "mail FROM:<a@b>", "MAIL [FROM:<a@b>]" },
	{ "verb mixed case", "rCpT TO:<a@b>", "RCPT [TO:<a@b>]" },
	{ "verb spaces around args", "MAIL   FROM:<a@b>   ",
	    "MAIL [FROM:<a@b>]" },
	{ "verb keeps inner spaces", "AUTH PLAIN  dGVzdA==",
	    "AUTH [PLAIN  dGVzdA==]" },
	{ "verb DATA no args", "DATA", "DATA []" },
	{ "verb DATA trailing space", "data   ", "DATA []" },
	{ "verb HELO", "HELO mx.example", "HELO [mx.example]" },
	{ "verb EHLO", "EHLO mx.example", "EHLO [mx.example]" },
	{ "verb RSET", "RSET", "RSET []" },
	{ "verb NOOP with arg", "NOOP hello", "NOOP [hello]" },
	{ "verb QUIT", "QUIT", "QUIT []" },
	{ "verb VRFY", "VRFY user", "VRFY [user]" },
	{ "verb EXPN", "EXPN list", "EXPN [list]" },
	{ "verb HELP", "HELP", "HELP []" },
	{ "verb STARTTLS", "StartTLS", "STARTTLS []" },
	{ "verb XFORWARD", "XFORWARD NAME=x", "XFORWARD [NAME=x]" },
	{ "verb BDAT", "BDAT 100 LAST", "BDAT [100 LAST]" },
	{ "verb unknown", "FOO bar", "UNKNOWN [bar]" },
	{ "verb empty line", "", "UNKNOWN []" },
	{ "verb only spaces", "   ", "UNKNOWN []" },
	{ "verb leading space", " MAIL FROM:<a@b>", "UNKNOWN [MAIL FROM:<a@b>]" },
	{ "verb glued to args", "MAILFROM:<a@b>", "UNKNOWN []" },
	{ "verb prefix only", "MAI", "UNKNOWN []" },
	{ "verb longer", "MAILX", "UNKNOWN []" },
	{ "verb tab is no separator", "MAIL\tFROM:<a@b>", "UNKNOWN []" },
};

static void
test_verb(void)
{
	char line[BUFSZ], got[BUFSZ];
	size_t i, len;

	for (i = 0; i < sizeof(verb_cases) / sizeof(verb_cases[0]); i++) {
		char *args = NULL;
		enum smtp_cmd c;

		expand(verb_cases[i].line, line, sizeof(line));
		len = strlen(line);
		c = smtp_parse_verb(line, &args);
		if (args == NULL || !inside(args, line, len))
			snprintf(got, sizeof(got), "args outside the line");
		else
			snprintf(got, sizeof(got), "%s [%s]", cmd_names[c], args);
		T_EQ_STR(got, verb_cases[i].want, verb_cases[i].name);
	}
}

/* ---- smtp_parse_mail ---- */

#define SYNTAX_MAIL	"501 5.5.4 Syntax: MAIL FROM:<address>"
#define BAD_SENDER	"501 5.1.7 Bad sender address syntax"
#define BAD_PARAM	"501 5.5.4 Bad parameter syntax"
#define DUP_PARAM	"501 5.5.4 Duplicate parameter"
#define BAD_SIZE	"501 5.5.4 Bad SIZE parameter value"
#define BAD_BODY	"501 5.5.4 Bad BODY parameter value"
#define BAD_AUTH	"501 5.5.4 Bad AUTH parameter value"
/* 254 octets: the longest address that fits a 256-octet path */
#define ADDR254	"{{64*a}}@{{63*b}}.{{63*c}}.{{61*d}}"
/* 33 octets of UTF-8: an IDN label's limit is on its A-label */
#define U8X11	"\xe4\xbe\x8b\xe4\xbe\x8b\xe4\xbe\x8b\xe4\xbe\x8b" \
		"\xe4\xbe\x8b\xe4\xbe\x8b\xe4\xbe\x8b\xe4\xbe\x8b" \
		"\xe4\xbe\x8b\xe4\xbe\x8b\xe4\xbe\x8b"
#define ADDR255	"{{64*a}}@{{63*b}}.{{63*c}}.{{62*d}}"

static const struct {
	const char *name, *args, *want;
} mail_cases[] = {
	{ "mail plain", "FROM:<u@d.example>",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail lower-case from", "from:<u@d.example>",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail space after colon (Postfix)", "FROM: <u@d.example>",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail spaces after colon", "FROM:   <u@d.example>",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail null sender", "FROM:<>", "ok <> size=- body=7BIT utf8=0" },
	{ "mail null sender with params", "FROM:<> SIZE=0 BODY=8BITMIME",
	    "ok <> size=0 body=8BITMIME utf8=0" },
	{ "mail source route", "FROM:<@a.example,@b.example:u@d.example>",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail source route one hop", "FROM:<@a.example:u@d.example>",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail route without colon", "FROM:<@a.example>", BAD_SENDER },
	{ "mail route bad hop", "FROM:<@a.example,b.example:u@d>",
	    BAD_SENDER },
	{ "mail route empty domain", "FROM:<@:u@d.example>", BAD_SENDER },
	{ "mail route bad domain", "FROM:<@-a.example:u@d.example>",
	    BAD_SENDER },
	{ "mail route empty mailbox", "FROM:<@a.example:>", BAD_SENDER },
	{ "mail no brackets (no compat mode)", "FROM:u@d.example",
	    SYNTAX_MAIL },
	{ "mail no closing bracket", "FROM:<u@d.example", SYNTAX_MAIL },
	{ "mail no opening bracket", "FROM:u@d.example>", SYNTAX_MAIL },
	{ "mail garbage after path", "FROM:<u@d.example>x", SYNTAX_MAIL },
	{ "mail missing FROM", "<u@d.example>", SYNTAX_MAIL },
	{ "mail misspelt FROM", "FRM:<u@d.example>", SYNTAX_MAIL },
	{ "mail space before colon", "FROM :<u@d.example>", SYNTAX_MAIL },
	{ "mail empty args", "", SYNTAX_MAIL },
	{ "mail FROM: alone", "FROM:", SYNTAX_MAIL },
	{ "mail no domain", "FROM:<u>", BAD_SENDER },
	{ "mail postmaster needs a domain", "FROM:<postmaster>", BAD_SENDER },
	{ "mail empty domain", "FROM:<u@>", BAD_SENDER },
	{ "mail empty local part", "FROM:<@d.example>", BAD_SENDER },
	{ "mail space in address", "FROM:<u v@d.example>", BAD_SENDER },
	{ "mail space inside brackets", "FROM:< u@d.example>", BAD_SENDER },
	{ "mail control char", "FROM:<u\x01@d.example>", BAD_SENDER },
	{ "mail angle inside", "FROM:<<u@d.example>>", SYNTAX_MAIL },
	{ "mail lt inside", "FROM:<u<v@d.example>", BAD_SENDER },
	{ "mail quoted local part", "FROM:<\"u v\"@d.example>",
	    "ok <\"u v\"@d.example> size=- body=7BIT utf8=0" },
	{ "mail quoted '>' refused", "FROM:<\"u>v\"@d.example>", SYNTAX_MAIL },
	{ "mail path of 256 octets", "FROM:<" ADDR254 ">",
	    "ok <" ADDR254 "> size=- body=7BIT utf8=0" },
	{ "mail path of 257 octets", "FROM:<" ADDR255 ">", BAD_SENDER },
	{ "mail route in a path of 256 octets",
	    "FROM:<@r.example:{{64*a}}@{{63*b}}.{{63*c}}.{{50*d}}>",
	    "ok <{{64*a}}@{{63*b}}.{{63*c}}.{{50*d}}> size=- body=7BIT "
	    "utf8=0" },
	{ "mail route in a path of 257 octets",
	    "FROM:<@r.example:{{64*a}}@{{63*b}}.{{63*c}}.{{51*d}}>",
	    BAD_SENDER },
	{ "mail SIZE", "FROM:<u@d.example> SIZE=12345",
	    "ok <u@d.example> size=12345 body=7BIT utf8=0" },
	{ "mail SIZE zero", "FROM:<u@d.example> SIZE=0",
	    "ok <u@d.example> size=0 body=7BIT utf8=0" },
	{ "mail SIZE max uint64", "FROM:<u@d.example> SIZE=18446744073709551615",
	    "ok <u@d.example> size=18446744073709551615 body=7BIT utf8=0" },
	{ "mail SIZE overflow", "FROM:<u@d.example> SIZE=18446744073709551616",
	    BAD_SIZE },
	{ "mail SIZE huge", "FROM:<u@d.example> SIZE={{40*9}}", BAD_SIZE },
	{ "mail SIZE leading zeros", "FROM:<u@d.example> SIZE=000042",
	    "ok <u@d.example> size=42 body=7BIT utf8=0" },
	{ "mail SIZE not digits", "FROM:<u@d.example> SIZE=12k", BAD_SIZE },
	{ "mail SIZE negative", "FROM:<u@d.example> SIZE=-1", BAD_SIZE },
	{ "mail SIZE no value", "FROM:<u@d.example> SIZE", BAD_SIZE },
	{ "mail SIZE empty value", "FROM:<u@d.example> SIZE=", BAD_PARAM },
	{ "mail SIZE twice", "FROM:<u@d.example> SIZE=1 size=2", DUP_PARAM },
	{ "mail BODY 7BIT", "FROM:<u@d.example> BODY=7BIT",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail BODY 8BITMIME", "FROM:<u@d.example> BODY=8BITMIME",
	    "ok <u@d.example> size=- body=8BITMIME utf8=0" },
	{ "mail BODY BINARYMIME", "FROM:<u@d.example> BODY=BINARYMIME",
	    "ok <u@d.example> size=- body=BINARYMIME utf8=0" },
	{ "mail BODY lower case", "FROM:<u@d.example> body=8bitmime",
	    "ok <u@d.example> size=- body=8BITMIME utf8=0" },
	{ "mail BODY unknown", "FROM:<u@d.example> BODY=9BIT", BAD_BODY },
	{ "mail BODY no value", "FROM:<u@d.example> BODY", BAD_BODY },
	{ "mail BODY twice", "FROM:<u@d.example> BODY=7BIT BODY=7BIT",
	    DUP_PARAM },
	{ "mail SMTPUTF8", "FROM:<u@d.example> SMTPUTF8",
	    "ok <u@d.example> size=- body=7BIT utf8=1" },
	{ "mail SMTPUTF8 lower case", "FROM:<u@d.example> smtputf8",
	    "ok <u@d.example> size=- body=7BIT utf8=1" },
	{ "mail SMTPUTF8 with value", "FROM:<u@d.example> SMTPUTF8=yes",
	    "501 5.5.4 SMTPUTF8 takes no value" },
	{ "mail SMTPUTF8 twice", "FROM:<u@d.example> SMTPUTF8 SMTPUTF8",
	    DUP_PARAM },
	{ "mail UTF-8 with SMTPUTF8",
	    "FROM:<\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example> SMTPUTF8",
	    "ok <\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example> size=- "
	    "body=7BIT utf8=1" },
	{ "mail UTF-8 without SMTPUTF8",
	    "FROM:<\xce\xb4\xce\xbf\xce\xba@d.example>", BAD_SENDER },
	{ "mail bad UTF-8 with SMTPUTF8",
	    "FROM:<\xce@d.example> SMTPUTF8", BAD_SENDER },
	{ "mail all parameters",
	    "FROM:<u@d.example> SIZE=100 BODY=BINARYMIME SMTPUTF8 AUTH=<>",
	    "ok <u@d.example> size=100 body=BINARYMIME utf8=1" },
	{ "mail parameters with extra spaces",
	    "FROM:<u@d.example>   SIZE=7   BODY=8BITMIME  ",
	    "ok <u@d.example> size=7 body=8BITMIME utf8=0" },
	{ "mail AUTH=<>", "FROM:<u@d.example> AUTH=<>",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail AUTH xtext", "FROM:<u@d.example> AUTH=e+3Dmc2@example.com",
	    "ok <u@d.example> size=- body=7BIT utf8=0" },
	{ "mail AUTH bad xtext", "FROM:<u@d.example> AUTH=a+ZZ", BAD_AUTH },
	{ "mail AUTH short hex", "FROM:<u@d.example> AUTH=a+4", BAD_AUTH },
	{ "mail AUTH no value", "FROM:<u@d.example> AUTH", BAD_AUTH },
	{ "mail AUTH twice", "FROM:<u@d.example> AUTH=<> AUTH=<>", DUP_PARAM },
	{ "mail RET (no DSN)", "FROM:<u@d.example> RET=HDRS",
	    "555 5.5.4 Unsupported option: RET" },
	{ "mail ENVID (no DSN)", "FROM:<u@d.example> ENVID=abc",
	    "555 5.5.4 Unsupported option: ENVID" },
	{ "mail unknown flag", "FROM:<u@d.example> X-FOO",
	    "555 5.5.4 Unsupported option: X-FOO" },
	{ "mail unknown after good", "FROM:<u@d.example> SIZE=1 FOO=bar",
	    "555 5.5.4 Unsupported option: FOO" },
	{ "mail unknown long name echo bounded",
	    "FROM:<u@d.example> {{100*X}}=1",
	    "555 5.5.4 Unsupported option: {{64*X}}..." },
	{ "mail keyword with underscore", "FROM:<u@d.example> X_Y=1",
	    BAD_PARAM },
	{ "mail keyword leading hyphen", "FROM:<u@d.example> -X=1", BAD_PARAM },
	{ "mail keyword empty", "FROM:<u@d.example> =1", BAD_PARAM },
	{ "mail keyword with CR", "FROM:<u@d.example> SI\rZE=1", BAD_PARAM },
};

static void
render_mail(char *out, size_t outsz, const char *line, size_t len,
    const struct smtp_mail_args *m)
{
	static const char *const bodies[] = { "7BIT", "8BITMIME",
	    "BINARYMIME" };
	char size[32];

	if (m->addr == NULL || !inside(m->addr, line, len)) {
		snprintf(out, outsz, "addr outside the line");
		return;
	}
	if (m->has_size)
		snprintf(size, sizeof(size), "%llu",
		    (unsigned long long)m->size);
	else
		snprintf(size, sizeof(size), "-");
	snprintf(out, outsz, "ok <%s> size=%s body=%s utf8=%d", m->addr,
	    size, (unsigned)m->body < 3 ? bodies[m->body] : "?",
	    m->smtputf8);
}

static void
test_mail(void)
{
	char line[BUFSZ], want[BUFSZ], got[BUFSZ];
	size_t i, len;

	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		struct smtp_mail_args m;
		const struct smtp_error *err = NULL;

		memset(&m, 0, sizeof(m));
		expand(mail_cases[i].args, line, sizeof(line));
		expand(mail_cases[i].want, want, sizeof(want));
		len = strlen(line);
		if (smtp_parse_mail(line, &m, &err) == 0)
			render_mail(got, sizeof(got), line, len, &m);
		else
			render_err(got, sizeof(got), err);
		T_EQ_STR(got, want, mail_cases[i].name);
	}
}

/* ---- smtp_parse_rcpt ---- */

#define SYNTAX_RCPT	"501 5.5.4 Syntax: RCPT TO:<address>"
#define BAD_RCPT	"501 5.1.3 Bad recipient address syntax"

static const struct {
	const char *name, *args, *want;
} rcpt_cases[] = {
	{ "rcpt plain", "TO:<u@d.example>", "ok <u@d.example>" },
	{ "rcpt lower-case to", "to:<u@d.example>", "ok <u@d.example>" },
	{ "rcpt space after colon", "TO: <u@d.example>", "ok <u@d.example>" },
	{ "rcpt trailing spaces", "TO:<u@d.example>   ", "ok <u@d.example>" },
	{ "rcpt Postmaster bare", "TO:<Postmaster>", "ok <Postmaster>" },
	{ "rcpt POSTMASTER bare", "TO:<POSTMASTER>", "ok <POSTMASTER>" },
	{ "rcpt postmaster bare", "TO:<postmaster>", "ok <postmaster>" },
	{ "rcpt postmaster with domain", "TO:<postmaster@d.example>",
	    "ok <postmaster@d.example>" },
	{ "rcpt postmaster lookalike", "TO:<postmaster2>", BAD_RCPT },
	{ "rcpt bare local part", "TO:<u>", BAD_RCPT },
	{ "rcpt null path", "TO:<>", BAD_RCPT },
	{ "rcpt source route", "TO:<@r.example:u@d.example>",
	    "ok <u@d.example>" },
	{ "rcpt bad route", "TO:<@r.example,x:u@d.example>", BAD_RCPT },
	{ "rcpt no brackets", "TO:u@d.example", SYNTAX_RCPT },
	{ "rcpt unclosed", "TO:<u@d.example", SYNTAX_RCPT },
	{ "rcpt garbage after", "TO:<u@d.example>x", SYNTAX_RCPT },
	{ "rcpt missing TO", "<u@d.example>", SYNTAX_RCPT },
	{ "rcpt FROM instead of TO", "FROM:<u@d.example>", SYNTAX_RCPT },
	{ "rcpt empty", "", SYNTAX_RCPT },
	{ "rcpt NOTIFY (no DSN)", "TO:<u@d.example> NOTIFY=NEVER",
	    "555 5.5.4 Unsupported option: NOTIFY" },
	{ "rcpt ORCPT (no DSN)", "TO:<u@d.example> ORCPT=rfc822;u@d.example",
	    "555 5.5.4 Unsupported option: ORCPT" },
	{ "rcpt bad keyword", "TO:<u@d.example> A_B", BAD_PARAM },
	{ "rcpt empty param value", "TO:<u@d.example> X=", BAD_PARAM },
	{ "rcpt UTF-8 local part", "TO:<\xe7\x94\xa8\xe6\x88\xb7@d.example>",
	    "ok <\xe7\x94\xa8\xe6\x88\xb7@d.example>" },
	{ "rcpt bad UTF-8", "TO:<\xe7\x94@d.example>", BAD_RCPT },
	{ "rcpt local part of 64", "TO:<{{64*a}}@d.example>",
	    "ok <{{64*a}}@d.example>" },
	{ "rcpt local part of 65", "TO:<{{65*a}}@d.example>", BAD_RCPT },
	{ "rcpt address literal", "TO:<u@[192.0.2.1]>", "ok <u@[192.0.2.1]>" },
	{ "rcpt bad domain", "TO:<u@d..example>", BAD_RCPT },
};

static void
test_rcpt(void)
{
	char line[BUFSZ], want[BUFSZ], got[BUFSZ];
	size_t i, len;

	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		struct smtp_rcpt_args r = { NULL };
		const struct smtp_error *err = NULL;

		expand(rcpt_cases[i].args, line, sizeof(line));
		expand(rcpt_cases[i].want, want, sizeof(want));
		len = strlen(line);
		if (smtp_parse_rcpt(line, &r, &err) == -1)
			render_err(got, sizeof(got), err);
		else if (r.addr == NULL || !inside(r.addr, line, len))
			snprintf(got, sizeof(got), "addr outside the line");
		else
			snprintf(got, sizeof(got), "ok <%s>", r.addr);
		T_EQ_STR(got, want, rcpt_cases[i].name);
	}
}

/* ---- smtp_addr_is_valid ---- */

static const struct {
	const char	*name, *addr;
	bool		 utf8, want;
} addr_cases[] = {
	{ "addr simple", "u@d.example", false, true },
	{ "addr atext specials", "a!#$%&'*+-/=?^_`{|}~b@d.example", false,
	    true },
	{ "addr dotted local", "first.last@d.example", false, true },
	{ "addr leading dot", ".u@d.example", false, false },
	{ "addr trailing dot", "u.@d.example", false, false },
	{ "addr double dot", "u..v@d.example", false, false },
	{ "addr no at", "u.d.example", false, false },
	{ "addr two ats", "u@v@d.example", false, false },
	{ "addr empty", "", false, false },
	{ "addr only at", "@", false, false },
	{ "addr local part of 64", "{{64*a}}@d.example", false, true },
	{ "addr local part of 65", "{{65*a}}@d.example", false, false },
	{ "addr quoted local part of 64", "\"{{62*a}}\"@d.example", false,
	    true },
	{ "addr quoted local part of 65", "\"{{63*a}}\"@d.example", false,
	    false },
	{ "addr of 254 (path 256)", ADDR254, false, true },
	{ "addr of 255 (path 257)", ADDR255, false, false },
	{ "addr label of 63", "u@{{63*x}}.example", false, true },
	{ "addr label of 64", "u@{{64*x}}.example", false, false },
	{ "addr quoted with space", "\"u v\"@d.example", false, true },
	{ "addr quoted with at", "\"u@v\"@d.example", false, true },
	{ "addr quoted pair", "\"u\\\"v\"@d.example", false, true },
	{ "addr quoted backslash", "\"u\\\\\"@d.example", false, true },
	{ "addr quoted empty", "\"\"@d.example", false, false },
	{ "addr quoted unterminated", "\"uv@d.example", false, false },
	{ "addr quoted then garbage", "\"u\"v@d.example", false, false },
	{ "addr quoted lt", "\"u<v\"@d.example", false, false },
	{ "addr quoted gt", "\"u>v\"@d.example", false, false },
	{ "addr quoted tab", "\"u\tv\"@d.example", false, false },
	{ "addr quoted pair of control", "\"u\\\x01v\"@d.example", false,
	    false },
	{ "addr quoted UTF-8 with utf8", "\"\xc3\xa9 x\"@d.example", true,
	    true },
	{ "addr quoted UTF-8 without", "\"\xc3\xa9 x\"@d.example", false,
	    false },
	{ "addr space", "u v@d.example", false, false },
	{ "addr lt", "u<v@d.example", false, false },
	{ "addr gt", "u>@d.example", false, false },
	{ "addr control", "u\x7f@d.example", false, false },
	{ "addr CR", "u\r@d.example", false, false },
	{ "addr comma", "u,v@d.example", false, false },
	{ "addr single-label domain", "u@localhost", false, true },
	{ "addr underscore domain", "u@a_b.example", false, true },
	{ "addr hyphen domain", "u@a-b.example", false, true },
	{ "addr digits domain", "u@123.example", false, true },
	{ "addr leading hyphen label", "u@-a.example", false, false },
	{ "addr trailing hyphen label", "u@a-.example", false, false },
	{ "addr empty label", "u@a..example", false, false },
	{ "addr trailing dot domain", "u@d.example.", false, false },
	{ "addr leading dot domain", "u@.d.example", false, false },
	{ "addr domain with slash", "u@d/example", false, false },
	{ "addr IPv4 literal", "u@[192.0.2.1]", false, true },
	{ "addr IPv6 literal", "u@[IPv6:2001:db8::1]", false, true },
	{ "addr IPv6 tag any case", "u@[ipv6:::1]", false, true },
	{ "addr IPv6 with v4 tail", "u@[IPv6:::ffff:192.0.2.1]", false, true },
	{ "addr IPv4 literal short", "u@[192.0.2]", false, false },
	{ "addr IPv4 literal octet", "u@[192.0.2.256]", false, false },
	{ "addr IPv6 without tag", "u@[2001:db8::1]", false, false },
	{ "addr IPv6 tag on IPv4", "u@[IPv6:192.0.2.1]", false, false },
	{ "addr IPv6 zone", "u@[IPv6:fe80::1%eth0]", false, false },
	{ "addr literal unclosed", "u@[192.0.2.1", false, false },
	{ "addr literal empty", "u@[]", false, false },
	{ "addr literal then label", "u@[192.0.2.1].x", false, false },
	{ "addr general literal", "u@[x-tag:abc]", false, false },
	{ "addr UTF-8 local with utf8", "\xce\xb4@d.example", true, true },
	{ "addr UTF-8 local without", "\xce\xb4@d.example", false, false },
	{ "addr UTF-8 domain with utf8", "u@\xe4\xbe\x8b.example", true, true },
	{ "addr UTF-8 domain without", "u@\xe4\xbe\x8b.example", false,
	    false },
	{ "addr UTF-8 4-byte", "\xf0\x9f\x98\x80@d.example", true, true },
	{ "addr UTF-8 truncated", "\xe4\xbe@d.example", true, false },
	{ "addr UTF-8 lone continuation", "\x80@d.example", true, false },
	{ "addr UTF-8 overlong", "\xc0\xaf@d.example", true, false },
	{ "addr UTF-8 overlong 3-byte", "\xe0\x80\xaf@d.example", true,
	    false },
	{ "addr UTF-8 surrogate", "\xed\xa0\x80@d.example", true, false },
	{ "addr UTF-8 beyond U+10FFFF", "\xf4\x90\x80\x80@d.example", true,
	    false },
	{ "addr UTF-8 U+10FFFF", "\xf4\x8f\xbf\xbf@d.example", true, true },
	{ "addr UTF-8 bad third byte", "\xe4\xbe\xc0@d.example", true, false },
	{ "addr quoted DEL", "\"u\x7fv\"@d.example", false, false },
	{ "addr literal too long", "u@[IPv6:{{70*1}}]", false, false },
	{ "addr UTF-8 C1 control", "\xc2\x85@d.example", true, false },
	{ "addr UTF-8 0xff", "\xff@d.example", true, false },
	{ "addr UTF-8 in label end", "u@d.\xe4\xbe", true, false },
	{ "addr UTF-8 U-label over 63 octets", "u@" U8X11 U8X11 ".example",
	    true, true },
	{ "addr ASCII label of 64 with utf8", "u@{{64*x}}.example", true,
	    false },
};

static void
test_addr(void)
{
	char buf[BUFSZ];
	size_t i;

	for (i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		expand(addr_cases[i].addr, buf, sizeof(buf));
		T_EQ_INT(smtp_addr_is_valid(buf, addr_cases[i].utf8),
		    addr_cases[i].want, addr_cases[i].name);
	}
	T_EQ_INT(smtp_addr_is_valid(NULL, true), false, "addr NULL");
}

/* ---- smtp_addr_domain ---- */

static const struct {
	const char *name, *addr, *want;
} domain_cases[] = {
	{ "domain plain", "u@d.example", "d.example" },
	{ "domain quoted at", "\"u@v\"@d.example", "d.example" },
	{ "domain literal", "u@[192.0.2.1]", "[192.0.2.1]" },
	{ "domain none", "postmaster", "" },
	{ "domain empty", "u@", "" },
	{ "domain empty address", "", "" },
};

static void
test_domain(void)
{
	size_t i;

	for (i = 0; i < sizeof(domain_cases) / sizeof(domain_cases[0]); i++)
		T_EQ_STR(smtp_addr_domain(domain_cases[i].addr),
		    domain_cases[i].want, domain_cases[i].name);
}

/* ---- smtp_parse_xforward ---- */

#define XF_SYNTAX	"501 5.5.4 Syntax: XFORWARD attribute=value..."
#define XF_VALUE	"501 5.5.4 Bad XFORWARD attribute value"

static const struct {
	const char *name, *args, *want;
} xf_cases[] = {
	{ "xforward Postfix line",
	    "NAME=mail.example.com ADDR=192.0.2.1 PORT=52342 PROTO=ESMTP "
	    "HELO=mail.example.com",
	    "ok name=mail.example.com addr=192.0.2.1 port=52342 proto=ESMTP "
	    "helo=mail.example.com" },
	{ "xforward second line", "IDENT=4ZkQ1 SOURCE=REMOTE",
	    "ok ident=4ZkQ1 source=REMOTE" },
	{ "xforward names any case", "name=a.example Addr=10.0.0.1 proto=smtp",
	    "ok name=a.example addr=10.0.0.1 proto=smtp" },
	{ "xforward IPv6 prefix stripped", "ADDR=IPv6:2001:db8::1",
	    "ok addr=2001:db8::1" },
	{ "xforward IPv6 prefix any case", "ADDR=ipv6:::1", "ok addr=::1" },
	{ "xforward bare IPv6", "ADDR=2001:db8::2", "ok addr=2001:db8::2" },
	{ "xforward UNAVAILABLE", "NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE] "
	    "PORT=[UNAVAILABLE] PROTO=[UNAVAILABLE]",
	    "ok name= addr= port= proto=" },
	{ "xforward TEMPUNAVAIL", "NAME=[TEMPUNAVAIL]", "ok name=" },
	{ "xforward empty value", "IDENT=", "ok ident=" },
	{ "xforward xtext space", "HELO=a+20b", "ok helo=a b" },
	{ "xforward xtext plus", "HELO=a+2Bb", "ok helo=a+b" },
	{ "xforward xtext lower hex", "HELO=a+2bb", "ok helo=a+b" },
	{ "xforward xtext equals", "IDENT=x+3Dy", "ok ident=x=y" },
	{ "xforward xtext UTF-8", "HELO=+C3+A9.example",
	    "ok helo=\xc3\xa9.example" },
	{ "xforward xtext whole value", "HELO=+41+42", "ok helo=AB" },
	{ "xforward xtext short", "HELO=a+4", XF_VALUE },
	{ "xforward xtext not hex", "HELO=a+ZZ", XF_VALUE },
	{ "xforward xtext LF", "HELO=a+0Ab", XF_VALUE },
	{ "xforward xtext NUL", "HELO=a+00b", XF_VALUE },
	{ "xforward xtext DEL", "HELO=a+7F", XF_VALUE },
	{ "xforward raw equals", "HELO=a=b", XF_VALUE },
	{ "xforward raw 8-bit", "HELO=\xc3\xa9", XF_VALUE },
	{ "xforward raw control", "HELO=a\x01", XF_VALUE },
	{ "xforward unknown attribute", "FOO=bar",
	    "501 5.5.4 Bad XFORWARD attribute name: FOO" },
	{ "xforward unknown after good", "NAME=x FOO=bar",
	    "501 5.5.4 Bad XFORWARD attribute name: FOO" },
	{ "xforward attribute name sanitised", "F\x01O=bar",
	    "501 5.5.4 Bad XFORWARD attribute name: F?O" },
	{ "xforward attribute prefix", "NAMEX=a",
	    "501 5.5.4 Bad XFORWARD attribute name: NAMEX" },
	{ "xforward attribute short", "NAM=a",
	    "501 5.5.4 Bad XFORWARD attribute name: NAM" },
	{ "xforward empty", "", XF_SYNTAX },
	{ "xforward spaces", "   ", XF_SYNTAX },
	{ "xforward no equals", "NAME", XF_SYNTAX },
	{ "xforward empty name", "=x", XF_SYNTAX },
	{ "xforward duplicate", "NAME=a name=b",
	    "501 5.5.4 Duplicate XFORWARD attribute" },
	{ "xforward bad IPv4", "ADDR=192.0.2.256",
	    "501 5.5.4 Bad XFORWARD address" },
	{ "xforward hostname as addr", "ADDR=mail.example",
	    "501 5.5.4 Bad XFORWARD address" },
	{ "xforward IPv6 prefix on nothing", "ADDR=IPv6:",
	    "501 5.5.4 Bad XFORWARD address" },
	{ "xforward bracketed addr", "ADDR=[192.0.2.1]",
	    "501 5.5.4 Bad XFORWARD address" },
	{ "xforward PORT 0", "PORT=0", "ok port=0" },
	{ "xforward PORT 65535", "PORT=65535", "ok port=65535" },
	{ "xforward PORT 65536", "PORT=65536", "501 5.5.4 Bad XFORWARD port" },
	{ "xforward PORT six digits", "PORT=100000",
	    "501 5.5.4 Bad XFORWARD port" },
	{ "xforward PORT not digits", "PORT=25a",
	    "501 5.5.4 Bad XFORWARD port" },
	{ "xforward PORT negative", "PORT=-1", "501 5.5.4 Bad XFORWARD port" },
	{ "xforward PROTO SMTP", "PROTO=SMTP", "ok proto=SMTP" },
	{ "xforward PROTO esmtp", "PROTO=esmtp", "ok proto=esmtp" },
	{ "xforward PROTO other", "PROTO=LMTP", "ok proto=LMTP" },
	{ "xforward PROTO too long",
	    "PROTO=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
	    "501 5.5.4 Bad XFORWARD protocol" },
};

static void
render_xf(char *out, size_t outsz, const char *line, size_t len,
    const struct smtp_xforward *x)
{
	const char *names[] = { "name", "addr", "port", "proto", "helo",
	    "ident", "source" };
	char *const vals[] = { x->name, x->addr, x->port, x->proto, x->helo,
	    x->ident, x->source };
	size_t i, n;

	n = (size_t)snprintf(out, outsz, "ok");
	for (i = 0; i < 7 && n < outsz; i++) {
		if (vals[i] == NULL)
			continue;
		if (!inside(vals[i], line, len)) {
			snprintf(out, outsz, "%s outside the line", names[i]);
			return;
		}
		n += (size_t)snprintf(out + n, outsz - n, " %s=%s", names[i],
		    vals[i]);
	}
}

static void
test_xforward(void)
{
	char line[BUFSZ], got[BUFSZ];
	char keep[] = "kept", other[] = "other";
	size_t i, len;

	for (i = 0; i < sizeof(xf_cases) / sizeof(xf_cases[0]); i++) {
		struct smtp_xforward x;
		const struct smtp_error *err = NULL;

		memset(&x, 0, sizeof(x));
		expand(xf_cases[i].args, line, sizeof(line));
		len = strlen(line);
		if (smtp_parse_xforward(line, &x, &err) == 0)
			render_xf(got, sizeof(got), line, len, &x);
		else
			render_err(got, sizeof(got), err);
		T_EQ_STR(got, xf_cases[i].want, xf_cases[i].name);
	}

	/* a later XFORWARD sets only what it names */
	{
		struct smtp_xforward x = { .name = keep, .helo = other };
		const struct smtp_error *err = NULL;

		snprintf(line, sizeof(line), "HELO=h.example");
		T_EQ_INT(smtp_parse_xforward(line, &x, &err), 0,
		    "xforward second command parses");
		T_EQ_STR(x.name, "kept", "xforward keeps earlier NAME");
		T_EQ_STR(x.helo, "h.example", "xforward replaces HELO");
		snprintf(line, sizeof(line), "NAME=n.example PORT=x");
		T_EQ_INT(smtp_parse_xforward(line, &x, &err), -1,
		    "xforward bad command fails");
		T_EQ_STR(x.name, "kept", "xforward failure leaves NAME");
	}
}

/* ---- smtp_helo_is_valid ---- */

static const struct {
	const char	*name, *helo;
	bool		 want;
} helo_cases[] = {
	{ "helo hostname", "mail.example.com", true },
	{ "helo literal", "[192.0.2.1]", true },
	{ "helo bare word", "localhost", true },
	{ "helo empty", "", false },
	{ "helo with space", "mail example", false },
	{ "helo with tab", "mail\texample", false },
	{ "helo with DEL", "mail\x7f", false },
	{ "helo with CR", "mail\r", false },
	{ "helo 8-bit", "m\xc3\xa9l", false },
	{ "helo of 255", "{{255*h}}", true },
	{ "helo of 256", "{{256*h}}", false },
};

static void
test_helo(void)
{
	char buf[BUFSZ];
	size_t i;

	for (i = 0; i < sizeof(helo_cases) / sizeof(helo_cases[0]); i++) {
		expand(helo_cases[i].helo, buf, sizeof(buf));
		T_EQ_INT(smtp_helo_is_valid(buf), helo_cases[i].want,
		    helo_cases[i].name);
	}
	T_EQ_INT(smtp_helo_is_valid(NULL), false, "helo NULL");
}

int
main(void)
{
	test_verb();
	test_mail();
	test_rcpt();
	test_addr();
	test_domain();
	test_xforward();
	test_helo();
	return t_done();
}
