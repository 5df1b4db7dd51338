#!/usr/bin/env python3
"""PyTorch gradients of the training loss for the tiny fixture model (test/fixtures/torch).

Loads tiny_seed_ckpt.pth (the width-0.125 SimpleUNet the parity tests use), takes x.npy and t.npy
as the noisy input and timesteps and ddim_noise.npy as the target noise, and computes the seed's
loss, MSE(model(x, t), target), in eval mode (no dropout, so both frameworks see the same
function). Writes test/fixtures/torch/grads.json: the loss and, for every parameter in PyTorch
layout, its gradient's L2 norm, sum and first 16 values (~40 KB), for test/torch-parity.test.ts.

Run: /usr/bin/python3 scripts/torch/make_grad_fixture.py
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simple_unet import SimpleUNet  # noqa: E402

DIR = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "torch")


def main():
    torch.set_num_threads(1)
    ckpt = torch.load(os.path.join(DIR, "tiny_seed_ckpt.pth"))
    model = SimpleUNet(0.125)
    model.load_state_dict({k: v.float() for k, v in ckpt["model_state_dict"].items()})
    model.eval()
    x = torch.from_numpy(np.load(os.path.join(DIR, "x.npy")))
    t = torch.from_numpy(np.load(os.path.join(DIR, "t.npy")))
    target = torch.from_numpy(np.load(os.path.join(DIR, "ddim_noise.npy")))
    loss = torch.nn.functional.mse_loss(model(x, t), target)
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        g = p.grad.detach().double().reshape(-1)
        grads[name] = {"shape": list(p.shape), "norm": float(g.norm()), "sum": float(g.sum()),
                       "head": [float(v) for v in g[:16]]}
    out = {"loss": float(loss), "torch": torch.__version__, "mode": "eval (no dropout)",
           "target": "ddim_noise.npy", "grads": grads}
    with open(os.path.join(DIR, "grads.json"), "w") as f:
        json.dump(out, f, indent=0)
    print(f"loss {float(loss):.6f}; {len(grads)} gradients -> {os.path.join(DIR, 'grads.json')}")


if __name__ == "__main__":
    main()
