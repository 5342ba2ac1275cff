#!/usr/bin/env bash
# The one prepared run on a GPU machine (see docs/distributed.md, "GPU benchmark"):
# install the project in place (no network: its dependencies are already on the device image;
# from the source tree where the image cannot build it),
# run the GPU-marked tests, then the benchmark of the image presets and the video and audio ones,
# of ViT-B/16 compiled and at twice the batch,
# a profile of the ViT-B/16 step, and with FMNIST set the Fashion-MNIST presets' training rates.
# Results go to $OUT (the device tool's output folder; ./gpu_results elsewhere).
#
#   bash benchmarks/gpu_checks.sh                                      # on the GPU machine
#   DEVICE=cpu IMAGE_MODELS=tiny VIDEO_MODELS=video/tiny AUDIO_MODELS= PROFILE_MODELS=tiny BATCH=2 VIDEO_BATCH=2 STEPS=1 WARMUP=0 \
#     PRECISION=fp32 SKIP_INSTALL=1 bash benchmarks/gpu_checks.sh      # CPU smoke run (the test suite does this)
set -uo pipefail
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
PRECISION=${PRECISION:-bf16}
status=0

if [ -z "${SKIP_INSTALL:-}" ] && ! $PY -m pip install -q --no-deps --no-build-isolation -e .; then
  # An image whose setuptools predates SPDX licence strings (< 77) cannot build the project offline:
  # run it from the source tree, naming the built-in plugins instead of reading their entry points.
  echo "gpu_checks: the editable install failed; running from the source tree" >&2
  export PYTHONPATH="$PWD:$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}"
  export JEPA_PLUGINS=jepa_image.plugin,jepa_video.plugin,jepa_audio.plugin
fi
if [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
  $PY -m pytest -q -m gpu --continue-on-collection-errors tests 2>&1 | tee "$OUT/gpu_tests.txt" || status=1
fi
bench() {  # name models batch [bench_gpu.py options...]
  [ -n "$2" ] || return 0
  $PY benchmarks/bench_gpu.py --device "$DEVICE" --models "$2" --batch-size "$3" --steps "$STEPS" \
    --warmup "$WARMUP" --precision "$PRECISION" "${@:4}" 2>&1 | tee "$OUT/bench_$1.txt" || status=1
}
bench image "${IMAGE_MODELS-vitb16,vitl16,vith14}" "${BATCH:-128}"
bench video "${VIDEO_MODELS-video/vitl16}" "${VIDEO_BATCH:-24}"
bench audio "${AUDIO_MODELS-audio/vitb16}" "${BATCH:-128}"
# the host-bound small models' levers: each transformer block compiled, and twice the batch
bench image_compiled "${COMPILE_MODELS-vitb16}" "${BATCH:-128}" --compile
bench image_big_batch "${BIG_BATCH_MODELS-vitb16}" "${BIG_BATCH:-256}"
# where the time of the smallest image model's step goes: $OUT/profile_<model>.txt
PROFILE_MODELS=${PROFILE_MODELS-vitb16}
if [ -n "$PROFILE_MODELS" ]; then
  $PY benchmarks/bench_gpu.py --device "$DEVICE" --models "$PROFILE_MODELS" --batch-size "${BATCH:-128}" \
    --steps "$STEPS" --warmup "$WARMUP" --precision "$PRECISION" --profile "$OUT" 2>&1 | tee "$OUT/bench_profile.txt" || status=1
fi
# Input-bound or not: with FMNIST=<folder holding train/> (examples/fashion_mnist/prepare.py; carry it
# to the machine), FMNIST_STEPS steps of lejepa_small_fast without and with data workers, and of small
if [ -n "${FMNIST:-}" ]; then
  runs=$(mktemp -d)
  : > "$OUT/fmnist_rates.txt"
  i=0
  for variant in "lejepa_small_fast" "lejepa_small_fast --set train.num_workers=8" "small"; do
    i=$((i + 1))
    read -r -a args <<< "$variant ${FMNIST_SETS:-}"
    echo "== $variant" | tee -a "$OUT/fmnist_rates.txt"
    $PY -m jepa_core train --plugin image --preset "${args[@]}" --data "$FMNIST/train" --set train.device="$DEVICE" \
      --set train.max_steps="${FMNIST_STEPS:-300}" --set train.eval_every=0 --set probe.enabled=false \
      --set train.log_every=50 --out "$runs/run$i" > "$runs/log$i" 2>&1 || status=1
    grep -E "^(run |step |trained on)|rror" "$runs/log$i" | tee -a "$OUT/fmnist_rates.txt"
  done
  rm -rf "$runs"
fi
exit $status
