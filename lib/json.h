/*
 * json: helpers over jansson shared by every handler: parsing a request
 * body with the contract's limits, the shape checks for client-chosen ids
 * and collection names, and canonical sizes.  The canonical form itself
 * (RFC 8785) is in jcs.c.
 */
#ifndef TANDEM_JSON_H
#define TANDEM_JSON_H

#include <jansson.h>
#include <stddef.h>

#define JSON_MAX_DEPTH	64

enum json_parse_rc {
	JSON_PARSE_OK,
	JSON_PARSE_SYNTAX,	/* not JSON, invalid UTF-8, NUL, duplicates */
	JSON_PARSE_DEPTH,	/* nested deeper than JSON_MAX_DEPTH */
};

enum json_parse_rc json_parse_body(const char *, size_t, json_t **,
		    char *err, size_t errsz);
int	 json_depth_ok(const char *, size_t, int max);
void	 json_numbers_normal(json_t *);
json_t	*json_load_stored(const char *, size_t);
json_t	*json_member_normal(json_t *obj, const char *key);
void	 utf8_scrub(char *);
int	 valid_id(const char *);
int	 valid_collection(const char *);
int	 valid_utf8_len(const char *, size_t min, size_t max);

#endif
