# Sourced by scripts/demo and scripts/test: makes .venv and installs the project when
# pyproject.toml changed since the last install. Usage: ensure_venv [extras]
ensure_venv() {
  local extras="${1:-}" py="${PYTHON:-python3}" spec="." stamp want
  [ -n "$extras" ] && spec=".[$extras]"
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Cần Python 3.11 trở lên (Python 3.11+ is required)." >&2; return 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "==> Creating .venv"
    "$py" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  local hash; hash="$(sha256sum pyproject.toml | cut -c1-16)"
  want="$hash-$extras"
  stamp=".venv/.motcua-installed"
  # A dev install serves the demo too.
  if ! grep -qx -- "$want" "$stamp" 2>/dev/null \
     && ! { [ -z "$extras" ] && grep -qx -- "$hash-dev" "$stamp" 2>/dev/null; }; then
    echo "==> Installing the project and its dependencies into .venv ($spec)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" 2>&1 \
      >.venv/install.log 2>&1 || { tail -30 .venv/install.log; return 1; }
    .venv/bin/python -c 'import django, celery, weasyprint' || return 1
    echo "$want" > "$stamp"
  fi
}
