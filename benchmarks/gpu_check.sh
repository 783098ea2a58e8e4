#!/usr/bin/env bash
# The prepared device check: the CUDA tests, the array API checks on CUDA and
# the GPU benchmark, in one command, in under 8 minutes on a GPU machine
# without internet. Runs from the plain source tree; needs torch (with CUDA),
# scikit-learn, numpy, scipy and pytest; uses array-api-strict, safetensors,
# onnx, onnxruntime where installed (their tests skip otherwise).
#
#   benchmarks/gpu_check.sh RESULTS_DIR            # on a machine with a GPU
#   benchmarks/gpu_check.sh RESULTS_DIR --dry-run  # anywhere, on the CPU, in seconds
#
# (SK_MLP_GPU_CHECK_DRY=1 also asks for the dry run.) RESULTS_DIR receives
# environment.txt, tests.txt (+ tests.xml), results-gpu.txt and results-gpu.json.
# The dry run collects the same tests without running them (CI runs them
# anyway) and runs the same benchmark code at tiny sizes on the CPU, so that
# nothing here can rot. Exit status: non-zero if a step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

out=${1:?usage: benchmarks/gpu_check.sh RESULTS_DIR [--dry-run]}
dry=""
if [[ "${2:-}" == "--dry-run" || "${SK_MLP_GPU_CHECK_DRY:-0}" == "1" ]]; then
    dry="--dry-run"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
python=${PYTHON:-python}
# The source tree, not an installed copy; SciPy's array API support must be
# on before SciPy is imported, for scikit-learn's dispatch.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export SCIPY_ARRAY_API=1
status=0

{
    date -u
    "$python" -c "import sys, torch, sklearn, numpy, sk_mlp; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, '| scikit-learn', sklearn.__version__, '| numpy', numpy.__version__, '| sk_mlp', sk_mlp.__file__)"
    "$python" -c "import torch; print('GPUs:', [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])"
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
} > "$out/environment.txt" 2>&1 || status=1

# The CUDA tests (they skip without CUDA) and scikit-learn's array API checks,
# CUDA combinations included.
tests=(tests/test_device.py tests/test_array_api.py tests/test_precision.py tests/test_host_sync.py)
if [[ -n "$dry" ]]; then
    "$python" -m pytest --collect-only -q -p no:cacheprovider "${tests[@]}" > "$out/tests.txt" 2>&1 || status=1
else
    timeout 240 "$python" -m pytest -q -rs -p no:cacheprovider "${tests[@]}" \
        --junitxml="$out/tests.xml" > "$out/tests.txt" 2>&1 || status=1
fi
tail -n 3 "$out/tests.txt"

timeout 240 "$python" benchmarks/gpu.py --out "$out" $dry || status=1

echo "gpu_check: results in $out (status $status)"
exit $status
