# The shipped Prometheus rules are valid (promtool check rules), pass their
# unit tests on synthetic series (promtool test rules: each alert fires for
# its condition after its "for" time and not for a near miss), and cover
# the conditions docs/monitoring.md promises.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Utils;
use PpsMonitoring;
use Test::More;

plan skip_all => "needs promtool: apt-get install prometheus"
  unless -x $PpsMonitoring::PROMTOOL;

my $rules = repo_file('monitoring/prometheus/rules.yml');
my $tests = repo_file('monitoring/prometheus/rules_test.yml');

my ($out, $err) = run_command([ $PpsMonitoring::PROMTOOL, 'check', 'rules', $rules ]);
like($out, qr/SUCCESS: \d+ rules found/, 'promtool check rules: valid') or diag($err);

($out, $err) = run_command([ $PpsMonitoring::PROMTOOL, 'test', 'rules', $tests ]);
like($out, qr/SUCCESS/, 'promtool test rules: every unit test passes') or diag("$out\n$err");

my $text = slurp_file($rules);
my $unit = slurp_file($tests);
for my $alert (qw(PostmasterBusy PostmasterStarved PostmasterDiagnosis PostmasterAcceptBacklog PostmasterListenDrops
	ParallelWorkerShortfall ReplayHeadroomLow PostmasterStatsSourceInactive))
{
	like($text, qr/- alert: $alert\n/, "$alert is defined");
	like($unit, qr/alertname: $alert\n/, "$alert has a unit test");
}
like($text, qr/pg_postmaster_diagnosis_active\{finding="postmaster_saturated"\} == 1\n/,
	'busy is the diagnosis\'s postmaster_saturated: its thresholds are not repeated here');
unlike($text, qr/cpu_busy_ratio:avg1m [<>]/, 'no alert repeats the busy threshold');
like($text, qr/pg_postmaster_listen_queue_depth > 0\n\s+for: 1m\n/, 'a backlog must last a minute');
like($text, qr/pg_postmaster_replay_headroom_ratio < 1\.2\n/, 'replay headroom under 1.2');

done_testing();
