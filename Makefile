# tandem — build, run, test, bench.  `make help` lists the targets.

PREFIX	?= /usr/local
DESTDIR	?=
BUILD	?= build
CC	?= cc
SAN	?=

WARN	= -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
	  -Wwrite-strings -Wshadow -Wvla -Wformat-security
CFLAGS	?= -O2 -g
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Ilib -I$(BUILD) \
	  -I/usr/include/postgresql \
	  $(if $(SAN),$(SANFLAGS))
LIBS	= -lfcgi -ljansson -ljwt -largon2 -lsqlite3 -lpq -lutf8proc -lcrypto \
	  -lpthread -lm
LDFLAGS	+= $(if $(SAN),$(SANFLAGS))

ENGINES	= sqlite pg
# Each engine's migrations/DIR: the engine's name, but for pg.
mig_dir	= $(if $(filter pg,$(1)),postgres,$(1))
LIB_SRC	= $(sort $(wildcard lib/*.c $(ENGINES:%=lib/%/*.c)))
HND_SRC	= $(sort $(wildcard handlers/*.c))
MIG_OBJ	= $(ENGINES:%=$(BUILD)/migrations_%.o)
LIB_OBJ	= $(LIB_SRC:%.c=$(BUILD)/%.o) $(MIG_OBJ)
HND_OBJ	= $(HND_SRC:%.c=$(BUILD)/%.o)
HND_LIB_OBJ = $(filter-out $(BUILD)/handlers/main.o,$(HND_OBJ))
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# Debian packages: to build, to test, to benchmark.
DEPS_BUILD = build-essential pkg-config libfcgi-dev libsqlite3-dev \
	  libjansson-dev libjwt-dev libargon2-dev libssl-dev libcmocka-dev \
	  libutf8proc-dev libpq-dev
DEPS_RUN = nginx openssl curl jq sqlite3 postgresql
DEPS_TEST = $(DEPS_BUILD) $(DEPS_RUN) procps psmisc clang libclang-rt-14-dev \
	  valgrind chromium nodejs
DEPS_BENCH = wrk libnginx-mod-nchan python3

.PHONY: all build deps deps-bench run run-pg test unit api browser sanitize bench \
	lpgen soak clean install lint help fuzz valgrind

FUZZ_SECONDS ?= 60

all: build

help:
	@echo "make [build]   build tandemd and the unit tests into $(BUILD)/"
	@echo "make deps      install missing Debian packages"
	@echo "make run       serve https://127.0.0.1:\$${TANDEM_HTTPS_PORT:-8443}"
	@echo "make run-pg    the same on a throwaway PostgreSQL, TANDEM_HOSTS hosts"
	@echo "make test      unit, API and browser tests against nginx + tandemd"
	@echo "make browser   the JS client and the demo in headless Chromium"
	@echo "make sanitize  the whole test suite under ASan + UBSan"
	@echo "make bench     benchmarks (not part of make test)"
	@echo "make soak      SOAK_MINUTES of mixed load, a worker killed every SOAK_KILL_EVERY_S"
	@echo "make fuzz      libFuzzer targets, FUZZ_SECONDS each (build-fuzz/)"
	@echo "make valgrind  API tests with tandemd under Valgrind memcheck"
	@echo "make install   PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)"

deps:
	@sh tests/deps.sh $(DEPS_TEST)
	@sh tests/browser/deps.sh

deps-bench:
	@sh tests/deps.sh $(DEPS_BENCH)

build: $(BUILD)/tandemd $(UNIT_BIN)

# Each engine's schema, migrations/DIR/*.sql, compiled into the binary.
.SECONDEXPANSION:
$(BUILD)/migrations_%.c: $$(sort $$(wildcard migrations/$$(call mig_dir,$$*)/*.sql)) migrations/embed.awk
	@mkdir -p $(@D)
	awk -v engine=$* -f migrations/embed.awk \
	    $(sort $(wildcard migrations/$(call mig_dir,$*)/*.sql)) > $@.tmp && mv $@.tmp $@

$(BUILD)/migrations_%.o: $(BUILD)/migrations_%.c lib/db.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c $(wildcard lib/*.h lib/*/*.h) handlers/handlers.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tandemd: $(HND_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB_OBJ) $(HND_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Ihandlers -o $@ $< $(LIB_OBJ) \
	    $(HND_LIB_OBJ) $(LIBS) -lcmocka

run: deps build
	@TANDEMD=$(CURDIR)/$(BUILD)/tandemd sh nginx/tandem-stack.sh

run-pg: deps build
	@TANDEMD=$(CURDIR)/$(BUILD)/tandemd TANDEM_STACK_PG=1 \
	    sh nginx/tandem-stack.sh

unit: build
	@sh tests/unit/run.sh $(BUILD)/tests

api: build
	@TANDEMD=$(CURDIR)/$(BUILD)/tandemd bash tests/api/run.sh

browser: build
	@sh tests/browser/deps.sh
	@TANDEMD=$(CURDIR)/$(BUILD)/tandemd bash tests/browser/run.sh

test: deps
	@$(MAKE) --no-print-directory build
	@bash tests/run.sh $(BUILD)

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build-san SAN=1 CFLAGS="-O1 -g" \
	    build
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    TANDEM_SANITIZE=1 bash tests/run.sh build-san

fuzz: deps
	@bash tests/fuzz/run.sh all $(FUZZ_SECONDS)

valgrind: deps
	@$(MAKE) --no-print-directory build
	@bash tests/valgrind.sh $(BUILD)

bench: deps deps-bench build $(BUILD)/bench/lpgen
	@TANDEMD=$(CURDIR)/$(BUILD)/tandemd bash bench/run.sh

# Mixed load for SOAK_MINUTES (30) with a worker killed every
# SOAK_KILL_EVERY_S (300); not part of make test.
soak: $(BUILD)/tandemd
	@TANDEMD=$(CURDIR)/$(BUILD)/tandemd bash bench/soak.sh

# The long-poll load generator (bench/README.md, "lpgen").
lpgen: $(BUILD)/bench/lpgen

$(BUILD)/bench/lpgen: bench/lpgen.c lib/buf.h $(BUILD)/lib/buf.o
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ bench/lpgen.c $(BUILD)/lib/buf.o \
	    -ljansson -lssl -lcrypto -lm

lint:
	@! grep -nE '\b(sprintf|strcpy|strcat|strtok|gets|atoi|strncpy)\s*\(' \
	    lib/*.c handlers/*.c || (echo "banned functions above"; exit 1)

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/tandem
	install -m 0755 $(BUILD)/tandemd $(DESTDIR)$(PREFIX)/bin/tandemd
	cp -R nginx public $(DESTDIR)$(PREFIX)/share/tandem/
	install -d $(DESTDIR)$(PREFIX)/share/tandem/clients/js
	install -m 0644 clients/js/tandem.js clients/js/README.md \
	    $(DESTDIR)$(PREFIX)/share/tandem/clients/js/
	install -d $(DESTDIR)$(PREFIX)/share/doc/tandem \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 docs/API.md docs/OPERATIONS.md docs/openapi.yaml \
	    $(DESTDIR)$(PREFIX)/share/doc/tandem/
	sed 's|/usr/local|$(PREFIX)|g' docs/systemd/tandemd.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/tandemd.service
	sed 's|/usr/local|$(PREFIX)|g' nginx/tandem.site.conf.sample \
	    > $(DESTDIR)$(PREFIX)/share/tandem/nginx/tandem.site.conf.sample

clean:
	rm -rf build build-san build-fuzz
