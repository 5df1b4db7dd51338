"""PyTorch reference implementation of the SimpleUNet eps-prediction network,
the linear DDPM noise schedule and a deterministic-capable DDIM sampler.

This is the project's own reference copy: module names match the published
checkpoint layout (so ``load_state_dict`` works on the seed's weights), and a
``width`` multiplier scales the four channel stages (64, 128, 256, 512) * width.
The time embedding (128) and time MLP (512) never scale.

Run ``python3 scripts/torch/simple_unet.py`` for a self-check.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TIME_EMB_DIM = 128
TIME_HIDDEN = 512
NUM_TIMESTEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02
PARAMS_WIDTH_1 = 16_808_835
NUM_CLASSES_CIFAR = 10


def sinusoidal_embedding(t: torch.Tensor, dim: int = TIME_EMB_DIM) -> torch.Tensor:
    """[B] timesteps (raw ints) -> [B, dim] = cat(sin(t*f), cos(t*f))."""
    half = dim // 2
    scale = math.log(10000.0) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -scale)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class TimeEmbedding(nn.Module):
    """Parameter-free sinusoidal embedding of the timestep."""

    def __init__(self, dim: int = TIME_EMB_DIM):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        return sinusoidal_embedding(t, self.dim)


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, time_dim: int = TIME_HIDDEN, dropout: float = 0.1):
        super().__init__()
        self.block1 = nn.Sequential(
            nn.GroupNorm(8, cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1)
        )
        # Projects the 512-d time vector straight to a per-channel bias.
        self.time_mlp = nn.Linear(time_dim, cout)
        self.block2 = nn.Sequential(
            nn.GroupNorm(8, cout), nn.SiLU(), nn.Dropout(dropout),
            nn.Conv2d(cout, cout, 3, padding=1),
        )
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.block1(x)
        h = h + self.time_mlp(temb)[:, :, None, None]
        h = self.block2(h)
        return h + self.shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head spatial self-attention with a residual connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.group_norm = nn.GroupNorm(8, channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        n = self.group_norm(x)
        q = self.q(n).reshape(b, c, hh * ww).permute(0, 2, 1)  # [B, HW, C]
        k = self.k(n).reshape(b, c, hh * ww)                    # [B, C, HW]
        v = self.v(n).reshape(b, c, hh * ww).permute(0, 2, 1)  # [B, HW, C]
        attn = torch.softmax(torch.bmm(q, k) * (c ** -0.5), dim=2)
        h = torch.bmm(attn, v)                                  # [B, HW, C]
        h = h.permute(0, 2, 1).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


def _up(cin, cout):
    return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)


def _down(c):
    return nn.Conv2d(c, c, 3, stride=2, padding=1)


def channels_for_width(width: float):
    chans = []
    for base in (64, 128, 256, 512):
        c = base * width
        if abs(c - round(c)) > 1e-9 or round(c) <= 0 or round(c) % 8 != 0:
            raise ValueError(
                f"width {width} gives {c} channels for base {base}; "
                "each stage must be a positive integer divisible by 8 (GroupNorm(8, C))"
            )
        chans.append(int(round(c)))
    return tuple(chans)


class SimpleUNet(nn.Module):
    """num_classes > 0 adds ``class_embedding`` (num_classes + 1 rows of 512: the last row is
    "no class"), added to the 512-d time vector. It starts at zero, so a conditional network
    initialised from an unconditional one computes the same function. num_classes = 0 is the
    seed's network exactly (same parameters, same names)."""

    def __init__(self, width: float = 1.0, in_channels: int = 3, out_channels: int = 3,
                 num_classes: int = 0):
        super().__init__()
        c1, c2, c3, c4 = channels_for_width(width)
        self.width = width
        self.channels = (c1, c2, c3, c4)
        self.num_classes = num_classes

        self.time_embedding = TimeEmbedding(TIME_EMB_DIM)
        self.time_mlp = nn.Sequential(
            nn.Linear(TIME_EMB_DIM, TIME_HIDDEN), nn.SiLU(), nn.Linear(TIME_HIDDEN, TIME_HIDDEN)
        )
        if num_classes > 0:
            self.class_embedding = nn.Embedding(num_classes + 1, TIME_HIDDEN)
            nn.init.zeros_(self.class_embedding.weight)

        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.res1 = ResidualBlock(c1, c1)
        self.down1 = _down(c1)
        self.res2 = ResidualBlock(c1, c2)
        self.down2 = _down(c2)
        self.res3 = ResidualBlock(c2, c3)
        self.down3 = _down(c3)

        self.mid1 = ResidualBlock(c3, c4)
        self.mid_attn = AttentionBlock(c4)
        self.mid2 = ResidualBlock(c4, c4)

        self.up3 = _up(c4, c3)
        self.res_up3 = ResidualBlock(2 * c3, c3)
        self.up2 = _up(c3, c2)
        self.res_up2 = ResidualBlock(2 * c2, c2)
        self.up1 = _up(c2, c1)
        self.res_up1 = ResidualBlock(2 * c1, c1)

        self.output = nn.Sequential(
            nn.GroupNorm(8, c1), nn.SiLU(), nn.Conv2d(c1, out_channels, 3, padding=1)
        )

    def forward(self, x, t, y=None):
        """y: [B] int64 class labels; the null label (num_classes) or None means "no class"."""
        temb = self.time_mlp(self.time_embedding(t))
        if self.num_classes > 0:
            if y is None:
                y = torch.full((x.shape[0],), self.num_classes, dtype=torch.int64, device=x.device)
            temb = temb + self.class_embedding(y)
        elif y is not None:
            raise ValueError("this network is unconditional: it takes no class label")
        x1 = self.res1(self.conv1(x), temb)
        x2 = self.res2(self.down1(x1), temb)
        x3 = self.res3(self.down2(x2), temb)
        h = self.mid1(self.down3(x3), temb)
        h = self.mid_attn(h)
        x4 = self.mid2(h, temb)
        h = self.res_up3(torch.cat([self.up3(x4), x3], dim=1), temb)
        h = self.res_up2(torch.cat([self.up2(h), x2], dim=1), temb)
        h = self.res_up1(torch.cat([self.up1(h), x1], dim=1), temb)
        return self.output(h)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------
# Noise schedule and DDIM sampler


def linear_schedule(num_timesteps=NUM_TIMESTEPS, beta_start=BETA_START, beta_end=BETA_END):
    """betas (float64 numpy), alphas_cumprod (float64 numpy)."""
    betas = np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64)
    alphas_cumprod = np.cumprod(1.0 - betas)
    return betas, alphas_cumprod


def ddim_timesteps(steps: int, num_timesteps: int = NUM_TIMESTEPS):
    """t_i = round((T-1) - i*T/steps), i = 0..steps-1.

    Ties round half up (floor(v + 0.5)), which is what JavaScript's Math.round
    does for these positive values; Python's round() would round half to even
    and disagree for e.g. steps=16 (936.5).
    """
    return [int(math.floor((num_timesteps - 1) - i * num_timesteps / steps + 0.5))
            for i in range(steps)]


def guided_eps(model, x, t, y=None, guidance=1.0):
    """Classifier-free guidance: eps_null + w (eps_class - eps_null), from ONE forward pass on a
    doubled batch. y None (or w == 1 with labels) needs no doubling."""
    if y is None:
        return model(x, t, None) if model.num_classes > 0 else model(x, t)
    if guidance == 1.0:
        return model(x, t, y)
    null = torch.full_like(y, model.num_classes)
    e = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
    e_c, e_u = e.chunk(2)
    return e_u + guidance * (e_c - e_u)


@torch.no_grad()
def ddim_sample(model, x_T, steps, eta=0.0, clip=True, num_timesteps=NUM_TIMESTEPS,
                generator=None, y=None, guidance=1.0):
    """DDIM sampling from x_T (float32 NCHW). The model is put in eval() mode.

    Schedule quantities are computed in float64 and converted to Python floats,
    so the arithmetic on x happens in float32 with float64-derived scalars.
    """
    model.eval()
    _, abar = linear_schedule(num_timesteps)
    ts = ddim_timesteps(steps, num_timesteps)
    x = x_T.clone()
    b = x.shape[0]
    for i, t in enumerate(ts):
        a_t = float(abar[t])
        a_p = float(abar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        tt = torch.full((b,), t, dtype=torch.int64, device=x.device)
        eps = guided_eps(model, x, tt, y, guidance)
        x0 = (x - math.sqrt(1.0 - a_t) * eps) / math.sqrt(a_t)
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1.0 - a_t)
        sigma = eta * math.sqrt((1.0 - a_p) / (1.0 - a_t)) * math.sqrt(1.0 - a_t / a_p)
        x = math.sqrt(a_p) * x0 + math.sqrt(max(1.0 - a_p - sigma * sigma, 0.0)) * eps
        if eta > 0:
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = x + sigma * z
    return x


if __name__ == "__main__":
    torch.manual_seed(0)
    m = SimpleUNet(1.0)
    n = count_params(m)
    sd = m.state_dict()
    print(f"width 1: params={n:,} state_dict keys={len(sd)}")
    assert n == PARAMS_WIDTH_1, f"expected {PARAMS_WIDTH_1:,} parameters, got {n:,}"
    for w in (0.5, 0.25, 0.125):
        print(f"width {w}: params={count_params(SimpleUNet(w)):,}")
    try:
        SimpleUNet(0.1)
        raise AssertionError("width 0.1 should have been rejected")
    except ValueError:
        pass
    mc = SimpleUNet(1.0, num_classes=NUM_CLASSES_CIFAR)
    assert count_params(mc) == PARAMS_WIDTH_1 + 11 * TIME_HIDDEN
    mc.load_state_dict(m.state_dict(), strict=False)  # zero class rows: same function
    mc.eval()
    with torch.no_grad():
        xx, tt = torch.randn(2, 3, 32, 32), torch.tensor([5, 700])
        m.eval()
        assert torch.allclose(mc(xx, tt, torch.tensor([3, 10])), m(xx, tt), atol=1e-6)
    print(f"width 1, 10 classes: params={count_params(mc):,}")
    ts = ddim_timesteps(50)
    assert ts[:3] == [999, 979, 959] and ts[-1] == 19, ts
    m.eval()
    with torch.no_grad():
        out = m(torch.randn(2, 3, 32, 32), torch.tensor([0, 999]))
    assert out.shape == (2, 3, 32, 32)
    print("self-check OK")
