"""Shrink a train.py checkpoint to what shipping needs: the EMA weights in float16 plus the
training record (step, images seen, losses, wall time, hardware, commands, recipe).

Drops the raw weights, the AdamW moments, the RNG states and the data order, so the result
cannot be resumed; it exists to bring a run back from a machine with a small download limit
(a full-width checkpoint is 270 MB, its slim copy 34 MB). The project's `import` reads it like
any training checkpoint (it falls back to `ema_state_dict` and keeps the record).

    python3 scripts/torch/slim_ckpt.py runs/simple-unet/ckpt.pt /tmp/simple-unet-slim.pt
"""

import sys

import torch

DROP = {"model_state_dict", "optimizer_state_dict", "torch_rng_state", "numpy_rng_state", "data_order"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1:]
    ck = torch.load(src, map_location="cpu")
    slim = {k: v for k, v in ck.items() if k not in DROP}
    slim["ema_state_dict"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["ema_state_dict"].items()}
    slim["weights_note"] = "EMA weights rounded to float16 by scripts/torch/slim_ckpt.py"
    torch.save(slim, dst)
    n = sum(v.numel() for v in slim["ema_state_dict"].values())
    print(f"{dst}: {n:,} EMA parameters in float16, step {slim.get('step')}, "
          f"{slim.get('images_seen')} images seen")


if __name__ == "__main__":
    main()
