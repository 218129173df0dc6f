# META.json follows the PGXN meta spec 1.0.0 and agrees with the control file.
use strict;
use warnings;

use FindBin;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = "$FindBin::RealBin/../..";
open my $fh, '<', "$root/META.json" or die "META.json: $!";
my $meta = eval { decode_json(do { local $/; <$fh> }) };
ok($meta, 'META.json is valid JSON') or BAIL_OUT($@);

my $semver = qr/^\d+\.\d+\.\d+(?:-[0-9A-Za-z-]+)?$/;
for my $key (qw(name abstract version maintainer license provides meta-spec))
{
	ok(exists $meta->{$key}, "required key '$key' is present");
}
like($meta->{name}, qr/^[^\s\/\\:]{2,}$/, 'name is a valid distribution name');
like($meta->{version}, $semver, 'version is a semantic version');
is($meta->{'meta-spec'}{version}, '1.0.0', 'meta-spec version 1.0.0');
like($meta->{license},
	qr/^(?:postgresql|bsd|mit|apache_2_0|gpl_3|lgpl_3_0|restricted|open_source|unknown)$/,
	'license is one of the spec\'s names');
ok(ref $meta->{maintainer} eq 'ARRAY' || !ref $meta->{maintainer}, 'maintainer is a string or list');

open my $ctl, '<', "$root/pg_postmaster_stats.control" or die $!;
my ($default) = map { /^default_version\s*=\s*'([^']+)'/ ? $1 : () } <$ctl>;
for my $ext (sort keys %{ $meta->{provides} })
{
	my $p = $meta->{provides}{$ext};
	like($p->{version}, $semver, "provides.$ext.version is a semantic version");
	ok(-f "$root/$p->{file}", "provides.$ext.file exists");
	is($p->{version}, "$default.0", "provides.$ext.version matches default_version $default");
	ok(-f "$root/sql/$ext--$default.sql", "install script for $default exists");
}
for my $phase (keys %{ $meta->{prereqs} // {} })
{
	like($phase, qr/^(?:configure|build|test|runtime|develop)$/, "prereq phase '$phase' is valid");
}

# One supported range everywhere: META.json, the compile-time check in
# pps_compat.h, and the majors the test command runs by default.
my $req = $meta->{prereqs}{runtime}{requires}{PostgreSQL} // '';
my ($lo, $hi) = $req =~ /^>= (\d+)\.0\.0, < (\d+)\.0\.0$/;
ok(defined $lo, "prereqs.runtime.requires.PostgreSQL is a range of majors: '$req'");
my ($clo, $chi) = slurp_file("$root/src/pps_compat.h") =~ /PG_VERSION_NUM < (\d+)0000 \|\| PG_VERSION_NUM >= (\d+)0000/;
is("$clo..$chi", ($lo // '') . '..' . ($hi // ''), 'pps_compat.h refuses exactly the majors META.json excludes');
my ($majors) = slurp_file("$root/test/run-tests.sh") =~ /PG_MAJORS=\$\{PG_MAJORS:-"([\d ]+)"\}/;
is($majors, join(' ', ($lo // 0) .. ($hi // 0) - 1), 'test/run-tests.sh tests every supported major by default');

done_testing();
