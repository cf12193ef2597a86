#!/usr/bin/env bash
# gpun2d's GPU checks, in tiers that each fit one command on a lent GPU machine (about 8 minutes).
#
#   MNIST_DIR=../shared/data/mnist OUT=$OUT benchmarks/gpu_check.sh torch   # torch alone, no cuML needed
#   MNIST_DIR=../shared/data/mnist OUT=$OUT benchmarks/gpu_check.sh cuml    # once cuML's wheels are installed
#   MNIST_DIR=data/mnist benchmarks/gpu_check.sh pytest targets              # the older steps, by name
#
# Run from the repository root. MNIST_DIR holds the MNIST test set (t10k IDX files; default
# ../shared/data/mnist). Each step's output goes to OUT/STEP.log (default OUT: gpu-check) and
# its JSON beside it; a failing step is reported and the next one still runs, except a gate
# (cuda, preflight), which stops the run at once with exit status 1. Tiers:
#   torch   cuda, pytest-torch, targets-torch                  (needs a CUDA build of torch, no cuML)
#   cuml    cuda, preflight, pytest-cuml, targets-cuml         (needs cuML importable)
# Steps:
#   cuda           gate: torch sees a CUDA GPU and runs a kernel on it (seconds)
#   preflight      gate: versions of numba, numba-cuda, cupy, pandas, pyarrow, cuml; `import cuml` works
#   pytest-torch   every GPU test that needs no cuML (pytest -m "gpu and not cuml")
#   pytest-cuml    every cuML test (pytest -m cuml)
#   targets-torch  benchmarks/targets.py --stages autoencoder,mixture, mnist-test repeated to 70,000 rows
#   targets-cuml   benchmarks/targets.py, every stage, 70,000 rows, --cluster-n-init 10
#   pytest         the GPU and cuML tests together (pytest -m "gpu or cuml")
#   targets        benchmarks/targets.py: mnist-test rows repeated to 70,000, 1000 epochs, CUDA graphs
#   stages         benchmarks/stages.py: each stage against its alternative at 10,000 samples
#   variants       benchmarks/umap_variants.py: cuML UMAP choices by time and ACC/NMI, 3 seeds
# No argument runs pytest, targets, stages and variants, as before the tiers. The tiers' steps run
# under a time limit each (timeout(1)), so that a tier ends well inside a 10-minute command.
# The benchmark steps run with --device cuda and share gpun2d's option names (python3 benchmarks/X.py --help).
set -u -o pipefail

out=${OUT:-gpu-check}
mnist=${MNIST_DIR:-../shared/data/mnist}
steps=()
for arg in "$@"; do
    case $arg in
        torch) steps+=(cuda pytest-torch targets-torch) ;;
        cuml) steps+=(cuda preflight pytest-cuml targets-cuml) ;;
        cuda | preflight | pytest-torch | pytest-cuml | targets-torch | targets-cuml) steps+=("$arg") ;;
        pytest | targets | stages | variants) steps+=("$arg") ;;
        *) echo "gpu_check.sh: unknown step '$arg' (tiers: torch, cuml; steps: cuda, preflight, pytest-torch," \
                "pytest-cuml, targets-torch, targets-cuml, pytest, targets, stages, variants)" >&2; exit 2 ;;
    esac
done
[ ${#steps[@]} -eq 0 ] && steps=(pytest targets stages variants)
mkdir -p "$out"
# the checkout itself on the path (the device machine may carry only site-packages), SciPy's array API
# for the mixture on CUDA tensors, and every gpu/cuml test failing, not skipping, if CUDA or cuML is missing
export PYTHONUNBUFFERED=1 GPUN2D_MNIST_DIR="$mnist" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" \
    SCIPY_ARRAY_API=1 GPUN2D_REQUIRE_GPU=1
# --device cuda: a benchmark fails at once with one `Error:` line when CUDA (or, for UMAP, cuML) is
# missing, rather than falling back to hours on the CPU (auto would).
data=(--dataset mnist-test --data-dir "$mnist" --no-download --device cuda)
# what each targets step adds to the shared options (targets.py --help)
targets_torch=(--stages autoencoder,mixture --cluster-n-init 10)
targets_cuml=(--stages autoencoder,umap,mixture --cluster-n-init 10)

# gate scripts: print one line, exit 1 when what the later steps need is missing
cuda_check='
import sys, torch
if torch.version.cuda is None or not torch.cuda.is_available():
    print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, torch.cuda.is_available() False")
    sys.exit(1)
assert torch.ones(4, device="cuda").sum().item() == 4
print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
'
versions='
from importlib import metadata
def version(*names):
    for name in names:
        try:
            return f"{metadata.version(name)} ({name})"
        except metadata.PackageNotFoundError:
            pass
    return "not installed"
for label, names in (("numba", ["numba"]), ("numba-cuda", ["numba-cuda"]),
                     ("cupy", ["cupy-cuda13x", "cupy-cuda12x", "cupy"]), ("pandas", ["pandas"]),
                     ("pyarrow", ["pyarrow"]), ("cuml", ["cuml-cu13", "cuml-cu12", "cuml"]),
                     ("cudf", ["cudf-cu13", "cudf-cu12", "cudf"])):
    print(f"{label:<11} {version(*names)}")
'

gate() {  # gate STEP: run a gate, stop the whole run at once when it fails
    local step=$1 log="$out/$1.log" start=$SECONDS
    case $step in
        cuda)
            if ! timeout 60 python3 -c "$cuda_check" >"$log" 2>&1; then
                echo "gpu_check.sh: no CUDA GPU visible to torch ($(tail -n 1 "$log"))" | tee -a "$log" >&2
                exit 1
            fi
            echo "== cuda: $(tail -n 1 "$log") ($((SECONDS - start)) s)" ;;
        preflight)
            timeout 60 python3 -c "$versions" 2>&1 | tee "$log"
            if ! timeout 180 python3 -c "import cuml; print('cuml', cuml.__version__, 'imports')" >>"$log" 2>&1; then
                echo "gpu_check.sh: cuML does not import: $(tail -n 1 "$log")" | tee -a "$log" >&2
                exit 1
            fi
            echo "== preflight: $(tail -n 1 "$log") ($((SECONDS - start)) s)" ;;
    esac
}

failed=()
for step in "${steps[@]}"; do
    limit=()  # the tiers' steps: seconds before timeout(1) ends the step (the older steps have none)
    extra=()
    case $step in
        cuda | preflight) gate "$step"; continue ;;
        pytest-torch | pytest-cuml) limit=(timeout --kill-after=15 210) ;;
        targets-torch | targets-cuml) limit=(timeout --kill-after=15 240) ;;
    esac
    case $step in
        targets-torch) extra=("${targets_torch[@]}") ;;
        targets-cuml) extra=("${targets_cuml[@]}") ;;
    esac
    case $step in
        pytest) cmd=(python3 -m pytest -m "gpu or cuml" -q -rs) ;;
        pytest-torch) cmd=(python3 -m pytest -m "gpu and not cuml" -q -rs) ;;
        pytest-cuml) cmd=(python3 -m pytest -m cuml -q -rs) ;;
        targets | targets-torch | targets-cuml) cmd=(python3 benchmarks/targets.py "${data[@]}" --rows 70000
                                                     --cuda-graphs "${extra[@]}" --out "$out/$step.json") ;;
        stages) cmd=(python3 benchmarks/stages.py "${data[@]}" --sizes 10000 --out "$out/stages.json") ;;
        variants) cmd=(python3 benchmarks/umap_variants.py "${data[@]}" --epochs 50 --seeds 0,1,2
                       --out "$out/variants.json") ;;
    esac
    echo "== $step: ${cmd[*]}"
    start=$SECONDS
    "${limit[@]}" "${cmd[@]}" 2>&1 | tee "$out/$step.log"
    status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        failed+=("$step")
        [ ${#limit[@]} -gt 0 ] && { [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; } &&
            echo "== $step: stopped by its time limit (${limit[*]})"
    fi
    echo "== $step: $((SECONDS - start)) s"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "== failed: ${failed[*]}"
    exit 1
fi
echo "== all passed: ${steps[*]}"
