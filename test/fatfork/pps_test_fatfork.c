/*-------------------------------------------------------------------------
 *
 * pps_test_fatfork.c
 *	  TEST FIXTURE of pg_postmaster_stats, never installed for users: a
 *	  postmaster whose every fork is expensive.
 *
 * fork() copies the parent's page tables for every private mapping that
 * has pages: one 8-byte entry per 4 KiB page, 8 MiB of entries for 4 GiB.
 * A postmaster that owns a few GiB of touched private memory (as one does
 * after a preloaded library allocated it, or with shared memory mapped
 * privately) pays that copy on every connection.  This library reproduces
 * it at will: preloaded before pg_postmaster_stats, in the postmaster only,
 * it maps pps_test_fatfork.size_mb MiB of private anonymous memory and
 * writes one byte per page.  With pps_test_fatfork.hugepage = on the
 * mapping is advised MADV_HUGEPAGE before it is touched, so that
 * transparent huge pages back it (2 MiB per entry, 512 times fewer
 * entries to copy); off advises MADV_NOHUGEPAGE, so that the result does
 * not depend on the machine's transparent_hugepage mode.
 *
 * The memory is never written again nor freed: children share it
 * copy-on-write, only its page tables cost them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>
#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* transparent huge pages are 2 MiB on x86-64 and arm64 (4 KiB base pages) */
#define FATFORK_THP_ALIGN ((size_t) 2 * 1024 * 1024)

static int	fatfork_size_mb = 0;
static bool fatfork_hugepage = false;

/* AnonHugePages of this process in kB, or -1 if it cannot be read */
static long
fatfork_anon_huge_kb(void)
{
	FILE	   *f = fopen("/proc/self/smaps_rollup", "r");
	char		line[256];
	long		kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void
fatfork_map_and_touch(void)
{
	size_t		size = (size_t) fatfork_size_mb * 1024 * 1024;
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	char	   *raw;
	char	   *mem;
	int			advice = fatfork_hugepage ? MADV_HUGEPAGE : MADV_NOHUGEPAGE;
	instr_time	start;
	instr_time	elapsed;

	INSTR_TIME_SET_CURRENT(start);

	/*
	 * One extra huge page of address space, so that the touched range can
	 * start on a huge-page boundary: an unaligned head or tail cannot be a
	 * huge page.
	 */
	raw = mmap(NULL, size + FATFORK_THP_ALIGN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("pps_test_fatfork: could not map %d MiB of private memory: %m",
						fatfork_size_mb),
				 errhint("Lower pps_test_fatfork.size_mb.")));
	mem = (char *) TYPEALIGN(FATFORK_THP_ALIGN, raw);

	if (madvise(mem, size, advice) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pps_test_fatfork: madvise(%s) failed: %m",
						fatfork_hugepage ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE"),
				 errdetail("This kernel may lack transparent huge page support."),
				 errhint("Set pps_test_fatfork.hugepage = off.")));

	/* one write per base page: each gets its own page-table entry */
	for (size_t off = 0; off < size; off += page)
		mem[off] = 1;

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	ereport(LOG,
			(errmsg("pps_test_fatfork: touched %d MiB of private memory in %.0f ms, %ld kB of it in transparent huge pages (%s)",
					fatfork_size_mb, INSTR_TIME_GET_MILLISEC(elapsed),
					fatfork_anon_huge_kb(),
					fatfork_hugepage ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE")));
}

void
_PG_init(void)
{
	DefineCustomIntVariable("pps_test_fatfork.size_mb",
							"Private memory the postmaster maps and touches at start (test fixture).",
							"Every fork of the postmaster then copies its page tables.",
							&fatfork_size_mb,
							0, 0, 65536,
							PGC_POSTMASTER, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pps_test_fatfork.hugepage",
							 "Advise MADV_HUGEPAGE on that memory before touching it (test fixture).",
							 "Off advises MADV_NOHUGEPAGE.",
							 &fatfork_hugepage,
							 false,
							 PGC_POSTMASTER, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("pps_test_fatfork");

	/*
	 * Only the postmaster, once, at start: backends inherit the mapping
	 * through fork, and a single-user backend has no children to fork.
	 */
	if (!process_shared_preload_libraries_in_progress ||
		!IsPostmasterEnvironment || IsUnderPostmaster)
		return;
	if (fatfork_size_mb > 0)
		fatfork_map_and_touch();
}
