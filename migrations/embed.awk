# Turn one engine's migrations/ENGINE/NNNN_name.sql files into a C array
# (build/migrations_ENGINE.c), so tandemd carries its schemas and applies
# them wherever it runs:
#	awk -v engine=sqlite -f migrations/embed.awk migrations/sqlite/*.sql
# makes sqlite_migrations[] and sqlite_nmigrations.
#
# A migration that SQL alone cannot do names a C step in a line of its own:
#	-- step: sqlite_users_email_normalize
# db_migrate runs that function (int fn(struct db *), 0 or -1) right after
# the file's SQL, in the same transaction.  The name is bound at link time:
# a step that does not exist fails the build, not the start.
BEGIN {
	n = 0
	bad = 0
	if (engine !~ /^[a-z]+$/) {
		print "embed.awk: set -v engine=NAME" > "/dev/stderr"
		exit 1
	}
}
FNR == 1 {
	name = FILENAME
	sub(/.*\//, "", name)
	sub(/\.sql$/, "", name)
	names[++n] = name
	sql[n] = ""
	step[n] = ""
}
/^--[ \t]*step:/ {
	s = $0
	sub(/^--[ \t]*step:[ \t]*/, "", s)
	sub(/[ \t]+$/, "", s)
	if (s !~ /^[a-z_][a-z0-9_]*$/ || step[n] != "") {
		printf "%s:%d: one step per migration, a C name: %s\n",
		    FILENAME, FNR, $0 > "/dev/stderr"
		bad = 1
	}
	step[n] = s
}
{
	line = $0
	gsub(/\\/, "\\\\", line)
	gsub(/"/, "\\\"", line)
	gsub(/\t/, "\\t", line)
	sql[n] = sql[n] line "\\n"
}
END {
	if (bad)
		exit 1
	print "/* generated from the .sql files of migrations/ by migrations/embed.awk */"
	print "#include <stddef.h>"
	print "#include \"db.h\""
	for (i = 1; i <= n; i++)
		if (step[i] != "")
			printf "int\t %s(struct db *);\n", step[i]
	printf "const struct migration %s_migrations[] = {\n", engine
	for (i = 1; i <= n; i++)
		printf "\t{ \"%s\", \"%s\", %s },\n", names[i], sql[i],
		    step[i] != "" ? step[i] : "NULL"
	print "\t{ NULL, NULL, NULL }"
	print "};"
	printf "const size_t %s_nmigrations = %d;\n", engine, n
}
