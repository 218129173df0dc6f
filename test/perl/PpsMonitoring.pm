# Helpers for the monitoring TAP tests: the metrics view, Debian's
# postgres_exporter and Prometheus on loopback ports, the exposition format
# and the Prometheus HTTP API.  Every process started here is stopped when
# the test ends, even when it dies.
package PpsMonitoring;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(basename);
use FindBin;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

our @EXPORT = qw(monitoring_binaries_missing repo_file view_metrics
  restart_with_cluster_name $local_sources_active
  start_exporter start_prometheus stop_all http_get parse_exposition
  prom_query metric_key);

my $http = HTTP::Tiny->new(timeout => 10);

# Every source of a lone server works.  eBPF may be missing (its loader
# needs capabilities) and replay works only with a standby; their metrics
# are then simply absent.
our $local_sources_active = q{SELECT bool_and(active) FILTER (WHERE source NOT IN ('ebpf', 'replay'))
	FROM pg_postmaster_stats_sources};
my @harnesses;

# Debian puts them in /usr/bin; PPS_EXPORTER / PPS_PROMETHEUS override.
our $EXPORTER = $ENV{PPS_EXPORTER} // '/usr/bin/prometheus-postgres-exporter';
our $PROMETHEUS = $ENV{PPS_PROMETHEUS} // '/usr/bin/prometheus';
our $PROMTOOL = $ENV{PPS_PROMTOOL} // '/usr/bin/promtool';

# undef, or what to install (for plan skip_all)
sub monitoring_binaries_missing
{
	my @missing;
	push @missing, 'prometheus-postgres-exporter' unless -x $EXPORTER;
	push @missing, 'prometheus' unless -x $PROMETHEUS && -x $PROMTOOL;
	return @missing ? 'apt-get install ' . join(' ', @missing) : undef;
}

# A file of the source tree (test/t/../../$path).
sub repo_file
{
	my ($path) = @_;
	return "$FindBin::RealBin/../../$path";
}

# The metrics view through an open session, as
# { metric_key => { name, labels => {..}, value, kind } }.
sub view_metrics
{
	my ($session) = @_;
	my $out = $session->query_safe(q{
		SELECT name || E'\t' || labels::text || E'\t' || value::text || E'\t' || kind
		  FROM pg_postmaster_stats_metrics});
	my %m;
	for my $line (split /\n/, $out)
	{
		my ($name, $labels, $value, $kind) = split /\t/, $line;
		my $l = decode_json($labels);
		$m{ metric_key($name, $l) } =
		  { name => $name, labels => $l, value => $value, kind => $kind };
	}
	return \%m;
}

# Restart $node with cluster_name = $name: Cluster->start passes
# --cluster-name=<node name> on the command line, which wins over the
# configuration file, so start it with pg_ctl directly.
sub restart_with_cluster_name
{
	my ($node, $name) = @_;
	(my $quoted = $name) =~ s/(['\\])/\\$1/g;
	$node->append_conf('postgresql.conf', "cluster_name = '$quoted'");
	$node->stop;
	PostgreSQL::Test::Utils::system_or_bail('pg_ctl', '-w', '-D', $node->data_dir,
		'-l', $node->logfile, 'start');
	$node->_update_pid(1);
	return;
}

# name{k="v",...} with sorted labels, le compared as a number; the
# exporter's own "server" label is not part of the view.
sub metric_key
{
	my ($name, $labels) = @_;
	my %l = %$labels;
	delete $l{server};
	$l{le} = ($l{le} eq '+Inf' ? '+Inf' : 0 + $l{le}) if exists $l{le};
	return $name . '{' . join(',', map { "$_=\"$l{$_}\"" } sort keys %l) . '}';
}

sub _start
{
	my ($name, $cmd, %env) = @_;
	my $log = sprintf('%s/%s_%s.log',
		$PostgreSQL::Test::Utils::log_path, basename($0, '.pl'), $name);
	local @ENV{ keys %env } = values %env;
	my $h = IPC::Run::start($cmd, '<', \undef, '>', $log, '2>&1');
	push @harnesses, $h;
	return ($h, $log);
}

sub _wait_http
{
	my ($url, $log) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		my $r = $http->get($url);
		return 1 if $r->{success};
		usleep(100_000);
	}
	die "$url did not answer; log:\n" . slurp_file($log);
}

# postgres_exporter with our queries file, connected over the node's Unix
# socket as $user, listening on a free loopback port.  Only our queries
# run, so the scrape shows what this repository adds.
sub start_exporter
{
	my ($node, $user) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $dsn = sprintf('host=%s port=%d user=%s dbname=postgres sslmode=disable',
		$node->host, $node->port, $user);
	my ($h, $log) = _start(
		'exporter',
		[
			$EXPORTER,
			"--web.listen-address=127.0.0.1:$port",
			'--extend.query-path=' . repo_file('monitoring/postgres_exporter/queries.yaml'),
			'--disable-default-metrics', '--disable-settings-metrics',
			'--no-collector.database', '--no-collector.bgwriter'
		],
		DATA_SOURCE_NAME => $dsn);
	my $url = "http://127.0.0.1:$port/metrics";
	_wait_http($url, $log);
	return { url => $url, port => $port, log => $log, harness => $h };
}

# Prometheus scraping the exporter every second, with our rules loaded.
sub start_prometheus
{
	my ($exporter) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $dir = PostgreSQL::Test::Utils::tempdir('prometheus');
	my $rules = repo_file('monitoring/prometheus/rules.yml');
	PostgreSQL::Test::Utils::append_to_file("$dir/prometheus.yml", <<"EOF");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $rules
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: ['127.0.0.1:$exporter->{port}']
EOF
	my ($h, $log) = _start(
		'prometheus',
		[
			$PROMETHEUS,
			"--config.file=$dir/prometheus.yml",
			"--storage.tsdb.path=$dir/data",
			"--web.listen-address=127.0.0.1:$port"
		]);
	my $base = "http://127.0.0.1:$port";
	_wait_http("$base/-/ready", $log);
	return { base => $base, port => $port, log => $log, harness => $h };
}

sub stop_all
{
	while (my $h = pop @harnesses)
	{
		$h->kill_kill(grace => 5);
	}
}

END { stop_all(); }

sub http_get
{
	my ($url) = @_;
	my $r = $http->get($url);
	die "GET $url: $r->{status} $r->{reason}\n$r->{content}" unless $r->{success};
	return $r->{content};
}

# Prometheus text exposition: { types => {family => type},
# help => {family => text}, samples => { metric_key => { name, labels,
# value, line } } }.
sub parse_exposition
{
	my ($text) = @_;
	my (%types, %help, %samples);
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^# TYPE (\S+) (\S+)$/)
		{
			$types{$1} = $2;
			next;
		}
		if ($line =~ /^# HELP (\S+) (.*)$/)
		{
			$help{$1} = $2;
			next;
		}
		next if $line =~ /^#/ || $line eq '';
		$line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$/
		  or die "unparsable exposition line: $line";
		my ($name, $ltext, $value) = ($1, $2 // '', $3);
		my %labels;
		while ($ltext =~ /\G([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gc)
		{
			my ($k, $v) = ($1, $2);
			$v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
			$labels{$k} = $v;
		}
		die "unparsable labels: $line" if (pos($ltext) // 0) != length($ltext);
		$samples{ metric_key($name, \%labels) } =
		  { name => $name, labels => \%labels, value => $value, line => $line };
	}
	return { types => \%types, help => \%help, samples => \%samples };
}

# An instant query; returns the decoded response (status, data).
sub prom_query
{
	my ($prom, $expr) = @_;
	my $q = $http->www_form_urlencode({ query => $expr });
	my $r = $http->get("$prom->{base}/api/v1/query?$q");
	my $body = eval { decode_json($r->{content}) };
	return $body // { status => 'error', error => "HTTP $r->{status}: $r->{content}" };
}

1;
