# libFuzzer builds of tandem, into build-fuzz/ (never build/, so they do
# not collide with other builds).  Used by tests/fuzz/run.sh from the top
# of the tree:  make -f tests/fuzz/fuzz.mk [FUZZ_BUILD=build-fuzz] all
#
# The project's lib/*.c and handlers/*.c (but handlers/main.c, which has
# main()) are compiled once with clang and the sanitizers into an archive
# every target links; the migrations are embedded as in the main Makefile.

FUZZ_BUILD ?= build-fuzz
FUZZ_CC	?= clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer
FUZZ_WARN = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
	  -Wwrite-strings -Wshadow -Wvla -Wformat-security
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 $(FUZZ_SAN) \
	  -Ilib -Ihandlers -I$(FUZZ_BUILD) -I/usr/include/postgresql
FUZZ_LIBS = -lfcgi -ljansson -ljwt -largon2 -lsqlite3 -lpq -lutf8proc -lcrypto \
	  -lpthread -lm

FUZZ_SRC = $(filter-out handlers/main.c,$(sort $(wildcard lib/*.c lib/sqlite/*.c \
	  lib/pg/*.c handlers/*.c)))
FUZZ_OBJ = $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) \
	  $(FUZZ_BUILD)/obj/migrations_sqlite.o $(FUZZ_BUILD)/obj/migrations_pg.o
FUZZ_HDR = $(wildcard lib/*.h lib/*/*.h) handlers/handlers.h
FUZZ_TARGETS = json_body jwt merge router handlers email
FUZZ_BINS = $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# fuzz_handlers replaces argon2 (tens of ms a hash) by a cheap stand-in.
WRAP_handlers = -Wl,--wrap=auth_password_hash \
	  -Wl,--wrap=auth_password_verify -Wl,--wrap=auth_password_burn

.PHONY: all
all: $(FUZZ_BINS)

$(FUZZ_BUILD)/migrations_sqlite.c: $(sort $(wildcard migrations/sqlite/*.sql)) migrations/embed.awk
	@mkdir -p $(@D)
	awk -v engine=sqlite -f migrations/embed.awk \
	    $(sort $(wildcard migrations/sqlite/*.sql)) > $@.tmp && mv $@.tmp $@

$(FUZZ_BUILD)/migrations_pg.c: $(sort $(wildcard migrations/postgres/*.sql)) migrations/embed.awk
	@mkdir -p $(@D)
	awk -v engine=pg -f migrations/embed.awk \
	    $(sort $(wildcard migrations/postgres/*.sql)) > $@.tmp && mv $@.tmp $@

$(FUZZ_BUILD)/obj/migrations_%.o: $(FUZZ_BUILD)/migrations_%.c lib/db.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# Other people's code: their gcc build has -Werror; here a clang-only
# warning must not stop the fuzzing.
$(FUZZ_BUILD)/obj/%.o: %.c $(FUZZ_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/libtandem.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^

# The targets themselves are held to -Werror.
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libtandem.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) -Werror -fsanitize=fuzzer \
	    -o $@ $< $(WRAP_$*) $(FUZZ_BUILD)/libtandem.a $(FUZZ_LIBS)
