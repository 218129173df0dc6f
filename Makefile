# pg_postmaster_stats: PGXS build.  Honours PG_CONFIG=/path/to/pg_config.

MODULE_big = pg_postmaster_stats
OBJS = \
	src/pg_postmaster_stats.o \
	src/pps_loop.o \
	src/pps_probe_worker.o \
	src/pps_procfs.o \
	src/pps_shmem.o \
	src/pps_shmem_attrib.o \
	src/pps_shmem_table.o \
	src/pps_shmem_save.o \
	src/pps_sql.o \
	src/pps_sql_attrib.o \
	src/pps_sql_diagnosis.o \
	src/pps_sql_diagnosis_evidence.o \
	src/pps_sql_diagnosis_postmaster.o \
	src/pps_sql_diagnosis_rules.o \
	src/pps_sql_diagnosis_server.o \
	src/pps_sql_diagnosis_sources.o \
	src/pps_sql_replay.o \
	src/pps_try.o \
	src/pps_worker.o \
	src/pps_worker_bpf.o \
	src/pps_worker_cgroup.o \
	src/pps_worker_replay.o \
	src/source_accept.o \
	src/source_bgworkers.o \
	src/source_cgroup.o \
	src/source_children.o \
	src/source_connsetup.o \
	src/source_limits_read.o \
	src/source_limits_slow.o \
	src/source_limits.o \
	src/source_parallel.o \
	src/source_postmaster.o \
	src/source_replay.o \
	src/source_snapshot.o
# pg_postmaster_stats_overhead: the extension's own cost
OBJS += src/pps_shmem_overhead.o src/pps_sql_overhead.o src/pps_worker_overhead.o

EXTENSION = pg_postmaster_stats
DATA = sql/pg_postmaster_stats--1.0.sql
PGFILEDESC = "pg_postmaster_stats - postmaster fork, accept and connection-setup statistics"

PG_CPPFLAGS = -I$(srcdir)/src
# -Wno-unused-parameter: PostgreSQL's own headers (fmgr.h, ilist.h) trip it
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter

# pg_regress runs against its own temporary instance with the library preloaded
REGRESS = setup api guc privileges diagnosis
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=$(srcdir)/test/regress.conf

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = tmp_check_regress

# eBPF source (bpf/, loader/, src/source_bpf.c): exact fork, exit and reap
# counts through a least-privilege loader.  source_bpf.o uses only
# syscalls, so the extension always builds; the loader's rules are below.
OBJS += src/source_bpf.o
PG_CPPFLAGS += -I$(srcdir)/bpf -DPPS_BPF_LOADER_PATH=\"$(bindir)/pg_postmaster_stats_bpf\"
EXTRA_CLEAN += bpf/vmlinux.h bpf/pps.bpf.o bpf/pps.skel.h bpf/*.tmp \
	loader/pg_postmaster_stats_bpf
# the group that may run the loader: the server's OS user's
PG_SERVER_GROUP ?= postgres

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)


# ---- eBPF loader ----------------------------------------------------------
# bpf/pps.bpf.o (CO-RE, against a vmlinux.h dumped from this kernel's BTF)
# is embedded into loader/pg_postmaster_stats_bpf through a bpftool
# skeleton.  Without clang, bpftool, libbpf or libcap headers only the
# loader is skipped, with one line saying what to install.  `make install`
# installs it mode 0750 for group $(PG_SERVER_GROUP); `make install-caps`
# (root, after every install: reinstalling a file drops its capabilities)
# gives it cap_bpf,cap_perfmon.
PPS_BPF_CLANG ?= clang
PPS_BPFTOOL ?= $(firstword $(shell command -v bpftool 2>/dev/null) \
	$(wildcard /usr/sbin/bpftool /sbin/bpftool))
PPS_LLVM_STRIP ?= $(firstword $(shell command -v llvm-strip 2>/dev/null))
PPS_SETCAP ?= $(firstword $(shell command -v setcap 2>/dev/null) \
	$(wildcard /usr/sbin/setcap /sbin/setcap))
PPS_BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
PPS_LOADER = loader/pg_postmaster_stats_bpf
PPS_LOADER_INSTALLED = '$(DESTDIR)$(bindir)/pg_postmaster_stats_bpf'
# a capability-bearing binary gets the usual hardening
PPS_LOADER_CFLAGS = -std=gnu99 -O2 -g -Wall -Wextra -D_FORTIFY_SOURCE=2 \
	-fstack-protector-strong $(COPT) \
	-DPPS_POSTGRES_PATH='"$(bindir)/postgres"'
PPS_LOADER_LDFLAGS = -Wl,-z,relro -Wl,-z,now

pps_has_header = $(shell printf '\043include <%s>\n' $(1) | \
	$(CC) -E -x c - >/dev/null 2>&1 && echo yes)
PPS_BPF_MISSING := $(strip \
	$(if $(shell command -v $(PPS_BPF_CLANG) 2>/dev/null),,clang) \
	$(if $(PPS_BPFTOOL),,bpftool) \
	$(if $(call pps_has_header,bpf/libbpf.h),,libbpf-dev) \
	$(if $(call pps_has_header,sys/capability.h),,libcap-dev))
PPS_BPF_SKIPPED := $(strip \
	$(if $(PPS_BPF_MISSING),apt-get install $(PPS_BPF_MISSING)) \
	$(if $(wildcard /sys/kernel/btf/vmlinux),,this kernel has no BTF (/sys/kernel/btf/vmlinux)))

.PHONY: install-bpf-loader uninstall-bpf-loader install-caps

ifeq ($(PPS_BPF_SKIPPED),)

all: $(PPS_LOADER)

bpf/vmlinux.h:
	@$(MKDIR_P) bpf
	$(PPS_BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp
	mv $@.tmp $@

bpf/pps.bpf.o: $(srcdir)/bpf/pps.bpf.c $(srcdir)/bpf/pps_bpf.h bpf/vmlinux.h
	$(PPS_BPF_CLANG) -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(PPS_BPF_ARCH) \
		-Ibpf -I$(srcdir)/bpf -c $< -o $@
# the skeleton embeds the object: keep BTF, drop the DWARF
	$(if $(PPS_LLVM_STRIP),$(PPS_LLVM_STRIP) -g $@)

bpf/pps.skel.h: bpf/pps.bpf.o
	$(PPS_BPFTOOL) gen skeleton $< name pps > $@.tmp
	mv $@.tmp $@

$(PPS_LOADER): $(srcdir)/loader/pg_postmaster_stats_bpf.c $(srcdir)/bpf/pps_bpf.h bpf/pps.skel.h
	@$(MKDIR_P) loader
	$(CC) $(PPS_LOADER_CFLAGS) -Ibpf -I$(srcdir)/bpf $< -o $@ \
		$(PPS_LOADER_LDFLAGS) -lbpf -lcap

install: install-bpf-loader
install-bpf-loader: $(PPS_LOADER)
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) $(PPS_LOADER) $(PPS_LOADER_INSTALLED)
	chgrp $(PG_SERVER_GROUP) $(PPS_LOADER_INSTALLED)
	chmod 0750 $(PPS_LOADER_INSTALLED)

install-caps:
	@test -n "$(PPS_SETCAP)" || { echo "setcap not found: apt-get install libcap2-bin" >&2; exit 1; }
	$(PPS_SETCAP) cap_bpf,cap_perfmon=ep $(PPS_LOADER_INSTALLED)

else

all install: pps-bpf-skipped
.PHONY: pps-bpf-skipped
pps-bpf-skipped:
	@echo "pg_postmaster_stats: eBPF loader skipped: $(PPS_BPF_SKIPPED)"
install-caps: pps-bpf-skipped

endif

uninstall: uninstall-bpf-loader
uninstall-bpf-loader:
	rm -f $(PPS_LOADER_INSTALLED)
