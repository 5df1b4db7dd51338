"""Write the small PyTorch reference fixtures used by the TypeScript tests.

Usage (from the repository root):
    /usr/bin/python3 scripts/torch/make_fixtures.py [--out test/fixtures/torch]

Everything is derived from torch.manual_seed(0) and numpy seed 0, with a
width-0.125 SimpleUNet (channels 8, 16, 32, 64) whose weights are random
(default init, plus GroupNorm affine parameters perturbed away from 1/0).

Files:
  tiny_seed_ckpt.pth   torch.save dict in the seed checkpoint layout (zip format)
  x.npy                float32 [2,3,32,32] model input (NCHW)
  t.npy                int64 [2] timesteps
  eps.npy              float32 [2,3,32,32] model(x, t), eval mode
  ddim_noise.npy       float32 [2,3,32,32] x_T for the sampler
  ddim10.npy           float32 [2,3,32,32] ddim_sample(model, noise, 10, eta=0, clip=True)
  ddim10_noclip.npy    float32 [2,3,32,32] the same with clip=False
  fixtures.json        statistics, shapes, versions and the command that made them
"""

import argparse
import copy
import hashlib
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simple_unet import (  # noqa: E402
    BETA_END, BETA_START, NUM_TIMESTEPS, SimpleUNet, count_params, ddim_sample, ddim_timesteps,
)

WIDTH = 0.125
T_VALUES = [7, 803]
DDIM_STEPS = 10
# AdamW keeps per-parameter state only for parameters that received a
# gradient. To keep the committed checkpoint small, the single optimizer step
# is taken with gradients on these parameters only; the state_dict is still a
# genuine AdamW state_dict (param_groups list every parameter).
OPT_STATE_PREFIXES = ("conv1.", "res1.block1.", "output.")


def stats(a):
    a = np.asarray(a, dtype=np.float64)
    return {
        "shape": list(a.shape),
        "max_abs": float(np.abs(a).max()),
        "mean_abs": float(np.abs(a).mean()),
        "mean": float(a.mean()),
        "std": float(a.std()),
    }


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="test/fixtures/torch")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    torch.manual_seed(0)
    model = SimpleUNet(WIDTH)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm):
                m.weight.copy_(1.0 + 0.25 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
        # The checkpoint stores float16 tensors to keep the committed fixture small (1.4 MB
        # instead of 2.8); rounding the float32 weights first makes the PyTorch reference
        # use exactly the values the importer will read.
        for p in model.parameters():
            p.copy_(p.half().float())
    model.eval()

    x = torch.randn(2, 3, 32, 32)
    t = torch.tensor(T_VALUES, dtype=torch.int64)
    noise = torch.randn(2, 3, 32, 32)

    with torch.no_grad():
        eps = model(x, t)
    ddim = ddim_sample(model, noise, steps=DDIM_STEPS, eta=0.0, clip=True)
    # With random weights most clipped outputs sit at exactly +-1, which hides
    # errors; the unclipped run checks the update arithmetic everywhere.
    ddim_noclip = ddim_sample(model, noise, steps=DDIM_STEPS, eta=0.0, clip=False)

    sd = {k: v.detach().clone().contiguous().half() for k, v in model.state_dict().items()}

    # A real AdamW state_dict after one step (on a copy, so `sd` is unchanged).
    opt_model = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(opt_model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=1e-6)
    loss = torch.nn.functional.mse_loss(opt_model(x, t), torch.randn_like(x))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    for name, p in opt_model.named_parameters():
        if not name.startswith(OPT_STATE_PREFIXES):
            p.grad = None
    opt.step()
    opt_sd = opt.state_dict()

    ckpt = {
        "model_state_dict": sd,
        "model_config": {"in_channels": 3, "out_channels": 3, "time_emb_dim": 128},
        "diffusion_config": {"num_timesteps": NUM_TIMESTEPS, "beta_start": BETA_START,
                             "beta_end": BETA_END},
        "optimizer_state_dict": opt_sd,
        "epoch": 1,
        "loss": 0.5,
        "train_losses": [0.6, 0.5],
    }
    out = args.out
    torch.save(ckpt, os.path.join(out, "tiny_seed_ckpt.pth"))

    arrays = {
        "x.npy": x.numpy().astype("<f4"),
        "t.npy": t.numpy().astype("<i8"),
        "eps.npy": eps.numpy().astype("<f4"),
        "ddim_noise.npy": noise.numpy().astype("<f4"),
        "ddim10.npy": ddim.numpy().astype("<f4"),
        "ddim10_noclip.npy": ddim_noclip.numpy().astype("<f4"),
    }
    for name, arr in arrays.items():
        np.save(os.path.join(out, name), np.ascontiguousarray(arr))

    # Sanity: both checkpoints load back and reproduce eps exactly.
    for fname in ("tiny_seed_ckpt.pth",):
        obj = torch.load(os.path.join(out, fname))
        m2 = SimpleUNet(WIDTH)
        m2.load_state_dict({k: v.float() for k, v in obj["model_state_dict"].items()})
        m2.eval()
        with torch.no_grad():
            assert torch.equal(m2(x, t), eps), fname

    files = sorted(list(arrays) + ["tiny_seed_ckpt.pth"])
    meta = {
        "generator": "scripts/torch/make_fixtures.py",
        "command": "/usr/bin/python3 scripts/torch/make_fixtures.py --out " + out,
        "argv": sys.argv,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "seed": "torch.manual_seed(0); draws in order: model init, GroupNorm perturbation, x, noise",
        "model": {
            "width": WIDTH,
            "channels": list(model.channels),
            "params": count_params(model),
            "state_dict_keys": len(sd),
            "groupnorm_perturbation": "weight = 1 + 0.25*randn, bias = 0.2*randn",
            "mode": "eval (dropout off)",
        },
        "t": T_VALUES,
        "eps_call": "eps = model(x, t)",
        "ddim_call": f"ddim_sample(model, ddim_noise, steps={DDIM_STEPS}, eta=0.0, clip=True)",
        "ddim_noclip_call": f"ddim_sample(model, ddim_noise, steps={DDIM_STEPS}, eta=0.0, clip=False)",
        "ddim_timesteps": ddim_timesteps(DDIM_STEPS),
        "schedule": "betas = linspace(1e-4, 0.02, 1000) in float64; alphas_cumprod = cumprod(1 - betas)",
        "optimizer_state_note": "AdamW(lr=1e-4, betas=(0.9,0.999), eps=1e-8, weight_decay=1e-6) after 1 step; "
                                "state only for params with prefixes " + ", ".join(OPT_STATE_PREFIXES),
        "optimizer_state_entries": len(opt_sd["state"]),
        "stats": {
            "x": stats(arrays["x.npy"]),
            "eps": stats(arrays["eps.npy"]),
            "ddim_noise": stats(arrays["ddim_noise.npy"]),
            "ddim10": stats(arrays["ddim10.npy"]),
            "ddim10_fraction_inside_clip": float((np.abs(arrays["ddim10.npy"]) < 1).mean()),
            "ddim10_noclip": stats(arrays["ddim10_noclip.npy"]),
        },
        "files": {f: {"bytes": os.path.getsize(os.path.join(out, f)),
                      "sha256": sha256(os.path.join(out, f))} for f in files},
    }
    meta["total_bytes"] = sum(v["bytes"] for v in meta["files"].values())
    with open(os.path.join(out, "fixtures.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps({"stats": meta["stats"], "total_bytes": meta["total_bytes"],
                      "files": {k: v["bytes"] for k, v in meta["files"].items()}}, indent=1))


if __name__ == "__main__":
    main()
