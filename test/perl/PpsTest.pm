# Shared helpers for the pg_postmaster_stats TAP tests.
package PpsTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PostgreSQL::Version;
use Time::HiRes qw(usleep);
use Exporter 'import';

our @EXPORT = qw(pps_node pps_major poll_session median pps_require_bpf pps_wait_ready);

# A started node with the library preloaded and the extension created.
# %conf are postgresql.conf settings; the key _init passes options to init
# (e.g. _init => { allows_streaming => 1 }).
sub pps_node
{
	my ($name, %conf) = @_;
	my $init = delete $conf{_init} // {};

	# Tests count processes and forks exactly, so the set of server
	# processes must stay fixed: 19 grows and shrinks its I/O worker pool
	# with the load (io_min_workers .. io_max_workers, each launch a fork).
	# Pin it to 18's fixed size unless a test sizes the pool itself (014).
	if (pps_major() >= 19 && !grep { /^io_(method|min_workers|max_workers)$/ } keys %conf)
	{
		$conf{io_min_workers} = 3;
		$conf{io_max_workers} = 3;
	}
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%$init);
	my $extra = join('', map { "$_ = $conf{$_}\n" } sort keys %conf);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'pg_postmaster_stats'\n" . $extra);
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_postmaster_stats');
	return $node;
}

# The major version of the PostgreSQL under test (the pg_config first in
# PATH, as PostgreSQL::Test::Cluster uses): 15, ..., 19 for 19beta1.
sub pps_major
{
	my $v = `pg_config --version`;
	die "pg_config --version failed" if $? != 0;
	return PostgreSQL::Version->new($v)->major;
}

# Run $sql in an open session until it returns $want; returns the last value.
# Polling over one session opens no connections, so it does not disturb
# the connection counters under test.
sub poll_session
{
	my ($session, $sql, $want, $timeout_s) = @_;
	$timeout_s //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time() + $timeout_s;
	my $got;
	while (1)
	{
		$got = $session->query_safe($sql);
		return $got if defined $got && $got eq $want;
		last if time() > $deadline;
		usleep(50_000);
	}
	return $got;
}

# Wait up to 30 s for the eBPF source to be active.  If it is not: with
# PPS_REQUIRE_BPF set (CI, whose machines support eBPF) a failure,
# otherwise the whole file is skipped; either way the file ends here.
sub pps_require_bpf
{
	my ($session) = @_;
	my $q = q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'};
	return if poll_session($session, $q, 't', 30) eq 't';
	my $why = $session->query_safe(
		q{SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'ebpf'});
	if ($ENV{PPS_REQUIRE_BPF})
	{
		Test::More::fail("the eBPF source is active (PPS_REQUIRE_BPF is set): $why");
		Test::More::done_testing();
		exit;
	}
	Test::More::plan(skip_all => "eBPF source not active here: $why");
}

# Wait until the server accepts connections again (after a crash restart),
# with pg_isready: a psql that finds the server down can exit before its
# query is written to its stdin, which 19's harness dies of.
sub pps_wait_ready
{
	my ($node) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		return 1
		  if system('pg_isready', '-q', '-h', $node->host, '-p', $node->port) == 0;
		usleep(100_000);
	}
	die 'the server did not accept connections again';
}

sub median
{
	my @v = sort { $a <=> $b } @_;
	return undef unless @v;
	return $v[ int($#v / 2) ] if @v % 2;
	return ($v[ $#v / 2 - 0.5 ] + $v[ $#v / 2 + 0.5 ]) / 2;
}

1;
