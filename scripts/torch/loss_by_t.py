"""The training loss split by noise level: the mean squared error of the predicted noise on CIFAR-10
test images, at a few fixed timesteps, for the EMA and raw weights of train.py checkpoints.

Where the loss still falls tells how far a run is from converged. At t = 999 the noisy image is
almost pure noise (x_t = 0.006 x_0 + 1.0 eps), so a trained network should be near zero there;
at small t the noise is a faint grain on the image and the error stays high for every model.

    /usr/bin/python3 scripts/torch/loss_by_t.py runs/simple-unet-small/ckpt.pt [more.pt ...]
"""

import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simple_unet import BETA_END, BETA_START, NUM_TIMESTEPS, SimpleUNet, linear_schedule  # noqa: E402
from train import DEFAULT_DATA, RECORD  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with test_batch.bin")
    ap.add_argument("--n", type=int, default=256, help="test images (the first N of test_batch.bin)")
    ap.add_argument("--t", default="0,10,50,100,250,500,750,999", help="timesteps, comma-separated")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    raw = np.fromfile(os.path.join(args.data, "test_batch.bin"), dtype=np.uint8).reshape(-1, RECORD)
    x0 = torch.from_numpy(raw[: args.n, 1:].reshape(-1, 3, 32, 32).copy()).float() / 127.5 - 1
    _, abar = linear_schedule(NUM_TIMESTEPS, BETA_START, BETA_END)
    abar = torch.tensor(abar, dtype=torch.float32)
    steps = [int(s) for s in args.t.split(",")]

    print("checkpoint".ljust(28) + "weights " + " ".join(f"t={t}".rjust(8) for t in steps))
    for path in args.checkpoints:
        ck = torch.load(path, map_location="cpu")
        for key in ("ema_state_dict", "model_state_dict"):
            if key not in ck:
                continue
            model = SimpleUNet(float(ck["model_config"]["width"]))
            model.load_state_dict({k: v.float() for k, v in ck[key].items()})
            model.eval()
            g = torch.Generator().manual_seed(args.seed)  # the same noise for every checkpoint
            row = []
            with torch.no_grad():
                for t in steps:
                    eps = torch.randn(x0.shape, generator=g)
                    xt = abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * eps
                    pred = model(xt, torch.full((x0.shape[0],), t, dtype=torch.long))
                    row.append(torch.mean((pred - eps) ** 2).item())
            label = f"{os.path.basename(path)} ({ck.get('step', '?')} steps)"
            print(label[:27].ljust(28) + key[:3].ljust(8) + " ".join(f"{v:8.4f}" for v in row))


if __name__ == "__main__":
    main()
