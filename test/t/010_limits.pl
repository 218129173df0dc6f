# Headroom against limits: connection slots fill up to exactly zero
# headroom, process counts move exactly, a lowered RLIMIT_NOFILE shows as
# the maximum, and every row is either measured or explained.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

# No autovacuum: a worker it launches is a server process too, and would
# move server_processes between the two readings of the exact check below.
my $node = pps_node('limits',
	autovacuum => 'off',
	max_connections => 10,
	superuser_reserved_connections => 3,
	'pg_postmaster_stats.sample_interval' => '100ms');
my $s = $node->background_psql('postgres');

sub limit
{
	my ($name, $cols) = @_;
	return $s->query_safe("SELECT $cols FROM pg_postmaster_stats_limits WHERE limit_name = '$name'");
}

poll_session($s, q{SELECT count(*) > 0 FROM pg_postmaster_stats_limits}, 't');

# Every row: a source, and either a maximum or a hint saying why not.
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_limits
	WHERE source = '' OR (maximum IS NULL AND hint = '')}),
	'0', 'every limit says where it comes from, and is measured or explained');
is($s->query_safe(q{SELECT count(*) >= 14 FROM pg_postmaster_stats_limits}), 't',
	'at least the 14 limits the issue lists');

# Fill max_connections (10) minus the 3 reserved slots: 7 client backends.
is(limit('client_connections', 'maximum'), '7',
	'client_connections maximum is max_connections - superuser_reserved_connections');
my @extra;
push @extra, $node->background_psql('postgres') for 1 .. 6;    # + $s = 7
is(poll_session($s, q{SELECT current || '/' || headroom_pct FROM pg_postmaster_stats_limits
	WHERE limit_name = 'client_connections'}, '7/0'),
	'7/0', 'filled: 7 client connections, headroom exactly 0');
like(limit('client_connections', 'hint'), qr/max_connections/, 'the hint names max_connections');
is(poll_session($s, q{SELECT limits_min_name || ' ' || limits_min_headroom_pct
	FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1}, 'client_connections 0'),
	'client_connections 0', 'the history records it as the lowest headroom');
$_->quit for @extra;
@extra = ();

# K more connections move the process count by exactly K.  The sampler
# reads the kernel's child list at a pace set by what the read costs (every
# 10 to 60 s) and the limits refresh takes its count every 10 s: wait until
# the view shows the list as the kernel has it now, then after the K.
poll_session($s, q{SELECT current FROM pg_postmaster_stats_limits WHERE limit_name = 'client_connections'}, '1');
my $pm = $s->query_safe('SELECT postmaster_pid FROM pg_postmaster_stats');
sub kernel_children
{
	my @pids = split ' ', slurp_file("/proc/$pm/task/$pm/children");
	return scalar @pids;
}
my $sql_processes = q{SELECT current FROM pg_postmaster_stats_limits WHERE limit_name = 'server_processes'};
my $before = kernel_children();
is(poll_session($s, $sql_processes, $before, 90), $before,
	"server_processes shows the kernel's child list ($before)");
my $K = 4;
push @extra, $node->background_psql('postgres') for 1 .. $K;
is(kernel_children(), $before + $K, "the kernel lists exactly $K more children");
is(poll_session($s, $sql_processes, $before + $K, 90),
	$before + $K, "$K more connections move server_processes by exactly $K");
$_->quit for @extra;
$s->quit;
$node->stop;

# A lowered RLIMIT_NOFILE, set before start, is the maximum.
my $pgctl = join(' ', 'pg_ctl', '-w', '-D', $node->data_dir, '-l', $node->logfile, 'start');
system('sh', '-c', "ulimit -n 512 && $pgctl") == 0 or die "could not start with ulimit -n 512";
$node->_update_pid(1);
$s = $node->background_psql('postgres');
poll_session($s, q{SELECT count(*) > 0 FROM pg_postmaster_stats_limits WHERE measured_at > now() - interval '5 s'}, 't');
is(limit('postmaster_open_files', 'maximum'), '512', 'ulimit -n 512 is the postmaster_open_files maximum');
is(limit('backend_open_files', 'maximum'), '512', 'and the backend_open_files maximum');
$s->quit;
$node->stop;

done_testing();
