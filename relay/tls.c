/*
 * tls: builds the OpenSSL server context.  Protocols below TLS 1.2 and
 * compression are off; the certificate and key are read at start-up (as
 * root, before privileges are dropped) and again by each reload (as the
 * daemon's user; reload.c keeps the running context when that fails).
 */
#include <stdio.h>

#include <openssl/err.h>

#include "tls.h"

const char *
tls_error(const char *what, const char *file)
{
	static char msg[512];
	char reason[256];

	ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
	ERR_clear_error();
	snprintf(msg, sizeof(msg), "%s%s%s: %s", what, file ? " " : "",
	    file ? file : "", reason);
	return msg;
}

SSL_CTX *
tls_server_ctx_new(const char *cert, const char *key, const char **errstr)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*errstr = tls_error("cannot make a TLS context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		*errstr = tls_error("tls certificate", cert);
	else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		*errstr = tls_error("tls key", key);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		*errstr = tls_error("tls key does not match the certificate",
		    key);
	else
		return ctx;
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_describe(SSL *ssl, char *buf, size_t bufsz)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int bits = 0;

	if (c != NULL)
		SSL_CIPHER_get_bits(c, &bits);
	snprintf(buf, bufsz, "%s %s %d", SSL_get_version(ssl),
	    c ? SSL_CIPHER_get_name(c) : "?", bits);
}
