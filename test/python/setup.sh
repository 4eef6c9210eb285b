#!/usr/bin/env bash
# Creates (if missing) the project virtualenv at <repo>/.venv and installs the
# Python client (editable) plus the test dependencies. Idempotent: re-running
# only installs what is missing or out of date.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.venv"
py="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "setup.sh: creating virtualenv $venv" >&2
  "$py" -m venv "$venv"
fi

# Skip pip entirely when everything is already installed at the wanted versions
# (keeps CI re-runs fast and offline-tolerant).
stamp="$venv/.imageflight-setup-stamp"
# IMAGEFLIGHT_TEST_TORCH=1 also installs torch (and onnxscript) for test_torch_dataset.py
# and test_model_archs.py (not in requirements.txt: PyPI's Linux wheel pulls ~2.8 GB of
# CUDA packages, ~2.5 min here).
with_torch="${IMAGEFLIGHT_TEST_TORCH:-0}"
want="$( (cat "$here/requirements.txt" "$root/clients/python/pyproject.toml"; echo "torch=$with_torch onnxscript") | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && "$venv/bin/python" -c 'import imageflight, pyarrow.flight, pandas, numpy, pyspark, pytest, PIL, onnx, onnxruntime' 2>/dev/null \
   && { [ "$with_torch" != 1 ] || "$venv/bin/python" -c 'import torch, onnxscript' 2>/dev/null; }; then
  echo "setup.sh: $venv up to date" >&2
  exit 0
fi

"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root/clients/python[pandas,numpy]"
if [ "$with_torch" = "1" ]; then
  # onnxscript: torch.onnx.export's exporter (torch.export-based, the default since 2.9)
  # needs it to write the real architectures of test_model_archs.py.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch>=2.1" "onnxscript>=0.5"
  "$venv/bin/python" -c 'import torch, onnxscript'
fi
"$venv/bin/python" -c 'import imageflight, pyarrow.flight, pandas, numpy, pyspark, pytest, PIL, onnx, onnxruntime'
echo "$want" > "$stamp"
echo "setup.sh: $venv ready" >&2
