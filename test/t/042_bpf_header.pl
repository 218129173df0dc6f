# bpf/pps_bpf.h, the record layout shared by the BPF programs, the loader
# and the extension, compiles on its own (as the loader includes it) and
# after the server's headers (as the extension does), on the major being
# tested: it must not depend on what the server headers happen to pull in.
# No cluster: this runs the C compiler with -fsyntax-only.
use strict;
use warnings;

use FindBin;
use PostgreSQL::Test::Utils;
use Test::More;

my $bpf = "$FindBin::RealBin/../../bpf";
my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my $server = `$pg_config --includedir-server`;
chomp $server;
ok(-f "$server/postgres.h", "server headers found ($server)");
my $cc = `$pg_config --cc` || 'cc';
chomp $cc;
my $tmp = PostgreSQL::Test::Utils::tempdir;

my %cases = (
	'on its own' => qq{#include "pps_bpf.h"\n},
	'after postgres.h' => qq{#include "postgres.h"\n#include "pps_bpf.h"\n},
	'before postgres.h' => qq{#include "pps_bpf.h"\n#include "postgres.h"\n});
for my $what (sort keys %cases)
{
	my $file = "$tmp/check.c";
	open my $f, '>', $file or die "$file: $!";
	print $f $cases{$what}, "struct pps_bpf_stats s;\nstruct pps_bpf_hello h;\nstruct pps_bpf_request r;\n";
	close $f;
	my ($out, $err) = run_command([ split(' ', $cc), '-fsyntax-only', '-Werror', '-Wall',
		'-I', $bpf, '-I', $server, '-D_GNU_SOURCE', $file ]);
	is($err, '', "pps_bpf.h compiles $what");
}
done_testing();
