/*
 * fuzz_conf: libFuzzer target for the configuration language (conf/ and
 * the policy items and groups of policy/).  The input is a whole file.
 * Invariants checked (abort on violation):
 *   - a file is either loaded (no error text) or refused with at least
 *     one "fuzz.conf:LINE: message" line, every line of that form;
 *   - a loaded file's dump (sluiced -n -d) loads again and dumps the same
 *     (the dump is the normal form).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "lib/buf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c)	do { if (!(c)) abort(); } while (0)

static void
check_errors(const struct buf *errs)
{
	const char *p = errs->data, *nl;

	CHECK(errs->len > 0 && p != NULL);
	for (; *p != '\0'; p = nl + 1) {
		CHECK(strncmp(p, "fuzz.conf:", 10) == 0);
		nl = strchr(p, '\n');
		CHECK(nl != NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf errs = BUF_INIT, dump = BUF_INIT, dump2 = BUF_INIT;
	struct conf *c = NULL, *c2 = NULL;
	char *text;

	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if (conf_load_string("fuzz.conf", text, &c, &errs) == -1) {
		check_errors(&errs);
		buf_free(&errs);
		free(text);
		return 0;
	}
	CHECK(errs.len == 0);
	conf_dump(c, &dump);
	CHECK(dump.data != NULL);
	CHECK(conf_load_string("fuzz.conf", dump.data, &c2, &errs) == 0);
	conf_dump(c2, &dump2);
	CHECK(dump.len == dump2.len && memcmp(dump.data, dump2.data,
	    dump.len) == 0);
	conf_free(&c);
	conf_free(&c2);
	buf_free(&dump);
	buf_free(&dump2);
	buf_free(&errs);
	free(text);
	return 0;
}
