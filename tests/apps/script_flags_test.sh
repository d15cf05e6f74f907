#!/usr/bin/env bash
# scripts/script_lib.sh's parse_flags, which every study script parses its flags with: valued
# flags and switches set their variables, anything else (an unknown flag, a bare word, a valued
# flag without its value, a variable that is not a flag) exits 2 naming the script; and each
# study script refuses an unknown flag before doing any work.
# Usage: script_flags_test.sh /path/to/onestep
set -uo pipefail
export ONESTEP="$1"
scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts" && pwd)"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# shellcheck source=../../scripts/script_lib.sh
. "$scripts/script_lib.sh"
[ "$onestep" = "$ONESTEP" ] || fail "script_lib.sh did not take \$ONESTEP ($onestep)"

parsed="$(
  out=default images=1 study_only="" study=0
  parse_flags demo.sh "out images study_only" "study" --out /tmp/x --study --study-only a,b --images 7
  echo "$out|$images|$study_only|$study"
)"
[ "$parsed" = "/tmp/x|7|a,b|1" ] || fail "parsed '$parsed', expected '/tmp/x|7|a,b|1'"

refused() {  # expected message, then the arguments
  local expected="$1" message
  shift
  message="$( (out=d; parse_flags demo.sh "out" "study" "$@") 2>&1)"
  local status=$?
  [ "$status" -eq 2 ] || fail "parse_flags $* exited $status, expected 2"
  [ "$message" = "$expected" ] || fail "parse_flags $* said '$message', expected '$expected'"
}
refused "demo.sh: unknown argument --bogus" --bogus 1
refused "demo.sh: unknown argument out" out x
refused "demo.sh: unknown argument --onestep" --onestep /bin/true
refused "demo.sh: --out needs a value" --out

study_scripts=(bf16_parity fmnist_conditional fmnist_one_step ratio_gradient_study toy_recipe_study)
# results.sh installs its Python packages before it parses: run it only where they are.
if dpkg-query -W -f='${Status}\n' python3-matplotlib python3-numpy 2>/dev/null |
  grep -c "install ok installed" | grep -qx 2; then
  study_scripts+=(results)
else
  echo "note: results.sh not run (python3-matplotlib or python3-numpy is not installed)"
fi
for script in "${study_scripts[@]}"; do
  message="$(bash "$scripts/$script.sh" --bogus 2>&1)"
  status=$?
  [ "$status" -eq 2 ] || fail "$script.sh --bogus exited $status: $message"
  [[ "$message" == *"$script.sh: unknown argument --bogus"* ]] ||
    fail "$script.sh --bogus said '$message'"
done

[ "$failures" -eq 0 ] && echo "ok: parse_flags and ${#study_scripts[@]} study scripts" || exit 1
