/*
 * fuzz_merge: the three-way merge of the sync "merge" strategy (merge3)
 * over three JSON documents, base, server and client, split from the
 * input at NUL bytes and parsed as request bodies are.
 *
 * Invariants: the inputs are never modified; a non-object input is a
 * conflict; MERGE_OK comes with an object and the others with NULL; a
 * side equal to base takes the other side whole, equal sides take that
 * value; the result shares no value with the inputs (every node has one
 * reference) and holds nothing but what the rules allow: each member is
 * the server's or the client's value, a recursive merge of two objects,
 * or the server's array followed by client elements.
 *
 * Cost: the merge's own count of work (struct merge_budget.steps) stays
 * within COST_PER_NODE * N * (log2 N + 1) for inputs of N nodes in all:
 * no input makes it quadratic.  A second run with a budget of a tenth of
 * the steps the first took must stop with MERGE_BUDGET (or finish
 * within it) and never with another answer.
 */
#include <string.h>

#include "fuzz.h"
#include "jcs.h"
#include "json.h"
#include "merge.h"

#define COST_PER_NODE	16

/* Nodes of v: every value, containers included. */
static uint64_t
nodes(const json_t *v)
{
	const char	*k;
	json_t		*m;
	size_t		 i;
	uint64_t	 n = 1;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, m)
			n += nodes(m);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			n += nodes(m);
	}
	return n;
}

static uint64_t
log2_ceil(uint64_t n)
{
	uint64_t	 l = 0;

	while (((uint64_t)1 << l) < n)
		l++;
	return l;
}

static int
eq(const json_t *a, const json_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return json_equal(a, b);
}

/* Every node of v has exactly one reference: nothing is shared. */
static void
check_unshared(const json_t *v)
{
	const char	*k;
	json_t		*m;
	size_t		 i;

	/* true, false and null are jansson's static singletons */
	if (json_is_true(v) || json_is_false(v) || json_is_null(v))
		return;
	FUZZ_CHECK(v->refcount == 1, "a shared node (refcount %zu)",
	    v->refcount);
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, m)
			check_unshared(m);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			check_unshared(m);
	}
}

/* Could r be the merge of s and c (either may be NULL: absent)? */
static int
merged_ok(const json_t *r, const json_t *s, const json_t *c)
{
	const char	*k;
	json_t		*m;
	size_t		 i, ns;

	if (eq(r, s) || eq(r, c))
		return 1;
	if (json_is_object(r) && json_is_object(s) && json_is_object(c)) {
		json_object_foreach((json_t *)r, k, m)
			if (!merged_ok(m, json_object_get(s, k),
			    json_object_get(c, k)))
				return 0;
		return 1;
	}
	if (json_is_array(r) && json_is_array(s) && json_is_array(c)) {
		ns = json_array_size(s);
		if (json_array_size(r) < ns)
			return 0;
		for (i = 0; i < json_array_size(r); i++) {
			m = json_array_get(r, i);
			if (i < ns && !json_equal(m, json_array_get(s, i)))
				return 0;
			if (i >= ns) {
				size_t j, found = 0;
				for (j = 0; j < json_array_size(c); j++)
					found |= json_equal(m,
					    json_array_get(c, j));
				if (!found)
					return 0;
			}
		}
		return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t		*doc[3] = { NULL, NULL, NULL }, *copy[3] = { NULL,
			    NULL, NULL }, *out = NULL;
	const uint8_t	*p = data, *end = data + size, *z;
	char		 err[256];
	struct merge_budget budget = { 0, 0, 0 };
	enum merge_rc	 rc;
	uint64_t	 total;
	int		 i, objs = 1;

	for (i = 0; i < 3; i++) {
		z = i < 2 ? memchr(p, '\0', (size_t)(end - p)) : end;
		if (z == NULL)
			goto out;
		if (json_parse_body((const char *)p, (size_t)(z - p), &doc[i],
		    err, sizeof(err)) != JSON_PARSE_OK)
			goto out;
		copy[i] = json_deep_copy(doc[i]);
		FUZZ_CHECK(copy[i] != NULL, "out of memory");
		objs &= json_is_object(doc[i]);
		p = z + (z < end);
	}

	total = nodes(doc[0]) + nodes(doc[1]) + nodes(doc[2]);
	rc = merge3(doc[0], doc[1], doc[2], &budget, &out);
	FUZZ_CHECK(budget.steps <= COST_PER_NODE * total *
	    (log2_ceil(total) + 1), "merge of %llu nodes took %llu steps",
	    (unsigned long long)total, (unsigned long long)budget.steps);
	if (budget.steps >= 10) {
		struct merge_budget tight = { 0, budget.steps / 10, 0 };
		json_t		*o2 = NULL;
		enum merge_rc	 rc2;

		rc2 = merge3(doc[0], doc[1], doc[2], &tight, &o2);
		FUZZ_CHECK(rc2 == MERGE_BUDGET || rc2 == rc,
		    "a budget changed the answer: %d, not %d", (int)rc2,
		    (int)rc);
		FUZZ_CHECK((rc2 == MERGE_OK) == (o2 != NULL),
		    "rc %d with out %p", (int)rc2, (void *)o2);
		json_decref(o2);
	}
	for (i = 0; i < 3; i++)
		FUZZ_CHECK(json_equal(doc[i], copy[i]), "input %d modified",
		    i);
	FUZZ_CHECK(rc == MERGE_OK || rc == MERGE_CONFLICT, "rc %d", (int)rc);
	FUZZ_CHECK((rc == MERGE_OK) == (out != NULL), "rc %d with out %p",
	    (int)rc, (void *)out);
	if (!objs) {
		FUZZ_CHECK(rc == MERGE_CONFLICT, "merged a non-object");
		goto out;
	}
	if (json_equal(doc[1], doc[0]) || json_equal(doc[2], doc[0]) ||
	    json_equal(doc[1], doc[2])) {
		FUZZ_CHECK(rc == MERGE_OK, "a one-sided change conflicted");
		FUZZ_CHECK(json_equal(out, json_equal(doc[1], doc[0]) ?
		    doc[2] : doc[1]), "a one-sided change lost");
	}
	if (rc != MERGE_OK)
		goto out;
	FUZZ_CHECK(json_is_object(out), "result is not an object");
	FUZZ_CHECK(merged_ok(out, doc[1], doc[2]),
	    "result holds a value neither side had");
	/* Drop the inputs first: the result must stand alone. */
	for (i = 0; i < 3; i++) {
		json_decref(doc[i]);
		doc[i] = NULL;
	}
	check_unshared(out);
	{
		char *s = jcs_dump(out);
		FUZZ_CHECK(s != NULL, "no canonical form of the result");
		free(s);
	}
out:
	for (i = 0; i < 3; i++) {
		json_decref(doc[i]);
		json_decref(copy[i]);
	}
	json_decref(out);
	return 0;
}
