#!/usr/bin/env bash
# Install the three real agent CLIs at pinned versions, for tests/conformance (cached).
#
#   scripts/install_clis.sh            prints nothing when the cache is current
#
# - The versions are pinned here (one line each, `npm install` of an exact version): an unpinned
#   install once resolved a stale claude-code. claude and codex are native binaries inside their
#   npm packages; nothing is downloaded at run time.
# - The install goes to AQM_CLI_CACHE (default ~/.cache/aqm-clis)/<hash of the pins>: about 30 s
#   and 930 MB the first time on a machine, nothing after. tests/conformance finds it through the
#   same hash (scripts/install_clis.sh --prefix prints the folder).
# - node and npm come from Debian when missing (as bubblewrap does in the Makefile).
set -euo pipefail

PINS=(
  "@anthropic-ai/claude-code@2.1.337"
  "@google/gemini-cli@0.61.0"
  "@openai/codex@0.171.0"
)
KEY=$(printf '%s\n' "${PINS[@]}" | sha256sum | cut -c1-12)
PREFIX=${AQM_CLI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aqm-clis}/$KEY

if [[ "${1:-}" == "--prefix" ]]; then
  echo "$PREFIX"
  exit 0
fi
if [[ -f "$PREFIX/.installed" ]]; then
  exit 0  # these pins are installed
fi
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -q && $SUDO apt-get install -y -q nodejs npm
fi

mkdir -p "$PREFIX"
exec 9>"$PREFIX.lock"
flock 9  # two setups at once: one installs, the other waits and finds it done
if [[ ! -f "$PREFIX/.installed" ]]; then
  echo "Installing ${PINS[*]} (about 30 s, cached in $PREFIX)"
  npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "${PINS[@]}"
  touch "$PREFIX/.installed"
fi
