#!/usr/bin/perl
# Draws the SQL panels of monitoring/grafana/dashboard.json from a live
# server as a static HTML page (inline SVG, no network), laid out like the
# dashboard's upper row: each panel's query with Grafana's macros expanded
# (test/perl/PpsGrafana.pm), its legend from the column names, its unit
# from the panel's fieldConfig.  docs/render-dashboard.sh photographs it.
#
#   render-dashboard.pl FROM TO INTERVAL OUT.html -- psql options...
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../test/perl";
use POSIX qw(strftime floor);
use PpsGrafana;

my ($from, $to, $interval, $out, $dashdash, @psql) = @ARGV;
die "usage: $0 FROM TO INTERVAL OUT.html -- psql options\n"
  unless defined $dashdash && $dashdash eq '--';

my $dash = dashboard_load("$FindBin::RealBin/../monitoring/grafana/dashboard.json");
my @panels = grep { $_->{title} =~ /\(SQL\)$/ } dashboard_panels($dash);
my @colors = ('#73bf69', '#f2cc0c', '#8ab8ff', '#ff780a', '#f2495c', '#5794f2', '#b877d9');

sub query
{
	my ($sql) = @_;
	open my $fh, '-|', 'psql', '-X', '-A', '-F', "\t", '-P', 'footer=off', @psql, '-c', $sql
	  or die "psql: $!";
	my ($header, @rows) = map { chomp; $_ } <$fh>;
	close $fh or die "psql failed on: $sql\n";
	my @cols = split /\t/, $header;
	return (\@cols, [ map { [ split /\t/, $_, -1 ] } @rows ]);
}

sub fmt
{
	my ($v, $unit) = @_;
	return sprintf('%.0f%%', $v) if $unit eq 'percent';
	if ($unit eq 's')
	{
		return sprintf('%.3g s', $v) if $v >= 1 || $v == 0;
		return sprintf('%.3g ms', $v * 1e3) if $v >= 1e-3;
		return sprintf('%.3g µs', $v * 1e6) if $v >= 1e-6;
		return sprintf('%.3g ns', $v * 1e9);
	}
	my $suffix = $unit eq 'reqps' || $unit eq 'ops' ? '/s' : '';
	return sprintf('%.3gk%s', $v / 1e3, $suffix) if $v >= 1e4;
	return sprintf('%.4g%s', $v, $suffix);
}

# the next 1, 2, 4, 5 or 8 times a power of ten: round axis ticks in quarters
sub nice_ceiling
{
	my ($v) = @_;
	return 1 if $v <= 0;
	my $p = 10**floor(log($v) / log(10));
	for my $m (1, 2, 4, 5, 8, 10)
	{
		return $m * $p if $m * $p >= $v;
	}
}

sub esc { my ($s) = @_; $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g; return $s; }

sub chart
{
	my ($panel) = @_;
	my $unit = $panel->{fieldConfig}{defaults}{unit} // 'short';
	my $sql = expand_sql($panel->{targets}[0]{rawSql}, from => $from, to => $to, interval => $interval);
	my ($cols, $rows) = query($sql);
	my ($w, $h, $l, $r, $t, $bot) = (330, 190, 58, 8, 8, 22);
	my @series = 1 .. $#$cols;
	my ($min, $max) = ($panel->{fieldConfig}{defaults}{min}, $panel->{fieldConfig}{defaults}{max});
	my @values = grep { $_ ne '' } map { my $row = $_; map { $row->[$_] } @series } @$rows;
	return undef unless @values;    # its source is not active here
	my $dmax = (sort { $b <=> $a } @values)[0];
	$min //= 0;
	$max = nice_ceiling($dmax * 1.05) if !defined $max || $dmax > $max;
	my $x = sub { $l + ($_[0] - $from) / ($to - $from) * ($w - $l - $r) };
	my $y = sub { $h - $bot - ($_[0] - $min) / ($max - $min) * ($h - $t - $bot) };

	my $svg = qq{<svg width="$w" height="$h" xmlns="http://www.w3.org/2000/svg">};
	for my $i (0 .. 4)
	{
		my $v = $min + ($max - $min) * $i / 4;
		my $yy = $y->($v);
		$svg .= sprintf(qq{<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>}, $l, $w - $r, $yy, $yy);
		$svg .= sprintf(qq{<text x="%d" y="%.1f" class="axis" text-anchor="end">%s</text>}, $l - 4, $yy + 3,
			esc(fmt($v, $unit)));
	}
	my $span = $to - $from;
	my $step = $span > 600 ? 300 : $span > 240 ? 60 : 30;
	for (my $tt = (floor($from / $step) + 1) * $step; $tt < $to; $tt += $step)
	{
		$svg .= sprintf(qq{<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>},
			$x->($tt), $h - 6, strftime('%H:%M:%S', gmtime($tt)));
	}
	if (my ($thr) = grep { defined $_->{value} } @{ $panel->{fieldConfig}{defaults}{thresholds}{steps} // [] })
	{
		my $yy = $y->($thr->{value});
		$svg .= sprintf(qq{<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="threshold"/>}, $l, $w - $r, $yy, $yy);
	}
	for my $s (@series)
	{
		# a gap (NULL) breaks the line, as Grafana draws with spanNulls off
		my $c = $colors[ ($s - 1) % @colors ];
		my @segments = ([]);
		for my $row (@$rows)
		{
			if ($row->[$s] eq '') { push @segments, [] if @{ $segments[-1] }; next; }
			push @{ $segments[-1] }, sprintf('%.1f,%.1f', $x->($row->[0]), $y->($row->[$s]));
		}
		for my $pts (grep { @$_ } @segments)
		{
			$svg .= @$pts > 1
			  ? qq{<polyline points="@$pts" fill="none" stroke="$c" stroke-width="1.5"/>}
			  : do { my ($px, $py) = split /,/, $pts->[0]; qq{<circle cx="$px" cy="$py" r="1.5" fill="$c"/>} };
		}
	}
	$svg .= '</svg>';
	my $legend = join(' ', map {
		sprintf(qq{<span><i style="background:%s"></i>%s</span>}, $colors[ ($_ - 1) % @colors ], esc($cols->[$_]))
	} @series);
	return sprintf(qq{<div class="panel"><div class="title">%s</div>%s<div class="legend">%s</div></div>},
		esc($panel->{title}), $svg, $legend);
}

my (@charts, @empty);
for my $panel (@panels)
{
	my $chart = chart($panel);
	if (defined $chart) { push @charts, $chart; }
	else { (my $t = $panel->{title}) =~ s/ \(SQL\)$//; push @empty, $t; }
}
my $charts = join("\n", @charts);
my $missing = @empty
  ? sprintf('; not shown, no data on this server: %s', esc(join(', ', @empty)))
  : '';
my $range = sprintf('%s – %s UTC, $__interval = %s', strftime('%Y-%m-%d %H:%M:%S', gmtime($from)),
	strftime('%H:%M:%S', gmtime($to)), $interval);
open my $fh, '>', $out or die "$out: $!";
print $fh <<"HTML";
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>$dash->{title}</title>
<style>
body { background: #111217; color: #ccccdc; font: 12px Inter, "Helvetica Neue", Arial, sans-serif; margin: 12px; }
h1 { font-size: 16px; font-weight: 500; margin: 0 0 2px 4px; }
.sub { color: #8e8e9e; margin: 0 0 10px 4px; }
.grid-4 { display: grid; grid-template-columns: repeat(4, 340px); gap: 8px; }
.panel { background: #181b1f; border: 1px solid #2c3235; border-radius: 3px; padding: 6px 4px 6px 4px; }
.title { font-weight: 500; margin: 0 0 4px 6px; }
.legend { margin: 2px 0 0 10px; color: #ccccdc; }
.legend span { margin-right: 10px; white-space: nowrap; }
.legend i { display: inline-block; width: 12px; height: 3px; margin: 0 4px 3px 0; vertical-align: middle; }
svg .grid { stroke: #2c3235; stroke-width: 1; }
svg .threshold { stroke: #f2495c; stroke-width: 1; stroke-dasharray: 4 3; }
svg .axis { fill: #8e8e9e; font-size: 10px; }
</style></head>
<body>
<h1>$dash->{title}</h1>
<div class="sub">This server: SQL panels over pg_postmaster_stats_history, $range$missing</div>
<div class="grid-4">
$charts
</div>
</body></html>
HTML
close $fh;

# the caller sizes the screenshot: four panels per row
print scalar(@charts), "\n";
