/*
 * conf_table: THE table of the daemon's settings (see conf_daemon.c for
 * how it is read): each row gives a setting's name, the shape of its
 * values, its unit, its default (written in the configuration language)
 * and its bounds; and the hints for Postfix's names.  The parser, the
 * apply step and conf_dump all read it.
 */
#include <sys/un.h>

#include <limits.h>
#include <stddef.h>

#include "../policy/accounting.h"
#include "../policy/greylist.h"
#include "../policy/helo.h"
#include "conf_priv.h"

#define OFF(f)		offsetof(struct conf, f)
#define KIB		1024ull
#define GIB		(1024ull * 1024 * 1024)
#define SUN_MAX		(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define CA_FILE		"/etc/ssl/certs/ca-certificates.crt"
#define HOPS		"NEXTHOP... [tls POLICY] [ca-file FILE] [auth-file FILE]"
#define DAY		86400ull
#define QUOTA_MAX	1000000000ull	/* messages or recipients a period */
#define TRACKS		"Sender:user@domain|Sender:@domain|Sender:user@|"	\
			"SenderIP[:/N]|Recipient:...|SASLUsername|Policy"
#define V6_MAX		128		/* bits of an IPv6 prefix */

/* A flag of a block (`off`): no values, an option of its block. */
#define FLAG_ROW(id, parent, name)					\
	[id] = { parent, name, "", 0, 0, CONF_KW_OPTION, CONF_U_NONE,	\
	  NULL, 0, 0, 0 }
/* A block of a policy: its statements are its options. */
#define BLOCK_ROW(id, name, syntax, min, max)				\
	[id] = { "policy", name, syntax, min, max,			\
	  CONF_KW_OPTION | CONF_KW_REPEAT | CONF_KW_BLOCK, CONF_U_NONE,	\
	  NULL, 0, 0, 0 }
/* An option of a block with a value of words (yes|no, a verdict ...). */
#define WORD_ROW(id, parent, name, syntax, def)				\
	[id] = { parent, name, syntax, 1, 1, CONF_KW_OPTION, CONF_U_NONE, \
	  def, 0, 0, 0 }
/* An option of a block with a number, a size or a duration. */
#define NUM_ROW(id, parent, name, syntax, unit, def, lo, hi)		\
	[id] = { parent, name, syntax, 1, 1, CONF_KW_OPTION, unit, def,	\
	  lo, hi, 0 }

/* A dimension of a policy or match block and its except list: two rows. */
#define DIM_ROWS(id, parent, name)					\
	[id] = { parent, name, "ITEM... [except ITEM...]", 1, CONF_MANY,	\
	  CONF_KW_OPTION | CONF_KW_REPEAT, CONF_U_NONE, NULL, 0, 0, 0 },	\
	[id##_EX] = { parent " " name, "except", "ITEM...", 1, CONF_MANY,	\
	  CONF_KW_OPTION, CONF_U_NONE, NULL, 0, 0, 0 }

const struct conf_kw conf_daemon_kws[KW_COUNT] = {
/*	  parent    name		values		min max flags
 *	  unit			default			lo	hi	where */
	[KW_HOSTNAME] = { "", "hostname",	"NAME",		1, 1, 0,
	  CONF_U_HOST,		NULL,			0, 0,	OFF(hostname) },
	[KW_STATE_DIR] = { "", "state-dir",	"PATH",		1, 1, 0,
	  CONF_U_PATH,		"/var/lib/sluice",	0, 0,	OFF(state_dir) },
	[KW_USER] = { "", "user",		"NAME",		1, 1, 0,
	  CONF_U_USER,		"sluice",		0, CONF_USER_MAX, OFF(user) },
	[KW_LISTEN] = { "", "listen",	"ADDR:PORT [tls] [tls-required]",
	  1, 1, CONF_KW_REPEAT,
	  CONF_U_LISTEN,	"127.0.0.1:2525",	0, 0,	OFF(listen) },
	[KW_LISTEN_TLS] = { "listen", "tls",	"",		0, 0, 0,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_LISTEN_TLS_REQ] = { "listen", "tls-required", "",	0, 0, 0,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_TRUSTED] = { "", "trusted-networks", "ADDRESS-OR-CIDR...",
	  1, CONF_MANY, 0,
	  CONF_U_CIDRS,		"127.0.0.0/8 ::1/128",	0, 0,	OFF(trusted) },
	[KW_RELAY_DOMAINS] = { "", "relay-domains", "DOMAIN...",
	  1, CONF_MANY, 0,
	  CONF_U_DOMAINS,	NULL,			0, 0,
	  OFF(relay_domains) },
	[KW_TLS] = { "", "tls",	"certificate FILE key FILE",	0, 0,
	  CONF_KW_BLOCK,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_TLS_CERT] = { "tls", "certificate", "FILE",		1, 1, 0,
	  CONF_U_FILE,		NULL,			0, 0,	OFF(tls_cert) },
	[KW_TLS_KEY] = { "tls", "key",	"FILE",			1, 1, 0,
	  CONF_U_FILE,		NULL,			0, 0,	OFF(tls_key) },
	[KW_LIMITS] = { "", "limits",	"{ ... }",		0, 0,
	  CONF_KW_BLOCK,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_MSG_SIZE] = { "limits", "message-size", "SIZE",	1, 1, 0,
	  CONF_U_SIZE,		"50M",			KIB, GIB,
	  OFF(limits.message_size) },
	[KW_RCPTS] = { "limits", "recipients", "N",		1, 1, 0,
	  CONF_U_COUNT,		"1000",			1, 100000,
	  OFF(limits.recipients) },
	[KW_CONNS] = { "limits", "connections", "N",		1, 1, 0,
	  CONF_U_COUNT,		"500",			1, 100000,
	  OFF(limits.connections) },
	[KW_CONNS_PER_IP] = { "limits", "connections-per-ip", "N", 1, 1, 0,
	  CONF_U_COUNT,		"50",			1, 100000,
	  OFF(limits.connections_per_ip) },
	[KW_CMD_TIMEOUT] = { "limits", "command-timeout", "DURATION", 1, 1, 0,
	  CONF_U_DURATION,	"5m",			1, 3600,
	  OFF(limits.command_timeout) },
	[KW_DATA_TIMEOUT] = { "limits", "data-timeout", "DURATION", 1, 1, 0,
	  CONF_U_DURATION,	"10m",			1, 3600,
	  OFF(limits.data_timeout) },
	[KW_ERRORS] = { "limits", "errors",	"N",		1, 1, 0,
	  CONF_U_COUNT,		"20",			1, 1000,
	  OFF(limits.errors) },
	/* RFC 5321 4.5.3.1.4: a command line may be 512 octets */
	[KW_LINE_LENGTH] = { "limits", "line-length", "N",	1, 1, 0,
	  CONF_U_COUNT,		"2048",			512, 65536,
	  OFF(limits.line_length) },
	[KW_ADMIN] = { "", "admin",	"socket PATH",		0, 0,
	  CONF_KW_BLOCK,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_ADMIN_SOCKET] = { "admin", "socket", "PATH",	1, 1, 0,
	  CONF_U_PATH,		"/run/sluice/admin.sock", 0, SUN_MAX,
	  OFF(admin_socket) },
	/* where mail goes: one relayhost list or the recipients' MX; its
	 * options are applied by conf_deliver.c with the defaults below */
	[KW_DELIVER] = { "", "deliver",	"relayhost " HOPS " | mx [tls ...]",
	  0, 0, CONF_KW_BLOCK,
	  CONF_U_DELIVER,	"mx tls may",		0, 0,	OFF(deliver) },
	[KW_DELIVER_RELAYHOST] = { "deliver", "relayhost", "NEXTHOP...",
	  1, CONF_MANY, CONF_KW_OPTION | CONF_KW_HEAD,
	  CONF_U_NEXTHOPS,	NULL,			0, 0,	0 },
	[KW_DELIVER_MX] = { "deliver", "mx",	"",		0, 0,
	  CONF_KW_OPTION | CONF_KW_HEAD,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_DELIVER_TLS] = { "deliver", "tls", "none|may|encrypt|verify",
	  1, 1, CONF_KW_OPTION,
	  CONF_U_TLS,		"may",			0, 0,	0 },
	[KW_DELIVER_CA] = { "deliver", "ca-file", "FILE",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_PATH,		CA_FILE,		0, PATH_MAX, 0 },
	[KW_DELIVER_AUTH] = { "deliver", "auth-file", "FILE",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_PATH,		NULL,			0, PATH_MAX, 0 },
	[KW_ROUTE] = { "", "route",	"DOMAIN " HOPS,		2, CONF_MANY,
	  CONF_KW_REPEAT,
	  CONF_U_ROUTE,		NULL,			0, 0,	OFF(routes) },
	[KW_ROUTE_TLS] = { "route", "tls", "none|may|encrypt|verify",
	  1, 1, CONF_KW_OPTION,
	  CONF_U_TLS,		"may",			0, 0,	0 },
	[KW_ROUTE_CA] = { "route", "ca-file", "FILE",		1, 1,
	  CONF_KW_OPTION,
	  CONF_U_PATH,		CA_FILE,		0, PATH_MAX, 0 },
	[KW_ROUTE_AUTH] = { "route", "auth-file", "FILE",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_PATH,		NULL,			0, PATH_MAX, 0 },
	/* the SMTP client; Postfix's defaults where it has them */
	[KW_DELIVERY] = { "", "delivery", "{ ... }",		0, 0,
	  CONF_KW_BLOCK,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_DLV_CONNS] = { "delivery", "connections", "N",	1, 1, 0,
	  CONF_U_COUNT,		"100",			1, 10000,
	  OFF(delivery.connections) },
	[KW_DLV_PER_DEST] = { "delivery", "per-destination", "N", 1, 1, 0,
	  CONF_U_COUNT,		"20",			1, 10000,
	  OFF(delivery.per_destination) },
	[KW_DLV_TO_CONNECT] = { "delivery", "timeout-connect", "DURATION",
	  1, 1, 0,
	  CONF_U_DURATION,	"30s",			1, 600,
	  OFF(delivery.timeout_connect) },
	[KW_DLV_TO_COMMAND] = { "delivery", "timeout-command", "DURATION",
	  1, 1, 0,
	  CONF_U_DURATION,	"5m",			1, 3600,
	  OFF(delivery.timeout_command) },
	/* RFC 5321 4.5.3.2.6: 10 minutes for the reply to the final dot */
	[KW_DLV_TO_DATA] = { "delivery", "timeout-data", "DURATION", 1, 1, 0,
	  CONF_U_DURATION,	"10m",			1, 3600,
	  OFF(delivery.timeout_data) },
	[KW_RETRY] = { "", "retry",	"{ ... }",		0, 0,
	  CONF_KW_BLOCK,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_RETRY_INITIAL] = { "retry", "initial", "DURATION",	1, 1, 0,
	  CONF_U_DURATION,	"5m",			1, DAY,
	  OFF(retry.initial) },
	[KW_RETRY_MAX] = { "retry", "max",	"DURATION",	1, 1, 0,
	  CONF_U_DURATION,	"1h",			1, 7 * DAY,
	  OFF(retry.max) },
	/* RFC 5321 4.5.4.1: give up after at least 4-5 days */
	[KW_RETRY_LIFETIME] = { "retry", "lifetime", "DURATION", 1, 1, 0,
	  CONF_U_DURATION,	"5d",			1, 100 * DAY,
	  OFF(retry.lifetime) },
	[KW_RESOLVER] = { "", "resolver",	"ADDRESS[:PORT]", 1, 1, 0,
	  CONF_U_RESOLVER,	NULL,			0, 0,	OFF(resolver) },
	/* an SPF check as a whole (RFC 7208 4.6.4: at least 20 s) */
	[KW_SPF_TIMEOUT] = { "", "spf-timeout", "DURATION",	1, 1, 0,
	  CONF_U_DURATION,	"20s",			1, 300,
	  OFF(spf_timeout) },
	/* quoted: unquoted, the value would read as the keyword */
	[KW_POSTMASTER] = { "", "postmaster", "ADDRESS",	1, 1, 0,
	  CONF_U_MAILBOX,	"\"postmaster\"",	0, 254,
	  OFF(postmaster) },
	/* where quota alerts go (conf_notify.c): a webhook or mail; the
	 * statements of the block are its options, applied with the
	 * defaults below by the notifier */
	[KW_NOTIFIER] = { "", "notifier",
	  "NAME { webhook URL ... | mail ADDRESS... }", 1, 1,
	  CONF_KW_REPEAT | CONF_KW_BLOCK | CONF_KW_NAME,
	  CONF_U_NOTIFIER,	NULL,			0, 0,	OFF(notifiers) },
	[KW_NTF_WEBHOOK] = { "notifier", "webhook", "URL",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_URL,		NULL,			0, 2048, 0 },
	[KW_NTF_SECRET] = { "notifier", "secret-file", "FILE",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_PATH,		NULL,			0, PATH_MAX, 0 },
	/* the whole HTTP request, connection and reply included */
	[KW_NTF_TIMEOUT] = { "notifier", "timeout", "DURATION",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_DURATION,	"10s",			1, 300,	0 },
	/* how long an event is retried before it is dropped */
	[KW_NTF_LIFETIME] = { "notifier", "lifetime", "DURATION", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_DURATION,	"1d",			10, 30 * DAY, 0 },
	[KW_NTF_MAIL] = { "notifier", "mail",	"ADDRESS...",	1, CONF_MANY,
	  CONF_KW_OPTION,
	  CONF_U_MAILBOX,	NULL,			0, 254,	0 },
	/* none: MAILER-DAEMON@hostname */
	[KW_NTF_FROM] = { "notifier", "from",	"ADDRESS",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_MAILBOX,	NULL,			0, 254,	0 },
	/* groups and policies (conf_policy.c): their statements are options,
	 * applied by the group or policy they belong to */
	[KW_GROUP] = { "", "group",	"NAME ITEM... [{ ITEM... }]",
	  1, CONF_MANY, CONF_KW_REPEAT | CONF_KW_LIST,
	  CONF_U_GROUP,		NULL,			0, 0,	0 },
	[KW_POLICY] = { "", "policy",	"NAME priority N { ... }", 1, 1,
	  CONF_KW_REPEAT | CONF_KW_BLOCK,
	  CONF_U_POLICY,	NULL,			0, 0,	0 },
	[KW_POL_PRIORITY] = { "policy", "priority", "N",	1, 1,
	  CONF_KW_OPTION | CONF_KW_REPEAT,
	  CONF_U_COUNT,		NULL,			0, 1000000, 0 },
	DIM_ROWS(KW_POL_CLIENT, "policy", "client"),
	DIM_ROWS(KW_POL_SENDER, "policy", "sender"),
	DIM_ROWS(KW_POL_RCPT, "policy", "recipient"),
	DIM_ROWS(KW_POL_SASL, "policy", "sasl"),
	[KW_POL_ACCESS] = { "policy", "access",
	  "ok|pass|reject|tempfail|hold|discard [reply TEXT]", 1, 1,
	  CONF_KW_OPTION | CONF_KW_REPEAT,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_POL_ACCESS_REPLY] = { "policy access", "reply", "TEXT", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_POL_MATCH] = { "policy", "match", "{ ... }",	0, 0,
	  CONF_KW_OPTION | CONF_KW_REPEAT | CONF_KW_BLOCK,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	DIM_ROWS(KW_PM_CLIENT, "policy match", "client"),
	DIM_ROWS(KW_PM_SENDER, "policy match", "sender"),
	DIM_ROWS(KW_PM_RCPT, "policy match", "recipient"),
	DIM_ROWS(KW_PM_SASL, "policy match", "sasl"),
	/* quotas (conf_quota.c): their statements are options of the quota,
	 * which applies them and the defaults below (the model's, quota.h) */
	[KW_POL_QUOTA] = { "policy", "quota",	"NAME { ... }",	1, 1,
	  CONF_KW_OPTION | CONF_KW_REPEAT | CONF_KW_BLOCK,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_PQ_TRACK] = { "policy quota", "track", TRACKS, 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_PQ_PERIOD] = { "policy quota", "period", "DURATION|day|week|month",
	  1, 1, CONF_KW_OPTION,
	  CONF_U_DURATION,	NULL,			1, 366 * DAY, 0 },
	[KW_PQ_WINDOW] = { "policy quota", "window", "fixed|sliding", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_NONE,		"fixed",		0, 0,	0 },
	/* one limit per unit; `limit messages 200 size 1G` gives two */
	[KW_PQ_LIMIT] = { "policy quota", "limit",
	  "messages N | recipients N | size SIZE", 0, 0,
	  CONF_KW_OPTION | CONF_KW_REPEAT,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	[KW_PQ_LIMIT_MSGS] = { "policy quota limit", "messages", "N", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_COUNT,		NULL,			0, QUOTA_MAX, 0 },
	[KW_PQ_LIMIT_RCPTS] = { "policy quota limit", "recipients", "N", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_COUNT,		NULL,			0, QUOTA_MAX, 0 },
	[KW_PQ_LIMIT_SIZE] = { "policy quota limit", "size", "SIZE", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_SIZE,		NULL,			0, 1024 * GIB, 0 },
	[KW_PQ_VERDICT] = { "policy quota", "verdict",
	  "defer|tempfail|reject|hold|discard|pass [reply TEXT]", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_NONE,		"defer",		0, 0,	0 },
	[KW_PQ_VERDICT_REPLY] = { "policy quota verdict", "reply", "TEXT",
	  1, 1, CONF_KW_OPTION,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	/* cbpolicyd's LastQuota */
	[KW_PQ_STOP] = { "policy quota", "stop", "",		0, 0,
	  CONF_KW_OPTION,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	/* SenderIP only: how IPv6 clients are grouped */
	[KW_PQ_V6] = { "policy quota", "ipv6-prefix", "N",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_COUNT,		"64",			1, 128,	0 },
	[KW_PQ_RELEASE] = { "policy quota", "release", "burst|smooth", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_NONE,		"burst",		0, 0,	0 },
	/* deferred recipients per key; 0, the default: pol_quota_backlog() */
	[KW_PQ_BACKLOG] = { "policy quota", "backlog", "N",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_COUNT,		"0",			0, 10 * 1024 * GIB, 0 },
	[KW_PQ_WHEN_FULL] = { "policy quota", "when-full",
	  "tempfail|hold|reject", 1, 1, CONF_KW_OPTION,
	  CONF_U_NONE,		"tempfail",		0, 0,	0 },
	/* as Postfix's maximal_queue_lifetime */
	[KW_PQ_MAX_DEFER] = { "policy quota", "max-defer", "DURATION", 1, 1,
	  CONF_KW_OPTION,
	  CONF_U_DURATION,	"5d",			1, 100 * DAY, 0 },
	[KW_PQ_TELL] = { "policy quota", "tell-sender", "delay",	1, 1,
	  CONF_KW_OPTION,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	/* thresholds in percent of the limit (at most POL_NOTIFY_MAX), then
	 * the notifiers told */
	[KW_PQ_NOTIFY] = { "policy quota", "notify", "P%... to NOTIFIER...",
	  1, CONF_MANY, CONF_KW_OPTION,
	  CONF_U_COUNT,		NULL,			1, 100,	0 },
	[KW_PQ_NOTIFY_TO] = { "policy quota notify", "to", "NOTIFIER...",
	  1, CONF_MANY, CONF_KW_OPTION,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	/*
	 * The RCPT-stage checks (conf_grey.c, conf_helo.c): one block each
	 * per policy.  A setting a block does not write is inherited from
	 * the matched policies of lower priority numbers, so the defaults
	 * below are not applied at load: the modules apply them when they
	 * merge (greylist.h, helo.h, spf.h), and the dump shows them as
	 * comments.  Bounds are the modules'.
	 */
	BLOCK_ROW(KW_POL_GREY, "greylisting", "{ ... }", 0, 0),
	FLAG_ROW(KW_PG_ON, "policy greylisting", "on"),
	FLAG_ROW(KW_PG_OFF, "policy greylisting", "off"),
	NUM_ROW(KW_PG_PERIOD, "policy greylisting", "period", "DURATION",
	  CONF_U_DURATION, "5m", GREY_PERIOD_MIN, GREY_PERIOD_MAX),
	/* the IPv4 prefix, SenderIP alone being /32 */
	NUM_ROW(KW_PG_TRACK, "policy greylisting", "track", "SenderIP[:/N]",
	  CONF_U_NONE, "SenderIP:/24", 1, 32),
	NUM_ROW(KW_PG_V6, "policy greylisting", "ipv6-prefix", "N",
	  CONF_U_COUNT, "64", 1, V6_MAX),
	NUM_ROW(KW_PG_AUTH, "policy greylisting", "auth-validity", "DURATION",
	  CONF_U_DURATION, "35d", GREY_VALIDITY_MIN, GREY_VALIDITY_MAX),
	NUM_ROW(KW_PG_UNAUTH, "policy greylisting", "unauth-validity",
	  "DURATION", CONF_U_DURATION, "2d", GREY_VALIDITY_MIN,
	  GREY_VALIDITY_MAX),
	/* the COUNT's bounds; a PCT% is 1% to 100% */
	[KW_PG_AWL] = { "policy greylisting", "auto-whitelist",
	  "COUNT [PCT%] within DURATION | off", 0, 2, CONF_KW_OPTION,
	  CONF_U_COUNT,		"off",		1, GREY_COUNT_MAX, 0 },
	FLAG_ROW(KW_PG_AWL_OFF, "policy greylisting auto-whitelist", "off"),
	NUM_ROW(KW_PG_AWL_WITHIN, "policy greylisting auto-whitelist",
	  "within", "DURATION", CONF_U_DURATION, NULL, GREY_WITHIN_MIN,
	  GREY_WITHIN_MAX),
	[KW_PG_ABL] = { "policy greylisting", "auto-blacklist",
	  "COUNT [PCT%] within DURATION | off", 0, 2, CONF_KW_OPTION,
	  CONF_U_COUNT,		"off",		1, GREY_COUNT_MAX, 0 },
	FLAG_ROW(KW_PG_ABL_OFF, "policy greylisting auto-blacklist", "off"),
	NUM_ROW(KW_PG_ABL_WITHIN, "policy greylisting auto-blacklist",
	  "within", "DURATION", CONF_U_DURATION, NULL, GREY_WITHIN_MIN,
	  GREY_WITHIN_MAX),
	/* a union over the matched policies, as over the statements */
	[KW_PG_WHITELIST] = { "policy greylisting", "whitelist",
	  "ADDRESS-OR-CIDR|@domain|@*.domain...", 1, CONF_MANY,
	  CONF_KW_OPTION | CONF_KW_REPEAT,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	WORD_ROW(KW_PG_TRAINING, "policy greylisting", "training", "yes|no",
	  "no"),
	WORD_ROW(KW_PG_REPLY, "policy greylisting", "reply", "TEXT", NULL),
	WORD_ROW(KW_PG_BL_REPLY, "policy greylisting", "blacklist-reply",
	  "TEXT", NULL),
	BLOCK_ROW(KW_POL_HELO, "helo", "{ ... }", 0, 0),
	FLAG_ROW(KW_PH_OFF, "policy helo", "off"),
	WORD_ROW(KW_PH_INVALID, "policy helo", "reject-invalid", "yes|no",
	  "no"),
	WORD_ROW(KW_PH_IP, "policy helo", "reject-ip", "yes|no", "no"),
	WORD_ROW(KW_PH_UNRESOLVABLE, "policy helo", "reject-unresolvable",
	  "yes|no", "no"),
	[KW_PH_BLACKLIST] = { "policy helo", "blacklist",
	  "NAME... [within DURATION] | none", 1, CONF_MANY, CONF_KW_OPTION,
	  CONF_U_NONE,		"none",			0, 0,	0 },
	NUM_ROW(KW_PH_BL_WITHIN, "policy helo blacklist", "within", "DURATION",
	  CONF_U_DURATION, NULL, 1, HELO_WINDOW_MAX),
	[KW_PH_WHITELIST] = { "policy helo", "whitelist",
	  "ADDRESS-OR-CIDR... | none", 1, CONF_MANY, CONF_KW_OPTION,
	  CONF_U_NONE,		"none",			0, 0,	0 },
	NUM_ROW(KW_PH_HRP, "policy helo", "hrp", "N within DURATION | no",
	  CONF_U_COUNT, "no", 1, HELO_HRP_MAX),
	NUM_ROW(KW_PH_HRP_WITHIN, "policy helo hrp", "within", "DURATION",
	  CONF_U_DURATION, NULL, 1, HELO_WINDOW_MAX),
	/* one per reason that refuses (helo.h: invalid, not-fqdn, ...) */
	[KW_PH_REPLY] = { "policy helo", "reply", "REASON TEXT", 2, 2,
	  CONF_KW_OPTION | CONF_KW_REPEAT,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	BLOCK_ROW(KW_POL_SPF, "spf", "{ ... }", 0, 0),
	FLAG_ROW(KW_PS_ON, "policy spf", "on"),
	FLAG_ROW(KW_PS_OFF, "policy spf", "off"),
	WORD_ROW(KW_PS_REJECT_FAIL, "policy spf", "reject-fail", "yes|no",
	  "no"),
	WORD_ROW(KW_PS_ADD_HEADER, "policy spf", "add-header", "yes|no", "no"),
	WORD_ROW(KW_PS_SOFTFAIL, "policy spf", "softfail",
	  "accept|tempfail|reject", "accept"),
	WORD_ROW(KW_PS_PERMERROR, "policy spf", "permerror",
	  "accept|tempfail|reject", "accept"),
	/* none: tempfail where reject-fail is yes, else accept (spf.h) */
	WORD_ROW(KW_PS_TEMPERROR, "policy spf", "temperror", "accept|tempfail",
	  NULL),
	/* accountings (conf_acct.c): applied with these defaults, as quotas */
	BLOCK_ROW(KW_POL_ACCT, "accounting", "NAME { ... }", 1, 1),
	WORD_ROW(KW_PA_TRACK, "policy accounting", "track", TRACKS, NULL),
	WORD_ROW(KW_PA_PERIOD, "policy accounting", "period", "day|week|month",
	  NULL),
	[KW_PA_LIMIT] = { "policy accounting", "limit",
	  "messages N | recipients N | size SIZE", 0, 0,
	  CONF_KW_OPTION | CONF_KW_REPEAT,
	  CONF_U_NONE,		NULL,			0, 0,	0 },
	NUM_ROW(KW_PA_LIMIT_MSGS, "policy accounting limit", "messages", "N",
	  CONF_U_COUNT, NULL, 0, QUOTA_MAX),
	NUM_ROW(KW_PA_LIMIT_RCPTS, "policy accounting limit", "recipients",
	  "N", CONF_U_COUNT, NULL, 0, QUOTA_MAX),
	NUM_ROW(KW_PA_LIMIT_SIZE, "policy accounting limit", "size", "SIZE",
	  CONF_U_SIZE, NULL, 0, 1024 * GIB),
	WORD_ROW(KW_PA_VERDICT, "policy accounting", "verdict",
	  "reject|tempfail|hold|discard|pass", NULL),
	WORD_ROW(KW_PA_REPLY, "policy accounting", "reply", "TEXT", NULL),
	FLAG_ROW(KW_PA_STOP, "policy accounting", "stop"),
	/* previous periods the counters keep */
	NUM_ROW(KW_PA_KEEP, "policy accounting", "keep", "N", CONF_U_COUNT,
	  "1", 0, POL_ACCT_KEEP_MAX),
	NUM_ROW(KW_PA_V6, "policy accounting", "ipv6-prefix", "N",
	  CONF_U_COUNT, "64", 1, V6_MAX),
};

/* Postfix's main.cf names an administrator coming from Postfix writes
 * first, for those sluice has: the message says how to write them here. */
static const struct conf_hint conf_daemon_hints[] = {
	{ "relayhost",			"deliver relayhost [host]:port" },
	{ "myhostname",			"hostname NAME" },
	{ "mynetworks",			"trusted-networks ADDRESS-OR-CIDR..." },
	{ "relay_domains",		"relay-domains DOMAIN..." },
	{ "inet_interfaces",		"listen ADDR:PORT" },
	{ "queue_directory",		"state-dir PATH" },
	{ "mail_owner",			"user NAME" },
	{ "message_size_limit",		"limits { message-size SIZE }" },
	{ "smtpd_tls_cert_file",	"tls certificate FILE key FILE" },
	{ "smtpd_tls_key_file",		"tls certificate FILE key FILE" },
	{ "smtp_tls_security_level",	"deliver ... tls POLICY" },
	{ "maximal_queue_lifetime",	"retry { lifetime DURATION }" },
};

const struct conf_grammar conf_daemon_grammar = {
	conf_daemon_kws, KW_COUNT, conf_daemon_hints,
	sizeof(conf_daemon_hints) / sizeof(conf_daemon_hints[0])
};
