/*
 * log: one line per event, as key=value pairs, to syslog (facility mail)
 * or to stderr.  The base layer; knows nothing about mail.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the program name and the destination: syslog when use_syslog. */
void	log_init(const char *ident, bool use_syslog);
/* Lines above this level are dropped (default LOG_LVL_INFO). */
void	log_set_level(enum log_level);
void	log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vmsg(enum log_level, const char *fmt, va_list)
	    __attribute__((format(printf, 2, 0)));
#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Logs at error level and exits 1.  Only before the loop runs, or for a
 * broken invariant. */
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
