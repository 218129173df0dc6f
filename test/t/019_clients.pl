# Attribution: connections counted by client (database, role as asked,
# application_name, address) and parallel workers by queryid, exactly;
# session lifetimes; a flood of distinct names evicts cold entries and
# leaves a heavy hitter's count exact; what pg_monitor alone may see.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempfile);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('clients',
	_init => { extra => [ '--encoding=UTF8', '--locale=C' ] },
	listen_addresses => "'127.0.0.1'",
	password_encryption => "'scram-sha-256'",
	'pg_postmaster_stats.max_clients' => 100,
	compute_query_id => 'on',
	max_worker_processes => 16,
	max_parallel_workers => 16);
my ($host, $port) = ($node->host, $node->port);

my @roles = qw(pps_r1 pps_r2 pps_r3);
my @dbs = qw(pps_d1 pps_d2);
my @apps = qw(pps_app_a pps_app_b);
$node->safe_psql('postgres', "CREATE ROLE $_ LOGIN PASSWORD 'pw'") for @roles;
$node->safe_psql('postgres', "CREATE DATABASE $_") for @dbs;
# pg_monitor is itself a member of pg_read_all_stats: a reader without it
# is one granted the view alone
$node->safe_psql('postgres', q{CREATE ROLE pps_viewer LOGIN;
	GRANT SELECT ON pg_postmaster_stats_clients TO pps_viewer;
	GRANT EXECUTE ON FUNCTION pg_postmaster_stats_clients() TO pps_viewer});
$node->safe_psql('postgres', "CREATE ROLE pps_mon LOGIN IN ROLE pg_monitor");
open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die $!;
print $hba "local all all trust\n";
print $hba "host all all 127.0.0.1/32 scram-sha-256\n";
close $hba;
$node->reload;

# The reader: one session, its own client row (app pps_reader).
my $s = do { local $ENV{PGAPPNAME} = 'pps_reader'; $node->background_psql('postgres') };
$s->query_safe('SELECT pg_postmaster_stats_reset()');

# Run a psql script of \connect lines in one psql process: each \connect is
# one connection (and ends the previous session).  Over TCP the password
# comes from PGPASSWORD.
sub run_script
{
	my ($name, $lines) = @_;
	my ($fh, $file) = tempfile(DIR => PostgreSQL::Test::Utils::tempdir());
	print $fh join("\n", @$lines), "\n";
	close $fh;
	local $ENV{PGPASSWORD} = 'pw';
	$node->command_ok(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $file,
		  '-d', "host=$host port=$port dbname=postgres application_name=pps_driver" ],
		$name);
}

sub conninfo
{
	my ($db, $role, $app, $tcp) = @_;
	return "dbname=$db user=$role application_name=$app host="
	  . ($tcp ? '127.0.0.1' : $host) . " port=$port";
}

# ---- exact counts by source -----------------------------------------------

# 24 sources (3 roles x 2 databases x 2 application names x Unix/TCP);
# source number i connects i times.
my (@script, %want);
my $i = 0;
for my $role (@roles)
{
	for my $db (@dbs)
	{
		for my $app (@apps)
		{
			for my $tcp (0, 1)
			{
				$i++;
				push @script, qq{\\connect "} . conninfo($db, $role, $app, $tcp) . qq{"} for 1 .. $i;
				$want{ join('|', $db, $role, $app, $tcp ? '127.0.0.1' : '') } = $i;
			}
		}
	}
}
run_script('300 connections from 24 sources', \@script);

my $rows = q{SELECT database, role, application_name, coalesce(host(client_addr), ''), connections_total
	FROM pg_postmaster_stats_clients WHERE application_name LIKE 'pps\_app\_%' ORDER BY 1, 2, 3, 4};
my %got = map { my @f = split /\|/; (join('|', @f[0 .. 3]) => $f[4]) } split /\n/, $s->query_safe($rows);
is_deeply(\%got, \%want, 'each of the 24 sources counts exactly the connections it made');
is($s->query_safe(q{SELECT sum(auth_failures_total) FROM pg_postmaster_stats_clients
	WHERE application_name LIKE 'pps\_app\_%'}), '0', 'no authentication failure among them');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_clients
	WHERE application_name LIKE 'pps\_app\_%' AND setup_seconds_sum <= 0}), '0',
	'every source has its setup time');

# Wrong passwords count under the role tried; a role that does not exist
# under the name the client sent.
for my $k (1 .. 3)
{
	$node->connect_fails(
		"host=127.0.0.1 port=$port user=pps_r2 password=wrong dbname=pps_d1 application_name=pps_bad",
		"wrong password $k", expected_stderr => qr/password authentication failed/);
}
for my $k (1 .. 2)
{
	$node->connect_fails(
		"host=127.0.0.1 port=$port user=pps_ghost password=pw dbname=pps_d2 application_name=pps_bad",
		"role that does not exist $k", expected_stderr => qr/password authentication failed/);
}
# a role name that is not valid UTF-8 reads back with '?' instead of failing the view
$node->connect_fails("host=$host port=$port user=pps_\xff\xfe dbname=postgres application_name=pps_enc",
	'a role name that is not valid UTF-8', expected_stderr => qr/does not exist/);
is($s->query_safe(q{SELECT role FROM pg_postmaster_stats_clients WHERE application_name = 'pps_enc'}),
	'pps_??', 'it reads back with ? for the invalid bytes');
is( $s->query_safe(q{SELECT role, database, host(client_addr), connections_total, auth_failures_total
	FROM pg_postmaster_stats_clients WHERE application_name = 'pps_bad' ORDER BY role}),
	"pps_ghost|pps_d2|127.0.0.1|2|2\npps_r2|pps_d1|127.0.0.1|3|3",
	'3 wrong passwords under pps_r2, 2 attempts as the nonexistent pps_ghost, all failures');

# ---- session lifetimes ---------------------------------------------------------

my @long = map {
	IPC::Run::start(
		[ 'psql', '-X', '-q', '-c', 'SELECT pg_sleep(2)', '-d', conninfo('pps_d2', 'pps_r3', 'pps_long', 0) ],
		'>', \my $out, '2>', \my $err)
} 1 .. 20;
run_script('20 sessions of 50 ms',
	[ map { (qq{\\connect "} . conninfo('pps_d2', 'pps_r3', 'pps_short', 0) . qq{"}, 'SELECT pg_sleep(0.05);') } 1 .. 20 ]);
$_->finish for @long;
is(poll_session($s, q{SELECT sum(sessions_ended_total) FROM pg_postmaster_stats_clients
	WHERE application_name IN ('pps_long', 'pps_short')}, '40'), '40', 'all 40 sessions ended');
my ($short, $long_sum, $short_sum) = split /\|/, $s->query_safe(q{
	SELECT sum(short_sessions_total),
	       sum(session_seconds_sum) FILTER (WHERE application_name = 'pps_long'),
	       sum(session_seconds_sum) FILTER (WHERE application_name = 'pps_short')
	  FROM pg_postmaster_stats_clients WHERE application_name IN ('pps_long', 'pps_short')});
is($short, 20, 'short_sessions_total: exactly the 20 sessions of 50 ms');
ok($long_sum >= 40 && $long_sum < 60, "20 sessions of 2 s: session_seconds_sum $long_sum in [40, 60)");
ok($short_sum >= 1 && $short_sum < 20, "20 sessions of 50 ms: session_seconds_sum $short_sum in [1, 20)");

# ---- privileges ----------------------------------------------------------------

$s->query_safe('SET ROLE pps_viewer');
is( $s->query_safe(q{SELECT count(*) > 0, count(database) = count(*), count(role), count(application_name),
	count(client_addr) FROM pg_postmaster_stats_clients}),
	't|t|0|0|0', 'a reader without pg_read_all_stats sees rows, databases, and no role, application or address');
$s->query_safe('SET ROLE pps_mon');
is( $s->query_safe(q{SELECT host(client_addr) FROM pg_postmaster_stats_clients
	WHERE role = 'pps_ghost'}), '127.0.0.1', 'a pg_monitor member (so of pg_read_all_stats) sees them');
$s->query_safe('RESET ROLE');

# ---- bounded: a flood of 1000 application names ---------------------------------

my $dealloc0 = $s->query_safe('SELECT clients_dealloc_total FROM pg_postmaster_stats');
my @flood;
for my $k (1 .. 1000)
{
	push @flood, qq{\\connect "} . conninfo('pps_d1', 'pps_r1', "pps_flood_$k", 0) . qq{"};
	push @flood, qq{\\connect "} . conninfo('pps_d1', 'pps_r1', 'pps_heavy', 0) . qq{"} if $k % 2 == 0;
}
run_script('1000 distinct application names and 500 connections of one source', \@flood);
my ($nrows, $dealloc) = split /\|/, $s->query_safe(
	'SELECT (SELECT count(*) FROM pg_postmaster_stats_clients), clients_dealloc_total FROM pg_postmaster_stats');
cmp_ok($nrows, '<=', 100, "the table holds at most max_clients = 100 rows ($nrows)");
cmp_ok($dealloc - $dealloc0, '>=', 900, "clients_dealloc_total grew by at least 900 (" . ($dealloc - $dealloc0) . ")");
is($s->query_safe(q{SELECT connections_total FROM pg_postmaster_stats_clients WHERE application_name = 'pps_heavy'}),
	'500', 'the source that connected 500 times meanwhile keeps exactly 500');
is(poll_session($s, q{SELECT sessions_ended_total FROM pg_postmaster_stats_clients WHERE application_name = 'pps_heavy'}, '500'),
	'500', 'and its 500 session ends');
is(poll_session($s, q{SELECT connections_per_s > 0 FROM pg_postmaster_stats_clients WHERE application_name = 'pps_heavy'}, 't'),
	't', 'the sampler gives it a connection rate');
is( $s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_metrics
	WHERE name = 'pg_postmaster_client_connections_per_second'
	  AND labels = '{"database": "pps_d1", "role": "pps_r1", "application_name": "pps_heavy"}'}),
	'1', 'the metrics view exports it among the top clients, without its address');

$s->query_safe('SELECT pg_postmaster_stats_reset_clients()');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_clients WHERE application_name <> 'pps_reader'}),
	'0', 'pg_postmaster_stats_reset_clients() empties the table');

# ---- parallel queries by queryid ---------------------------------------------------

$node->safe_psql('postgres',
	PostgreSQL::Test::Utils::slurp_file("$FindBin::RealBin/../workloads/parallel_churn.sql"));
$node->safe_psql('postgres', 'SELECT pps_churn_setup()');
my $settings = q{SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
	SET min_parallel_table_scan_size = 0; SET parallel_leader_participation = off;
	SET max_parallel_workers_per_gather = 3;};
my $query = 'SELECT sum(id) FROM pps_churn_data';
my ($qid) = $node->safe_psql('postgres', "$settings EXPLAIN (VERBOSE, COSTS OFF) $query")
  =~ /Query Identifier: (-?\d+)/;
ok(defined $qid, "EXPLAIN VERBOSE shows the query's identifier");
$s->query_safe('SELECT pg_postmaster_stats_reset()');
$node->safe_psql('postgres', join("\n", $settings, map { "$query;" } 1 .. 10));
is( $s->query_safe("SELECT database, role, executions_total, workers_planned_total, workers_launched_total,
	shortfall_total FROM pg_postmaster_stats_parallel_queries WHERE queryid = $qid"),
	'postgres|' . $node->safe_psql('postgres', 'SELECT current_user') . '|10|30|30|0',
	'10 executions with 3 workers each: 10 executions, 30 planned, 30 launched, under its queryid');

# One worker slot left: EXPLAIN ANALYZE reports what each execution launched.
my $explain = $node->safe_psql('postgres', join("\n", $settings, 'SET max_parallel_workers = 1;',
	map { "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $query;" } 1 .. 10));
my $launched = 0;
$launched += $_ for $explain =~ /Workers Launched: (\d+)/g;
cmp_ok($launched, '<=', 10, "at most one worker per execution launched ($launched)");
is( $s->query_safe("SELECT sum(executions_total), sum(workers_planned_total), sum(workers_launched_total),
	sum(shortfall_total) FROM pg_postmaster_stats_parallel_queries"),
	'20|60|' . (30 + $launched) . '|' . (30 - $launched),
	'with one slot left, the shortfall is exactly what EXPLAIN ANALYZE saw missing');

# Without compute_query_id: one row with NULL queryid, and the sources view says why.
$node->safe_psql('postgres', "SET compute_query_id = off; $settings $query;");
is($s->query_safe('SELECT executions_total, workers_planned_total FROM pg_postmaster_stats_parallel_queries WHERE queryid IS NULL'),
	'1|3', 'compute_query_id off: the execution counts in the row with NULL queryid');
like(poll_session($s, q{SELECT detail ~ 'compute_query_id' FROM pg_postmaster_stats_sources WHERE source = 'parallel_query'}, 't')
	  . $s->query_safe(q{SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'parallel_query'}),
	qr/^t.*compute_query_id is off/, 'the parallel_query source says why');

# attribution = off (reload) pauses counting; max_clients = 0 (restart)
# turns the table off: no rows, NULL dealloc counter.
$node->append_conf('postgresql.conf', 'pg_postmaster_stats.attribution = off');
$node->reload;
poll_session($s, 'SHOW pg_postmaster_stats.attribution', 'off');
my $before = $s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_clients WHERE application_name = 'pps_paused'});
run_script('connections while paused',
	[ map { qq{\\connect "} . conninfo('pps_d1', 'pps_r1', 'pps_paused', 0) . qq{"} } 1 .. 5 ]);
is($before . $s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_clients WHERE application_name = 'pps_paused'}),
	'00', 'attribution = off: connections are not attributed');
$s->quit;
$node->append_conf('postgresql.conf', "pg_postmaster_stats.attribution = on\npg_postmaster_stats.max_clients = 0");
$node->restart;
$node->safe_psql('postgres', 'SELECT 1') for 1 .. 3;
is( $node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM pg_postmaster_stats_clients),
	clients_dealloc_total IS NULL, connections_total >= 4 FROM pg_postmaster_stats}),
	'0|t|t', 'max_clients = 0: no table, no rows, the other counters still count');

$node->stop;
done_testing();
