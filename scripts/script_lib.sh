# Sourced by the study scripts: where things are, and one parser for their flags.
# Sets root (the checkout), onestep (the binary, built when missing; $ONESTEP overrides) and
# python (Debian's interpreter, which sees the python3-* packages; $PYTHON overrides).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
onestep="${ONESTEP:-$root/build/apps/onestep}"
[ -x "$onestep" ] || "$root/scripts/build.sh"
python="${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}"

# parse_flags SCRIPT "VALUED" "SWITCHES" ARGS...: each --some-name VALUE whose some_name is in the
# space-separated list VALUED sets the variable some_name (which holds the script's default);
# each --some-name in SWITCHES sets it to 1. Anything else exits 2 with a message naming SCRIPT.
parse_flags() {
  local script="$1" valued=" $2 " switches=" $3 " name
  shift 3
  while [ $# -gt 0 ]; do
    name="${1#--}"
    name="${name//-/_}"
    if [ "${1:0:2}" = "--" ] && [[ "$switches" == *" $name "* ]]; then
      printf -v "$name" 1
    elif [ "${1:0:2}" = "--" ] && [[ "$valued" == *" $name "* ]]; then
      [ $# -ge 2 ] || { echo "$script: $1 needs a value" >&2; exit 2; }
      printf -v "$name" '%s' "$2"
      shift
    else
      echo "$script: unknown argument $1" >&2
      exit 2
    fi
    shift
  done
}
