# mod_mql - build, test, demo and benchmark.
#
# Every path comes from apxs; the variables below are expanded lazily so
# that the dependency step can install apxs first on a fresh machine.

APXS      ?= apxs
CC        ?= cc
OUT       := build/out
APR_FLAGS  = $(shell $(APXS) -q APR_CONFIG | xargs -I{} sh -c '{} --cppflags --cflags --includes') \
             $(shell $(APXS) -q APU_CONFIG | xargs -I{} sh -c '{} --includes')
APR_LIBS   = $(shell $(APXS) -q APR_CONFIG | xargs -I{} sh -c '{} --link-ld') \
             $(shell $(APXS) -q APU_CONFIG | xargs -I{} sh -c '{} --link-ld')
COMMA     := ,
# The release: VERSION is the one place it is written.  debian/changelog's
# top entry must name the same (build/deb.sh and t/deb.t check).
VERSION   := $(shell cat VERSION)
ifeq ($(shell printf '%s' '$(VERSION)' | grep -Ex '[0-9][0-9A-Za-z.+~]*'),)
$(error VERSION must hold a version like 1.2.3, not '$(VERSION)')
endif
VERSION_H := $(OUT)/gen/mql_version.h
# The Redis store's Function library (mod_mql/mql_redis.lua) as a C string:
# the module loads the code it was built with into Redis.
REDIS_LUA_H := $(OUT)/gen/mql_redis_lua.h
# The visitor stores built in: every mod_mql/mod_mql_store_NAME.c is one,
# registered as the provider NAME (mod_mql_store.c includes the list).
STORES_H  := $(OUT)/gen/mql_stores.h
STORE_SRC := $(sort $(wildcard mod_mql/mod_mql_store_*.c))
WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
# Extra flags for sanitizer builds: make SANITIZE="-fsanitize=address,undefined"
SANITIZE  ?=
# The core is compiled without httpd's include directory: it must need APR only.
# CPPFLAGS, CFLAGS and LDFLAGS from the environment are added (the Debian
# package build passes dpkg-buildflags' hardening flags this way).
CORE_CFLAGS = -std=gnu11 -O2 -g -fPIC $(WARN) $(SANITIZE) -Imod_mql -Iinclude -I$(OUT)/gen $(APR_FLAGS) \
              $(CPPFLAGS) $(CFLAGS)

CORE_SRC  := $(sort $(wildcard mod_mql/mql_*.c))
CORE_OBJ  := $(patsubst mod_mql/%.c,$(OUT)/core/%.o,$(CORE_SRC))
GLUE_SRC  := $(sort $(wildcard mod_mql/mod_mql*.c))
CORE_LIB  := $(OUT)/libmqlcore.a
MODULE    := $(OUT)/mod_mql.so
MQLCTL    := $(OUT)/mqlctl
UNIT_SRC  := $(sort $(wildcard t/unit/test_*.c))
UNIT_BIN  := $(patsubst t/unit/%.c,$(OUT)/unit/%,$(UNIT_SRC))

.PHONY: all deps test-deps install demo test test-cluster unit integration bench clean screenshot fuzz fuzz-build asan \
        test-asan asan-module print-asan-tests print-sanitized-tests deb test-deb test-fresh

all: $(OUT)/.deps-build $(MODULE) $(MQLCTL)

# MQL_DEPS=no skips the installer: debian/rules sets it, as the package's
# Build-Depends have brought what the build needs.
MQL_DEPS ?= yes
$(OUT)/.deps-build: build/deps.sh
	@mkdir -p $(OUT)
	$(if $(filter no,$(MQL_DEPS)),@true,build/deps.sh build)
	@touch $@

$(OUT)/.deps-test: build/deps.sh
	@mkdir -p $(OUT)
	build/deps.sh test
	@touch $@

$(OUT)/core/%.o: mod_mql/%.c mod_mql/*.h $(REDIS_LUA_H) | $(OUT)/.deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

# apxs builds the glue with httpd's flags and links the core into the .so.
# The version as a C string, for the module's start-up line, its status page
# and mqlctl --version.
$(VERSION_H): VERSION
	@mkdir -p $(dir $@)
	printf '#define MQL_VERSION "%s"\n' '$(VERSION)' > $@

$(REDIS_LUA_H): mod_mql/mql_redis.lua
	@mkdir -p $(dir $@)
	{ printf 'const char mql_redis_lua[] =\n'; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $<; \
	  printf '    ;\n'; } > $@

$(STORES_H): $(STORE_SRC) Makefile
	@mkdir -p $(dir $@)
	printf 'MQL_STORE(%s)\n' $(patsubst mod_mql/mod_mql_store_%.c,%,$(STORE_SRC)) > $@

$(MODULE): $(GLUE_SRC) mod_mql/*.h include/*.h $(CORE_LIB) $(VERSION_H) $(STORES_H)
	$(APXS) -c -o $(OUT)/mod_mql.la -Wc,-std=gnu11 $(addprefix -Wc$(COMMA),$(WARN)) \
	    $(addprefix -Wc$(COMMA),$(SANITIZE)) $(addprefix -Wl$(COMMA),$(SANITIZE)) \
	    $(addprefix -Wc$(COMMA),$(CPPFLAGS) $(CFLAGS)) $(addprefix -Wl$(COMMA),$(LDFLAGS)) \
	    -I$(dir $(VERSION_H)) -Imod_mql -Iinclude $(GLUE_SRC) $(CORE_LIB) -lmaxminddb -lsqlite3 -lhiredis -lcurl -lcrypto -lm >$(OUT)/apxs.log 2>&1 \
	    || { cat $(OUT)/apxs.log; exit 1; }
	cp $(OUT)/.libs/mod_mql.so $@

MQLCTL_SRC := mod_mql/mqlctl.c $(sort $(wildcard mod_mql/mqlctl_*.c))
$(MQLCTL): $(MQLCTL_SRC) mod_mql/mqlctl_*.h $(CORE_LIB) $(VERSION_H)
	$(CC) $(CORE_CFLAGS) -I$(dir $(VERSION_H)) $(LDFLAGS) -o $@ $(MQLCTL_SRC) $(CORE_LIB) $(APR_LIBS) -lsqlite3 -lhiredis -lcrypto -lm

$(OUT)/unit/%: t/unit/%.c t/unit/*.h $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_LIB) $(APR_LIBS) -lsqlite3 -lhiredis -lcrypto -lpthread -lm

install: all
	build/install.sh $(MODULE) $(MQLCTL)

demo: all
	build/demo.sh

unit: $(OUT)/.deps-test $(UNIT_BIN)

# The Redis Cluster's failover and killed-master runs (a minute more, six
# redis-server processes each) are left to make test-cluster; make test
# keeps the cluster run that moves slots under load (t/redis_cluster.t).
LONG_TESTS := t/redis_cluster_failover.t t/redis_cluster_kill.t

test: all $(OUT)/.deps-test $(OUT)/.deps-deb $(UNIT_BIN) fuzz-build
	prove -v $(UNIT_BIN) $(filter-out $(LONG_TESTS),$(sort $(wildcard t/*.t)))

test-cluster: all $(OUT)/.deps-test
	prove -v t/redis_cluster.t $(LONG_TESTS)

# ---- Debian package -----------------------------------------------------
# make deb       libapache2-mod-mql_VERSION_ARCH.deb and the source package
#                (.dsc, .tar.xz), built by dpkg-buildpackage from a copy of
#                this checkout, then lintian; DEB_OUT=DIR puts them there.
# make test-deb  install, upgrade, remove and purge in a fresh Debian 12
#                root (debootstrap, chroot): build/deb-system-test.sh.
DEB_OUT ?= $(OUT)/deb
LINTIAN ?= yes

$(OUT)/.deps-deb: build/deps.sh
	@mkdir -p $(OUT)
	build/deps.sh deb
	@touch $@

$(OUT)/.deps-deb-test: build/deps.sh
	@mkdir -p $(OUT)
	build/deps.sh deb-test
	@touch $@

deb: $(OUT)/.deps-build $(OUT)/.deps-deb
	LINTIAN=$(LINTIAN) build/deb.sh $(DEB_OUT)

test-deb: $(OUT)/.deps-deb-test
	$(MAKE) deb
	build/deb-system-test.sh $(DEB_OUT)

# make test-fresh  the whole of make test in a fresh Debian 12 root
#                  (debootstrap, chroot), as CI meets a new machine;
#                  RUNS=3 for three fresh roots in a row.
test-fresh: $(OUT)/.deps-deb-test
	RUNS=$(or $(RUNS),1) build/fresh-root-test.sh

# ---- fuzzing ------------------------------------------------------------
# libFuzzer targets (t/fuzz/fuzz_*.c), one per parser of client or
# application input, built with clang against the core compiled again with
# coverage and AddressSanitizer + UndefinedBehaviorSanitizer.
#   make fuzz                  build, then run each target FUZZ_SECONDS
#   make fuzz FUZZ_SECONDS=600
# t/fuzz.t (part of make test) runs each one for 5 s.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_OUT     := $(OUT)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS   = -std=gnu11 -O1 -g -fno-omit-frame-pointer $(WARN) $(FUZZ_SAN) \
                -Imod_mql -Iinclude -I$(OUT)/gen -It/fuzz $(APR_FLAGS)
FUZZ_SRC     := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZ_BIN     := $(patsubst t/fuzz/%.c,$(FUZZ_OUT)/%,$(FUZZ_SRC))
FUZZ_CORE_OBJ := $(patsubst mod_mql/%.c,$(FUZZ_OUT)/core/%.o,$(CORE_SRC))
FUZZ_CORE_LIB := $(FUZZ_OUT)/libmqlcore-fuzz.a
FUZZ_SEEDS   := $(FUZZ_OUT)/seeds/fuzz_snapshot/.done

$(OUT)/.deps-fuzz: build/deps.sh
	@mkdir -p $(OUT)
	build/deps.sh fuzz
	@touch $@

$(FUZZ_OUT)/core/%.o: mod_mql/%.c mod_mql/*.h $(REDIS_LUA_H) | $(OUT)/.deps-fuzz $(OUT)/.deps-build
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_OUT)/fuzz_%: t/fuzz/fuzz_%.c t/fuzz/fuzz.h $(FUZZ_CORE_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_CORE_LIB) $(APR_LIBS) -lpthread -lm

# Valid snapshots for the fuzz_snapshot corpus, written by this build's
# own mql_snapshot_save so that they match its record layout.
$(FUZZ_OUT)/gen_snapshot_seed: t/fuzz/gen_snapshot_seed.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_LIB) $(APR_LIBS) -lsqlite3 -lhiredis -lcrypto -lpthread -lm

$(FUZZ_SEEDS): $(FUZZ_OUT)/gen_snapshot_seed
	@mkdir -p $(dir $@)
	$(FUZZ_OUT)/gen_snapshot_seed $(dir $@)
	@touch $@

fuzz-build: $(FUZZ_BIN) $(FUZZ_SEEDS)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) prove -v t/fuzz.t

# ---- sanitizers ---------------------------------------------------------
# The core and the unit tests with AddressSanitizer and UBSan (any report
# is fatal), in their own output directory so no object is shared with
# the normal build.
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# use_sigaltstack=0: Debian 12's libasan (GCC 12) reports its own
# sigaltstack call as a stack overflow when a thread of test_dbmpub's
# exits (AsanThread::Destroy, no frame of ours); the tests install no
# signal handler that would need the alternate stack.
asan:
	$(MAKE) OUT=$(OUT)/asan SANITIZE="$(ASAN_FLAGS)" unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:use_sigaltstack=0 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	    prove -v $(patsubst t/unit/%.c,$(OUT)/asan/unit/%,$(UNIT_SRC))

# The module itself with AddressSanitizer + UBSan, in its own output
# directory (the normal build is untouched), and a representative part of
# the integration suite run against it: httpd gets the ASan runtime by
# LD_PRELOAD (t/lib/MQLTest.pm, MQL_ASAN=1) and a test fails when a
# sanitizer report appears in its server root.  `make test-asan` runs
# ASAN_TESTS and shows their whole TAP output; `make test` runs the part
# of them in SANITIZED_TESTS (t/sanitized.t): one test per parser, the
# shared memory's paths and the Redis client, without the long runs
# (the cluster's resharding, the outages, faults, rootsafe), which kept
# make test over 15 minutes.
ASAN_OUT   := $(OUT)/asan-module
ASAN_TESTS ?= t/cookie.t t/exclusions.t t/scoring.t t/concurrency.t t/restart.t \
              t/dbm.t t/status.t t/adversarial.t t/faults.t t/rootsafe.t t/flood.t \
              t/status_sites.t t/cache.t t/deflate.t t/dbm_order.t t/lead_room.t \
              t/journal.t t/redis.t t/redis_outage.t t/redis_cluster.t t/redis_flood.t \
              t/redis_forget.t t/eviction.t t/contact_room.t \
              t/redis_cluster_ask.t t/redis_slow.t t/webhook.t
SANITIZED_TESTS ?= t/cookie.t t/scoring.t t/concurrency.t t/restart.t t/dbm.t t/status.t \
              t/adversarial.t t/flood.t t/journal.t t/redis.t t/redis_cluster_ask.t \
              t/eviction.t t/contact_room.t
# The ASan runtime must come first in httpd's library list, hence the
# preload; the module also names it (and libubsan) as a dependency.
ASAN_MODULE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
                     -fno-omit-frame-pointer

asan-module: $(OUT)/.deps-build
	$(MAKE) OUT=$(ASAN_OUT) SANITIZE="$(ASAN_MODULE_FLAGS)" $(ASAN_OUT)/mod_mql.so

print-asan-tests:
	@echo $(ASAN_TESTS)

print-sanitized-tests:
	@echo $(SANITIZED_TESTS)

test-asan: all $(OUT)/.deps-test asan-module
	MQL_ASAN=1 MQL_MODULE=$(CURDIR)/$(ASAN_OUT)/mod_mql.so \
	    MQL_ASAN_RUNTIME="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	    prove -v $(ASAN_TESTS)

# The benchmark's helper (prefilled snapshots, cookies signed with the
# server's key, snapshot timing) links the same core as the module.
$(OUT)/mqlbench: build/bench/mqlbench.c $(CORE_LIB)
	$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_LIB) $(APR_LIBS) -lsqlite3 -lm

bench: all $(OUT)/mqlbench
	build/deps.sh bench
	build/bench.sh

# docs/status.png: the status page of a demo server, rendered by headless
# chromium (build/screenshot.sh installs chromium when missing).
screenshot: all $(OUT)/.deps-test
	build/screenshot.sh docs/status.png

clean:
	rm -rf $(OUT) mod_mql/*.lo mod_mql/*.slo mod_mql/*.la mod_mql/*.o mod_mql/.libs

# The Function library as the module loads it, for the tests that load it
# into a redis-server of their own.
$(OUT)/redis_library: t/redis_library.c $(CORE_LIB)
	$(CC) $(CORE_CFLAGS) -o $@ $< $(CORE_LIB) $(APR_LIBS) -lhiredis -lsqlite3 -lm

# The apr_dbm reader the DBM tests run next to the server.
$(OUT)/dbm_reader: t/dbm_reader.c $(CORE_LIB)
	$(CC) $(CORE_CFLAGS) -rdynamic -o $@ $< $(CORE_LIB) $(APR_LIBS) -lsqlite3 -lm -ldl
