/*
 * merge: three-way merge of JSON objects, for the sync "merge" strategy.
 * The rules are in merge.h.  Values put into the result are deep copies,
 * so that a caller editing the result can never reach into the inputs.
 */
#include <stddef.h>

#include "merge.h"

static enum merge_rc	merge_objects(const json_t *, const json_t *,
			    const json_t *, json_t **);

/* Equality where NULL stands for an absent key. */
static int
same(const json_t *a, const json_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return json_equal(a, b);
}

/* Is v an element of arr (json_equal)?  A NULL arr holds nothing. */
static int
array_has(const json_t *arr, const json_t *v)
{
	size_t	 i, n;

	n = json_array_size(arr);
	for (i = 0; i < n; i++)
		if (json_equal(json_array_get(arr, i), v))
			return 1;
	return 0;
}

/*
 * Merge two arrays both sides changed: a copy of server followed by
 * copies of the client's elements found neither in base (which may be
 * NULL) nor in server, in client order.  Returns a new reference the
 * caller releases, or NULL when out of memory.
 */
static json_t *
merge_arrays(const json_t *base, const json_t *server, const json_t *client)
{
	json_t	*res = NULL, *v;
	size_t	 i, n;

	res = json_deep_copy(server);
	if (res == NULL)
		goto out;
	n = json_array_size(client);
	for (i = 0; i < n; i++) {
		v = json_array_get(client, i);
		if (array_has(base, v) || array_has(server, v))
			continue;
		if (json_array_append_new(res, json_deep_copy(v)) == -1) {
			json_decref(res);
			res = NULL;
			goto out;
		}
	}
out:
	return res;
}

/*
 * Decide one key given its base, server and client values (NULL when
 * absent).  On MERGE_OK *val is a new reference to the merged value, or
 * NULL when the key is to be left out; otherwise *val is NULL.
 */
static enum merge_rc
merge_value(const json_t *b, const json_t *s, const json_t *c, json_t **val)
{
	const json_t	*take;

	*val = NULL;
	if (same(s, c) || same(s, b))
		take = c;
	else if (same(c, b))
		take = s;
	else if (json_is_object(b) && json_is_object(s) && json_is_object(c))
		return merge_objects(b, s, c, val);
	else if (json_is_array(s) && json_is_array(c) &&
	    (b == NULL || json_is_array(b))) {
		*val = merge_arrays(b, s, c);
		return *val == NULL ? MERGE_ERROR : MERGE_OK;
	} else
		return MERGE_CONFLICT;

	if (take == NULL)
		return MERGE_OK;
	*val = json_deep_copy(take);
	return *val == NULL ? MERGE_ERROR : MERGE_OK;
}

/*
 * Decide key from the three objects and set the result, if any, in res.
 * Returns MERGE_OK (res may be left without the key), MERGE_CONFLICT or
 * MERGE_ERROR.
 */
static enum merge_rc
merge_key(const json_t *base, const json_t *server, const json_t *client,
    const char *key, size_t key_len, json_t *res)
{
	json_t		*val = NULL;
	enum merge_rc	 rc;

	rc = merge_value(json_object_getn(base, key, key_len),
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
merge_objects(const json_t *base, const json_t *server, const json_t *client,
    json_t **out)
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
		rc = merge_key(base, server, client, key, key_len, res);
		if (rc != MERGE_OK)
			goto out;
	}
	for (it = json_object_iter((json_t *)server); it != NULL;
	    it = json_object_iter_next((json_t *)server, it)) {
		key = json_object_iter_key(it);
		key_len = json_object_iter_key_len(it);
		if (json_object_getn(base, key, key_len) != NULL)
			continue;
		rc = merge_key(base, server, client, key, key_len, res);
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
		rc = merge_key(base, server, client, key, key_len, res);
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
    json_t **out)
{
	if (out == NULL)
		return MERGE_ERROR;
	*out = NULL;
	if (!json_is_object(base) || !json_is_object(server) ||
	    !json_is_object(client))
		return MERGE_CONFLICT;
	return merge_objects(base, server, client, out);
}
