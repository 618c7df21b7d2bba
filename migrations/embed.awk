# Turn migrations/NNNN_name.sql files into a C array (build/migrations.c),
# so tandemd carries its schema and applies it wherever it runs.
BEGIN {
	print "/* generated from the .sql files of migrations/ by migrations/embed.awk */"
	print "#include <stddef.h>"
	print "#include \"db.h\""
	print "const struct migration db_migrations[] = {"
	n = 0
}
FNR == 1 {
	if (n++ > 0)
		print "\" },"
	name = FILENAME
	sub(/.*\//, "", name)
	sub(/\.sql$/, "", name)
	printf "\t{ \"%s\", \"", name
}
{
	line = $0
	gsub(/\\/, "\\\\", line)
	gsub(/"/, "\\\"", line)
	gsub(/\t/, "\\t", line)
	printf "%s\\n", line
}
END {
	if (n > 0)
		print "\" },"
	print "\t{ NULL, NULL }"
	print "};"
	printf "const size_t db_nmigrations = %d;\n", n
}
