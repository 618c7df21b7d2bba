#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "secret.h"

const char *const secret_guard_names[SECRET_GUARD__MAX] = {
	"off", "refuse", "redact"
};

/*
 * A kind.  lits, for the built-ins: every match starts with one of these
 * literals, so a string holding none of them is never handed to regexec
 * (records are up to 256 KiB and every string is scanned), and regexec
 * starts at the first of them.
 */
struct secret_kind {
	char		 name[SECRET_NAME_MAX + 1];
	regex_t		 re;
	const char	*lits[7];
	int		 flags;
};

#define SK_WORD	0x1	/* on word boundaries: no [A-Za-z0-9_] either side */
#define SK_PEM	0x2	/* a BEGIN line, the match running to its END line */

struct secret_set {
	struct secret_kind k[SECRET_KINDS_MAX];
	size_t		 n;
};

/* The built-in kinds, in API.md's order (the order ties are settled in). */
static const struct builtin {
	const char	*name;
	const char	*re;
	const char	*lits[7];
	int		 flags;
} builtins[SECRET_BUILTINS] = {
	{ "private_key", "-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----",
	  { "-----BEGIN ", NULL }, SK_PEM },
	{ "aws_access_key", "(AKIA|ASIA)[A-Z0-9]{16}",
	  { "AKIA", "ASIA", NULL }, SK_WORD },
	{ "github_token",
	  "gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82}",
	  { "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", NULL }, 0 },
	{ "gitlab_token", "glpat-[A-Za-z0-9_-]{20}", { "glpat-", NULL }, 0 },
	{ "slack_token", "xox[abposr]-[A-Za-z0-9-]{10,}", { "xox", NULL }, 0 },
	{ "stripe_key", "(sk|rk)_live_[A-Za-z0-9]{24,}",
	  { "sk_live_", "rk_live_", NULL }, 0 },
	{ "google_api_key", "AIza[A-Za-z0-9_-]{35}", { "AIza", NULL }, 0 },
};

/* TANDEM_SECRET_GUARD's value: an enum secret_guard, or -1. */
int
secret_guard_parse(const char *s)
{
	if (strcmp(s, "1") == 0 || strcmp(s, "refuse") == 0)
		return SECRET_GUARD_REFUSE;
	if (strcmp(s, "0") == 0 || strcmp(s, "off") == 0)
		return SECRET_GUARD_OFF;
	if (strcmp(s, "redact") == 0)
		return SECRET_GUARD_REDACT;
	return -1;
}

static int
word_byte(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* The first offset at or after from where one of lits starts, or SIZE_MAX. */
static size_t
lit_first(const char *const *lits, const char *s, size_t len, size_t from)
{
	const char	*p;
	size_t		 i, best = SIZE_MAX;

	for (i = 0; lits[i] != NULL; i++) {
		p = memmem(s + from, len - from, lits[i], strlen(lits[i]));
		if (p != NULL && (size_t)(p - s) < best)
			best = (size_t)(p - s);
	}
	return best;
}

/*
 * Where the PEM block whose BEGIN line is s[so, eo) ends: after its END
 * line ("-----END " + the same label + "-----"), or at the end of the
 * string when there is none (a BEGIN line alone counts).
 */
static size_t
pem_end(const char *s, size_t len, size_t so, size_t eo)
{
	static const char begin[] = "-----BEGIN ", end[] = "-----END ";
	const char	*label = s + so + sizeof(begin) - 1, *q;
	size_t		 n = eo - so - (sizeof(begin) - 1) - 5, at, p = eo;

	while (p < len && (q = memmem(s + p, len - p, end,
	    sizeof(end) - 1)) != NULL) {
		at = (size_t)(q - s) + sizeof(end) - 1;
		if (len - at >= n + 5 && memcmp(s + at, label, n) == 0 &&
		    memcmp(s + at + n, "-----", 5) == 0)
			return at + n + 5;
		p = (size_t)(q - s) + 1;
	}
	return len;
}

/*
 * The leftmost match of kind k in s[from, len) (the whole of s its
 * context): 1 with [*so, *eo), 0 when there is none, -1 when regexec
 * fails.  An empty match does not count, nor a candidate that fails the
 * kind's word boundaries: the search goes on after its start.  A match is
 * widened to whole UTF-8 characters, so that redacting it leaves valid
 * UTF-8.
 */
static int
kind_find(const struct secret_kind *k, const char *s, size_t len,
    size_t from, size_t *so, size_t *eo)
{
	regmatch_t	 m;
	size_t		 start;
	int		 rc;

	if (len > (size_t)INT_MAX)
		return -1;	/* regoff_t is an int */
	while (from <= len) {
		start = from;
		if (k->lits[0] != NULL &&
		    (start = lit_first(k->lits, s, len, from)) == SIZE_MAX)
			return 0;
		m.rm_so = (regoff_t)start;
		m.rm_eo = (regoff_t)len;
		rc = regexec(&k->re, s, 1, &m, REG_STARTEND);
		if (rc == REG_NOMATCH)
			return 0;
		if (rc != 0 || m.rm_so < 0 || m.rm_eo < m.rm_so)
			return -1;
		*so = (size_t)m.rm_so;
		*eo = (size_t)m.rm_eo;
		if (*eo == *so || ((k->flags & SK_WORD) &&
		    ((*so > 0 && word_byte((unsigned char)s[*so - 1])) ||
		    (*eo < len && word_byte((unsigned char)s[*eo]))))) {
			from = *so + 1;
			continue;
		}
		if (k->flags & SK_PEM)
			*eo = pem_end(s, len, *so, *eo);
		while (*so > 0 && ((unsigned char)s[*so] & 0xc0) == 0x80)
			(*so)--;
		while (*eo < len && ((unsigned char)s[*eo] & 0xc0) == 0x80)
			(*eo)++;
		return 1;
	}
	return 0;
}

/*
 * The leftmost match of any kind in s[from, len) (len bytes, NUL bytes
 * included), a tie going to the kind first in the set.  Returns 1 with
 * *m filled, 0 when s holds no secret there, -1 when regexec fails.
 */
int
secret_find(const struct secret_set *set, const char *s, size_t len,
    size_t from, struct secret_match *m)
{
	size_t	 i, so, eo;
	int	 rc, found = 0;

	for (i = 0; i < set->n; i++) {
		if ((rc = kind_find(&set->k[i], s, len, from, &so, &eo)) == -1)
			return -1;
		if (rc == 1 && (!found || so < m->so)) {
			m->so = so;
			m->eo = eo;
			m->kind = i;
			found = 1;
		}
	}
	return found;
}

/*
 * s with every match replaced by "[REDACTED:kind]", matches taken from
 * the left as secret_find picks them, each search going on after the
 * previous match.  Returns 1 with *out (NUL-terminated, *out_len bytes;
 * free it), 0 when s holds no secret (*out NULL), -1 when out of memory
 * or regexec fails.
 */
int
secret_redact_str(const struct secret_set *set, const char *s, size_t len,
    char **out, size_t *out_len)
{
	struct {
		int	 state;		/* 0: not searched, 1: found, 2: none */
		size_t	 so, eo;
	} next[SECRET_KINDS_MAX];
	struct buf	 b;
	size_t		 i, pos = 0, best;
	int		 rc, n = 0;

	*out = NULL;
	*out_len = 0;
	memset(next, 0, sizeof(next));
	buf_init(&b, 0);
	for (;;) {
		best = SIZE_MAX;
		for (i = 0; i < set->n; i++) {
			/* a kind's next match stays good while it starts at pos or later */
			if (next[i].state == 0 ||
			    (next[i].state == 1 && next[i].so < pos)) {
				rc = kind_find(&set->k[i], s, len, pos,
				    &next[i].so, &next[i].eo);
				if (rc == -1)
					goto fail;
				next[i].state = rc == 1 ? 1 : 2;
			}
			if (next[i].state == 1 && (best == SIZE_MAX ||
			    next[i].so < next[best].so))
				best = i;
		}
		if (best == SIZE_MAX)
			break;
		if (buf_add(&b, s + pos, next[best].so - pos) == -1 ||
		    buf_addf(&b, "[REDACTED:%s]", set->k[best].name) == -1)
			goto fail;
		pos = next[best].eo;
		n++;
	}
	if (n == 0) {
		buf_release(&b);
		return 0;
	}
	if (buf_add(&b, s + pos, len - pos) == -1)
		goto fail;
	*out_len = b.len;
	*out = buf_detach(&b);
	return *out != NULL ? 1 : -1;
fail:
	buf_release(&b);
	return -1;
}

/* Cut path back to its first len bytes. */
static void
path_cut(struct buf *path, size_t len)
{
	path->len = len;
	if (path->data != NULL)
		path->data[len] = '\0';
}

static int
is_container(const json_t *v)
{
	return json_is_string(v) || json_is_array(v) || json_is_object(v);
}

/*
 * Look for a secret in any string of v, member names included, in
 * document order (a member's name before its value).  path holds v's
 * path on entry ("changes[0].data"); when one is found the culprit's is
 * appended (".ssh.key", "[2]"), *kind names what was found, and 1 is
 * returned; otherwise path is left as it was and 0 returned.  -1 when out
 * of memory or regexec fails.
 */
int
secret_scan(const struct secret_set *set, const json_t *v, struct buf *path,
    size_t *kind)
{
	struct secret_match m;
	const char	*key;
	json_t		*item;
	size_t		 i, len = path->len;
	int		 rc;

	if (json_is_string(v)) {
		rc = secret_find(set, json_string_value(v),
		    json_string_length(v), 0, &m);
		if (rc == 1)
			*kind = m.kind;
		return rc;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			if (!is_container(item))
				continue;
			if (buf_addf(path, "[%zu]", i) == -1)
				return -1;
			if ((rc = secret_scan(set, item, path, kind)) != 0)
				return rc;
			path_cut(path, len);
		}
		return 0;
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, item) {
			if (buf_addf(path, ".%s", key) == -1)
				return -1;
			rc = secret_find(set, key, strlen(key), 0, &m);
			if (rc == 1)
				*kind = m.kind;
			if (rc != 0)
				return rc;
			if (is_container(item) &&
			    (rc = secret_scan(set, item, path, kind)) != 0)
				return rc;
			path_cut(path, len);
		}
	}
	return 0;
}

/* Append path to paths unless it is the last one there already. */
static int
paths_add(json_t *paths, const struct buf *path)
{
	json_t	*last;

	last = json_array_get(paths, json_array_size(paths) - 1);
	if (last != NULL && strcmp(json_string_value(last), buf_str(path)) == 0)
		return 0;
	return json_array_append_new(paths, json_string(buf_str(path)));
}

static int	 redact_object(const struct secret_set *, json_t *,
		    struct buf *, json_t *, size_t *);

/* secret_redact of one value. */
static int
redact_value(const struct secret_set *set, json_t *v, struct buf *path,
    json_t *paths, size_t *kind)
{
	json_t	*item;
	char	*s;
	size_t	 i, n, len = path->len;
	int	 rc;

	if (json_is_string(v)) {
		rc = secret_redact_str(set, json_string_value(v),
		    json_string_length(v), &s, &n);
		if (rc == 1) {
			rc = json_string_setn(v, s, n) == 0 &&
			    paths_add(paths, path) == 0 ? 0 : -1;
			free(s);
		}
		return rc;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			if (!is_container(item))
				continue;
			if (buf_addf(path, "[%zu]", i) == -1)
				return -1;
			if ((rc = redact_value(set, item, path, paths,
			    kind)) != 0)
				return rc;
			path_cut(path, len);
		}
		return 0;
	}
	if (json_is_object(v))
		return redact_object(set, v, path, paths, kind);
	return 0;
}

/*
 * secret_redact of an object.  A member name holding a secret renames
 * the member (in place, keeping the order), which jansson cannot do: the
 * object is then built again.  When two members would get one name, the
 * first member name holding a secret is the culprit.
 */
static int
redact_object(const struct secret_set *set, json_t *v, struct buf *path,
    json_t *paths, size_t *kind)
{
	struct secret_match m;
	const char	*key, *name, *first = NULL;
	json_t		*item, *nw = NULL;
	char		*nk = NULL;
	size_t		 len = path->len, n;
	int		 rc = 0;

	json_object_foreach(v, key, item)
		if ((rc = secret_find(set, key, strlen(key), 0, &m)) != 0) {
			first = key;
			break;
		}
	if (rc == -1)
		return -1;
	if (rc == 1 && (nw = json_object()) == NULL)
		return -1;
	json_object_foreach(v, key, item) {
		name = key;
		if (nw != NULL) {
			if ((rc = secret_redact_str(set, key, strlen(key), &nk,
			    &n)) == -1)
				goto out;
			if (rc == 1)
				name = nk;
			if (json_object_get(nw, name) != NULL) {
				/* two members would have one name */
				*kind = m.kind;
				rc = buf_addf(path, ".%s", first) == 0 ? 1 : -1;
				goto out;
			}
			if (json_object_set(nw, name, item) == -1) {
				rc = -1;
				goto out;
			}
		}
		rc = -1;
		if (buf_addf(path, ".%s", name) == -1 ||
		    (nk != NULL && paths_add(paths, path) == -1))
			goto out;
		if ((rc = redact_value(set, item, path, paths, kind)) != 0)
			goto out;
		path_cut(path, len);
		free(nk);
		nk = NULL;
	}
	rc = 0;
	if (nw != NULL && (json_object_clear(v) == -1 ||
	    json_object_update(v, nw) == -1))
		rc = -1;
out:
	free(nk);
	json_decref(nw);
	return rc;
}

/*
 * Replace every match in every string of v, member names included, by
 * "[REDACTED:kind]", in place.  path holds v's path on entry ("data");
 * the path of each string changed is appended to the array paths (a
 * renamed member under its new name), in document order.  Returns 0
 * (path as it was), -1 when out of memory or regexec fails, or 1 when a
 * member name cannot be redacted because two members of an object would
 * get one name: path then names the object's first member name holding
 * a secret, as it was sent, *kind what it holds, and v is left half done
 * (refuse the record).
 */
int
secret_redact(const struct secret_set *set, json_t *v, struct buf *path,
    json_t *paths, size_t *kind)
{
	size_t	 len = path->len;
	int	 rc;

	if ((rc = redact_value(set, v, path, paths, kind)) == 0)
		path_cut(path, len);
	return rc;
}

/*
 * Compile kind name's pattern into set (as its next kind).  Returns 0, or
 * -1 with regerror's text in err.
 */
static int
kind_add(struct secret_set *set, const char *name, const char *re,
    char *err, size_t errsz)
{
	struct secret_kind *k = &set->k[set->n];
	int		 rc;

	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	if ((rc = regcomp(&k->re, re, REG_EXTENDED)) != 0) {
		regerror(rc, &k->re, err, errsz);
		regfree(&k->re);
		return -1;
	}
	set->n++;
	return 0;
}

/* 1 when s[0, n) is a kind's name: [a-z0-9_]{1,32}. */
static int
name_valid(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > SECRET_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* 1 when the line holds only blanks (spaces and tabs), or nothing. */
static int
line_blank(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

/*
 * One line of a patterns file (its newline cut): NAME TAB ERE.  Returns
 * 0, or -1 with why the line is bad in why.
 */
static int
file_line(struct secret_set *set, char *line, size_t n, char *why,
    size_t whysz)
{
	char		 re_err[256];
	char		*tab;
	size_t		 i;

	if (memchr(line, '\0', n) != NULL) {
		snprintf(why, whysz, "a NUL byte");
		return -1;
	}
	if ((tab = memchr(line, '\t', n)) == NULL) {
		snprintf(why, whysz, "no tab between the kind's name and its "
		    "pattern (want NAME<TAB>REGEX)");
		return -1;
	}
	*tab = '\0';
	if (!name_valid(line, (size_t)(tab - line))) {
		snprintf(why, whysz, "the kind's name \"%.40s\" is not 1..32 "
		    "bytes of [a-z0-9_]", line);
		return -1;
	}
	for (i = 0; i < set->n; i++)
		if (strcmp(set->k[i].name, line) == 0) {
			snprintf(why, whysz, "kind %s is %s already", line,
			    i < SECRET_BUILTINS ? "built in" : "defined");
			return -1;
		}
	if (tab[1] == '\0') {
		snprintf(why, whysz, "no pattern after the tab");
		return -1;
	}
	if (set->n == SECRET_KINDS_MAX) {
		snprintf(why, whysz, "more than %d kinds", SECRET_FILE_MAX);
		return -1;
	}
	if (kind_add(set, line, tab + 1, re_err, sizeof(re_err)) == -1) {
		snprintf(why, whysz, "kind %s: %s", line, re_err);
		return -1;
	}
	/* a pattern matching nothing at all would match everywhere */
	if (regexec(&set->k[set->n - 1].re, "", 0, NULL, 0) == 0) {
		set->n--;
		regfree(&set->k[set->n].re);
		snprintf(why, whysz, "kind %s: the pattern matches the empty "
		    "string", line);
		return -1;
	}
	return 0;
}

/* Read the patterns file into set.  Returns 0, or -1 with err filled. */
static int
file_load(struct secret_set *set, const char *file, char *err, size_t errsz)
{
	FILE	*f;
	char	*line = NULL, why[512];
	size_t	 cap = 0, lineno = 0, n;
	ssize_t	 got;
	int	 rc = -1;

	if ((f = fopen(file, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", file, strerror(errno));
		return -1;
	}
	while ((got = getline(&line, &cap, f)) != -1) {
		lineno++;
		n = (size_t)got;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (line_blank(line, n) || line[0] == '#')
			continue;
		if (file_line(set, line, n, why, sizeof(why)) == -1) {
			snprintf(err, errsz, "%s:%zu: %s", file, lineno, why);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errsz, "%s: %s", file, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

/*
 * The built-in kinds, then those of file (NULL: none), compiled.  Returns
 * the set (secret_set_free it), or NULL with why in err: the file's name
 * and line number and what is wrong with the line (regerror's text for a
 * pattern that does not compile).
 */
struct secret_set *
secret_set_new(const char *file, char *err, size_t errsz)
{
	struct secret_set *set;
	char		 why[256];
	size_t		 i;

	if ((set = calloc(1, sizeof(*set))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	for (i = 0; i < SECRET_BUILTINS; i++) {
		if (kind_add(set, builtins[i].name, builtins[i].re, why,
		    sizeof(why)) == -1) {
			snprintf(err, errsz, "built-in kind %s: %s",
			    builtins[i].name, why);
			goto fail;
		}
		memcpy(set->k[i].lits, builtins[i].lits, sizeof(set->k[i].lits));
		set->k[i].flags = builtins[i].flags;
	}
	if (file != NULL && file_load(set, file, err, errsz) == -1)
		goto fail;
	return set;
fail:
	secret_set_free(set);
	return NULL;
}

void
secret_set_free(struct secret_set *set)
{
	size_t	 i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		regfree(&set->k[i].re);
	free(set);
}

size_t
secret_set_count(const struct secret_set *set)
{
	return set->n;
}

/* The name of a kind ("aws_access_key"), or NULL past the last. */
const char *
secret_set_kind(const struct secret_set *set, size_t kind)
{
	return kind < set->n ? set->k[kind].name : NULL;
}
