#!/usr/bin/env bash
# One-time set-up: .venv in the repo root with gcop installed in editable mode (dev extras, pins
# from constraints.txt), and the sandbox image when a Docker engine answers.
#
#   scripts/setup.sh            # venv + package + sandbox image
#   GCOP_SKIP_IMAGE=1 scripts/setup.sh   # venv + package only
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: gcop needs Python >= 3.11 (found $("$python" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
# -qq: errors only. A host's pip configuration can name package indexes that do not exist there,
# and pip warns about each one for every package, burying the one line that matters.
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq -c constraints.txt -e '.[dev,train]'
echo "setup: installed gcop into .venv ($(.venv/bin/python --version))"

if [ -n "${GCOP_SKIP_IMAGE:-}" ]; then exit 0; fi
if ! docker info >/dev/null 2>&1; then
  echo "setup: Docker is not answering; skipped the sandbox image (start Docker, then run"
  echo "       '.venv/bin/gcop sandbox build', or judge with '--executor local')."
  exit 0
fi
# The slim Python base needs a container registry; without one, build the base with debootstrap
# from this host's Debian mirror (root only). The first attempt's error is expected on such hosts,
# so it is kept in a file and shown only if the fallback fails too.
first_try=$(mktemp)
trap 'rm -f "$first_try"' EXIT
if ! .venv/bin/gcop sandbox build -q 2>"$first_try"; then
  echo "setup: no container registry answers for the base image; building it with debootstrap from this host's Debian mirror"
  if ! .venv/bin/gcop sandbox build -q --debootstrap; then
    echo "setup: the registry build failed with:" >&2
    cat "$first_try" >&2
    exit 1
  fi
fi
echo "setup: sandbox image gcop-sandbox:latest is ready"
