#!/usr/bin/env bash
# The isolated PSI worker's virtualenv (veil.vertical.psi_spu, backend "spu"): SecretFlow's
# spu 0.9.5 pins numpy<2 and jax<=0.4.34, which cannot share veil's .venv (numpy 2), so the
# worker (src/veil/vertical/psi_worker.py, standard library + spu only) runs in its own venv.
# Idempotent and cheap when current: re-installs only when the pinned requirement changes.
# Usage: scripts/psi-venv.sh [VENV]   (default .venv-psi beside this script's repository;
# VEIL_PSI_VENV overrides it, and is where veil looks for the worker's interpreter.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-${VEIL_PSI_VENV:-$root/.venv-psi}}"
py="${PY:-python3}"
requirement="spu==0.9.5"
stamp="$venv/.installed"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$requirement" ]] && "$venv/bin/python" -c "import spu.psi" 2>/dev/null; then
	exit 0
fi
"$py" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 12) else "spu 0.9.5 ships wheels for Python 3.10 and 3.11 only")'
test -x "$venv/bin/python" || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$requirement"
"$venv/bin/python" -c "import spu.psi"
echo "$requirement" > "$stamp"
echo "psi-venv: $requirement in $venv"
