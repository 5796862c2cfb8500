/*
 * mta_tls: the client side of STARTTLS.  One SSL_CTX per CA file (and one
 * for the system's CAs), cached for the life of the process or until
 * mta_tls_cache_clear(); each SSL holds a reference to its context, so a
 * clear never pulls one from under a live session.
 *
 * Verification is done the way Postfix does it: the handshake runs with
 * SSL_VERIFY_NONE and the outcome of the chain and name checks (which
 * OpenSSL performs all the same) is read afterwards.  Under "verify" a
 * failed check ends the session before anything is sent; under "may" and
 * "encrypt" it is only reported (verified=no in the logs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "../lib/xalloc.h"
#include "mta_priv.h"
#include "tls.h"

struct mta_tls_ctx {
	char			*ca_file;	/* NULL: the system's CAs */
	SSL_CTX			*ctx;
	struct mta_tls_ctx	*next;
};

static struct mta_tls_ctx *mta_tls_cache;

static SSL_CTX *
mta_tls_ctx_new(const char *ca_file, const char **errstr)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		*errstr = tls_error("cannot make a TLS context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) == 1)
			return ctx;
		*errstr = tls_error("cannot load the CA file", ca_file);
	} else {
		if (SSL_CTX_set_default_verify_paths(ctx) == 1)
			return ctx;
		*errstr = tls_error("cannot load the system's CAs", NULL);
	}
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *
mta_tls_ctx(const char *ca_file, const char **errstr)
{
	struct mta_tls_ctx *c;
	SSL_CTX *ctx;

	for (c = mta_tls_cache; c != NULL; c = c->next)
		if (ca_file == NULL ? c->ca_file == NULL :
		    c->ca_file != NULL && strcmp(c->ca_file, ca_file) == 0)
			return c->ctx;
	if ((ctx = mta_tls_ctx_new(ca_file, errstr)) == NULL)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->ca_file = ca_file ? xstrdup(ca_file) : NULL;
	c->ctx = ctx;
	c->next = mta_tls_cache;
	mta_tls_cache = c;
	return ctx;
}

int
mta_tls_preload(const char *ca_file, const char **errstr)
{
	return mta_tls_ctx(ca_file, errstr) != NULL ? 0 : -1;
}

void
mta_tls_cache_clear(void)
{
	struct mta_tls_ctx *c;

	while ((c = mta_tls_cache) != NULL) {
		mta_tls_cache = c->next;
		SSL_CTX_free(c->ctx);
		free(c->ca_file);
		free(c);
	}
}

SSL *
mta_tls_new_ssl(struct mta_session *s, const char **errstr)
{
	struct addr a;
	SSL_CTX *ctx;
	SSL *ssl;
	int ok;

	if ((ctx = mta_tls_ctx(s->ca_file, errstr)) == NULL)
		return NULL;
	if ((ssl = SSL_new(ctx)) == NULL) {
		*errstr = tls_error("cannot make a TLS session", NULL);
		return NULL;
	}
	/* the name to check: a DNS name (and SNI, RFC 6066 3), or an IP
	 * address, which SNI must not carry */
	if (addr_parse(s->host, &a) == 0)
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    s->host);
	else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(ssl, s->host) == 1 &&
		    SSL_set1_host(ssl, s->host) == 1;
	}
	if (ok != 1) {
		*errstr = tls_error("cannot set the peer name", s->host);
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

int
mta_tls_check(struct mta_session *s, SSL *ssl, struct mta_result *why)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	long v = SSL_get_verify_result(ssl);

	tls_describe(ssl, s->tls_desc, sizeof(s->tls_desc));
	s->tls_verified = peer != NULL && v == X509_V_OK;
	if (s->tls != MTA_TLS_VERIFY || s->tls_verified)
		return 0;
	mta_result_set(why, MTA_DEFERRED, "4.7.5", "Server certificate not "
	    "verified: host %s: %s", s->hostip, peer == NULL ?
	    "no certificate" : X509_verify_cert_error_string(v));
	return -1;
}
