/*
 * merge: three-way merge of JSON objects, for the sync "merge" strategy.
 * The rules are in merge.h.  Values put into the result are deep copies,
 * so that a caller editing the result can never reach into the inputs.
 *
 * Arrays that both sides changed are merged through the canonical forms
 * (RFC 8785) of their elements: base's and server's sorted once, each
 * client element looked up by binary search, so two arrays of n and m
 * elements cost O((n + m) log(n + m)), not O(n * m).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jcs.h"
#include "clock.h"
#include "merge.h"

struct merge {
	struct merge_budget *budget;
	int		 over;		/* the budget ran out */
};

/* One element's canonical form, for sorting and searching. */
struct canon {
	char	*s;
	size_t	 len;
};

static enum merge_rc	merge_objects(struct merge *, const json_t *,
			    const json_t *, const json_t *, json_t **);

static int64_t
mono_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Count n units of work.  Returns 0, or -1 once the budget is spent (and
 * from then on).
 */
static int
spend(struct merge *m, uint64_t n)
{
	struct merge_budget *b = m->budget;
	uint64_t	 before;

	if (m->over)
		return -1;
	if (b == NULL)
		return 0;
	before = b->steps;
	b->steps += n;
	if (b->max_steps != 0 && b->steps > b->max_steps)
		m->over = 1;
	else if (b->deadline_us != 0 && (before / MERGE_CHECK_STEPS !=
	    b->steps / MERGE_CHECK_STEPS || n >= MERGE_CHECK_STEPS) &&
	    mono_now_us() > b->deadline_us)
		m->over = 1;
	return m->over ? -1 : 0;
}

/* Equality where NULL stands for an absent key. */
static int
same(struct merge *m, const json_t *a, const json_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	/* json_equal walks both values: count what it may look at */
	if (json_is_array(a) && spend(m, json_array_size(a)) == -1)
		return 0;
	if (json_is_object(a) && spend(m, json_object_size(a)) == -1)
		return 0;
	return json_equal(a, b);
}

static int
canon_cmp(const void *pa, const void *pb)
{
	const struct canon *a = pa, *b = pb;
	size_t		 n = a->len < b->len ? a->len : b->len;
	int		 c = memcmp(a->s, b->s, n);

	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/*
 * The canonical forms of the elements of arrays a and b (either may be
 * NULL), sorted, into *out (*n of them).  Returns 0 or -1.
 */
static int
canon_sorted(struct merge *m, const json_t *a, const json_t *b,
    struct canon **out, size_t *n)
{
	const json_t	*arr[2] = { a, b };
	struct canon	*v;
	size_t		 total, i, k, j = 0;

	*out = NULL;
	*n = 0;
	total = json_array_size(a) + json_array_size(b);
	if (total == 0)
		return 0;
	if ((v = calloc(total, sizeof(*v))) == NULL)
		return -1;
	for (k = 0; k < 2; k++)
		for (i = 0; i < json_array_size(arr[k]); i++) {
			if (spend(m, 1) == -1 || (v[j].s =
			    jcs_dump(json_array_get(arr[k], i))) == NULL)
				goto fail;
			v[j].len = strlen(v[j].s);
			j++;
		}
	qsort(v, j, sizeof(*v), canon_cmp);
	/* the sort's comparisons: about log2(j) per element */
	for (i = j; i > 1; i >>= 1)
		if (spend(m, j) == -1)
			goto fail;
	*out = v;
	*n = j;
	return 0;
fail:
	while (j > 0)
		free(v[--j].s);
	free(v);
	return -1;
}

/*
 * Merge two arrays both sides changed: a copy of server followed by
 * copies of the client's elements found neither in base (which may be
 * NULL) nor in server, in client order.  Returns a new reference the
 * caller releases, or NULL when out of memory or over budget.
 */
static json_t *
merge_arrays(struct merge *m, const json_t *base, const json_t *server,
    const json_t *client)
{
	struct canon	*known = NULL, key;
	json_t		*res = NULL, *v;
	size_t		 nknown = 0, i, n;

	if (canon_sorted(m, base, server, &known, &nknown) == -1)
		goto fail;
	if (spend(m, json_array_size(server)) == -1 ||
	    (res = json_deep_copy(server)) == NULL)
		goto fail;
	n = json_array_size(client);
	for (i = 0; i < n; i++) {
		v = json_array_get(client, i);
		if (spend(m, 1) == -1 || (key.s = jcs_dump(v)) == NULL)
			goto fail;
		key.len = strlen(key.s);
		if ((nknown == 0 || bsearch(&key, known, nknown,
		    sizeof(*known), canon_cmp) == NULL) &&
		    json_array_append_new(res, json_deep_copy(v)) == -1) {
			free(key.s);
			goto fail;
		}
		free(key.s);
	}
	goto out;
fail:
	json_decref(res);
	res = NULL;
out:
	for (i = 0; i < nknown; i++)
		free(known[i].s);
	free(known);
	return res;
}

/* A deep copy of v, counted against the budget.  NULL on failure. */
static json_t *
copy(struct merge *m, const json_t *v)
{
	if (json_is_array(v) && spend(m, json_array_size(v)) == -1)
		return NULL;
	if (json_is_object(v) && spend(m, json_object_size(v)) == -1)
		return NULL;
	return json_deep_copy(v);
}

/* The failure of a step: out of budget, or out of memory. */
static enum merge_rc
failed(const struct merge *m)
{
	return m->over ? MERGE_BUDGET : MERGE_ERROR;
}

/*
 * Decide one key given its base, server and client values (NULL when
 * absent).  On MERGE_OK *val is a new reference to the merged value, or
 * NULL when the key is to be left out; otherwise *val is NULL.
 */
static enum merge_rc
merge_value(struct merge *m, const json_t *b, const json_t *s,
    const json_t *c, json_t **val)
{
	const json_t	*take;

	*val = NULL;
	if (same(m, s, c) || same(m, s, b))
		take = c;
	else if (same(m, c, b))
		take = s;
	else if (m->over)
		return MERGE_BUDGET;
	else if (json_is_object(b) && json_is_object(s) && json_is_object(c))
		return merge_objects(m, b, s, c, val);
	else if (json_is_array(s) && json_is_array(c) &&
	    (b == NULL || json_is_array(b))) {
		*val = merge_arrays(m, b, s, c);
		return *val == NULL ? failed(m) : MERGE_OK;
	} else
		return MERGE_CONFLICT;

	if (m->over)
		return MERGE_BUDGET;
	if (take == NULL)
		return MERGE_OK;
	*val = copy(m, take);
	return *val == NULL ? failed(m) : MERGE_OK;
}

/*
 * Decide key from the three objects and set the result, if any, in res.
 * Returns MERGE_OK (res may be left without the key), MERGE_CONFLICT,
 * MERGE_BUDGET or MERGE_ERROR.
 */
static enum merge_rc
merge_key(struct merge *m, const json_t *base, const json_t *server,
    const json_t *client, const char *key, size_t key_len, json_t *res)
{
	json_t		*val = NULL;
	enum merge_rc	 rc;

	if (spend(m, 1) == -1)
		return MERGE_BUDGET;
	rc = merge_value(m, json_object_getn(base, key, key_len),
	    json_object_getn(server, key, key_len),
	    json_object_getn(client, key, key_len), &val);
	if (rc != MERGE_OK || val == NULL)
		return rc;
	if (json_object_setn_new(res, key, key_len, val) == -1)
		return MERGE_ERROR;
	return MERGE_OK;
}

/*
 * Merge three objects key by key.  Every key of base, then each key of
 * server not in base, then each key of client in neither, so that each
 * key of the union is decided once.  On MERGE_OK *out is a new reference
 * the caller releases; otherwise *out is NULL.
 */
static enum merge_rc
merge_objects(struct merge *m, const json_t *base, const json_t *server,
    const json_t *client, json_t **out)
{
	json_t		*res = NULL;
	const char	*key;
	size_t		 key_len;
	void		*it;
	enum merge_rc	 rc = MERGE_ERROR;

	*out = NULL;
	res = json_object();
	if (res == NULL)
		goto out;

	/* jansson's iterator API takes a non-const object; it only reads. */
	for (it = json_object_iter((json_t *)base); it != NULL;
	    it = json_object_iter_next((json_t *)base, it)) {
		key = json_object_iter_key(it);
		key_len = json_object_iter_key_len(it);
		rc = merge_key(m, base, server, client, key, key_len, res);
		if (rc != MERGE_OK)
			goto out;
	}
	for (it = json_object_iter((json_t *)server); it != NULL;
	    it = json_object_iter_next((json_t *)server, it)) {
		key = json_object_iter_key(it);
		key_len = json_object_iter_key_len(it);
		if (json_object_getn(base, key, key_len) != NULL)
			continue;
		rc = merge_key(m, base, server, client, key, key_len, res);
		if (rc != MERGE_OK)
			goto out;
	}
	for (it = json_object_iter((json_t *)client); it != NULL;
	    it = json_object_iter_next((json_t *)client, it)) {
		key = json_object_iter_key(it);
		key_len = json_object_iter_key_len(it);
		if (json_object_getn(base, key, key_len) != NULL ||
		    json_object_getn(server, key, key_len) != NULL)
			continue;
		rc = merge_key(m, base, server, client, key, key_len, res);
		if (rc != MERGE_OK)
			goto out;
	}
	*out = res;
	res = NULL;
	rc = MERGE_OK;
out:
	json_decref(res);
	return rc;
}

/*
 * Three-way merge of record data.  See merge.h: on MERGE_OK *out is a
 * new reference the caller json_decref()s, otherwise NULL.
 */
enum merge_rc
merge3(const json_t *base, const json_t *server, const json_t *client,
    struct merge_budget *budget, json_t **out)
{
	struct merge	 m = { budget, 0 };

	if (out == NULL)
		return MERGE_ERROR;
	*out = NULL;
	if (!json_is_object(base) || !json_is_object(server) ||
	    !json_is_object(client))
		return MERGE_CONFLICT;
	return merge_objects(&m, base, server, client, out);
}
