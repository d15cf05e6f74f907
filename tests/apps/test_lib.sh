# Sourced by the command-line tests (tests/apps/*_test.sh): set -uo pipefail, $onestep (the
# binary, the script's first argument), a scratch folder $work removed on exit, and fail/finish
# to count failures and end with a non-zero exit code when any occurred.
set -uo pipefail
onestep="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# finish [SUMMARY]: the count of failures and exit 1 when there were any, else SUMMARY.
finish() {
  if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
  [ $# -eq 0 ] || echo "$1"
  exit 0
}
