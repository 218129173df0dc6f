# pg_postmaster_stats: PGXS build.  Honours PG_CONFIG=/path/to/pg_config.

MODULE_big = pg_postmaster_stats
OBJS = \
	src/pg_postmaster_stats.o \
	src/pps_procfs.o \
	src/pps_shmem.o \
	src/pps_sql.o \
	src/pps_worker.o \
	src/source_accept.o \
	src/source_bgworkers.o \
	src/source_children.o \
	src/source_connsetup.o \
	src/source_parallel.o \
	src/source_postmaster.o

EXTENSION = pg_postmaster_stats
DATA = sql/pg_postmaster_stats--1.0.sql
PGFILEDESC = "pg_postmaster_stats - postmaster fork, accept and connection-setup statistics"

PG_CPPFLAGS = -I$(srcdir)/src
# -Wno-unused-parameter: PostgreSQL's own headers (fmgr.h, ilist.h) trip it
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter

# pg_regress runs against its own temporary instance with the library preloaded
REGRESS = setup api guc privileges
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=$(srcdir)/test/regress.conf

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = tmp_check_regress

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
