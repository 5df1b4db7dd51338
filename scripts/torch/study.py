"""The recipe study: which training choices make the small network learn fastest, at equal cost.

Every arm trains SimpleUNet at --width (default 0.25) from scratch on the same number of images
(--images, default 100,000) with train.py, then is measured the same way:
  * held-out error by noise level, in a unit that compares across targets and schedules: the
    MSE of the network's clean-image guess x̂0 against the test image, at fixed noise levels
    given as ᾱ (so a cosine-schedule arm is probed at the same noise as a linear one);
  * --n samples (DDIM 20, η = 1; conditional arms ask for class i mod 10 with guidance --guidance)
    scored by the project's own `diffusion eval --images` (SWD, KID, and for conditional arms the
    share the classifier puts in the asked class);
  * wall time of training.
Results go to docs/study.json and docs/study.md, grids to public/figures/study-<arm>.png.

    /usr/bin/python3 scripts/torch/study.py --threads 2            # every arm (hours on a CPU)
    /usr/bin/python3 scripts/torch/study.py --arms seed,cond --images 2048 --n 32   # a smoke run
    /usr/bin/python3 scripts/torch/study.py --device cuda         # on a GPU

An arm whose run folder already holds a finished checkpoint is not trained again, and one whose
<out>/<arm>/result.json is newer than that checkpoint is not measured again (--fresh redoes both):
several study processes can train disjoint --arms side by side, and a last run over every arm
only collects their results into the docs.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from simple_unet import NUM_CLASSES_CIFAR, SimpleUNet, guided_eps  # noqa: E402
from train import DEFAULT_DATA, RECORD, make_schedule  # noqa: E402

# name -> (train.py flags, what it tests). All start from the seed's recipe and change one thing,
# except "project", the combination the long run uses.
ARMS = {
    "seed": (["--recipe", "seed"], "the seed's recipe: lr 1e-4 cosine, batch 128, uniform ε-MSE, linear schedule"),
    "lr3e-4": (["--recipe", "seed", "--lr", "3e-4", "--warmup", "200"], "lr 3e-4 with a 200-step warm-up"),
    "lr1e-3": (["--recipe", "seed", "--lr", "1e-3", "--warmup", "200"], "lr 1e-3 with a 200-step warm-up"),
    "batch32": (["--recipe", "seed", "--batch", "32"], "batch 32 (4x the steps for the same images)"),
    "min-snr": (["--recipe", "seed", "--loss-weight", "min-snr"], "min-SNR-5 loss weights"),
    "v-pred": (["--recipe", "seed", "--prediction", "v"], "v-prediction instead of ε"),
    "cosine": (["--recipe", "seed", "--schedule", "cosine"], "cosine noise schedule instead of linear"),
    "cond": (["--recipe", "seed", "--cond"], "class-conditional with label dropout 0.1 (sampled with guidance)"),
    "project": (["--recipe", "cond"], "the project's recipe: conditional, lr 2e-4 + warm-up, constant, min-SNR-5"),
}
PROBE_ABAR = [0.99, 0.9, 0.5, 0.1, 0.01]  # noise levels for the held-out error


def load_test(data_dir, n):
    raw = np.fromfile(os.path.join(data_dir, "test_batch.bin"), dtype=np.uint8).reshape(-1, RECORD)[:n]
    x = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 127.5 - 1.0)
    return x, torch.from_numpy(raw[:, 0].astype(np.int64))


def load_arm(ckpt_path):
    ck = torch.load(ckpt_path, map_location="cpu")
    mc, dc = ck["model_config"], ck["diffusion_config"]
    model = SimpleUNet(float(mc["width"]), num_classes=int(mc.get("num_classes", 0)))
    model.load_state_dict(ck["ema_state_dict"])
    model.eval()
    _, abar = make_schedule(dc.get("schedule", "linear"), dc["num_timesteps"], dc["beta_start"], dc["beta_end"])
    return model, abar, ck.get("prediction", "epsilon"), ck


def x0_of(out, xt, a, prediction):
    if prediction == "v":
        return math.sqrt(a) * xt - math.sqrt(1 - a) * out
    return (xt - math.sqrt(1 - a) * out) / math.sqrt(a)


@torch.no_grad()
def heldout_error(model, abar, prediction, x, y, seed=0, clip=False):
    """MSE of x̂0 at the timestep whose ᾱ is closest to each probe level (class given to conditional nets).
    clip: x̂0 clamped to [-1, 1] first, as every sampler here does; without it an ε-network's x̂0 at high
    noise is its ε error divided by √ᾱ (×10 at ᾱ = 0.01), which no sampler ever uses."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for target in PROBE_ABAR:
        t = int(np.argmin(np.abs(abar - target)))
        a = float(abar[t])
        noise = torch.randn(x.shape, generator=g)
        xt = math.sqrt(a) * x + math.sqrt(1 - a) * noise
        errs = []
        for i in range(0, len(x), 128):
            tt = torch.full((len(x[i:i + 128]),), t, dtype=torch.int64)
            yy = y[i:i + 128] if model.num_classes else None
            pred = model(xt[i:i + 128], tt, yy) if model.num_classes else model(xt[i:i + 128], tt)
            x0 = x0_of(pred, xt[i:i + 128], a, prediction)
            if clip:
                x0 = x0.clamp(-1, 1)
            errs.append(((x0 - x[i:i + 128]) ** 2).mean(dim=(1, 2, 3)))
        out[f"{target:g}"] = float(torch.cat(errs).mean())
    return out


@torch.no_grad()
def sample(model, abar, prediction, n, guidance, seed=0, steps=20, eta=1.0, batch=64):
    """DDIM (η = 1 by default, clipped x̂0) on the arm's schedule; image i asks for class i mod 10 if conditional."""
    T = len(abar)
    ts = [int(math.floor((T - 1) - i * T / steps + 0.5)) for i in range(steps)]
    outs = []
    for b0 in range(0, n, batch):
        m = min(batch, n - b0)
        g = torch.Generator().manual_seed(seed * 100_003 + b0)
        x = torch.randn((m, 3, 32, 32), generator=g)
        y = torch.arange(b0, b0 + m) % NUM_CLASSES_CIFAR if model.num_classes else None
        for i, t in enumerate(ts):
            a_t = float(abar[t])
            a_p = float(abar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            tt = torch.full((m,), t, dtype=torch.int64)
            out = guided_eps(model, x, tt, y, guidance if y is not None else 1.0)
            x0 = x0_of(out, x, a_t, prediction).clamp(-1, 1)
            eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
            sigma = eta * math.sqrt((1 - a_p) / (1 - a_t)) * math.sqrt(1 - a_t / a_p)
            x = math.sqrt(a_p) * x0 + math.sqrt(max(1 - a_p - sigma * sigma, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=g)
        outs.append(x)
    return torch.cat(outs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from: {', '.join(ARMS)}")
    ap.add_argument("--images", type=int, default=100_000, help="training images per arm (equal cost)")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--n", type=int, default=256, help="samples per arm for SWD/KID")
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--heldout", type=int, default=512, help="test images for the held-out error")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=os.path.join(REPO, "runs", "study"))
    ap.add_argument("--json", default=os.path.join(REPO, "docs", "study.json"))
    ap.add_argument("--md", default=os.path.join(REPO, "docs", "study.md"))
    ap.add_argument("--figures", default=os.path.join(REPO, "public", "figures"))
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--note", default="", help="a sentence for the report, e.g. how the arms shared the machine")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for a in arms:
        if a not in ARMS:
            sys.exit(f"unknown arm {a!r}; choose from {', '.join(ARMS)}")
    x_test, y_test = load_test(args.data, args.heldout)
    results = []
    for name in arms:
        flags, what = ARMS[name]
        batch = int(flags[flags.index("--batch") + 1]) if "--batch" in flags else 128
        steps = math.ceil(args.images / batch)
        run = os.path.join(args.out, name)
        ckpt = os.path.join(run, "ckpt.pt")
        done = os.path.exists(ckpt) and torch.load(ckpt, map_location="cpu")["step"] >= steps
        if args.fresh or not done:
            if os.path.exists(ckpt):
                os.remove(ckpt)
            cmd = [sys.executable, os.path.join(HERE, "train.py"), "--width", str(args.width), "--steps", str(steps),
                   "--out", run, "--data", args.data, "--device", args.device, "--log-every", "100",
                   "--ckpt-every", "1000000", *flags]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            print(f"== {name}: {what}\n   {' '.join(cmd)}", flush=True)
            subprocess.run(cmd, check=True)
        cached = os.path.join(run, "result.json")
        if not args.fresh and done and os.path.exists(cached) and os.path.getmtime(cached) >= os.path.getmtime(ckpt):
            with open(cached) as f:  # measured before, on this very checkpoint
                r = json.load(f)
            if "heldout_x0_mse_clipped" not in r:  # results from before the clipped error existed
                model, abar, prediction, _ = load_arm(ckpt)
                r["heldout_x0_mse_clipped"] = heldout_error(model, abar, prediction, x_test, y_test, clip=True)
                with open(cached, "w") as f:
                    json.dump(r, f, indent=1)
            results.append(r)
            print(f"== {name}: measured before ({os.path.relpath(cached, REPO)})", flush=True)
            continue
        model, abar, prediction, ck = load_arm(ckpt)
        t0 = time.time()
        err = heldout_error(model, abar, prediction, x_test, y_test)
        err_clipped = heldout_error(model, abar, prediction, x_test, y_test, clip=True)
        guided = model.num_classes > 0
        xs = sample(model, abar, prediction, args.n, args.guidance)
        sample_s = time.time() - t0
        sdir = os.path.join(run, "samples")
        os.makedirs(sdir, exist_ok=True)
        np.save(os.path.join(sdir, "samples.npy"), xs.numpy().astype("<f4"))
        grid = os.path.join(args.figures, f"study-{name}.png")
        ev_json = os.path.join(run, "eval.json")
        ev = ["node", os.path.join(REPO, "bin", "diffusion.mjs"), "eval", "--images", sdir, "--n", str(args.n),
              "--json", ev_json, "--grid", grid, "--data", args.data]
        if guided:
            ev += ["--balanced-labels", "--guidance", str(args.guidance)]
        subprocess.run(ev, check=True)
        with open(ev_json) as f:
            scored = json.load(f)
        results.append({
            "arm": name, "what": what, "flags": flags, "images": int(ck["images_seen"]), "steps": int(ck["step"]),
            "train_wall_s": float(ck["wall_time_s"]), "final_loss": float(np.mean(ck["train_losses"][-100:])),
            "heldout_x0_mse": err, "heldout_x0_mse_clipped": err_clipped, "swd": scored["swd"]["average"], "kid": (scored.get("kid") or {}).get("kid"),
            "kid_std": (scored.get("kid") or {}).get("std"), "class_accuracy": scored.get("classAccuracy"),
            "guidance": args.guidance if guided else None, "n": args.n, "sample_s": sample_s,
            "grid": os.path.relpath(grid, REPO),
        })
        with open(cached, "w") as f:
            json.dump(results[-1], f, indent=1)
        print(json.dumps(results[-1]), flush=True)
    argv = sys.argv[:]  # the note goes into the report on its own, not inside the command line
    if "--note" in argv:
        del argv[argv.index("--note"):argv.index("--note") + 2]
    doc = {"command": " ".join(argv), "date": time.strftime("%Y-%m-%d"), "width": args.width,
           "images_per_arm": args.images, "probe_alpha_bar": PROBE_ABAR, "arms": results, "note": args.note,
           "hardware": {"device": args.device, "threads": torch.get_num_threads(), "torch": torch.__version__}}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
    lines = [f"# Recipe study (width {args.width:g}, {args.images:,} training images per arm)", "",
             f"Made by `{doc['command']}` on {doc['date']}. Held-out error: MSE of x̂0 (clamped to [-1, 1], as the "
             f"samplers use it) on {args.heldout} test images at noise level ᾱ (lower is better; docs/study.json also "
             f"has it unclamped). Samples: DDIM 20, η = 1, N {args.n}; conditional arms ask for class "
             f"i mod 10 with guidance {args.guidance:g}." + (f" {args.note}" if args.note else ""), "",
             "| arm | what | train time | " + " | ".join(f"x̂0 MSE ᾱ={a:g}" for a in PROBE_ABAR)
             + " | SWD | KID | in class |",
             "|---|---|--:|" + "--:|" * len(PROBE_ABAR) + "--:|--:|--:|"]
    for r in results:
        acc = "–" if r["class_accuracy"] is None else f"{100 * r['class_accuracy']:.1f}%"
        kid = "–" if r["kid"] is None else f"{r['kid']:.1f}"
        lines.append(f"| {r['arm']} | {r['what']} | {r['train_wall_s'] / 60:.0f} min | "
                     + " | ".join(f"{r['heldout_x0_mse_clipped'][f'{a:g}']:.4f}" for a in PROBE_ABAR)
                     + f" | {r['swd']:.1f} | {kid} | {acc} |")
    with open(args.md, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.json} and {args.md}")


if __name__ == "__main__":
    main()
