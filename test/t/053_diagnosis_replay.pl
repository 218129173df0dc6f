# The diagnosis on a real streaming standby: replay paused while the primary
# writes gives exactly replay_paused on the standby, with the samples and
# since that the history's replay_state gives (PpsDiag recomputes every
# rule from the history's rows); the primary has no finding.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use PpsDiag;
use Test::More;

my $primary = pps_node('diag_primary',
	_init => { allows_streaming => 1 },
	autovacuum => 'off',
	'pg_postmaster_stats.sample_interval' => '500ms');
my $ps = $primary->background_psql('postgres');
pps_require_bpf($ps);
$ps->query_safe('CREATE TABLE diag_t (id int, pad text)');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('diag_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$ps->query_safe('INSERT INTO diag_t VALUES (0)');
$primary->wait_for_catchup($standby);
my $ss = $standby->background_psql('postgres');
pps_require_bpf($ss);

my $last = q{SELECT %s FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1};

is(poll_session($ss, q{SELECT bool_and(active) FROM pg_postmaster_stats_sources}, 't'),
	't', 'every source of the standby is active');
is(poll_session($ss, sprintf($last, 'replay_state'), 'caught_up'), 'caught_up',
	'the standby is caught up');
samples_pass($ss, 2);

my $mark = diag_mark($ss);
my $pmark = diag_mark($ps);
samples_pass($ss, 2);
$ss->query_safe('SELECT pg_wal_replay_pause()');
is(poll_session($ss, 'SELECT pg_get_wal_replay_pause_state()', 'paused'), 'paused', 'replay paused');
# WAL arrives while paused: 5 writes half a second apart
for my $i (1 .. 5)
{
	$ps->query_safe(qq{INSERT INTO diag_t SELECT g, repeat('p', 100) FROM generate_series(1, 2000) g});
	samples_pass($ss, 1);
}
is(poll_session($ss, sprintf($last, 'replay_state'), 'paused'), 'paused', 'the history says paused');
samples_pass($ss, 2);
is($ss->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_diagnosis WHERE finding = 'replay_paused'}),
	'1', 'the last minute\'s diagnosis shows replay_paused while it lasts');
$ss->query_safe('SELECT pg_wal_replay_resume()');
$primary->wait_for_catchup($standby);
poll_session($ss, sprintf($last, 'replay_state'), 'caught_up');
samples_pass($ss, 3);

note("standby history:\n"
	  . diag_history_table($ss, $mark, qw(replay_state replay_lag_bytes replay_rate_bytes_per_s replay_headroom startup_cpu_pct)));
my $got = diag_check($ss, $mark, ['replay_paused'], 'paused standby');
cmp_ok($got->{replay_paused}{evidence}{replay_lag_bytes} // 0, '>', 5 * 2000 * 100,
	'replay_paused quotes the backlog of the 5 writes at least');
diag_check($ps, $pmark, [], 'its primary');

$ss->quit;
$ps->quit;
$standby->stop;
$primary->stop;
done_testing();
