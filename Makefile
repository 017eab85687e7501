# rios-lua: `make` builds ./rios-lua; `make test` runs the specs in it;
# `make demo` installs what is missing, builds and runs scripts/ndvi.lua.

PREFIX ?= /usr/local
CC ?= cc
PKGS := luajit gdal
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
# munge: the private single-node SLURM the batch specs run on.
DEB_PACKAGES := gcc make pkg-config luajit libluajit-5.1-dev libgdal-dev gdal-bin \
  lua-cjson lua-busted libcurl4-openssl-dev libreadline-dev tmux man-db time \
  slurm-wlm munge

# The runtime (every C file but the command's own, and the worker kinds) is
# apart from the rios-lua command (its main and the readline prompt), so
# another program (rios-luaworker) links RUNTIME_OBJS with its own main and
# without readline. Objects, not an archive: Lua reaches rios_ffi_* through
# the FFI, so no C caller would pull them out of a library.
CMD_SRCS := runtime/main.c runtime/repl.c
RUNTIME_SRCS := $(filter-out $(CMD_SRCS),$(wildcard runtime/*.c)) $(wildcard workers/*.c)
HDRS := $(wildcard runtime/*.h) $(wildcard workers/*.h)
BUILD ?= build/default
RUNTIME_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(RUNTIME_SRCS))
CMD_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(CMD_SRCS))
CDEF := lua/rios/cdef.lua
REGISTRY := lua/rios/registry.lua
BIN ?= rios-lua

.PHONY: all test demo deps install uninstall clean print-deb-packages tsan asan bench

all: $(BIN) $(CDEF) $(REGISTRY)

$(BIN): $(CMD_OBJS) $(RUNTIME_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CMD_OBJS) $(RUNTIME_OBJS) $(LDLIBS) $(CMD_LDLIBS)

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iruntime -c -o $@ $<

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
SAN_SPECS := spec/concurrency_spec.lua
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
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/rios-lua/lua/rios
	install -m 755 rios-lua $(DESTDIR)$(PREFIX)/bin/rios-lua
	install -m 644 lua/rios.lua $(DESTDIR)$(PREFIX)/share/rios-lua/lua/rios.lua
	install -m 644 lua/rios/*.lua $(DESTDIR)$(PREFIX)/share/rios-lua/lua/rios/
	install -d $(DESTDIR)$(PREFIX)/share/rios-lua/workers
	$(if $(WORKERS_LUA),install -m 644 $(WORKERS_LUA) $(DESTDIR)$(PREFIX)/share/rios-lua/workers/)
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 rios-lua.1 $(DESTDIR)$(PREFIX)/share/man/man1/rios-lua.1

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/rios-lua $(DESTDIR)$(PREFIX)/share/rios-lua \
	  $(DESTDIR)$(PREFIX)/share/man/man1/rios-lua.1

clean:
	rm -rf build rios-lua rios-lua-tsan rios-lua-asan $(CDEF) $(REGISTRY) demo
