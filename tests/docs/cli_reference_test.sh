#!/usr/bin/env bash
# docs/CLI.md lists every flag: each subcommand's --help, flag by flag, against the section of
# CLI.md headed "## `onestep SUBCOMMAND`", so that a flag cannot be added (or renamed) without its
# documentation. Also: every subcommand has a section.
# Usage: cli_reference_test.sh /path/to/onestep /path/to/docs/CLI.md
set -uo pipefail
onestep="$1"
doc="$2"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The subcommands, from the "Subcommands:" block of onestep --help.
subcommands=$("$onestep" --help | awk '/^Subcommands:/ { on = 1; next } on && NF { print $1 }')
[ -n "$subcommands" ] || { echo "FAIL: onestep --help lists no subcommands"; exit 1; }
checked=0
for sub in $subcommands; do
  section=$(awk -v head="## \`onestep $sub\`" '
    index($0, head) == 1 { on = 1; next }
    on && /^## / { exit }
    on { print }' "$doc")
  [ -n "$section" ] || { fail "docs/CLI.md has no section \"## \`onestep $sub\`\""; continue; }
  # Each option line of --help: "  --flag ..." or "  -h,--help ...".
  flags=$("$onestep" "$sub" --help | grep -oE '^ +(-[a-z],)?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' |
          grep -vx -- '--help')
  for flag in $flags; do
    checked=$((checked + 1))
    # The flag as a word: "--lr" is not documented by "--lr-fake".
    grep -qE -- "(^|[^a-z0-9-])$flag([^a-z0-9-]|\$)" <<<"$section" ||
      fail "onestep $sub $flag is not in its section of docs/CLI.md"
  done
done
[ "$checked" -gt 50 ] || fail "only $checked flags were read from --help"
if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "cli_reference: $checked flags of $(wc -w <<<"$subcommands") subcommands, each in docs/CLI.md"
