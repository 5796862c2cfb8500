/*
 * fuzz_smtp_parse: libFuzzer target for relay/smtp_parse.c.  The input is
 * one SMTP command line as a peer would send it (bounded, without CRLF).
 * It goes through smtp_parse_verb and the parser of its verb; when the
 * verb is unknown, the same bytes are also fed to every argument parser
 * directly so the fuzzer need not find a verb first.  Each line sits in a
 * heap block of exactly its size, so a read past the NUL is an ASan
 * report.  Invariants checked (abort on violation):
 *   - every returned pointer lies inside the line;
 *   - a reply is 501/555 with a printable, bounded, CR-LF-free text;
 *   - a parsed sender is "" or valid; a recipient is valid or postmaster;
 *     either reparses to itself from "<addr>";
 *   - XFORWARD values are control-free, ADDR numeric, PORT <= 65535;
 *   - a valid address is valid with utf8 too, has a local part of at most
 *     64 octets and a non-empty domain, at most 254 octets, no control,
 *     no '<' or '>', and no 8-bit byte without utf8;
 *   - a valid HELO is 1..255 printable non-space bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/addr.h"
#include "relay/smtp_parse.h"

#define CAP	4096

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c)	do { if (!(c)) abort(); } while (0)

static char *
dup_line(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	CHECK(p != NULL);
	memcpy(p, s, len + 1);
	return p;
}

static void
check_inside(const char *p, const char *line, size_t len)
{
	CHECK(p >= line && p <= line + len);
}

static void
check_reply(const struct smtp_error *err)
{
	size_t i;

	CHECK(err != NULL && err->ecode != NULL && err->text != NULL);
	CHECK(err->code == 501 || err->code == 555);
	CHECK(strlen(err->ecode) == 5 && err->ecode[0] == '5');
	CHECK(err->text[0] != '\0' && strlen(err->text) < 200);
	for (i = 0; err->text[i] != '\0'; i++)
		CHECK(err->text[i] >= 0x20 && err->text[i] < 0x7f);
}

static void
check_addr(const char *a)
{
	const unsigned char *u = (const unsigned char *)a;
	bool ascii = smtp_addr_is_valid(a, false);
	bool utf8 = smtp_addr_is_valid(a, true);
	const char *dom = smtp_addr_domain(a);
	size_t i;

	CHECK(!ascii || utf8);
	if (!utf8)
		return;
	CHECK(strlen(a) <= 254 && *dom != '\0' && dom > a);
	CHECK(dom[-1] == '@' && (size_t)(dom - a - 1) <= 64);
	for (i = 0; u[i] != '\0'; i++) {
		CHECK(u[i] >= 0x20 && u[i] != 0x7f && u[i] != '<' &&
		    u[i] != '>');
		CHECK(!ascii || u[i] < 0x80);
	}
}

static void
check_helo(const char *h)
{
	size_t i, n = strlen(h);

	if (!smtp_helo_is_valid(h))
		return;
	CHECK(n >= 1 && n <= 255);
	for (i = 0; i < n; i++)
		CHECK(h[i] > 0x20 && h[i] < 0x7f);
}

/* "FROM:<addr>" or "TO:<addr>" parses back to addr. */
static void
check_reparse(const char *addr, bool mail, bool smtputf8)
{
	char buf[300];
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	const struct smtp_error *err;
	size_t n = strlen(addr);

	CHECK(n <= 254);
	memcpy(buf, mail ? "FROM:<" : "TO:<", mail ? 6 : 4);
	memcpy(buf + (mail ? 6 : 4), addr, n);
	memcpy(buf + (mail ? 6 : 4) + n, smtputf8 ? "> SMTPUTF8" : ">",
	    smtputf8 ? 11 : 2);
	if (mail) {
		CHECK(smtp_parse_mail(buf, &m, &err) == 0);
		CHECK(strcmp(m.addr, addr) == 0);
	} else {
		CHECK(smtp_parse_rcpt(buf, &r, &err) == 0);
		CHECK(strcmp(r.addr, addr) == 0);
	}
}

static void
fuzz_mail(char *args, const char *line, size_t len)
{
	struct smtp_mail_args m;
	const struct smtp_error *err = NULL;

	memset(&m, 0, sizeof(m));
	if (smtp_parse_mail(args, &m, &err) == -1) {
		check_reply(err);
		return;
	}
	check_inside(m.addr, line, len);
	CHECK(m.body == SMTP_BODY_7BIT || m.body == SMTP_BODY_8BITMIME ||
	    m.body == SMTP_BODY_BINARYMIME);
	CHECK(m.has_size || m.size == 0);
	if (m.addr[0] != '\0') {
		CHECK(smtp_addr_is_valid(m.addr, m.smtputf8));
		check_reparse(m.addr, true, m.smtputf8);
	}
}

static void
fuzz_rcpt(char *args, const char *line, size_t len)
{
	struct smtp_rcpt_args r = { NULL };
	const struct smtp_error *err = NULL;

	if (smtp_parse_rcpt(args, &r, &err) == -1) {
		check_reply(err);
		return;
	}
	check_inside(r.addr, line, len);
	CHECK(smtp_addr_is_valid(r.addr, true) ||
	    strcasecmp(r.addr, "postmaster") == 0);
	check_reparse(r.addr, false, false);
}

static void
check_xf_value(const char *v, const char *line, size_t len)
{
	size_t i;

	if (v == NULL)
		return;
	check_inside(v, line, len);
	for (i = 0; v[i] != '\0'; i++)
		CHECK((unsigned char)v[i] >= 0x20 && v[i] != 0x7f);
}

static void
fuzz_xforward(char *args, const char *line, size_t len)
{
	struct smtp_xforward x, before;
	const struct smtp_error *err = NULL;
	struct addr a;
	char *end;

	memset(&x, 0, sizeof(x));
	before = x;
	if (smtp_parse_xforward(args, &x, &err) == -1) {
		check_reply(err);
		CHECK(memcmp(&x, &before, sizeof(x)) == 0);
		return;
	}
	check_xf_value(x.name, line, len);
	check_xf_value(x.addr, line, len);
	check_xf_value(x.port, line, len);
	check_xf_value(x.proto, line, len);
	check_xf_value(x.helo, line, len);
	check_xf_value(x.ident, line, len);
	check_xf_value(x.source, line, len);
	if (x.addr != NULL && x.addr[0] != '\0')
		CHECK(addr_parse(x.addr, &a) == 0);
	if (x.port != NULL && x.port[0] != '\0') {
		CHECK(x.port[0] >= '0' && x.port[0] <= '9');
		CHECK(strtoul(x.port, &end, 10) <= 65535 && *end == '\0');
	}
	if (x.proto != NULL && x.proto[0] != '\0')
		CHECK(strlen(x.proto) <= 32);
}

/* Runs one argument parser on a fresh copy of s. */
static void
run_on_copy(void (*fn)(char *, const char *, size_t), const char *s,
    size_t len)
{
	char *c = dup_line(s, len);

	fn(c, c, len);
	free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw, *line, *args = NULL;
	size_t len;

	if (size > CAP)
		size = CAP;
	raw = malloc(size + 1);
	CHECK(raw != NULL);
	memcpy(raw, data, size);
	raw[size] = '\0';
	len = strlen(raw);		/* a NUL ends the line, as it would */

	check_addr(raw);
	check_helo(raw);
	line = dup_line(raw, len);
	switch (smtp_parse_verb(line, &args)) {
	case SMTP_CMD_MAIL:
		check_inside(args, line, len);
		fuzz_mail(args, line, len);
		break;
	case SMTP_CMD_RCPT:
		check_inside(args, line, len);
		fuzz_rcpt(args, line, len);
		break;
	case SMTP_CMD_XFORWARD:
		check_inside(args, line, len);
		fuzz_xforward(args, line, len);
		break;
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
		check_inside(args, line, len);
		check_helo(args);
		break;
	default:
		check_inside(args, line, len);
		run_on_copy(fuzz_mail, raw, len);
		run_on_copy(fuzz_rcpt, raw, len);
		run_on_copy(fuzz_xforward, raw, len);
		break;
	}
	free(line);
	free(raw);
	return 0;
}
