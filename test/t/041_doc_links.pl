# The documentation holds together: every relative link and image of
# README.md and docs/*.md names a file of the tree, every #anchor names a
# heading of its target as GitHub spells it, every page of docs/ can be
# reached from the README, and the README stays short enough to finish.
# Reads files only; no server.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use FindBin;
use Test::More;

my $root = abs_path("$FindBin::RealBin/../..");

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:encoding(UTF-8)', $path or die "$path: $!";
	local $/;
	return <$fh>;
}

# The lines of a Markdown file outside fenced code blocks.
sub prose_lines
{
	my ($text) = @_;
	my ($fence, @lines);
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^\s*(```|~~~)/)
		{
			$fence = defined $fence ? undef : $1;
			next;
		}
		push @lines, $line unless defined $fence;
	}
	return @lines;
}

# GitHub's anchor for a heading: the text as rendered (no code marks, link
# text only), lower case, punctuation other than - and _ dropped, spaces
# made hyphens; a repeated anchor gets -1, -2, ...
sub anchors
{
	my ($text) = @_;
	my (%seen, %anchor);
	for (prose_lines($text))
	{
		next unless /^#{1,6}\s+(.*?)\s*#*\s*$/;
		my $h = $1;
		$h =~ s/\[([^\]]*)\]\([^)]*\)/$1/g;
		$h =~ s/[`*]//g;
		$h = lc $h;
		$h =~ s/[^\w\- ]//g;
		$h =~ s/ /-/g;
		my $n = $seen{$h}++;
		$anchor{ $n ? "$h-$n" : $h } = 1;
	}
	return \%anchor;
}

# Every link target of a Markdown file: [text](target), ![alt](target),
# and src= / href= of inline HTML, outside code.
sub links
{
	my ($text) = @_;
	my @targets;
	for my $line (prose_lines($text))
	{
		$line =~ s/`[^`]*`//g;
		push @targets, $line =~ /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
		push @targets, $line =~ /\b(?:src|href)="([^"]+)"/g;
	}
	return @targets;
}

my @pages = ('README.md', map { s{^\Q$root\E/}{}r } sort glob("$root/docs/*.md"));
cmp_ok(scalar @pages, '>=', 2, 'README.md and the pages of docs/ are found');

my (%anchors_of, %linked_from_readme, @broken);
my ($files, $anchors) = (0, 0);
for my $page (@pages)
{
	my $text = slurp("$root/$page");
	for my $target (links($text))
	{
		next if $target =~ /^[a-z][a-z0-9+.-]*:/i;	# http:, https:, mailto:
		my ($path, $anchor) = $target =~ /^([^#]*)(?:#(.*))?$/;
		my $file = $path eq '' ? "$root/$page" : abs_path(dirname("$root/$page") . "/$path");
		$files++;
		if (!defined $file || !-e $file || index("$file/", "$root/") != 0)
		{
			push @broken, "$page: $target: no such file in the tree";
			next;
		}
		my $rel = $file eq $root ? '.' : substr($file, length($root) + 1);
		$linked_from_readme{$rel} = 1 if $page eq 'README.md';
		next unless defined $anchor;
		$anchors++;
		if ($rel !~ /\.md$/)
		{
			push @broken, "$page: $target: an anchor into a file that is not Markdown";
			next;
		}
		$anchors_of{$rel} //= anchors(slurp($file));
		push @broken, "$page: $target: no such heading in $rel"
		  unless $anchors_of{$rel}{$anchor};
	}
}
cmp_ok($files, '>=', 40, "relative links were read ($files)");
cmp_ok($anchors, '>=', 20, "links with an anchor were read ($anchors)");
is(join("\n", @broken), '', 'every relative link names a file of the tree, and every anchor a heading');

for my $page (grep { m{^docs/} } @pages)
{
	ok($linked_from_readme{$page}, "README.md links to $page");
}

my $size = -s "$root/README.md";
cmp_ok($size, '<', 20_000, "README.md is under 20 KB ($size bytes)");

done_testing();
