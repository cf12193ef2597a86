#!/usr/bin/env bash
# gpun2d's GPU checks in one command, for a machine with a CUDA GPU and cuML importable.
#
#   MNIST_DIR=data/mnist OUT=/tmp/gpu-check benchmarks/gpu_check.sh            # every step
#   MNIST_DIR=data/mnist benchmarks/gpu_check.sh pytest targets                # some steps
#
# Run from the repository root. MNIST_DIR holds the MNIST test set (t10k IDX files; default
# ../shared/data/mnist). Each step's output goes to OUT/STEP.log (default OUT: gpu-check) and
# its JSON beside it; a failing step is reported and the next one still runs. The benchmark
# steps run with --device cuda and share gpun2d's option names (python3 benchmarks/X.py --help). Steps:
#   pytest    the GPU and cuML tests (pytest -m "gpu or cuml")
#   targets   benchmarks/targets.py: mnist-test rows repeated to 70,000, 1000 epochs, CUDA graphs
#   stages    benchmarks/stages.py: each stage against its alternative at 10,000 samples
#   variants  benchmarks/umap_variants.py: cuML UMAP choices by time and ACC/NMI, 3 seeds
set -u -o pipefail

out=${OUT:-gpu-check}
mnist=${MNIST_DIR:-../shared/data/mnist}
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(pytest targets stages variants)
for step in "${steps[@]}"; do
    case $step in
        pytest | targets | stages | variants) ;;
        *) echo "gpu_check.sh: unknown step '$step' (pytest, targets, stages, variants)" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
# the checkout itself on the path (the device machine may carry only site-packages), SciPy's array API
# for the mixture on CUDA tensors, and every gpu/cuml test failing, not skipping, if CUDA or cuML is missing
export PYTHONUNBUFFERED=1 GPUN2D_MNIST_DIR="$mnist" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" \
    SCIPY_ARRAY_API=1 GPUN2D_REQUIRE_GPU=1
# --device cuda: a benchmark fails at once with one `Error:` line when CUDA or cuML is missing, rather
# than falling back to hours on the CPU (auto would).
data=(--dataset mnist-test --data-dir "$mnist" --no-download --device cuda)
failed=()

for step in "${steps[@]}"; do
    case $step in
        pytest) cmd=(python3 -m pytest -m "gpu or cuml" -q -rs) ;;
        targets) cmd=(python3 benchmarks/targets.py "${data[@]}" --rows 70000 --cuda-graphs --out "$out/targets.json") ;;
        stages) cmd=(python3 benchmarks/stages.py "${data[@]}" --sizes 10000 --out "$out/stages.json") ;;
        variants) cmd=(python3 benchmarks/umap_variants.py "${data[@]}" --epochs 50 --seeds 0,1,2
                       --out "$out/variants.json") ;;
    esac
    echo "== $step: ${cmd[*]}"
    start=$SECONDS
    if ! "${cmd[@]}" 2>&1 | tee "$out/$step.log"; then
        failed+=("$step")
    fi
    echo "== $step: $((SECONDS - start)) s"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "== failed: ${failed[*]}"
    exit 1
fi
echo "== all passed: ${steps[*]}"
