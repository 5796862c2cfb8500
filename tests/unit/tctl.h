/*
 * tctl.h: sluicectl's printers run on a JSON text, for the unit tests of
 * relay/ctl_print*.c (test_api_json, test_ctl_policy).  Include after
 * t.h and relay/ctl_priv.h.
 */
#ifndef SLUICE_TCTL_H
#define SLUICE_TCTL_H

#include <stdio.h>
#include <string.h>

/* The printers' "now": 2026-11-24T14:30:00Z. */
#define T_NOW	1795530600

/* Runs fn into a memory stream and returns what it wrote (malloc'd); rc
 * is fn's result, or -2 when the JSON does not parse. */
static inline char *
capture(const char *json, ctl_print_fn *fn, int *rc)
{
	const char *errstr;
	struct ctl_json *j = ctl_json_parse(json, strlen(json), &errstr);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	*rc = j ? fn(f, j, T_NOW, &errstr) : -2;
	fclose(f);
	ctl_json_free(&j);
	return out;
}

#endif
