/*
 * The C steps of the SQLite migrations: what SQL alone cannot do when a
 * database of an earlier version is brought up to date (a fresh database
 * runs them over no rows).  Each is named by a "-- step:" line of its
 * migration file and runs inside that migration's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "email.h"
#include "log.h"
#include "sqlite.h"

int	 sqlite_users_email_normalize(struct db *);

/* One account as the email step sees it. */
struct email_row {
	int64_t	 id;
	size_t	 age;		/* rank by (created_at, id): 0 is the oldest */
	char	*public_id;
	char	*raw;
	char	*norm;		/* NULL: cannot be normalised */
};

/* Accounts alike first, then the oldest first; unnormalisable ones last. */
static int
email_row_cmp(const void *a, const void *b)
{
	const struct email_row *x = a, *y = b;
	int	 c;

	if (x->norm == NULL || y->norm == NULL)
		c = (x->norm == NULL) - (y->norm == NULL);
	else
		c = strcmp(x->norm, y->norm);
	if (c == 0)
		c = (x->age > y->age) - (x->age < y->age);
	return c;
}

/* Every account, oldest first, with its email normalised where it can be. */
static int
email_rows_load(struct db *db, struct email_row **rows, size_t *n)
{
	sqlite3_stmt	*st;
	struct email_row *r = NULL, *grown;
	enum email_err	 why;
	size_t		 cap = 0, k = 0;
	int		 rc = DB_ERROR, row;

	st = sq_prepare(db, "SELECT id, public_id, email FROM users "
	    "ORDER BY created_at, id");
	if (st == NULL)
		goto out;
	while ((rc = sq_next(db, st, &row)) == DB_OK && row) {
		if (k == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(r, cap * sizeof(*r));
			if (grown == NULL) {
				rc = DB_ERROR;
				break;
			}
			r = grown;
		}
		memset(&r[k], 0, sizeof(r[k]));
		r[k].id = sqlite3_column_int64(st, 0);
		r[k].age = k;
		r[k].public_id = sq_col_dup(st, 1);
		r[k].raw = sq_col_dup(st, 2);
		k++;
		if (r[k - 1].public_id == NULL || r[k - 1].raw == NULL) {
			rc = DB_ERROR;
			break;
		}
		r[k - 1].norm = email_normalize(r[k - 1].raw, &why);
		if (r[k - 1].norm == NULL && why == EMAIL_NOMEM) {
			rc = DB_ERROR;
			break;
		}
	}
	sqlite3_reset(st);
out:
	*rows = r;
	*n = k;
	return rc;
}

static void
email_rows_free(struct email_row *r, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(r[i].public_id);
		free(r[i].raw);
		free(r[i].norm);
	}
	free(r);
}

static int
email_set(struct db *db, int64_t id, const char *email)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE users SET email = ?2 WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, id);
	sq_bind_text(st, 2, email);
	return sq_exec(db, st);
}

/*
 * Move a newer account's email out of the way of the oldest's normalised
 * one: it equals it but for ASCII case, and users.email is UNIQUE COLLATE
 * NOCASE.  It keeps its email, marked: "<email> (conflict <public id>)",
 * which no normalised email can equal (it holds spaces).
 */
static int
email_set_aside(struct db *db, int64_t id)
{
	sqlite3_stmt	*st;

	st = sq_prepare(db, "UPDATE users SET email = email || ' (conflict ' "
	    "|| public_id || ')' WHERE id = ?1");
	if (st == NULL)
		return DB_ERROR;
	sqlite3_bind_int64(st, 1, id);
	return sq_exec(db, st);
}

/*
 * One group of accounts whose emails normalise alike, oldest first: the
 * oldest gets the normalised email, the others keep theirs (one that
 * equals it but for ASCII case set aside first) and a warning names them.
 * Returns a db_rc.
 */
static int
email_group_apply(struct db *db, struct email_row *g, size_t n,
    size_t *changed)
{
	json_t	*others = NULL;
	size_t	 i;
	int	 rc = DB_OK;

	for (i = 1; i < n && rc == DB_OK; i++)
		if (sqlite3_stricmp(g[i].raw, g[0].norm) == 0)
			rc = email_set_aside(db, g[i].id);
	if (rc == DB_OK && strcmp(g[0].raw, g[0].norm) != 0) {
		rc = email_set(db, g[0].id, g[0].norm);
		if (rc == DB_OK)
			(*changed)++;
	}
	if (rc != DB_OK) {
		log_json(LOG_ERROR, "email normalisation failed", json_pack(
		    "{s:s}", "user", g[0].public_id));
		goto out;
	}
	if (n == 1)
		goto out;
	if ((others = json_array()) == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	for (i = 1; i < n; i++)
		json_array_append_new(others, json_string(g[i].public_id));
	log_json(LOG_WARN, "emails normalise alike: the oldest account keeps "
	    "the email, the others are left as they were",
	    json_pack("{s:s, s:o}", "user", g[0].public_id, "others", others));
	others = NULL;
out:
	json_decref(others);
	return rc;
}

/*
 * The C step of migrations/sqlite/0004_email_normalize.sql, inside its
 * transaction: every stored email once in its normalised form (emails
 * were stored raw before 1.1).  Accounts whose emails normalise alike
 * were look-alike second accounts: the oldest (created_at, then id) gets
 * the normalised email; the others keep theirs and cannot log in with it
 * (it normalises to the oldest's) until an operator resolves them; a
 * warning names them all.  An email that cannot be normalised (a
 * zero-width space) is kept as it is, with a warning.  Nothing is
 * deleted.  Returns 0 or -1.
 */
int
sqlite_users_email_normalize(struct db *db)
{
	struct email_row *r = NULL;
	size_t		 n = 0, i, j, changed = 0, alike = 0, kept = 0;
	int		 rc;

	rc = email_rows_load(db, &r, &n);
	if (rc != DB_OK)
		goto out;
	if (n > 1)	/* qsort's array must not be NULL, even empty */
		qsort(r, n, sizeof(*r), email_row_cmp);
	for (i = 0; i < n && rc == DB_OK; i = j) {
		if (r[i].norm == NULL) {
			log_json(LOG_WARN, "email cannot be normalised; left "
			    "as it was", json_pack("{s:s}", "user",
			    r[i].public_id));
			kept++;
			j = i + 1;
			continue;
		}
		for (j = i + 1; j < n && r[j].norm != NULL &&
		    strcmp(r[j].norm, r[i].norm) == 0; j++)
			;
		alike += j - i > 1 ? j - i - 1 : 0;
		rc = email_group_apply(db, r + i, j - i, &changed);
	}
	if (rc == DB_OK)
		log_json(LOG_INFO, "emails normalised", json_pack("{s:I, s:I, "
		    "s:I, s:I}", "users", (json_int_t)n, "changed",
		    (json_int_t)changed, "alike", (json_int_t)alike,
		    "unnormalisable", (json_int_t)kept));
out:
	email_rows_free(r, n);
	return rc == DB_OK ? 0 : -1;
}

