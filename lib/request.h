/*
 * request: reading a request's query and body members, each checked (a
 * bad one is 400 VALIDATION_FAILED naming it), and setting a JSON answer.
 */
#ifndef TANDEM_REQUEST_H
#define TANDEM_REQUEST_H

#include <stdint.h>

#include <jansson.h>

#include "http.h"

int	 req_query_int(struct req *, struct resp *, const char *name,
	    int64_t def, int64_t min, int64_t max, int64_t *out);
int	 req_query_bool(struct req *, struct resp *, const char *name,
	    int def, int *out);
int	 resp_json(struct resp *, int status, json_t *body);

/*
 * Field getters for JSON bodies.  Each returns 0 with *out set (NULL / the
 * default when an optional member is absent), or -1 after filling resp with
 * a 400 VALIDATION_FAILED naming the field.
 */
#define F_REQUIRED	0x1
#define F_NULLABLE	0x2	/* null is allowed and reported as absent */

int	 body_object(struct req *, struct resp *);
int	 field_str(struct resp *, json_t *obj, const char *key,
	    const char *path, int flags, size_t min, size_t max,
	    const char **out);
int	 field_id(struct resp *, json_t *obj, const char *key,
	    const char *path, int flags, const char **out);
int	 field_int(struct resp *, json_t *obj, const char *key,
	    const char *path, int flags, int64_t min, int64_t max,
	    int64_t def, int64_t *out);
int	 field_bool(struct resp *, json_t *obj, const char *key,
	    const char *path, int flags, int def, int *out);
int	 field_enum(struct resp *, json_t *obj, const char *key,
	    const char *path, int flags, const char *const *names,
	    int def, int *out);

#endif
