# The history ring: rows spaced by sample_interval (also after a reload that
# changes it), and exactly history_size rows kept.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('history',
	'pg_postmaster_stats.sample_interval' => '250ms',
	'pg_postmaster_stats.history_size' => '20');
my $session = $node->background_psql('postgres');

sub spacings
{
	my ($since) = @_;
	my $rows = $session->query_safe(qq{
		SELECT extract(epoch FROM "time" - lag("time") OVER (ORDER BY "time"))
		  FROM pg_postmaster_stats_history WHERE "time" > '$since'});
	return grep { length } split /\n/, $rows;
}

# Wait until the ring has wrapped.
poll_session($session, 'SELECT samples_total >= 30 FROM pg_postmaster_stats', 't');
is($session->query_safe('SELECT count(*) FROM pg_postmaster_stats_history'),
	'20', 'history_size = 20 keeps exactly 20 rows once more were taken');
cmp_ok($session->query_safe('SELECT samples_total FROM pg_postmaster_stats'),
	'>=', 30, 'samples_total keeps counting past the ring size');

my @gaps = spacings('-infinity');
my $m = median(@gaps);
ok(abs($m - 0.25) < 0.25 * 0.2, "rows are spaced by sample_interval = 250 ms (median $m s)");
is($session->query_safe(q{SELECT bool_and(abs(interval_seconds - 0.25) < 0.1)
	FROM pg_postmaster_stats_history WHERE interval_seconds IS NOT NULL}),
	't', 'interval_seconds reports the measured spacing');

# A reload changes the interval without a restart.
$session->query_safe("ALTER SYSTEM SET pg_postmaster_stats.sample_interval = '500ms'");
$session->query_safe('SELECT pg_reload_conf()');
sleep 1;
my $since = $session->query_safe('SELECT clock_timestamp()');
poll_session($session,
	qq{SELECT count(*) >= 8 FROM pg_postmaster_stats_history WHERE "time" > '$since'}, 't');
@gaps = spacings($since);
$m = median(@gaps);
ok(abs($m - 0.5) < 0.5 * 0.2, "after a reload, rows are spaced by 500 ms (median $m s)");

# A deadline schedule does not drift: n samples span (n-1) intervals.
my $span = $session->query_safe(qq{
	SELECT extract(epoch FROM max("time") - min("time")) / (count(*) - 1)
	  FROM pg_postmaster_stats_history WHERE "time" > '$since'});
ok(abs($span - 0.5) < 0.5 * 0.1, "no drift: mean spacing over the window is $span s");

$session->quit;
$node->stop;
done_testing();
