/*
 * merge: three-way merge of JSON objects, for the sync "merge" strategy.
 *
 * Field by field over the union of keys (a missing key is a value of its
 * own): a field changed on one side only takes that side, including a
 * removal; a field both sides changed the same way takes that value;
 * nested objects changed on both sides are merged recursively; arrays
 * changed on both sides become the server's array followed by the
 * client's new items (those neither in base nor in server, in client
 * order).  Anything else changed on both sides is a conflict.
 */
#ifndef TANDEM_MERGE_H
#define TANDEM_MERGE_H

#include <jansson.h>

enum merge_rc {
	MERGE_OK,
	MERGE_CONFLICT,
	MERGE_ERROR
};

/*
 * Merge server's and client's edits of base.  All three must be JSON
 * objects, else the result is MERGE_CONFLICT.  On MERGE_OK *out is a new
 * reference, sharing nothing with the inputs, that the caller releases
 * with json_decref(); on MERGE_CONFLICT and MERGE_ERROR (out of memory,
 * out NULL) *out is NULL.  The inputs are never modified.
 */
enum merge_rc	merge3(const json_t *base, const json_t *server,
		    const json_t *client, json_t **out);

#endif
