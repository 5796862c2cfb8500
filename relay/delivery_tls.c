/*
 * delivery_tls: the CA files delivery verifies next hops against.  They
 * are loaded into mta's cache of TLS client contexts before the first
 * delivery, so that a missing or broken file is a start-up (or reload)
 * error with the line of its statement rather than a deferral of mail,
 * and `sluiced -n`, `sluicectl check` and a reload run the same check.
 *
 * A reload loads the new configuration's files afresh (a CA file may have
 * been replaced under the same name); sessions under way keep the context
 * their TLS session holds a reference to.
 *
 * Kept apart from delivery.c so that sluicectl can run the check without
 * linking the delivery machinery.
 */
#include <stdio.h>

#include "../lib/log.h"
#include "delivery.h"
#include "mta.h"

static int
preload_one(const struct conf_nexthops *via, const char **errstr)
{
	if (via->tls == CONF_TLS_NONE)
		return 0;
	if (via->tls == CONF_TLS_VERIFY || via->ca_file != NULL)
		return mta_tls_preload(via->ca_file, errstr);
	/* may, encrypt: nothing is checked, the system's CAs are a nicety */
	if (mta_tls_preload(NULL, errstr) == -1)
		log_warn("event=tls-ca reason=\"%s\"", *errstr);
	return 0;
}

int
delivery_preload_tls(const struct conf *conf, int *line, const char **errstr)
{
	size_t i;

	*line = conf->deliver.line;
	if (preload_one(&conf->deliver, errstr) == -1)
		return -1;
	for (i = 0; i < conf->nroutes; i++) {
		*line = conf->routes[i].via.line;
		if (preload_one(&conf->routes[i].via, errstr) == -1)
			return -1;
	}
	return 0;
}

int
delivery_reload_tls(const struct conf *next, const struct conf *running,
    int *line, const char **errstr)
{
	static char msg[512];
	int rline;
	const char *rerr;

	mta_tls_cache_clear();
	if (delivery_preload_tls(next, line, errstr) == 0)
		return 0;
	/* OpenSSL's static text, which the next load overwrites */
	snprintf(msg, sizeof(msg), "%s", *errstr);
	*errstr = msg;
	/* the running configuration's files, as they were loaded before;
	 * should one have gone meanwhile, its sessions find out at STARTTLS
	 * (mta loads a file the cache lacks) */
	mta_tls_cache_clear();
	if (delivery_preload_tls(running, &rline, &rerr) == -1)
		log_warn("event=tls-ca line=%d reason=\"%s\"", rline, rerr);
	return -1;
}
