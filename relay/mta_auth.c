/*
 * mta_auth: SMTP AUTH (RFC 4954) as a client, PLAIN (RFC 4616, with the
 * initial response) or LOGIN (the de facto one, for servers that offer
 * nothing else).
 *
 * Both carry the password in clear inside base64, so credentials are sent
 * only over TLS unless the policy is none (Postfix's default
 * smtp_sasl_security_options = noplaintext, with the explicit "no TLS" of
 * policy none as the one exception).  Every buffer that holds them is
 * wiped: the session's copies when AUTH is over, the encoded lines when
 * libevent has written them (they are added by reference with a cleanup
 * that wipes).  A failure is temporary (Postfix's
 * smtp_sasl_auth_soft_bounce = yes): wrong credentials are fixed by the
 * administrator, and the mail must wait for that, not bounce.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../lib/xalloc.h"
#include "mta_priv.h"

#define MTA_AUTH_MAX	1024	/* user + password, bytes */

void
mta_auth_forget(struct mta_session *s)
{
	if (s->user != NULL) {
		xwipe(s->user, strlen(s->user));
		free(s->user);
		s->user = NULL;
	}
	if (s->pass != NULL) {
		xwipe(s->pass, strlen(s->pass));
		free(s->pass);
		s->pass = NULL;
	}
}

static void
mta_auth_wipe(const void *data, size_t len, void *extra)
{
	(void)extra;
	xwipe((void *)(uintptr_t)data, len);
	free((void *)(uintptr_t)data);
}

/* Queues prefix + base64(raw) + CRLF; the line is wiped once written. */
static void
mta_auth_send(struct mta_session *s, const char *prefix, const void *raw,
    size_t rawlen)
{
	size_t plen = strlen(prefix), blen = 4 * ((rawlen + 2) / 3);
	unsigned char *line = xmalloc(plen + blen + 3);

	memcpy(line, prefix, plen);
	EVP_EncodeBlock(line + plen, raw, (int)rawlen);
	memcpy(line + plen + blen, "\r\n", 2);
	if (evbuffer_add_reference(bufferevent_get_output(s->bev), line,
	    plen + blen + 2, mta_auth_wipe, NULL) == -1)
		mta_auth_wipe(line, plen + blen + 3, NULL);
}

static void
mta_auth_plain(struct mta_session *s)
{
	size_t ulen = strlen(s->user), plen = strlen(s->pass);
	size_t n = ulen + plen + 2;
	char *raw = xmalloc(n);

	/* RFC 4616 2: authzid (empty) NUL authcid NUL passwd */
	raw[0] = '\0';
	memcpy(raw + 1, s->user, ulen);
	raw[1 + ulen] = '\0';
	memcpy(raw + 2 + ulen, s->pass, plen);
	mta_auth_send(s, "AUTH PLAIN ", raw, n);
	xwipe(raw, n);
	free(raw);
	s->auth_step = MTA_AUTH_PLAIN;
}

static void
mta_auth_fail(struct mta_session *s, int code, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* code: the server's reply code, 0 when the failure is ours. */
static void
mta_auth_fail(struct mta_session *s, int code, const char *dsn,
    const char *fmt, ...)
{
	struct mta_result r;
	char why[MTA_TEXT_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	mta_result_set(&r, MTA_DEFERRED, dsn, "SASL authentication failed; "
	    "%s", why);
	r.code = code;
	mta_fail(s, &r);
}

void
mta_auth_start(struct mta_session *s)
{
	/* no credentials, or a server that does not offer AUTH (it will
	 * refuse to relay if it wanted it): on without */
	if (s->user == NULL || !s->ext.auth) {
		mta_ready(s);
		return;
	}
	if (!s->tls_active && s->tls != MTA_TLS_NONE) {
		mta_auth_fail(s, 0, "4.7.0", "not sending credentials to host %s "
		    "without TLS (STARTTLS not offered)", s->hostip);
		return;
	}
	if (strlen(s->user) + strlen(s->pass) > MTA_AUTH_MAX) {
		mta_auth_fail(s, 0, "4.7.0", "credentials too long");
		return;
	}
	s->state = MTA_S_AUTH;
	mta_set_timeout(s, &s->t_cmd);
	if (s->ext.auth_plain)
		mta_auth_plain(s);
	else if (s->ext.auth_login) {
		mta_send_line(s, "AUTH LOGIN");
		s->auth_step = MTA_AUTH_LOGIN;
	} else
		mta_auth_fail(s, 0, "4.7.0", "no mechanism in common with host "
		    "%s (it offers: %s)", s->hostip, s->ext.auth_mechs);
}

void
mta_auth_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_result res;

	if (r->code == 334 && s->auth_step == MTA_AUTH_LOGIN) {
		mta_auth_send(s, "", s->user, strlen(s->user));
		s->auth_step = MTA_AUTH_LOGIN_USER;
		return;
	}
	if (r->code == 334 && s->auth_step == MTA_AUTH_LOGIN_USER) {
		mta_auth_send(s, "", s->pass, strlen(s->pass));
		s->auth_step = MTA_AUTH_LOGIN_PASS;
		return;
	}
	if (r->code == 235 && (s->auth_step == MTA_AUTH_PLAIN ||
	    s->auth_step == MTA_AUTH_LOGIN_PASS)) {
		s->authenticated = true;
		mta_ready(s);		/* wipes the credentials */
		return;
	}
	mta_result_reply(&res, s->hostip, r, "AUTH", true);
	mta_auth_fail(s, r->code, res.dsn, "%s", res.text);
}
