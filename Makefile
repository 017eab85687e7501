# rios-lua: `make` builds ./rios-lua; `make test` runs the specs in it;
# `make demo` installs what is missing, builds and runs scripts/ndvi.lua.

PREFIX ?= /usr/local
CC ?= cc
PKGS := luajit gdal libcrypto
CFLAGS ?= -O2 -g
# SANFLAGS: -fsanitize=... for the sanitizer builds (make tsan, make asan).
CFLAGS += $(SANFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# LDLIBS: what the runtime needs; CMD_LDLIBS: what the rios-lua command adds
# (its prompt's line editing).
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
CMD_LDLIBS := -lreadline
# Export the runtime's symbols so the FFI finds rios_ffi_* through ffi.C.
LDFLAGS += -Wl,-E $(SANFLAGS)

# Debian packages the project needs to build, test and run. slurm-wlm and
# munge: the private single-node SLURM the batch specs run on; python3-gdal:
# GDAL's own Cloud Optimized GeoTIFF validator, which the specs run.
DEB_PACKAGES := gcc make pkg-config luajit libluajit-5.1-dev libgdal-dev gdal-bin \
  lua-cjson lua-busted libcurl4-openssl-dev libreadline-dev tmux man-db time \
  slurm-wlm munge libssl-dev clang libclang-rt-14-dev python3-gdal

# The runtime apart from the commands: LIB_OBJS is every C file but a
# command's own (its main, and rios-lua's readline prompt), so rios-lua and
# rios-luaworker each link LIB_OBJS with theirs; rios-luaworker needs no
# readline. Objects, not an archive: Lua reaches rios_ffi_* through the FFI,
# so no C caller would pull them out of a library.
CMD_SRCS := runtime/main.c runtime/repl.c
WORKER_SRCS := workers/luaworker.c
LIB_SRCS := $(filter-out $(CMD_SRCS) $(WORKER_SRCS),$(wildcard runtime/*.c) $(wildcard workers/*.c))
HDRS := $(wildcard runtime/*.h) $(wildcard workers/*.h)
BUILD ?= build/default
LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
CMD_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(CMD_SRCS))
WORKER_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(WORKER_SRCS))
# The hash of the FFI declarations a worker says hello with: a worker built
# from another rios_ffi.h is refused (workers/channel.h).
FFI_HASH := $(shell sed -n '/^\/\* RIOS_FFI_BEGIN \*\/$$/,/^\/\* RIOS_FFI_END \*\/$$/p' \
  runtime/rios_ffi.h | sha256sum | cut -c1-64)
CDEF := lua/rios/cdef.lua
REGISTRY := lua/rios/registry.lua
BIN ?= rios-lua
# The worker binary is named after BIN (rios-lua-asan -> rios-luaworker-asan),
# so each build starts its own workers.
WORKER_BIN ?= $(subst rios-lua,rios-luaworker,$(BIN))

.PHONY: all test demo deps install uninstall clean print-deb-packages tsan asan bench fuzz

all: $(BIN) $(WORKER_BIN) $(CDEF) $(REGISTRY)

$(BIN): $(LIB_OBJS) $(CMD_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMD_LDLIBS)

$(WORKER_BIN): $(LIB_OBJS) $(WORKER_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iruntime -c -o $@ $<

$(BUILD)/workers/%.o: CFLAGS += -DRIOS_FFI_HASH='"$(FFI_HASH)"'

# The FFI declarations come from one header (see runtime/rios_ffi.h).
$(CDEF): runtime/rios_ffi.h
	{ echo '-- Generated from runtime/rios_ffi.h by make: do not edit.'; \
	  echo 'return [=['; \
	  sed -n '/^\/\* RIOS_FFI_BEGIN \*\/$$/,/^\/\* RIOS_FFI_END \*\/$$/p' $< | sed '1d;$$d'; \
	  echo ']=]'; } > $@.tmp && mv $@.tmp $@

# The registry keys C and Lua share come from one header (runtime/registry.h).
$(REGISTRY): runtime/registry.h
	{ echo '-- Generated from runtime/registry.h by make: do not edit.'; \
	  echo '-- The Lua registry keys the C host and the rios modules share.'; \
	  echo 'return {'; \
	  sed -n 's|^#define RIOS_REG_\([A-Z_]*\) \("[^"]*"\) */\* *\(.*\) \*/$$|  \1 = \2,  -- \3|p' $<; \
	  echo '}'; } > $@.tmp && mv $@.tmp $@

# Runs every spec inside the runtime; the last line is "N passed, N failed".
test: all
	@./rios-lua spec/run.lua

# Sanitizer builds of the runtime, each in its own build folder and binary:
# ASan/UBSan runs every spec, TSan the concurrency specs (real threads). TSan knows
# nothing of LuaJIT's uninstrumented code; spec/support/tsan.supp says
# what is suppressed and why.
SAN_SPECS := spec/concurrency_spec.lua spec/channel_spec.lua spec/subproc_spec.lua
tsan:
	@CFLAGS="-O1 -g" $(MAKE) --no-print-directory BUILD=build/tsan BIN=rios-lua-tsan \
	  SANFLAGS="-fsanitize=thread" all
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$(CURDIR)/spec/support/tsan.supp" \
	  ./rios-lua-tsan spec/run.lua $(SAN_SPECS)

asan:
	@CFLAGS="-O1 -g" $(MAKE) --no-print-directory BUILD=build/asan BIN=rios-lua-asan \
	  SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  all
	ASAN_OPTIONS="halt_on_error=1 exitcode=66 detect_leaks=1" \
	  LSAN_OPTIONS="suppressions=$(CURDIR)/spec/support/lsan.supp print_suppressions=0" \
	  UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" \
	  ./rios-lua-asan spec/run.lua

# The libFuzzer target over every decoder of bytes from a peer: frames,
# the handshake, the address file and the payload codec (workers/fuzz/).
# Built with clang and ASan/UBSan, run for FUZZ_SECONDS; not part of `make
# test`. The corpus grows in build/fuzz/corpus from workers/fuzz/seeds.
FUZZ_SECONDS ?= 300
FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
fuzz: $(CDEF) $(REGISTRY)
	@mkdir -p $(FUZZ_DIR)/corpus
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -std=c11 -D_GNU_SOURCE -DRIOS_FFI_HASH='"$(FFI_HASH)"' -DRIOS_LUA_DIR='"$(CURDIR)/lua"' \
	  $(shell pkg-config --cflags $(PKGS)) -Wl,-E -o $(FUZZ_DIR)/channel_fuzz \
	  workers/fuzz/channel_fuzz.c workers/wire.c workers/address.c \
	  $(filter-out runtime/main.c runtime/repl.c,$(wildcard runtime/*.c)) $(LDLIBS)
	@echo "fuzzing for $(FUZZ_SECONDS) s (log: $(FUZZ_DIR)/fuzz.log)"
	@cd $(FUZZ_DIR) && ASAN_OPTIONS=detect_leaks=0 ./channel_fuzz -max_total_time=$(FUZZ_SECONDS) \
	  -print_final_stats=1 -rss_limit_mb=2048 -max_len=8192 corpus $(CURDIR)/workers/fuzz/seeds \
	  >fuzz.log 2>&1; status=$$?; \
	  grep -E "^(==|SUMMARY|channel_fuzz|codec|a hello)|Done [0-9]+ runs" fuzz.log; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log); \
	  if [ $$status -eq 0 ]; then echo "fuzz: $$execs executions in $(FUZZ_SECONDS) s, no crash ($$(date -u +%F))"; \
	  else echo "fuzz: FAILED after $$execs executions (see $(FUZZ_DIR)/fuzz.log)"; exit 1; fi

# Benchmarks against hand-written C + GDAL (scripts/bench/); updates the
# table in README.md. Data are cached in bench-data/.
bench: all
	./rios-lua scripts/bench/run.lua

# A sub-make builds, so the compiler flags are read after deps has installed
# pkg-config and the -dev packages.
demo: deps
	@$(MAKE) --no-print-directory all
	./rios-lua scripts/make_demo_data.lua demo
	./rios-lua scripts/ndvi.lua demo/red.tif demo/nir.tif demo/ndvi.tif

# Install the Debian packages that are missing (as root, or through sudo).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	else echo "all Debian packages present"; fi

print-deb-packages:
	@echo $(DEB_PACKAGES)

# The workers/ modules (require("workers.NAME")) go beside lua/, in the
# root_dir the host finds; none yet is fine.
WORKERS_LUA := $(wildcard workers/*.lua)
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/rios-lua/lua/rios \
	  $(DESTDIR)$(PREFIX)/share/rios-lua/workers
	install -m 755 rios-lua rios-luaworker $(DESTDIR)$(PREFIX)/bin/
	install -m 644 lua/rios.lua $(DESTDIR)$(PREFIX)/share/rios-lua/lua/rios.lua
	install -m 644 lua/rios/*.lua $(DESTDIR)$(PREFIX)/share/rios-lua/lua/rios/
	$(if $(WORKERS_LUA),install -m 644 $(WORKERS_LUA) $(DESTDIR)$(PREFIX)/share/rios-lua/workers/)
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 rios-lua.1 rios-luaworker.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/rios-lua $(DESTDIR)$(PREFIX)/bin/rios-luaworker \
	  $(DESTDIR)$(PREFIX)/share/rios-lua $(DESTDIR)$(PREFIX)/share/man/man1/rios-lua.1 \
	  $(DESTDIR)$(PREFIX)/share/man/man1/rios-luaworker.1

clean:
	rm -rf build rios-lua rios-luaworker rios-lua-tsan rios-luaworker-tsan rios-lua-asan \
	  rios-luaworker-asan $(CDEF) $(REGISTRY) demo
