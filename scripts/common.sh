# Shared by scripts/run and scripts/test (sourced, not run): find a supported
# Python and keep a virtualenv installed, re-installing only when what it was
# installed from changed. Install errors stop the script: a half-installed
# environment that is reused afterwards fails later in confusing ways.

#: The oldest Python chatd supports (pyproject.toml's requires-python).
CHATD_MIN_PYTHON="3.11"

# A Python >= CHATD_MIN_PYTHON: $PYTHON if set, else the first of python3,
# python3.13, python3.12, python3.11 that is new enough. Exits with one line
# naming the required version otherwise.
chatd_python() {
  local candidates=("${PYTHON:-}")
  [ -n "${PYTHON:-}" ] || candidates=(python3 python3.13 python3.12 python3.11)
  local candidate
  for candidate in "${candidates[@]}"; do
    if command -v "$candidate" >/dev/null 2>&1 && _python_supported "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  local found="none"
  if command -v "${candidates[0]}" >/dev/null 2>&1; then
    found=$("${candidates[0]}" -c 'import platform; print(platform.python_version())')
  fi
  echo "chatd needs Python >= $CHATD_MIN_PYTHON (found: ${candidates[0]} $found); set PYTHON=/path/to/python3.11+" >&2
  exit 1
}

_python_supported() {
  "$1" -c "import sys; sys.exit(0 if sys.version_info >= tuple(map(int, '$CHATD_MIN_PYTHON'.split('.'))) else 1)" \
    >/dev/null 2>&1
}

# chatd_venv DIR PYTHON: DIR is a virtualenv of a supported Python; one made by
# an unsupported (or since removed) interpreter is made again.
chatd_venv() {
  local dir=$1 python=$2
  if [ -x "$dir/bin/python" ] && _python_supported "$dir/bin/python"; then
    return 0
  fi
  [ -e "$dir" ] && echo "== $dir was made by an unsupported or missing Python; making it again"
  rm -rf "$dir"
  echo "== creating $dir ($("$python" -c 'import platform; print(platform.python_version())'))"
  "$python" -m venv "$dir"
}

# chatd_install DIR FILE... -- PIP_ARGS...: run `pip install PIP_ARGS` in the
# virtualenv DIR unless FILE... (what the install reads: pyproject.toml,
# requirement files) are unchanged since the last successful install.
chatd_install() {
  local dir=$1
  shift
  local inputs=()
  while [ "$1" != "--" ]; do inputs+=("$1"); shift; done
  shift
  local stamp="$dir/.chatd-installed"
  local want
  want=$({ "$dir/bin/python" --version; cat "${inputs[@]}"; echo "$*"; } | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "== installing into $dir: $*"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$dir/bin/python" -m pip install -q "$@"
  echo "$want" > "$stamp"
}
