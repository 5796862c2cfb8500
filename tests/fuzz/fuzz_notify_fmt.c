/*
 * fuzz_notify_fmt: libFuzzer target for relay/notify_fmt.c, where the
 * key of a quota notice (a sender address, a login, a HELO name: any
 * bytes but NUL) becomes JSON, a Subject and an alert message.  The first
 * byte chooses the event's flags (test or not, a Sender:user@domain track
 * or another, bytes or messages, something deferred or not); the rest,
 * cut at its first NUL, is the key.  The same bytes also serve as a To
 * address and a From, which must be cleaned as well.
 * Invariants checked (abort on violation):
 *   - JSON: valid UTF-8, no raw control byte, an object ({...}), and the
 *     same text twice (deterministic);
 *   - Subject: printable ASCII only, at most 200 bytes of key;
 *   - message: CRLF line ends only, ends with CRLF, no line over 998
 *     octets; the header section holds exactly the fields written, in
 *     order, and every other header line is a fold (a space, then not
 *     only white space); the body is valid UTF-8 with no control byte but
 *     CRLF, and *eightbit says whether it holds a non-ASCII byte.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/strutil.h"
#include "relay/notify_priv.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c)	do { if (!(c)) abort(); } while (0)

static const char *const fields[] = { "From:", "To:", "Subject:", "Date:",
    "Message-ID:", "Auto-Submitted:", "Precedence:", "MIME-Version:",
    "Content-Type:", "Content-Transfer-Encoding:", "X-Sluice-Event:" };

/* Valid UTF-8 in s[0..n); controls allowed only as CRLF when crlf. */
static void
check_utf8(const char *s, size_t n, bool crlf)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			CHECK(crlf && p[i] == '\r' && i + 1 < n &&
			    p[i + 1] == '\n');
			i += 2;
			continue;
		}
		CHECK((k = str_utf8_len(p + i, n - i)) > 0);
		i += k;
	}
}

static void
check_json(const struct notify_event *ev)
{
	struct buf a = BUF_INIT, b = BUF_INIT;

	notify_json(ev, &a);
	notify_json(ev, &b);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	CHECK(a.len > 2 && a.data[0] == '{' && a.data[a.len - 1] == '}');
	CHECK(strlen(a.data) == a.len);
	check_utf8(a.data, a.len, false);
	buf_free(&a);
	buf_free(&b);
}

static void
check_subject(const struct notify_event *ev)
{
	struct buf s = BUF_INIT;
	size_t i;

	notify_subject(ev, &s);
	CHECK(s.len < 400);
	for (i = 0; i < s.len; i++)
		CHECK(s.data[i] >= 0x20 && s.data[i] < 0x7f);
	buf_free(&s);
}

/* CRLF only, no line over 998; the header lines; the body. */
static void
check_mail(const struct notify_event *ev, const char *addr)
{
	const char *to[2] = { "ops@example.com", addr };
	struct buf m = BUF_INIT;
	const char *line, *eol, *end;
	size_t nf = 0, i;
	bool eight = !ev->test, any8 = false;

	notify_mail(ev, addr, to, 2, addr, 1795515123, &m, &eight);
	CHECK(strlen(m.data) == m.len);
	CHECK(m.len > 4 && memcmp(m.data + m.len - 2, "\r\n", 2) == 0);
	end = strstr(m.data, "\r\n\r\n");
	CHECK(end != NULL);
	for (line = m.data; line < end + 2; line = eol + 2) {
		eol = strstr(line, "\r\n");
		CHECK(eol - line <= 998);
		for (i = 0; line + i < eol; i++)
			CHECK(line[i] != '\r' && line[i] != '\n' &&
			    line[i] != '\0');
		if (*line == ' ') {
			CHECK(nf > 0 &&
			    strspn(line, " ") < (size_t)(eol - line));
			continue;
		}
		CHECK(nf < sizeof(fields) / sizeof(fields[0]));
		CHECK(strncmp(line, fields[nf], strlen(fields[nf])) == 0);
		nf++;
	}
	CHECK(nf == sizeof(fields) / sizeof(fields[0]));
	for (line = end + 4; line < m.data + m.len; line = eol + 2) {
		eol = strstr(line, "\r\n");
		CHECK(eol != NULL && eol - line <= 998);
	}
	check_utf8(end + 4, m.len - (size_t)(end + 4 - m.data), true);
	for (line = end + 4; *line != '\0'; line++)
		if ((unsigned char)*line >= 0x80)
			any8 = true;
	CHECK(eight == any8);
	buf_free(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notify_event ev = {
		.threshold = 50, .policy = "outbound", .quota = "per-user",
		.track = "Sender:user@domain", .used = 5, .limit = 10,
		.unit = "messages", .period = "1h", .window_start = 1795514400,
		.window_end = 1795518000, .deferred = 0, .next_release = 0,
		.hostname = "relay.example.com", .time = 1795515123
	};
	char *key;
	uint8_t flags;

	if (size < 1 || size > 65536)
		return 0;
	flags = data[0];
	key = malloc(size);
	if (key == NULL)
		return 0;
	memcpy(key, data + 1, size - 1);
	key[size - 1] = '\0';
	ev.key = key;
	ev.test = flags & 1;
	if (flags & 2)
		ev.track = (flags & 8) ? "SenderIP" : "SASLUsername";
	if (flags & 4) {
		ev.unit = "bytes";
		ev.used = 1048576.25;
		ev.limit = 1048576;
	}
	if (flags & 16) {
		ev.deferred = 3.5;
		ev.next_release = 1795518000;
	}
	if (flags & 32)
		ev.hostname = key;
	check_json(&ev);
	check_subject(&ev);
	check_mail(&ev, key);
	free(key);
	return 0;
}
