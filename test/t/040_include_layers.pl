# The layers of src/ and the one rule between them: a file includes,
# directly or through other headers, only headers of its own layer or of a
# lower one.  From the bottom:
#
#   base     plain helpers and type-only headers, which know nothing of the
#            extension's parts (pps_compat.h, pps_types_*.h, pps_try.h, ...)
#   shmem    shared memory (pps_shmem*)
#   source   what reads the server and the kernel (source_*)
#   upper    the workers and the SQL functions (pps_worker*, pps_probe_worker*,
#            pps_loop*, pps_sql*), and the module's entry point
#
# So sources and shared memory never include a worker or SQL header, and
# shared memory includes no source.  Every file of src/ must be in a layer:
# a new one with a name outside these patterns fails here until it is placed.
# No cluster: this reads the #include lines.
use strict;
use warnings;

use FindBin;
use Test::More;

my $src = "$FindBin::RealBin/../../src";

my @layers = (
	[ base => qr/^pps_(compat|histogram|seqlock|try|guc|procfs|types_\w+)\.[ch]$/ ],
	[ shmem => qr/^pps_shmem\w*\.[ch]$/ ],
	[ source => qr/^source_\w+\.[ch]$/ ],
	[
		upper =>
		  qr/^(pps_worker\w*|pps_probe_worker|pps_loop|pps_sql\w*|pg_postmaster_stats)\.[ch]$/
	],);
my %rank = map { $layers[$_][0] => $_ } 0 .. $#layers;

sub layer_of
{
	my ($file) = @_;
	for my $l (@layers)
	{
		return $l->[0] if $file =~ $l->[1];
	}
	return undef;
}

# file name => [ project headers it includes directly ]
sub read_includes
{
	my ($dir) = @_;
	my %inc;
	opendir my $dh, $dir or die "$dir: $!";
	for my $f (sort grep { /\.[ch]$/ } readdir $dh)
	{
		open my $fh, '<', "$dir/$f" or die "$dir/$f: $!";
		$inc{$f} = [ map { /^\s*#\s*include\s+"([^"]+)"/ ? $1 : () } <$fh> ];
	}
	closedir $dh;
	return \%inc;
}

# "file: includes header (through a, b)" for every include that runs upward
sub violations
{
	my ($inc) = @_;
	my @bad;
	for my $f (sort keys %$inc)
	{
		my $lf = layer_of($f);
		if (!defined $lf)
		{
			push @bad, "$f: in no layer (name it after its layer)";
			next;
		}
		# breadth-first over the headers of src/, keeping the path
		my %via = map { $_ => [] } @{ $inc->{$f} };
		my @queue = @{ $inc->{$f} };
		while (defined(my $h = shift @queue))
		{
			next unless exists $inc->{$h};
			for my $next (@{ $inc->{$h} })
			{
				next if exists $via{$next};
				$via{$next} = [ @{ $via{$h} }, $h ];
				push @queue, $next;
			}
		}
		for my $h (sort keys %via)
		{
			next unless exists $inc->{$h};    # a PostgreSQL or system header
			my $lh = layer_of($h);
			next unless defined $lh;          # reported as a file of its own
			next if $rank{$lh} <= $rank{$lf};
			my $path = @{ $via{$h} } ? ' (through ' . join(', ', @{ $via{$h} }) . ')' : '';
			push @bad, "$f ($lf) includes $h ($lh)$path";
		}
	}
	return @bad;
}

# The check itself finds an upward include, directly and through a header.
my %bad_tree = (
	'source_x.c' => ['pps_guc.h', 'source_x.h'],
	'source_x.h' => ['pps_loop.h'],
	'pps_loop.h' => [],
	'pps_guc.h' => [],
	'pps_shmem.h' => ['source_x.h'],
	'stray.c' => [],);
is_deeply(
	[ violations(\%bad_tree) ],
	[
		'pps_shmem.h (shmem) includes pps_loop.h (upper) (through source_x.h)',
		'pps_shmem.h (shmem) includes source_x.h (source)',
		'source_x.c (source) includes pps_loop.h (upper) (through source_x.h)',
		'source_x.h (source) includes pps_loop.h (upper)',
		'stray.c: in no layer (name it after its layer)',
	],
	'the check reports upward includes and unplaced files');

my $inc = read_includes($src);
for my $l (qw(base shmem source upper))
{
	ok((grep { (layer_of($_) // '') eq $l } keys %$inc),
		"src/ has files in layer $l");
}
my @bad = violations($inc);
is(scalar(@bad), 0, 'no file of src/ includes a header of a higher layer')
  or diag(join("\n", @bad));

done_testing();
