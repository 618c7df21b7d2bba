# Turn migrations/NNNN_name.sql files into a C array (build/migrations.c),
# so tandemd carries its schema and applies it wherever it runs.
#
# A migration that SQL alone cannot do names a C step in a line of its own:
#	-- step: db_users_email_normalize
# db_migrate runs that function (int fn(struct db *), 0 or -1) right after
# the file's SQL, in the same transaction.  The name is bound at link time:
# a step that does not exist fails the build, not the start.
BEGIN {
	n = 0
	bad = 0
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
	print "const struct migration db_migrations[] = {"
	for (i = 1; i <= n; i++)
		printf "\t{ \"%s\", \"%s\", %s },\n", names[i], sql[i],
		    step[i] != "" ? step[i] : "NULL"
	print "\t{ NULL, NULL, NULL }"
	print "};"
	printf "const size_t db_nmigrations = %d;\n", n
}
