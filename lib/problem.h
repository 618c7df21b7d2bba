/*
 * problem: RFC 9457 problem documents.  A handler says
 *	return problem(resp, 404, "NOT_FOUND", "session %s not found", sid);
 * and may add members with problem_set().  The dispatcher adds
 * "request_id" when it sends the response.
 */
#ifndef TANDEM_PROBLEM_H
#define TANDEM_PROBLEM_H

#include <jansson.h>

struct resp;

int	 problem(struct resp *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int	 problem_field(struct resp *, int status, const char *code,
	    const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
void	 problem_set(struct resp *, const char *key, json_t *value);
int	 problem_db(struct resp *, int db_rc);
const char *problem_title(const char *code);
const char *http_reason(int status);

#endif
