"""Function-preserving widening of a SimpleUNet (Net2WiderNet, Chen et al. 2016).

Turns a narrow network (e.g. width 0.25) into a wider one (e.g. width 1, the article's
16,808,835 parameters) that computes the same function, so CPU time spent on the small
model carries over to the full one instead of starting the full one from noise.

Channel k of a widened stage copies channel k // r of the narrow one (r = width ratio).
That keeps every GroupNorm(8, C) group made of whole copies of one narrow group, so the
group statistics are unchanged. Where a layer reads a widened input, the r copies of an
input channel share its weight through random fractions that sum to one (drawn per
output channel), so the sum is exact and yet the copies receive different gradients:
training can pull them apart (the symmetry-breaking Net2Net gets from noise, without
changing the function). Attention's q is scaled by 1/sqrt(r), because q.k sums r copies
while the softmax scale only shrinks by sqrt(r).

Run ``python3 scripts/torch/widen.py`` for a self-check (outputs agree to float32 error).
"""

import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simple_unet import AttentionBlock, SimpleUNet  # noqa: E402


def _coefficients(n_out, n_in_small, r, gen):
    """[n_out, n_in_small * r] fractions; each (row, narrow input) group of r sums to 1."""
    u = torch.rand(n_out, n_in_small, r, generator=gen, dtype=torch.float64) + 0.5
    return (u / u.sum(dim=2, keepdim=True)).reshape(n_out, n_in_small * r)


def _widen_weight(ws, full_shape, out_dim, in_dim, r, gen):
    """Copy a narrow weight into full_shape along the widened dims; split widened inputs."""
    w = ws.double()
    for d in (out_dim, in_dim):
        if d is not None and full_shape[d] != w.shape[d]:
            if full_shape[d] != r * w.shape[d]:
                raise ValueError(f"dim {d}: {w.shape[d]} -> {full_shape[d]} is not a x{r} widening")
            w = w.repeat_interleave(r, dim=d)
    if in_dim is not None and full_shape[in_dim] != ws.shape[in_dim]:
        c = _coefficients(full_shape[out_dim], ws.shape[in_dim], r, gen)
        shape = [1] * w.dim()
        shape[out_dim], shape[in_dim] = full_shape[out_dim], full_shape[in_dim]
        if out_dim > in_dim:
            c = c.t()
        w = w * c.reshape(shape)
    return w


def widen_state_dict(small_sd, small_width, full_width, seed=0):
    """State dict of a SimpleUNet(full_width) computing what SimpleUNet(small_width) computes."""
    r = full_width / small_width
    if abs(r - round(r)) > 1e-9 or round(r) < 1:
        raise ValueError(f"width {full_width} is not a whole multiple of {small_width}")
    r = int(round(r))
    full = SimpleUNet(full_width)
    small = SimpleUNet(small_width)
    small.load_state_dict(small_sd)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    small_mods = dict(small.named_modules())
    for name, mod in full.named_modules():
        sm = small_mods[name]
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            wdims = (0, 1)  # [out, in, ...]
        elif isinstance(mod, nn.ConvTranspose2d):
            wdims = (1, 0)  # [in, out, ...]
        elif isinstance(mod, nn.GroupNorm):
            wdims = (0, None)
        else:
            continue
        out_dim, in_dim = wdims
        w = _widen_weight(sm.weight.detach(), mod.weight.shape, out_dim, in_dim, r, gen)
        b = sm.bias.detach().double()
        if mod.bias.shape[0] != b.shape[0]:
            b = b.repeat_interleave(r)
        if name.endswith(".q") and isinstance(small_mods[name.rsplit(".", 1)[0]], AttentionBlock):
            w, b = w / math.sqrt(r), b / math.sqrt(r)
        out[f"{name}.weight"] = w.float()
        out[f"{name}.bias"] = b.float()
    missing = set(full.state_dict()) - set(out)
    if missing:
        raise ValueError(f"widen: no rule for {sorted(missing)}")
    full.load_state_dict(out)  # shape check
    return out


if __name__ == "__main__":
    torch.manual_seed(1)
    for ws, wf in ((0.25, 1.0), (0.125, 0.5)):
        small = SimpleUNet(ws).eval()
        # Random non-trivial GroupNorm affine terms too, so the check covers them.
        with torch.no_grad():
            for m in small.modules():
                if isinstance(m, nn.GroupNorm):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        full = SimpleUNet(wf).eval()
        full.load_state_dict(widen_state_dict(small.state_dict(), ws, wf))
        x = torch.randn(4, 3, 32, 32)
        t = torch.tensor([0, 10, 500, 999])
        with torch.no_grad():
            a, b = small(x, t), full(x, t)
        err = (a - b).abs().max().item()
        print(f"width {ws} -> {wf}: max |diff| {err:.2e} (output scale {a.abs().max().item():.2f})")
        assert err < 1e-4, err
    print("self-check OK")
