/*
 * test_api_json: the admin API's client-side pieces that need no daemon:
 * the strict JSON reader (ctl_json), the HTTP response parser and URL
 * escaping (ctl_http), the terminal-safe output and the human tables
 * (ctl_print); and that what buf_add_json_str writes reads back intact.
 */
#include <stdlib.h>

#include "t.h"
#include "../../lib/buf.h"
#include "../../relay/ctl_priv.h"
#include "tctl.h"

static void
test_json_valid(void)
{
	static const struct {
		const char *in, *name;
	} cases[] = {
		{ "{}", "empty object" },
		{ "[]", "empty array" },
		{ " {\"a\" : [1, -2.5e+3, 0, true, false, null]} ", "mixed" },
		{ "\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\"", "escapes" },
		{ "\"caf\xc3\xa9\"", "raw utf-8" },
		{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		  "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		  "depth 32" },
		{ "0", "bare zero" },
	};
	const char *errstr = NULL;
	struct ctl_json *j;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = ctl_json_parse(cases[i].in, strlen(cases[i].in), &errstr);
		t_report(j != NULL, cases[i].name, j ? "parsed" : errstr,
		    "parsed");
		ctl_json_free(&j);
		T_OK(j == NULL, "free clears the pointer");
	}
}

static void
test_json_invalid(void)
{
	static const char *cases[] = {
		"", "{", "[1,]", "{\"a\":1,}", "{a:1}", "01", "1.", "-", ".5",
		"1e", "+1", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
		"\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "\"\xff\"",
		"\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xe2\x82\"", "tru",
		"nul", "[1] 2", "{\"a\" 1}", "[1 2]", "// c\n1",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		  "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	const char *errstr;
	struct ctl_json *j;
	char name[96];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errstr = NULL;
		j = ctl_json_parse(cases[i], strlen(cases[i]), &errstr);
		snprintf(name, sizeof(name), "invalid #%zu rejected", i);
		t_report(j == NULL && errstr != NULL, name,
		    j ? "parsed" : "rejected", "rejected");
		ctl_json_free(&j);
	}
}

static void
test_json_access(void)
{
	const char *in = "{\"s\":\"x\\u0041y\",\"n\":42,\"neg\":-1,"
	    "\"f\":1.5,\"b\":true,\"z\":null,\"s\":\"second\"}";
	const char *errstr;
	struct ctl_json *j = ctl_json_parse(in, strlen(in), &errstr);
	uint64_t v = 0;

	T_OK(j != NULL, "access: parsed");
	T_EQ_STR(ctl_json_str(j, "s"), "xAy", "access: first of a repeat");
	T_EQ_INT(ctl_json_u64(j, "n", &v), 0, "access: u64 ok");
	T_EQ_INT(v, 42, "access: u64 value");
	T_EQ_INT(ctl_json_u64(j, "neg", &v), -1, "access: negative refused");
	T_EQ_INT(ctl_json_u64(j, "f", &v), -1, "access: fraction refused");
	T_EQ_INT(ctl_json_u64(j, "s", &v), -1, "access: string refused");
	T_OK(ctl_json_bool(j, "b"), "access: bool");
	T_OK(!ctl_json_bool(j, "z"), "access: null is not true");
	T_OK(ctl_json_str(j, "z") == NULL, "access: null is not a string");
	T_OK(ctl_json_get(j, "missing") == NULL, "access: missing");
	ctl_json_free(&j);
}

/* Every byte that can be in a C string, through buf_add_json_str and
 * back through the strict reader. */
static void
test_json_roundtrip(void)
{
	struct buf b = BUF_INIT;
	struct ctl_json *j;
	const char *errstr = "";
	char s[0x80], name[64];
	int c;

	for (c = 1; c < 0x80; c++)
		s[c - 1] = (char)c;
	s[0x7f] = '\0';
	buf_add_json_str(&b, s);
	j = ctl_json_parse(b.data, b.len, &errstr);
	t_report(j != NULL, "roundtrip: ascii parses", j ? "ok" : errstr,
	    "ok");
	T_OK(j && j->len == 0x7f && memcmp(j->str, s, 0x7f) == 0,
	    "roundtrip: ascii intact");
	ctl_json_free(&j);
	buf_reset(&b);
	buf_add_json_str(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	j = ctl_json_parse(b.data, b.len, &errstr);
	snprintf(name, sizeof(name), "roundtrip: utf-8 intact");
	T_OK(j && strcmp(j->str, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")
	    == 0, name);
	ctl_json_free(&j);
	buf_free(&b);
}

static void
test_http_parse(void)
{
	static const struct {
		const char *in, *body, *name;
		int status;		/* -1: rejected */
	} cases[] = {
		{ "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", "{}",
		  "content-length", 200 },
		{ "HTTP/1.1 404 Not Found\r\n\r\nabc", "abc", "until close",
		  404 },
		{ "HTTP/1.0 200\r\n\r\n", "", "no reason", 200 },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nab", NULL,
		  "truncated", -1 },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 1x\r\n\r\nab", NULL,
		  "bad length", -1 },
		{ "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
		  NULL, "chunked", -1 },
		{ "HTTP/2 200 OK\r\n\r\n", NULL, "version", -1 },
		{ "HTTP/1.0 2x0 OK\r\n\r\n", NULL, "status digits", -1 },
		{ "HTTP/1.0 200 OK\r\nX\r\n\r\n", NULL, "no colon", -1 },
		{ "HTTP/1.0 200 OK\r\nA: b\rc\r\n\r\n", NULL, "bare CR", -1 },
		{ "HTTP/1.0 200 OK\r\n", NULL, "no end", -1 },
		{ "", NULL, "empty", -1 },
	};
	const char *ct = "HTTP/1.0 200 OK\r\ncontent-type:  message/rfc822 "
	    "\r\n\r\nx";
	struct ctl_resp r;
	const char *errstr;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = ctl_http_parse(cases[i].in, strlen(cases[i].in), &r,
		    &errstr);
		T_EQ_INT(rc == 0 ? r.status : -1, cases[i].status,
		    cases[i].name);
		if (rc == 0 && cases[i].body)
			T_EQ_STR(r.body, cases[i].body, cases[i].name);
		ctl_resp_free(&r);
	}
	rc = ctl_http_parse(ct, strlen(ct), &r, &errstr);
	T_EQ_STR(rc == 0 ? r.ctype : NULL, "message/rfc822", "content-type");
	ctl_resp_free(&r);
}

static void
test_url_escape(void)
{
	struct buf b = BUF_INIT;

	ctl_url_escape(&b, "a+b@c.d/../~x y&z=%\xc3\xa9");
	T_EQ_STR(b.data, "a%2Bb%40c.d%2F..%2F~x%20y%26z%3D%25%C3%A9",
	    "url escape");
	buf_free(&b);
}

static void
test_print(void)
{
	char *out;
	int rc;

	out = capture("{\"messages\":[{\"id\":\"0123456789ABCDEF\","
	    "\"arrival\":\"2026-11-24T14:27:01Z\",\"sender\":\"\","
	    "\"size\":1234,\"recipients\":5,\"pending\":3,\"state\":\"mixed\","
	    "\"next_due\":null}],\"count\":1,\"bytes\":1234,"
	    "\"truncated\":false}", ctl_print_queue, &rc);
	T_EQ_INT(rc, 0, "queue table: rc");
	T_EQ_STR(out, "ID                STATE     NEXT  SIZE  ARRIVAL"
	    "               SENDER  RCPTS\n"
	    "0123456789ABCDEF  mixed     -     1234  2026-11-24T14:27:01Z  <>"
	    "      3/5\n-- 1 message, 1234 bytes\n", "queue table");
	free(out);
	out = capture("{\"messages\":[],\"count\":0,\"bytes\":0,"
	    "\"truncated\":false}", ctl_print_queue, &rc);
	T_EQ_STR(out, "queue is empty\n", "queue table: empty");
	free(out);
	out = capture("{\"id\":\"0123456789ABCDEF\",\"state\":\"retry\","
	    "\"pending\":1,\"arrival\":\"2026-11-24T14:27:01Z\",\"size\":9,"
	    "\"sender\":\"a\\u001b]0;x\\u0007@b\",\"next_due\":"
	    "\"2026-11-24T15:00:00Z\",\"client_addr\":\"192.0.2.1\","
	    "\"client_name\":null,\"client_helo\":\"h\",\"peer_addr\":null,"
	    "\"recipients\":[{\"address\":\"c@d\",\"state\":\"retry\","
	    "\"due\":\"2026-11-24T15:00:00Z\",\"attempts\":2,"
	    "\"last_reply\":\"451 4.4.1 \\u009b2J\"}]}", ctl_print_show, &rc);
	T_EQ_INT(rc, 0, "show: rc");
	T_EQ_STR(out, "id:         0123456789ABCDEF\n"
	    "state:      retry (1 of 1 recipients pending)\n"
	    "next due:   2026-11-24T15:00:00Z (in 30m 00s)\n"
	    "arrival:    2026-11-24T14:27:01Z\n"
	    "size:       9 bytes\n"
	    "sender:     a\\x1b]0;x\\x07@b\n"
	    "client:     [192.0.2.1] helo=h\n"
	    "recipient:  c@d  retry  next attempt 2026-11-24T15:00:00Z"
	    " (in 30m 00s)  attempts 2\n"
	    "            last reply: 451 4.4.1 \\u009b2J\n",
	    "show: escaped lines");
	free(out);
	out = capture("{\"messages\":1}", ctl_print_queue, &rc);
	T_EQ_INT(rc, -1, "queue table: wrong shape");
	free(out);
	T_EQ_INT(ctl_width("a\x01\xc3\xa9\\"), 1 + 4 + 1 + 2, "width");
}

static void
test_time_parse(void)
{
	static const struct {
		const char	*in;
		int		 rc;
		int64_t		 want;
	} cases[] = {
		{ "2026-11-24T14:30:00Z", 0, T_NOW },
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "2026-11-24T14:30:00", -1, 0 },
		{ "2026-11-24 14:30:00Z", -1, 0 },
		{ "2026-13-24T14:30:00Z", -1, 0 },
		{ "2026-11-24T24:30:00Z", -1, 0 },
		{ "2026-11-24T14:3a:00Z", -1, 0 },
		{ "2026-11-24T14:30:00Z ", -1, 0 },
		{ "", -1, 0 },
	};
	int64_t t;
	char name[96];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = -1;
		rc = ctl_time_parse(cases[i].in, &t);
		snprintf(name, sizeof(name), "time parse \"%s\"", cases[i].in);
		T_EQ_INT(rc, cases[i].rc, name);
		if (rc == 0 && cases[i].rc == 0)
			T_EQ_INT(t, cases[i].want, name);
	}
}

/* The listing's NEXT column and the per-recipient lines of `show`, for
 * each state, relative to T_NOW. */
static void
test_print_due(void)
{
	char *out;
	int rc;

	out = capture("{\"messages\":["
	    "{\"id\":\"0000000000000001\",\"arrival\":\"2026-11-24T14:00:00Z\","
	    "\"sender\":\"a@b\",\"size\":10,\"recipients\":1,\"pending\":1,"
	    "\"state\":\"retry\",\"next_due\":\"2026-11-24T14:34:10Z\"},"
	    "{\"id\":\"0000000000000002\",\"arrival\":\"2026-11-24T14:00:00Z\","
	    "\"sender\":\"a@b\",\"size\":10,\"recipients\":1,\"pending\":1,"
	    "\"state\":\"ready\",\"next_due\":\"2026-11-24T14:00:00Z\"},"
	    "{\"id\":\"0000000000000003\",\"arrival\":\"2026-11-24T14:00:00Z\","
	    "\"sender\":\"a@b\",\"size\":10,\"recipients\":1,\"pending\":1,"
	    "\"state\":\"deferred\",\"next_due\":\"2026-11-27T18:30:00Z\"},"
	    "{\"id\":\"0000000000000004\",\"arrival\":\"2026-11-24T14:00:00Z\","
	    "\"sender\":\"a@b\",\"size\":10,\"recipients\":1,\"pending\":1,"
	    "\"state\":\"hold\",\"next_due\":null}"
	    "],\"count\":4,\"bytes\":40,\"truncated\":false}",
	    ctl_print_queue, &rc);
	T_EQ_INT(rc, 0, "due table: rc");
	T_EQ_STR(out,
	    "ID                STATE     NEXT       SIZE  ARRIVAL"
	    "               SENDER  RCPTS\n"
	    "0000000000000001  retry     in 4m 10s    10  2026-11-24T14:00:00Z"
	    "  a@b     1/1\n"
	    "0000000000000002  ready     now          10  2026-11-24T14:00:00Z"
	    "  a@b     1/1\n"
	    "0000000000000003  deferred  in 3d 04h    10  2026-11-24T14:00:00Z"
	    "  a@b     1/1\n"
	    "0000000000000004  hold      -            10  2026-11-24T14:00:00Z"
	    "  a@b     1/1\n"
	    "-- 4 messages, 40 bytes\n", "due table");
	free(out);
	out = capture("{\"id\":\"0000000000000004\",\"state\":\"mixed\","
	    "\"pending\":3,\"arrival\":\"2026-11-24T14:00:00Z\",\"size\":10,"
	    "\"sender\":\"\",\"next_due\":null,\"recipients\":["
	    "{\"address\":\"h@x\",\"state\":\"hold\",\"due\":"
	    "\"2026-11-24T14:00:00Z\",\"attempts\":0,\"first_attempt\":null,"
	    "\"last_attempt\":null,\"last_reply\":null,\"dsn_status\":null},"
	    "{\"address\":\"d@x\",\"state\":\"deferred\",\"due\":"
	    "\"2026-11-24T15:30:00Z\",\"attempts\":0,\"last_reply\":null},"
	    "{\"address\":\"r@x\",\"state\":\"ready\",\"due\":"
	    "\"2026-11-24T14:29:00Z\",\"attempts\":1,\"last_attempt\":"
	    "\"2026-11-24T14:20:00Z\",\"last_reply\":null,\"dsn_status\":"
	    "\"4.4.1\"},"
	    "{\"address\":\"z@x\",\"state\":\"done\",\"due\":null,"
	    "\"attempts\":1,\"last_attempt\":\"2026-11-24T14:10:00Z\","
	    "\"last_reply\":\"250 2.0.0 Ok\",\"dsn_status\":\"2.0.0\"}]}",
	    ctl_print_show, &rc);
	T_EQ_INT(rc, 0, "show states: rc");
	T_EQ_STR(out, "id:         0000000000000004\n"
	    "state:      mixed (3 of 4 recipients pending)\n"
	    "arrival:    2026-11-24T14:00:00Z\n"
	    "size:       10 bytes\n"
	    "sender:     <>\n"
	    "recipient:  h@x  hold  attempts 0\n"
	    "recipient:  d@x  deferred  until 2026-11-24T15:30:00Z"
	    " (in 1h 00m 00s)  attempts 0\n"
	    "recipient:  r@x  ready  due now  attempts 1\n"
	    "            last attempt 2026-11-24T14:20:00Z: status 4.4.1\n"
	    "recipient:  z@x  done  attempts 1\n"
	    "            last attempt 2026-11-24T14:10:00Z: 250 2.0.0 Ok\n",
	    "show states");
	free(out);
	out = capture("{\"id\":\"0000000000000004\",\"state\":\"hold\","
	    "\"pending\":1,\"next_due\":null,\"recipients\":[]}",
	    ctl_print_show, &rc);
	T_OK(rc == 0 && strstr(out, "next due:   none: on hold until "
	    "released\n") != NULL, "show: held, no next due");
	free(out);
}

/* Deferred mail: the table of recipients, and what queue show says of a
 * quota deferral and of a release that bypassed its quota. */
static void
test_print_deferred(void)
{
	char *out;
	int rc;

	out = capture("{\"messages\":[{\"id\":\"0000000000000001\"}],"
	    "\"count\":1,\"bytes\":10,\"truncated\":false,\"recipients\":["
	    "{\"id\":\"0000000000000001\",\"arrival\":\"2026-11-24T14:00:00Z\","
	    "\"sender\":\"\",\"rcpt\":0,\"recipient\":\"x@y\","
	    "\"state\":\"deferred\",\"quota\":\"out/u\",\"key\":\"\\u001b[2J\","
	    "\"release\":\"2026-11-24T14:34:10Z\",\"expire\":null},"
	    "{\"id\":\"0000000000000001\",\"arrival\":\"2026-11-24T14:00:00Z\","
	    "\"sender\":\"\",\"rcpt\":2,\"recipient\":\"longer@example.org\","
	    "\"state\":\"deferred\",\"quota\":null,\"key\":null,"
	    "\"release\":\"2026-11-27T18:30:00Z\",\"expire\":null}"
	    "],\"recipient_count\":2}", ctl_print_queue_filtered, &rc);
	T_EQ_INT(rc, 0, "deferred table: rc");
	T_EQ_STR(out,
	    "ID                RELEASE               IN         ARRIVAL"
	    "               SENDER  RECIPIENT           QUOTA  KEY\n"
	    "0000000000000001  2026-11-24T14:34:10Z  in 4m 10s  "
	    "2026-11-24T14:00:00Z  <>      x@y                 out/u  "
	    "\\x1b[2J\n"
	    "0000000000000001  2026-11-27T18:30:00Z  in 3d 04h  "
	    "2026-11-24T14:00:00Z  <>      longer@example.org  -      -\n"
	    "-- 2 deferred recipients of 1 message\n", "deferred table");
	free(out);
	out = capture("{\"messages\":[],\"count\":0,\"bytes\":0,"
	    "\"truncated\":false,\"recipients\":[],\"recipient_count\":0}",
	    ctl_print_queue_filtered, &rc);
	T_EQ_STR(out, "no messages match\n", "deferred table: none");
	free(out);
	out = capture("{\"messages\":[],\"recipients\":{}}",
	    ctl_print_queue_filtered, &rc);
	T_EQ_INT(rc, -1, "deferred table: not an array");
	free(out);

	out = capture("{\"id\":\"0000000000000004\",\"state\":\"mixed\","
	    "\"pending\":3,\"recipients\":["
	    "{\"address\":\"d@x\",\"state\":\"deferred\",\"due\":"
	    "\"2026-11-24T15:30:00Z\",\"attempts\":0,\"quota\":\"out/u\","
	    "\"key\":\"a@b\",\"expire\":\"2026-11-29T15:30:00Z\","
	    "\"bypass\":false,\"reservations\":1},"
	    "{\"address\":\"e@x\",\"state\":\"deferred\",\"due\":"
	    "\"2026-11-24T15:30:00Z\",\"attempts\":0,\"quota\":null,"
	    "\"key\":null,\"expire\":null,\"bypass\":false,"
	    "\"reservations\":0},"
	    "{\"address\":\"r@x\",\"state\":\"ready\",\"due\":"
	    "\"2026-11-24T14:29:00Z\",\"attempts\":0,\"quota\":\"out/u\","
	    "\"key\":\"a@b\",\"expire\":null,\"bypass\":true,"
	    "\"reservations\":0}]}", ctl_print_show, &rc);
	T_EQ_INT(rc, 0, "show quota: rc");
	T_EQ_STR(out, "id:         0000000000000004\n"
	    "state:      mixed (3 of 3 recipients pending)\n"
	    "size:       0 bytes\n"
	    "sender:     <>\n"
	    "recipient:  d@x  deferred  until 2026-11-24T15:30:00Z"
	    " (in 1h 00m 00s)  attempts 0\n"
	    "            deferred until 2026-11-24T15:30:00Z by quota out/u"
	    " key a@b (gives up 2026-11-29T15:30:00Z)\n"
	    "recipient:  e@x  deferred  until 2026-11-24T15:30:00Z"
	    " (in 1h 00m 00s)  attempts 0\n"
	    "recipient:  r@x  ready  due now  attempts 0\n"
	    "            released by an administrator, bypassing its quota\n",
	    "show quota");
	free(out);
}

/* What sluicectl says after a hold, release, delete or flush. */
static void
test_print_op(void)
{
	static const struct {
		const char	*json, *want, *name;
	} cases[] = {
		{ "{\"action\":\"hold\",\"id\":\"0000000000000001\","
		  "\"state\":\"hold\",\"messages\":1,\"recipients\":2,"
		  "\"changed\":[{\"id\":\"0000000000000001\","
		  "\"recipients\":2}]}",
		  "0000000000000001: held (2 recipients)\n", "hold one" },
		{ "{\"action\":\"hold\",\"id\":\"0000000000000001\","
		  "\"state\":\"hold\",\"messages\":0,\"recipients\":0,"
		  "\"changed\":[]}",
		  "0000000000000001: already on hold\n", "hold again" },
		{ "{\"action\":\"release\",\"id\":\"0000000000000001\","
		  "\"state\":\"ready\",\"messages\":0,\"recipients\":0,"
		  "\"changed\":[]}",
		  "0000000000000001: not on hold (state ready)\n",
		  "release a ready one" },
		{ "{\"action\":\"release\",\"id\":\"0000000000000001\","
		  "\"state\":\"ready\",\"messages\":1,\"recipients\":1,"
		  "\"changed\":[{\"id\":\"0000000000000001\","
		  "\"recipients\":1}]}",
		  "0000000000000001: released (1 recipient)\n", "release" },
		{ "{\"action\":\"release\",\"sender\":\"a@b\","
		  "\"messages\":1,\"recipients\":2,\"deferred\":1,"
		  "\"changed\":[{\"id\":\"0000000000000001\","
		  "\"recipients\":2,\"deferred\":1},{\"id\":"
		  "\"0000000000000002\",\"recipients\":0,\"still_held\":"
		  "\"quota p/q (key a@b) is over: verdict hold\"}]}",
		  "0000000000000001: released (2 recipients, 1 deferred by a "
		  "quota)\n0000000000000002: still held: quota p/q (key a@b) is "
		  "over: verdict hold\nreleased 1 message (2 recipients) from "
		  "<a@b>\n", "release through the quotas" },
		{ "{\"action\":\"delete\",\"id\":\"0000000000000001\","
		  "\"messages\":1,\"changed\":[{\"id\":\"0000000000000001\"}]}",
		  "0000000000000001: deleted\n", "delete one" },
		{ "{\"action\":\"hold\",\"sender\":\"a@b\",\"messages\":2,"
		  "\"recipients\":3,\"changed\":[{\"id\":\"0000000000000001\","
		  "\"recipients\":2},{\"id\":\"0000000000000002\","
		  "\"recipients\":1}]}",
		  "0000000000000001: held (2 recipients)\n"
		  "0000000000000002: held (1 recipient)\n"
		  "held 2 messages (3 recipients) from <a@b>\n",
		  "hold a sender" },
		{ "{\"action\":\"release\",\"sender\":\"\",\"messages\":0,"
		  "\"recipients\":0,\"changed\":[]}",
		  "nothing to release: no held messages from <>\n",
		  "release the null sender, none" },
		{ "{\"action\":\"hold\",\"sender\":\"x\\u001b\",\"messages\":0,"
		  "\"recipients\":0,\"changed\":[]}",
		  "nothing to hold: no pending messages from <x\\x1b>\n",
		  "hold a sender, none, escaped" },
		{ "{\"action\":\"delete\",\"sender\":\"a@b\",\"messages\":1,"
		  "\"changed\":[{\"id\":\"0000000000000001\"}]}",
		  "0000000000000001: deleted\ndeleted 1 message from <a@b>\n",
		  "delete a sender" },
		{ "{\"action\":\"flush\",\"messages\":2,\"recipients\":3,"
		  "\"changed\":[]}",
		  "flushed: 3 recipients of 2 messages due now\n", "flush" },
		{ "{\"action\":\"flush\",\"messages\":0,\"recipients\":0,"
		  "\"changed\":[]}",
		  "nothing to flush: no recipient is waiting for a retry\n",
		  "flush, none" },
	};
	char *out;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = capture(cases[i].json, ctl_print_op, &rc);
		T_EQ_INT(rc, 0, cases[i].name);
		T_EQ_STR(out, cases[i].want, cases[i].name);
		free(out);
	}
	out = capture("{\"action\":\"hold\",\"changed\":[]}", ctl_print_op,
	    &rc);
	T_EQ_INT(rc, -1, "op: neither id nor sender");
	free(out);
	out = capture("{\"action\":\"bogus\",\"id\":\"x\",\"changed\":[]}",
	    ctl_print_op, &rc);
	T_EQ_INT(rc, -1, "op: unknown action");
	free(out);
}

/* The status: one key column as wide as the longest key, nested objects
 * as obj.key, the queue and the writer summed up at the end. */
static void
test_print_status(void)
{
	static const struct {
		const char	*json;
		int		 rc;
		const char	*want;
		const char	*name;
	} cases[] = {
		{ "{\"hostname\":\"relay.example.com\",\"version\":\"0.3\","
		  "\"pid\":42,\"uptime\":3725,\"state\":\"running\","
		  "\"sessions\":1,\"sessions_total\":12,\"accepted\":10,"
		  "\"accepted_bytes\":20480,\"rejects\":2,\"delivery\":{"
		  "\"active\":1,\"waiting\":0,\"connections\":2,"
		  "\"connections_total\":9,\"sent\":8,\"deferred\":1,"
		  "\"bounced\":0,\"notifications\":0},\"queue\":{"
		  "\"messages\":1,\"ready\":0,\"deferred\":0,\"retry\":1,"
		  "\"hold\":0,\"bytes\":900},\"writer\":{\"commits\":20,"
		  "\"jobs\":21}}", 0,
		  "hostname:                   relay.example.com\n"
		  "version:                    0.3\n"
		  "pid:                        42\n"
		  "uptime:                     1h 02m 05s\n"
		  "state:                      running\n"
		  "sessions:                   1\n"
		  "sessions_total:             12\n"
		  "accepted:                   10\n"
		  "accepted_bytes:             20480\n"
		  "rejects:                    2\n"
		  "delivery.active:            1\n"
		  "delivery.waiting:           0\n"
		  "delivery.connections:       2\n"
		  "delivery.connections_total: 9\n"
		  "delivery.sent:              8\n"
		  "delivery.deferred:          1\n"
		  "delivery.bounced:           0\n"
		  "delivery.notifications:     0\n"
		  "queue:                      1 message, 900 bytes\n"
		  "recipients:                 0 ready, 0 deferred, 1 retry, "
		  "0 hold\n"
		  "writer:                     20 commits, 21 jobs\n",
		  "status: one key column" },
		{ "{\"pid\":1,\"queue\":{\"messages\":0,\"bytes\":0},"
		  "\"writer\":{\"commits\":0,\"jobs\":0}}", 0,
		  "pid:        1\n"
		  "queue:      0 messages, 0 bytes\n"
		  "recipients: 0 ready, 0 deferred, 0 retry, 0 hold\n"
		  "writer:     0 commits, 0 jobs\n",
		  "status: short keys, the summary's labels fit" },
		{ "{\"pid\":1}", -1, "", "status: no queue" },
	};
	char *out;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = capture(cases[i].json, ctl_print_status, &rc);
		T_EQ_INT(rc, cases[i].rc, cases[i].name);
		T_EQ_STR(out, cases[i].want, cases[i].name);
		free(out);
	}
}

int
main(void)
{
	test_json_valid();
	test_json_invalid();
	test_json_access();
	test_json_roundtrip();
	test_http_parse();
	test_url_escape();
	test_print();
	test_time_parse();
	test_print_due();
	test_print_deferred();
	test_print_op();
	test_print_status();
	return t_done();
}
