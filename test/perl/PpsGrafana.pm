# The Grafana dashboard as data: its panels and queries, with Grafana's
# PostgreSQL macros and dashboard variables expanded the way Grafana does,
# so that tests (test/t/022) and the screenshot renderer
# (docs/render-dashboard.sh) run exactly what Grafana would send.
package PpsGrafana;

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use POSIX qw(strftime);

our @EXPORT = qw(dashboard_load dashboard_panels expand_sql expand_promql);

sub dashboard_load
{
	my ($path) = @_;
	open my $fh, '<', $path or die "could not open $path: $!";
	local $/;
	my $json = <$fh>;
	close $fh;
	return JSON::PP->new->decode($json);
}

# Every panel that draws (rows flattened), in dashboard order.
sub dashboard_panels
{
	my ($dash) = @_;
	my @out;
	for my $p (@{ $dash->{panels} })
	{
		if ($p->{type} eq 'row')
		{
			push @out, @{ $p->{panels} // [] };
			next;
		}
		push @out, $p;
	}
	return @out;
}

sub _iso
{
	my ($epoch) = @_;
	return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($epoch));
}

# "5s", "1m", "2h" -> seconds
sub _seconds
{
	my ($interval) = @_;
	$interval =~ s/^['"]|['"]$//g;
	my %unit = (ms => 0.001, s => 1, m => 60, h => 3600, d => 86400);
	$interval =~ /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/ or die "bad interval: $interval";
	return $1 * $unit{$2};
}

# A panel's rawSql as the PostgreSQL data source sends it, for the time
# range [from, to] (Unix seconds) and $__interval.
sub expand_sql
{
	my ($sql, %range) = @_;
	my ($from, $to) = (_iso($range{from}), _iso($range{to}));
	my $interval = $range{interval} // '1s';
	my $ms = _seconds($interval) * 1000;

	$sql =~ s/\$__interval_ms\b/$ms/g;
	$sql =~ s/\$__interval\b/$interval/g;
	$sql =~ s/\$__timeFilter\(\s*([^)]+?)\s*\)/$1 BETWEEN '$from' AND '$to'/g;
	$sql =~ s/\$__timeFrom\(\)/'$from'/g;
	$sql =~ s/\$__timeTo\(\)/'$to'/g;
	$sql =~ s/\$__unixEpochFilter\(\s*([^)]+?)\s*\)/$1 >= $range{from} AND $1 <= $range{to}/g;
	$sql =~ s{\$__timeGroupAlias\(\s*([^,]+?)\s*,\s*([^,)]+?)\s*\)}
			 {my $s = _seconds($2) + 0; "floor(extract(epoch from $1)/$s)*$s AS \"time\""}ge;
	$sql =~ s{\$__timeGroup\(\s*([^,]+?)\s*,\s*([^,)]+?)\s*\)}
			 {my $s = _seconds($2) + 0; "floor(extract(epoch from $1)/$s)*$s"}ge;
	$sql =~ s{\$__time\(\s*([^)]+?)\s*\)}{$1 AS "time"}g;
	die "unexpanded macro or variable in: $sql" if $sql =~ /\$\w/;
	return $sql;
}

# A panel's PromQL with the dashboard's variables and Grafana's intervals.
sub expand_promql
{
	my ($expr, %vars) = @_;
	my $rate = $vars{rate_interval} // '1m';
	my $interval = $vars{interval} // '15s';
	my $instance = $vars{instance} // '.*';
	$expr =~ s/\$__rate_interval\b/$rate/g;
	$expr =~ s/\$__interval\b/$interval/g;
	$expr =~ s/\$\{?instance\}?/$instance/g;
	die "unexpanded variable in: $expr" if $expr =~ /\$\w/;
	return $expr;
}

1;
