/*
 * Unit tests for lib/secret: each built-in kind and a near miss of each,
 * the leftmost match and the order of ties, NUL bytes, member names,
 * redaction (several matches in a string, across strings, PEM blocks
 * with and without their END line, member names), and the patterns
 * file: a good one, and each kind of bad line with its line number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "secret.h"

static struct secret_set *builtin;

/*
 * pre + n characters cycling over [A-Z0-9] + post, kept until the end of
 * the run (freed by teardown).
 */
static char	*made[1024];
static size_t	 nmade;

static char *
tok(const char *pre, size_t n, const char *post)
{
	static const char cyc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	struct buf	 b;
	size_t		 i;

	buf_init(&b, 0);
	buf_adds(&b, pre);
	for (i = 0; i < n; i++)
		buf_add(&b, &cyc[i % (sizeof(cyc) - 1)], 1);
	buf_adds(&b, post);
	assert_true(nmade < sizeof(made) / sizeof(made[0]));
	made[nmade] = buf_detach(&b);
	assert_non_null(made[nmade]);
	return made[nmade++];
}

/* The kind found in s (strlen), or NULL; *so gets its start. */
static const char *
kind_at(const struct secret_set *set, const char *s, size_t len, size_t *so)
{
	struct secret_match m;
	int		 rc;

	rc = secret_find(set, s, len, 0, &m);
	assert_true(rc == 0 || rc == 1);
	if (rc == 0)
		return NULL;
	assert_true(m.so < m.eo && m.eo <= len);
	if (so != NULL)
		*so = m.so;
	return secret_set_kind(set, m.kind);
}

static const char *
kind_of(const char *s)
{
	return kind_at(builtin, s, strlen(s), NULL);
}

static void
want(const char *s, const char *kind)
{
	const char	*got = kind_of(s);

	if (kind == NULL && got != NULL)
		fail_msg("\"%s\" matched %s", s, got);
	if (kind != NULL && (got == NULL || strcmp(got, kind) != 0))
		fail_msg("\"%s\": got %s, want %s", s, got ? got : "nothing",
		    kind);
}

/* A patterns file holding text; its name (unlink it). */
static char *
pattern_file(const char *text)
{
	char	*name = strdup("/tmp/tandem-secret-XXXXXX");
	FILE	*f;
	int	 fd;

	assert_non_null(name);
	fd = mkstemp(name);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return name;
}

/* The set made of text as a patterns file (NULL: err holds why). */
static struct secret_set *
set_of(const char *text, char *err, size_t errsz, char **file)
{
	struct secret_set *set;
	char		*name = pattern_file(text);

	err[0] = '\0';
	set = secret_set_new(name, err, errsz);
	unlink(name);
	if (file != NULL)
		*file = name;
	else
		free(name);
	return set;
}

static int
setup(void **state)
{
	char	 err[512];

	(void)state;
	builtin = secret_set_new(NULL, err, sizeof(err));
	return builtin == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	secret_set_free(builtin);
	while (nmade > 0)
		free(made[--nmade]);
	return 0;
}

static void
test_builtin_order(void **state)
{
	static const char *const names[SECRET_BUILTINS] = {
		"private_key", "aws_access_key", "github_token",
		"gitlab_token", "slack_token", "stripe_key", "google_api_key"
	};
	size_t	 i;

	(void)state;
	assert_int_equal(secret_set_count(builtin), SECRET_BUILTINS);
	for (i = 0; i < SECRET_BUILTINS; i++)
		assert_string_equal(secret_set_kind(builtin, i), names[i]);
	assert_null(secret_set_kind(builtin, SECRET_BUILTINS));
}

static void
test_private_key(void **state)
{
	(void)state;
	want("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n"
	    "-----END OPENSSH PRIVATE KEY-----\n", "private_key");
	want("-----BEGIN RSA PRIVATE KEY-----", "private_key");
	want("-----BEGIN PRIVATE KEY-----", "private_key");
	want("-----BEGIN EC PRIVATE KEY-----", "private_key");
	want("-----BEGIN ENCRYPTED PRIVATE KEY-----", "private_key");
	want("-----BEGIN PGP PRIVATE KEY BLOCK-----", "private_key");
	want("text before\n-----BEGIN DSA PRIVATE KEY-----\nMIIB\n",
	    "private_key");
	want("-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"
	    "-----BEGIN PRIVATE KEY-----\nMII", "private_key");
	/* near misses */
	want("", NULL);
	want("-----BEGIN PUBLIC KEY-----", NULL);
	want("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----", NULL);
	want("-----BEGIN OPENSSH PUBLIC KEY-----", NULL);
	want("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
	    NULL);
	want("-----BEGIN RSA PRIVATE KEY", NULL);
	want("-----BEGIN RSA PRIVATE KEY----", NULL);
	want("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host", NULL);
	want("PRIVATE KEY-----", NULL);
	want("-----BEGIN ", NULL);
	want("-----BEGIN PRIVATE\nKEY-----", NULL);
	want("-----BEGIN RSA\nPRIVATE KEY-----", NULL);
	want("-----END PRIVATE KEY-----", NULL);
	want("-----begin private key-----", NULL);
	want("-----BEGIN rsa PRIVATE KEY-----", NULL);
}

static void
test_aws_access_key(void **state)
{
	size_t	 so = 0;

	(void)state;
	want("AKIAIOSFODNN7EXAMPLE", "aws_access_key");
	want(tok("AKIA", 16, ""), "aws_access_key");
	want(tok("ASIA", 16, ""), "aws_access_key");
	want(tok("key=", 0, tok("AKIA", 16, ";")), "aws_access_key");
	want(tok("-", 0, tok("AKIA", 16, "-")), "aws_access_key");
	want(tok("\"", 0, tok("ASIA", 16, "\" ")), "aws_access_key");
	want(tok("\xc3\xa9", 0, tok("AKIA", 16, "\xc3\xa9")),
	    "aws_access_key");
	/* near misses: 15, 17, glued on either side, lower case, AGIA */
	want(tok("AKIA", 15, ""), NULL);
	want(tok("AKIA", 15, " x"), NULL);
	want(tok("AKIA", 17, ""), NULL);
	want(tok("x", 0, tok("AKIA", 16, "")), NULL);
	want(tok("7", 0, tok("AKIA", 16, "")), NULL);
	want(tok("_", 0, tok("AKIA", 16, "")), NULL);
	want(tok("AKIA", 16, "_"), NULL);
	want(tok("AKIA", 16, "z"), NULL);
	want("akiaiosfodnn7example", NULL);
	want("AKIAiosfodnn7example", NULL);
	want(tok("AGIA", 16, ""), NULL);
	/* a candidate failing its boundary does not stop the search */
	assert_string_equal(kind_at(builtin, tok("x", 0, tok("AKIA", 16,
	    tok(" ", 0, tok("ASIA", 16, "")))), 42, &so), "aws_access_key");
	assert_int_equal(so, 22);
	/* ...nor one inside a longer run: the run has no boundary inside */
	want(tok("AKIA", 30, ""), NULL);
}

static void
test_github_token(void **state)
{
	char	 pat[200];

	(void)state;
	want(tok("ghp_", 36, ""), "github_token");
	want(tok("gho_", 36, ""), "github_token");
	want(tok("ghu_", 36, ""), "github_token");
	want(tok("ghs_", 36, ""), "github_token");
	want(tok("ghr_", 36, ""), "github_token");
	want(tok("token ghp_", 40, ""), "github_token");
	snprintf(pat, sizeof(pat), "%s", tok("github_pat_11AB_", 78, ""));
	want(pat, "github_token");
	/* near misses */
	want(tok("ghp_", 35, ""), NULL);
	want(tok("ghp_", 35, "-x"), NULL);
	want(tok("ghx_", 36, ""), NULL);
	want(tok("ghp-", 36, ""), NULL);
	want(tok("GHP_", 36, ""), NULL);
	want(tok("github_pat_", 81, ""), NULL);
	want(tok("github_pat_", 81, " "), NULL);
}

static void
test_gitlab_slack_stripe_google(void **state)
{
	(void)state;
	want(tok("glpat-", 20, ""), "gitlab_token");
	want(tok("glpat-ab_cd-", 14, ""), "gitlab_token");
	want(tok("glpat-", 19, ""), NULL);
	want(tok("glpat-", 19, " "), NULL);
	want(tok("glpat_", 20, ""), NULL);

	want(tok("xoxb-", 10, ""), "slack_token");
	want(tok("xoxa-", 10, ""), "slack_token");
	want(tok("xoxp-", 10, ""), "slack_token");
	want(tok("xoxo-", 10, ""), "slack_token");
	want(tok("xoxs-", 10, ""), "slack_token");
	want(tok("xoxr-", 10, ""), "slack_token");
	want("xoxb-123456789012-abcdefABCDEF", "slack_token");
	want(tok("xoxq-", 30, ""), NULL);
	want(tok("xoxb-", 9, ""), NULL);
	want(tok("xoxb-", 9, " and more"), NULL);
	want(tok("xoxb_", 20, ""), NULL);

	want(tok("sk_live_", 24, ""), "stripe_key");
	want(tok("rk_live_", 99, ""), "stripe_key");
	want(tok("sk_test_", 24, ""), NULL);
	want(tok("sk_test_", 40, ""), NULL);
	want(tok("pk_live_", 24, ""), NULL);
	want(tok("sk_live_", 23, ""), NULL);
	want(tok("sk_live_", 23, "_x"), NULL);

	want(tok("AIza", 35, ""), "google_api_key");
	want(tok("AIzaSy-_", 31, ""), "google_api_key");
	want(tok("AIza", 34, ""), NULL);
	want(tok("AIza", 34, " "), NULL);
	want(tok("Aiza", 35, ""), NULL);
}

static void
test_leftmost_and_ties(void **state)
{
	struct secret_set *set;
	char		 err[512], text[300];
	size_t		 so = 99;

	(void)state;
	snprintf(text, sizeof(text), "%s %s", tok("ghp_", 36, ""),
	    tok("AKIA", 16, ""));
	assert_string_equal(kind_of(text), "github_token");
	snprintf(text, sizeof(text), "%s %s", tok("AKIA", 16, ""),
	    tok("ghp_", 36, ""));
	assert_string_equal(kind_of(text), "aws_access_key");
	snprintf(text, sizeof(text), "x %s -----BEGIN PRIVATE KEY-----",
	    tok("AIza", 35, ""));
	assert_string_equal(kind_of(text), "google_api_key");

	/* a tie goes to the kind first in the set: built-ins, then the file */
	set = set_of("akia_any\tAKIA[A-Z0-9]+\n"
	    "acct_a\tacct-[0-9]+\n"
	    "acct_b\tacct-[0-9]{4}-[0-9]+\n"
	    "later\tzz[0-9]+\n", err, sizeof(err), NULL);
	if (set == NULL)
		fail_msg("%s", err);
	assert_int_equal(secret_set_count(set), SECRET_BUILTINS + 4);
	assert_string_equal(kind_at(set, tok("AKIA", 16, ""), 20, NULL),
	    "aws_access_key");
	assert_string_equal(kind_at(set, tok("AKIA", 17, ""), 21, NULL),
	    "akia_any");
	assert_string_equal(kind_at(set, "acct-1234-5678", 14, NULL),
	    "acct_a");
	snprintf(text, sizeof(text), "acct-1 %s", tok("ghp_", 36, ""));
	assert_string_equal(kind_at(set, text, strlen(text), &so), "acct_a");
	assert_int_equal(so, 0);
	snprintf(text, sizeof(text), "%s zz1", tok("ghp_", 36, ""));
	assert_string_equal(kind_at(set, text, strlen(text), NULL),
	    "github_token");
	assert_string_equal(kind_at(set, "a zz1 acct-2", 12, &so), "later");
	assert_int_equal(so, 2);
	secret_set_free(set);
}

static void
test_nul_bytes(void **state)
{
	char	 s[64];
	size_t	 so = 0, n;

	(void)state;
	memcpy(s, "abc\0", 4);
	memcpy(s + 4, tok("AKIA", 16, ""), 20);
	assert_string_equal(kind_at(builtin, s, 24, &so), "aws_access_key");
	assert_int_equal(so, 4);
	/* a NUL is not a word byte, and the length bounds the search */
	assert_null(kind_at(builtin, s, 23, NULL));
	memcpy(s, tok("AKIA", 16, ""), 20);
	s[10] = '\0';
	assert_null(kind_at(builtin, s, 20, NULL));
	n = (size_t)snprintf(s, sizeof(s), "%c%c-----BEGIN RSA PRIVATE KEY"
	    "-----", 0, 0);
	assert_string_equal(kind_at(builtin, s, n, &so), "private_key");
	assert_int_equal(so, 2);
}

/* secret_scan over the JSON text; the path found (free it) or NULL. */
static char *
scan(const char *text, const char **kind)
{
	struct buf	 path;
	json_t		*v;
	char		*res = NULL;
	size_t		 k = 0;
	int		 rc;

	v = json_loads(text, JSON_ALLOW_NUL, NULL);
	assert_non_null(v);
	buf_init(&path, 0);
	buf_adds(&path, "changes[0].data");
	rc = secret_scan(builtin, v, &path, &k);
	assert_true(rc == 0 || rc == 1);
	if (rc == 1) {
		res = strdup(buf_str(&path));
		*kind = secret_set_kind(builtin, k);
	} else
		assert_string_equal(buf_str(&path), "changes[0].data");
	buf_release(&path);
	json_decref(v);
	return res;
}

static void
check_scan(const char *text, const char *path, const char *kind)
{
	const char	*k = NULL;
	char		*got = scan(text, &k);

	if (path == NULL) {
		if (got != NULL)
			fail_msg("%s: found %s", text, got);
	} else {
		if (got == NULL)
			fail_msg("%s: nothing found", text);
		assert_string_equal(got, path);
		assert_string_equal(k, kind);
	}
	free(got);
}

static void
test_scan_paths(void **state)
{
	char	 text[400];

	(void)state;
	check_scan("{\"ssh\":{\"key\":\"-----BEGIN OPENSSH PRIVATE KEY-----"
	    "\\nAAA\\n-----END OPENSSH PRIVATE KEY-----\"}}",
	    "changes[0].data.ssh.key", "private_key");
	check_scan("{\"a\":1,\"keys\":[\"ok\",{\"pem\":\"x\"},"
	    "\"-----BEGIN RSA PRIVATE KEY-----\"]}", "changes[0].data.keys[2]",
	    "private_key");
	check_scan("{\"k\":[[1,2],[\"-----BEGIN PRIVATE KEY-----\"]]}",
	    "changes[0].data.k[1][0]", "private_key");
	check_scan("{\"-----BEGIN PRIVATE KEY-----\":true}",
	    "changes[0].data.-----BEGIN PRIVATE KEY-----", "private_key");
	snprintf(text, sizeof(text), "{\"ok\":1,\"%s\":{\"x\":\"%s\"}}",
	    tok("AKIA", 16, ""), tok("ghp_", 36, ""));
	check_scan(text, tok("changes[0].data.", 0, tok("AKIA", 16, "")),
	    "aws_access_key");
	snprintf(text, sizeof(text), "{\"a\":\"fine\",\"b\":{\"c\":[\"%s\"]},"
	    "\"d\":\"%s\"}", tok("xoxb-", 12, ""), tok("AKIA", 16, ""));
	check_scan(text, "changes[0].data.b.c[0]", "slack_token");
	snprintf(text, sizeof(text), "{\"n\":\"a\\u0000%s\"}",
	    tok("sk_live_", 24, ""));
	check_scan(text, "changes[0].data.n", "stripe_key");
	check_scan("{\"cert\":\"-----BEGIN CERTIFICATE-----\","
	    "\"pub\":\"-----BEGIN PUBLIC KEY-----\",\"n\":[1,null,true],"
	    "\"o\":{\"p\":{}}}", NULL, NULL);
	check_scan("{}", NULL, NULL);
}

/* secret_redact_str of s; the result (free it), or NULL when untouched. */
static char *
redact(const char *s)
{
	char	*out = NULL;
	size_t	 n = 0;
	int	 rc;

	rc = secret_redact_str(builtin, s, strlen(s), &out, &n);
	assert_true(rc == 0 || rc == 1);
	if (rc == 0)
		assert_null(out);
	else
		assert_int_equal(n, strlen(out));
	return out;
}

static void
check_redact(const char *s, const char *want_s)
{
	char	*got = redact(s);

	if (want_s == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want_s);
	}
	free(got);
}

static void
test_redact_strings(void **state)
{
	char	 text[600];

	(void)state;
	check_redact("nothing here", NULL);
	check_redact("", NULL);
	snprintf(text, sizeof(text), "a %s b %s c %s", tok("AKIA", 16, ""),
	    tok("ghp_", 36, ""), tok("ASIA", 16, ""));
	check_redact(text, "a [REDACTED:aws_access_key] b "
	    "[REDACTED:github_token] c [REDACTED:aws_access_key]");
	snprintf(text, sizeof(text), "%s%s", tok("glpat-", 20, ""),
	    tok("AIza", 35, ""));
	check_redact(text, "[REDACTED:gitlab_token][REDACTED:google_api_key]");
	check_redact("pre -----BEGIN RSA PRIVATE KEY-----\nMIIE\n"
	    "-----END RSA PRIVATE KEY----- post",
	    "pre [REDACTED:private_key] post");
	check_redact("pre -----BEGIN PRIVATE KEY-----\nMIIE\nno end",
	    "pre [REDACTED:private_key]");
	check_redact("-----BEGIN PGP PRIVATE KEY BLOCK-----\nx\n"
	    "-----END PGP PRIVATE KEY BLOCK-----\n",
	    "[REDACTED:private_key]\n");
	/* two blocks: each to its own END line, the text between kept */
	check_redact("-----BEGIN EC PRIVATE KEY-----\na\n-----END EC PRIVATE "
	    "KEY-----\nbetween\n-----BEGIN PRIVATE KEY-----\nb\n-----END "
	    "PRIVATE KEY-----!", "[REDACTED:private_key]\nbetween\n"
	    "[REDACTED:private_key]!");
	/* an END line of another label does not end the block */
	check_redact("-----BEGIN RSA PRIVATE KEY-----\na\n-----END PRIVATE "
	    "KEY----- tail", "[REDACTED:private_key]");
	/* a secret inside a block is part of the block */
	snprintf(text, sizeof(text), "-----BEGIN PRIVATE KEY-----\n%s\n"
	    "-----END PRIVATE KEY----- %s", tok("AKIA", 16, ""),
	    tok("AKIA", 16, ""));
	check_redact(text, "[REDACTED:private_key] "
	    "[REDACTED:aws_access_key]");
}

/* secret_redact over the JSON text: its canonical result and paths. */
static void
check_redact_json(const char *text, const char *want_v, const char *paths)
{
	struct buf	 path;
	json_t		*v, *p;
	char		*got;
	size_t		 kind;

	v = json_loads(text, 0, NULL);
	p = json_array();
	assert_non_null(v);
	buf_init(&path, 0);
	buf_adds(&path, "data");
	assert_int_equal(secret_redact(builtin, v, &path, p, &kind), 0);
	assert_string_equal(buf_str(&path), "data");
	got = json_dumps(v, JSON_COMPACT);
	assert_string_equal(got, want_v);
	free(got);
	got = json_dumps(p, JSON_COMPACT);
	assert_string_equal(got, paths);
	free(got);
	buf_release(&path);
	json_decref(v);
	json_decref(p);
}

static void
test_redact_json(void **state)
{
	struct buf	 path;
	json_t		*v, *p;
	char		 text[600];
	size_t		 kind = 99;

	(void)state;
	snprintf(text, sizeof(text), "{\"x\":\"%s\",\"y\":[\"ok\",\"k %s\","
	    "3],\"z\":{\"w\":\"%s\",\"n\":null}}", tok("AKIA", 16, ""),
	    tok("ghp_", 36, ""), tok("xoxb-", 10, ""));
	check_redact_json(text, "{\"x\":\"[REDACTED:aws_access_key]\",\"y\":"
	    "[\"ok\",\"k [REDACTED:github_token]\",3],\"z\":{\"w\":"
	    "\"[REDACTED:slack_token]\",\"n\":null}}",
	    "[\"data.x\",\"data.y[1]\",\"data.z.w\"]");
	check_redact_json("{\"a\":1,\"b\":[\"c\"]}", "{\"a\":1,\"b\":[\"c\"]}",
	    "[]");
	/* a member name: renamed where it stood, its value's path under it */
	snprintf(text, sizeof(text), "{\"first\":1,\"%s\":{\"k\":\"%s\"},"
	    "\"last\":2}", tok("AKIA", 16, ""), tok("sk_live_", 30, ""));
	check_redact_json(text, "{\"first\":1,\"[REDACTED:aws_access_key]\":"
	    "{\"k\":\"[REDACTED:stripe_key]\"},\"last\":2}",
	    "[\"data.[REDACTED:aws_access_key]\","
	    "\"data.[REDACTED:aws_access_key].k\"]");
	/* the same path is listed once */
	snprintf(text, sizeof(text), "{\"%s\":\"%s\"}", tok("AKIA", 16, ""),
	    tok("ASIA", 16, ""));
	check_redact_json(text, "{\"[REDACTED:aws_access_key]\":"
	    "\"[REDACTED:aws_access_key]\"}",
	    "[\"data.[REDACTED:aws_access_key]\"]");

	/* two names that would redact alike: refused, naming the first */
	snprintf(text, sizeof(text), "{\"ok\":{\"a\":1,\"%s\":1,\"%s\":2}}",
	    tok("AKIA", 16, ""), tok("ASIA", 16, ""));
	v = json_loads(text, 0, NULL);
	p = json_array();
	buf_init(&path, 0);
	buf_adds(&path, "data");
	assert_int_equal(secret_redact(builtin, v, &path, p, &kind), 1);
	assert_string_equal(buf_str(&path), tok("data.ok.", 0,
	    tok("AKIA", 16, "")));
	assert_string_equal(secret_set_kind(builtin, kind), "aws_access_key");
	buf_release(&path);
	json_decref(v);
	json_decref(p);
}

/* A match widened to whole UTF-8 characters; anchors after a match. */
static void
test_utf8_widened(void **state)
{
	struct secret_set *set;
	char		 err[512], *out = NULL;
	size_t		 n = 0;

	(void)state;
	set = set_of("byte\tq.\n", err, sizeof(err), NULL);
	if (set == NULL)
		fail_msg("%s", err);
	/* "q" + the first byte of "é": the whole character goes */
	assert_int_equal(secret_redact_str(set, "aq\xc3\xa9z", 5, &out, &n),
	    1);
	assert_string_equal(out, "a[REDACTED:byte]z");
	free(out);
	secret_set_free(set);

	/* ^ is the string's start, never where a later search begins */
	set = set_of("anchored\t^ab\n", err, sizeof(err), NULL);
	if (set == NULL)
		fail_msg("%s", err);
	assert_int_equal(secret_redact_str(set, "abab", 4, &out, &n), 1);
	assert_string_equal(out, "[REDACTED:anchored]ab");
	free(out);
	secret_set_free(set);
}

static void
test_patterns_file_good(void **state)
{
	struct secret_set *set;
	char		 err[512];

	(void)state;
	set = set_of("# internal tokens\n"
	    "\n"
	    "   \n"
	    "acme_token\tacme_[0-9a-f]{32}\n"
	    "# another\n"
	    "npm_token\tnpm_[A-Za-z0-9]{36}\r\n"
	    "tab_in_re\ta\tb\n"
	    "no_newline\t^only this$", err, sizeof(err), NULL);
	if (set == NULL)
		fail_msg("%s", err);
	assert_int_equal(secret_set_count(set), SECRET_BUILTINS + 4);
	assert_string_equal(secret_set_kind(set, SECRET_BUILTINS),
	    "acme_token");
	assert_string_equal(secret_set_kind(set, SECRET_BUILTINS + 1),
	    "npm_token");
	assert_string_equal(kind_at(set, tok("x acme_", 0,
	    "0123456789abcdef0123456789abcdef"), 39, NULL), "acme_token");
	assert_null(kind_at(set, "acme_0123456789abcdef", 21, NULL));
	assert_string_equal(kind_at(set, tok("npm_", 36, ""), 40, NULL),
	    "npm_token");
	assert_string_equal(kind_at(set, "xa\tb", 4, NULL), "tab_in_re");
	/* ^ and $ are the string's ends */
	assert_string_equal(kind_at(set, "only this", 9, NULL), "no_newline");
	assert_null(kind_at(set, "not only this", 13, NULL));
	/* the built-ins are still there, first */
	assert_string_equal(kind_at(set, tok("AKIA", 16, ""), 20, NULL),
	    "aws_access_key");
	secret_set_free(set);

	/* an empty file adds nothing */
	set = set_of("", err, sizeof(err), NULL);
	assert_non_null(set);
	assert_int_equal(secret_set_count(set), SECRET_BUILTINS);
	secret_set_free(set);
}

/* A file with text is refused, err holding "FILE:LINE: " and what. */
static void
bad_file(const char *text, int line, const char *what)
{
	struct secret_set *set;
	char		 err[768], prefix[128], *file = NULL;

	set = set_of(text, err, sizeof(err), &file);
	if (set != NULL)
		fail_msg("accepted: %s", text);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err, what) == NULL)
		fail_msg("err \"%s\", want \"%s...%s...\"", err, prefix, what);
	free(file);
}

static void
test_patterns_file_bad(void **state)
{
	struct secret_set *set;
	char		 err[768];

	(void)state;
	bad_file("good\tx+\nno tab here\n", 2, "no tab");
	bad_file("# c\n\nBad_Name\tx\n", 3, "not 1..32 bytes of [a-z0-9_]");
	bad_file("bad-name\tx\n", 1, "not 1..32 bytes");
	bad_file("\tx\n", 1, "not 1..32 bytes");
	bad_file("a23456789012345678901234567890123\tx\n", 1,
	    "not 1..32 bytes");
	bad_file("ok\tx\nempty\t\n", 2, "no pattern after the tab");
	bad_file("a\tx\nb\ty\nc\tab(c\n", 3, "kind c: ");
	bad_file("brackets\t[a-\n", 1, "kind brackets: ");
	bad_file("star\t*\n", 1, "kind star: ");
	bad_file("stripe_key\tsk_[a-z]+\n", 1, "kind stripe_key is built in");
	bad_file("mine\tx\nmine\ty\n", 2, "kind mine is defined already");
	bad_file("everything\tx*\n", 1, "matches the empty string");
	bad_file("\n\n\nanchor\t^\n", 4, "matches the empty string");

	/* regerror's own text */
	set = set_of("paren\ta(b\n", err, sizeof(err), NULL);
	assert_null(set);
	assert_non_null(strstr(err, "Unmatched ( or \\("));

	/* more kinds than a file may add */
	{
		struct buf	 b;
		int		 i;

		buf_init(&b, 0);
		for (i = 0; i <= SECRET_FILE_MAX; i++)
			buf_addf(&b, "k%d\tx%d\n", i, i);
		bad_file(buf_str(&b), SECRET_FILE_MAX + 1, "more than 64 kinds");
		buf_release(&b);
	}

	/* a file that cannot be read */
	set = secret_set_new("/nonexistent/patterns", err, sizeof(err));
	assert_null(set);
	assert_string_equal(err, "/nonexistent/patterns: No such file or "
	    "directory");
}

static void
test_guard_words(void **state)
{
	(void)state;
	assert_int_equal(secret_guard_parse("1"), SECRET_GUARD_REFUSE);
	assert_int_equal(secret_guard_parse("refuse"), SECRET_GUARD_REFUSE);
	assert_int_equal(secret_guard_parse("0"), SECRET_GUARD_OFF);
	assert_int_equal(secret_guard_parse("off"), SECRET_GUARD_OFF);
	assert_int_equal(secret_guard_parse("redact"), SECRET_GUARD_REDACT);
	assert_int_equal(secret_guard_parse("2"), -1);
	assert_int_equal(secret_guard_parse("Redact"), -1);
	assert_int_equal(secret_guard_parse(""), -1);
	assert_string_equal(secret_guard_names[SECRET_GUARD_OFF], "off");
	assert_string_equal(secret_guard_names[SECRET_GUARD_REFUSE], "refuse");
	assert_string_equal(secret_guard_names[SECRET_GUARD_REDACT], "redact");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_order),
		cmocka_unit_test(test_private_key),
		cmocka_unit_test(test_aws_access_key),
		cmocka_unit_test(test_github_token),
		cmocka_unit_test(test_gitlab_slack_stripe_google),
		cmocka_unit_test(test_leftmost_and_ties),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_scan_paths),
		cmocka_unit_test(test_redact_strings),
		cmocka_unit_test(test_redact_json),
		cmocka_unit_test(test_utf8_widened),
		cmocka_unit_test(test_patterns_file_good),
		cmocka_unit_test(test_patterns_file_bad),
		cmocka_unit_test(test_guard_words),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
