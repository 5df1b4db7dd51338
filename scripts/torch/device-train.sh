#!/usr/bin/env bash
# Train the full-width SimpleUNet (the seed's 20 epochs, 7,820 steps of 128) in ONE call on a lent
# accelerator, and bring back what shipping needs. A lent machine gives 15 minutes in all and
# returns at most 8 files of 16 MiB, so the run cannot be resumed there: this script trains to a
# time budget, shrinks the checkpoint to float16 EMA weights plus the training record
# (slim_ckpt.py, ~34 MB) and splits it into parts.
#
# 1. Here, once (the device only sees the repository, not ../shared):
#      mkdir -p .device && cp ../shared/data/cifar-10-train-jpeg.tar.gz .device/
# 2. The device call (the `device` tool's run):
#      command: bash scripts/torch/device-train.sh     carry: [".device"]     timeout_s: 600
#    Env: STEPS (default 7820), BUDGET (training seconds, default 420), WIDTH (default 1), DEVICE,
#    INIT_FROM (a narrower run's checkpoint to widen and start from, e.g. a copy of
#    runs/simple-unet-small/ckpt.pt put in .device/, 25 MB: see train.py --init-from),
#    NPROC (processes; default: every GPU the machine has, 1 on the CPU), BATCH (global, default 128).
#    With more than one GPU it runs train.py under torchrun (DDP, nccl, one GPU per process): the
#    same recipe, --batch split across the GPUs (see train.py's docstring).
# 3. Back here, with the folder the call's files were copied to:
#      bash scripts/torch/device-train.sh --assemble FILES_AT runs/simple-unet
#      node bin/diffusion.mjs import runs/simple-unet/slim.pt --out public/weights/simple-unet --float16
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ "${1:-}" == "--assemble" ]]; then
  from=${2:?--assemble FILES_AT OUT_DIR}; to=${3:?--assemble FILES_AT OUT_DIR}
  mkdir -p "$to"
  cat "$from"/slim.pt.part-* > "$to/slim.pt"
  (cd "$to" && sed 's#  .*#  slim.pt#' "$from/slim.sha256" | sha256sum -c -)
  cp "$from/loss.csv" "$from/train.log" "$to/"
  echo "assembled $to/slim.pt; next: node bin/diffusion.mjs import $to/slim.pt --out public/weights/simple-unet --float16"
  exit 0
fi

: "${OUT:?run this on the device machine (OUT is its output folder)}"
STEPS=${STEPS:-7820}
BUDGET=${BUDGET:-420}
WIDTH=${WIDTH:-1}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu WIDTH=0.125 STEPS=3 tries the whole path on any machine
PY=${PY:-python3}  # on the lent machine, the python3 that holds PyTorch
BATCH=${BATCH:-128}
if [[ -z ${NPROC:-} ]]; then
  NPROC=1
  [[ $DEVICE == cuda* ]] && NPROC=$("$PY" -c 'import torch; print(max(1, torch.cuda.device_count()))')
fi
TAR=.device/cifar-10-train-jpeg.tar.gz
[[ -f $TAR ]] || { echo "missing $TAR: see step 1 at the top of this script" >&2; exit 2; }
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import torch, PIL; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

run=/tmp/device-run
rm -rf "$run"
# The commands list in the checkpoint records this exact invocation (it is what the weights' record shows).
init=()
[[ -n ${INIT_FROM:-} ]] && init=(--init-from "$INIT_FROM")
launch=("$PY")
# torchrun.py is torchrun itself, made to start on PyTorch 1.13 with Python 3.11 (see the file).
((NPROC > 1)) && launch=("$PY" scripts/torch/torchrun.py --standalone --nproc_per_node "$NPROC")
echo "processes: $NPROC (global batch $BATCH)"
"${launch[@]}" scripts/torch/train.py --device "$DEVICE" --width "$WIDTH" --steps "$STEPS" --batch "$BATCH" --jpeg-tar "$TAR" \
  --name simple-unet --out "$run" --time-budget "$BUDGET" --log-every 100 --ckpt-every 1000000 "${init[@]}" \
  2>&1 | tee "$OUT/train.log"
"$PY" scripts/torch/slim_ckpt.py "$run/ckpt.pt" /tmp/slim.pt | tee -a "$OUT/train.log"
split -b 15M -d /tmp/slim.pt "$OUT/slim.pt.part-"
sha256sum /tmp/slim.pt > "$OUT/slim.sha256"
cp "$run/loss.csv" "$OUT/"
ls -la "$OUT"
