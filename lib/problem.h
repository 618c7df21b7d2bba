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

/*
 * One row of an area's outcome table (kcgi's enum-indexed pages[]): the
 * status, code and detail (with at most one %s: the resource's id) of an
 * outcome, the
 * field it names and a constant extra member (quota: "bytes"), if any.
 * An area maps its enum to answers with one such table.
 */
struct outcome {
	int		 status;
	const char	*code;
	const char	*detail;
	const char	*field;
	const char	*extra_name;
	const char	*extra_value;
};

int	 problem_outcome(struct resp *, const struct outcome *,
	    const char *id);
const char *problem_title(const char *code);
const char *http_reason(int status);

#endif
