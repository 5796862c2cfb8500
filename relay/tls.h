/*
 * tls: OpenSSL contexts for the SMTP server side (STARTTLS, RFC 3207).
 */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <openssl/ssl.h>

/* A server context with the certificate chain and key, TLS 1.2 or newer.
 * NULL with *errstr (OpenSSL's reason) on failure. */
SSL_CTX	*tls_server_ctx_new(const char *cert, const char *key,
	    const char **errstr);
/* "WHAT FILE: OpenSSL's reason" for the last OpenSSL failure (file may be
 * NULL); clears OpenSSL's error queue.  Static storage. */
const char *tls_error(const char *what, const char *file);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384 256" for logs and Received. */
void	 tls_describe(SSL *, char *buf, size_t bufsz);

#endif
