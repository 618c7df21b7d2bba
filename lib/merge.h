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
 *
 * The cost is bounded: O(n log n) in the sizes of the inputs (arrays are
 * compared through their elements' sorted canonical forms, never element
 * against element), and a budget can cut it short.
 */
#ifndef TANDEM_MERGE_H
#define TANDEM_MERGE_H

#include <jansson.h>
#include <stdint.h>

enum merge_rc {
	MERGE_OK,
	MERGE_CONFLICT,
	MERGE_ERROR,
	MERGE_BUDGET		/* the budget ran out: treat as a conflict */
};

/*
 * What a merge may cost: steps counts the units of work done (an element
 * or a member looked at); past max_steps (0: no limit) or the monotonic
 * deadline_us (0: none, checked every MERGE_CHECK_STEPS) the merge stops
 * with MERGE_BUDGET.
 */
struct merge_budget {
	uint64_t	 steps;
	uint64_t	 max_steps;
	int64_t		 deadline_us;
};

#define MERGE_CHECK_STEPS	1024

/*
 * Merge server's and client's edits of base.  All three must be JSON
 * objects, else the result is MERGE_CONFLICT.  On MERGE_OK *out is a new
 * reference, sharing nothing with the inputs, that the caller releases
 * with json_decref(); on MERGE_CONFLICT and MERGE_ERROR (out of memory,
 * out NULL) and MERGE_BUDGET *out is NULL.  The inputs are never
 * modified.  budget may be NULL (no limit).
 */
enum merge_rc	merge3(const json_t *base, const json_t *server,
		    const json_t *client, struct merge_budget *budget,
		    json_t **out);

#endif
