"""Reference fixtures for the class-conditional SimpleUNet (classifier-free guidance).

    /usr/bin/python3 scripts/torch/make_cond_fixtures.py [--out test/fixtures/torch/cond]

A random width-0.125 network with 10 classes (class_embedding drawn non-zero, GroupNorm affine
perturbed, all weights rounded to float16), saved as a train.py-style checkpoint, and:
  x.npy, t.npy, y.npy     inputs: float32 [2,3,32,32], int64 [2] timesteps, int64 [2] labels (one is 'no class')
  eps.npy                 model(x, t, y)
  noise.npy               x_T for the sampler
  ddim10_guided.npy       ddim_sample(..., 10 steps, eta 0, clip, y = [3, 7], guidance 3)
Deterministic: torch.manual_seed(0).
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simple_unet import NUM_CLASSES_CIFAR, SimpleUNet, ddim_sample  # noqa: E402

WIDTH = 0.125


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="test/fixtures/torch/cond")
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = SimpleUNet(WIDTH, num_classes=NUM_CLASSES_CIFAR)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm):
                m.weight.copy_(1.0 + 0.25 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
        model.class_embedding.weight.copy_(0.5 * torch.randn_like(model.class_embedding.weight))
        for p in model.parameters():
            p.copy_(p.half().float())
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    t = torch.tensor([7, 803], dtype=torch.int64)
    y = torch.tensor([4, NUM_CLASSES_CIFAR], dtype=torch.int64)
    noise = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        eps = model(x, t, y)
    guided = ddim_sample(model, noise, steps=10, eta=0.0, clip=True, y=torch.tensor([3, 7]), guidance=3.0)
    sd = {k: v.detach().clone().contiguous().half() for k, v in model.state_dict().items()}
    torch.save({
        "model_state_dict": sd, "ema_state_dict": sd,
        "model_config": {"in_channels": 3, "out_channels": 3, "time_emb_dim": 128, "width": WIDTH,
                         "num_classes": NUM_CLASSES_CIFAR},
        "diffusion_config": {"num_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02},
        "step": 1, "images_seen": 128, "epoch": 128 / 50000, "train_losses": [0.5], "wall_time_s": 1.0,
    }, os.path.join(out, "tiny_cond_ckpt.pth"))
    for name, arr in {"x.npy": x.numpy().astype("<f4"), "t.npy": t.numpy().astype("<i8"),
                      "y.npy": y.numpy().astype("<i8"), "eps.npy": eps.numpy().astype("<f4"),
                      "noise.npy": noise.numpy().astype("<f4"),
                      "ddim10_guided.npy": guided.numpy().astype("<f4")}.items():
        np.save(os.path.join(out, name), np.ascontiguousarray(arr))
    print(f"wrote {out}: eps std {eps.std():.3f}, guided sample std {guided.std():.3f}")


if __name__ == "__main__":
    main()
