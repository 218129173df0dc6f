# The reference of the diagnosis is the code's table: every finding and
# threshold that pg_postmaster_stats_diagnosis_rules shows (read from
# src/pps_sql_diagnosis_rules.c) is in docs/diagnosis.md with the same
# severity, minimum run, default, unit and setting, and nothing else is;
# the README names every finding; a setting changes the rule it feeds.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PpsTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = "$FindBin::RealBin/../..";

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:encoding(UTF-8)', $path or die "$path: $!";
	local $/;
	return <$fh>;
}

# rows of the Markdown table that follows heading $heading, as arrays of cells
sub md_table
{
	my ($text, $heading) = @_;
	my ($section) = $text =~ /^## \Q$heading\E\n(.*?)(?=^## |\z)/ms
	  or die "no section '$heading'";
	my @rows;
	for my $line (split /\n/, $section)
	{
		next unless $line =~ /^\|/;
		next if $line =~ /^\|\s*-/;
		my @cells = map { s/^\s+|\s+$//gr } split /\|/, $line;
		shift @cells;
		push @rows, [ map { s/`//gr } @cells ];
	}
	shift @rows;	# the header
	return @rows;
}

my $node = pps_node('rules');
my $doc = slurp("$root/docs/diagnosis.md");
my $readme = slurp("$root/README.md");

# findings: name => "severity min_samples"
my %code = map { my @f = split /\|/; $f[0] => "$f[1] $f[2]" } split /\n/,
  $node->safe_psql('postgres',
	'SELECT DISTINCT finding, severity, min_samples FROM pg_postmaster_stats_diagnosis_rules');
my %docf = map { $_->[0] => "$_->[1] $_->[2]" } md_table($doc, 'Findings');
is_deeply(\%docf, \%code, 'docs/diagnosis.md lists every finding with its severity and minimum run');
ok(scalar(keys %code) >= 15, 'at least the 15 findings of the issue: ' . scalar(keys %code));
for my $f (sort keys %code)
{
	like($readme, qr/`\Q$f\E`/, "README names $f");
}

# thresholds: name => "finding value unit setting"
my %codet = map { my @f = split /\|/, $_, -1; $f[1] => "$f[0] $f[2] $f[3] $f[4]" } split /\n/,
  $node->safe_psql('postgres',
	'SELECT finding, threshold, value, unit, coalesce(setting, \'\') FROM pg_postmaster_stats_diagnosis_rules WHERE threshold IS NOT NULL');
my %doct = map {
	my ($name, $finding, $value, $unit, $setting) = @$_;
	$setting =~ s/\s*\(.*\)$//;
	$name => "$finding $value $unit $setting"
} md_table($doc, 'Thresholds');
is_deeply(\%doct, \%codet, 'docs/diagnosis.md lists every threshold with its default, unit and setting');

# the settings are real GUCs, their range is in the docs, and they feed the rules
for my $t (md_table($doc, 'Thresholds'))
{
	next unless $t->[4] =~ /^(\S+) \((\d+) to (\d+)\)$/;
	my ($guc, $min, $max) = ($1, $2, $3);
	is($node->safe_psql('postgres', "SELECT min_val || ' ' || max_val FROM pg_settings WHERE name = '$guc'"),
		"$min $max", "$guc: range as documented");
}
$node->append_conf('postgresql.conf', "pg_postmaster_stats.diagnosis_busy_pct = 75\n");
$node->reload;
is($node->safe_psql('postgres',
		"SELECT value FROM pg_postmaster_stats_diagnosis_rules WHERE threshold = 'busy_pct'"),
	'75', 'a reloaded setting is the threshold the rules use');

$node->stop;
done_testing();
