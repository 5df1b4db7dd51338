"""CPU training of SimpleUNet on CIFAR-10 following the project's recipe.

Recipe: pixels x/127.5 - 1, random horizontal flip (p=0.5), t ~ U{0..999},
linear betas 1e-4..0.02 (T=1000), eps-prediction MSE, AdamW(lr 1e-4,
betas (0.9, 0.999), eps 1e-8, weight decay 1e-6), lr cosine-annealed per
optimizer step over --steps (eta_min 0), grad-norm clip 1.0, batch 128
(shuffled epochs, last partial batch kept), EMA of the weights with
decay_t = min(ema_decay, (1 + s) / (10 + s)) where s is the 0-based index of
the optimizer step just taken.

Examples (from the repository root):
    /usr/bin/python3 scripts/torch/train.py --width 0.5 --steps 100000 --threads 2 \
        --time-budget 36000
    /usr/bin/python3 scripts/torch/train.py --width 0.5 --steps 100000 --resume
    /usr/bin/python3 scripts/torch/train.py --width 1 --steps 400 --lr 5e-5 \
        --init-from runs/simple-unet-small/ckpt.pt --out runs/simple-unet
    python3 scripts/torch/train.py --device cuda --width 1 --steps 7820 --jpeg-tar FILE
(the last on an accelerator: scripts/torch/device-train.sh wraps it for one lent call).

Random numbers (shuffle, flips, timesteps, noise) are always drawn on the CPU, so a run is the
same sequence on any device and resumes across devices.

Writes <out>/ckpt.pt (atomically; every --ckpt-every steps and on exit,
SIGTERM or SIGINT) and appends one row per step to <out>/loss.csv.

--init-from starts a wider network from a narrower run's EMA weights, widened so it computes
the same function (widen.py); the checkpoint keeps that run's record under "warm_start", and
this run's own counters (steps, images, loss curve) start at zero.
"""

import argparse
import copy
import math
import os
import signal
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from simple_unet import BETA_END, BETA_START, NUM_TIMESTEPS, SimpleUNet, count_params, linear_schedule  # noqa: E402
from widen import widen_state_dict  # noqa: E402

DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data", "cifar-10-batches-bin")
RECORD = 3073
N_TRAIN = 50_000
CSV_HEADER = "step,loss,lr,images_seen,wall_s\n"


# ----------------------------------------------------------------------------
# Data


def load_cifar_bin(directory):
    """-> uint8 [50000, 3, 32, 32], uint8 labels [50000] from data_batch_1..5.bin."""
    images, labels = [], []
    for b in range(1, 6):
        path = os.path.join(directory, f"data_batch_{b}.bin")
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % RECORD != 0:
            raise ValueError(f"{path}: size {raw.size} is not a multiple of {RECORD}")
        raw = raw.reshape(-1, RECORD)
        labels.append(raw[:, 0].copy())
        images.append(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    images, labels = np.concatenate(images), np.concatenate(labels)
    if images.shape[0] != N_TRAIN:
        raise ValueError(f"expected {N_TRAIN} training images, found {images.shape[0]}")
    return images, labels


def load_cifar_jpeg_tar(path):
    """-> uint8 [N, 3, 32, 32], labels from members train/NNNNN_L.jpg (needs PIL)."""
    from io import BytesIO

    from PIL import Image

    entries = []
    with tarfile.open(path, "r:*") as tf:
        for m in tf:
            if not m.isfile():
                continue
            name = m.name.split("/")
            if len(name) < 2 or name[-2] != "train" or not name[-1].endswith(".jpg"):
                continue
            idx, label = name[-1][:-4].split("_")
            img = Image.open(BytesIO(tf.extractfile(m).read())).convert("RGB")
            arr = np.asarray(img, dtype=np.uint8)
            if arr.shape != (32, 32, 3):
                raise ValueError(f"{m.name}: shape {arr.shape}")
            entries.append((int(idx), int(label), arr.transpose(2, 0, 1)))
    entries.sort(key=lambda e: e[0])
    images = np.stack([e[2] for e in entries])
    labels = np.array([e[1] for e in entries], dtype=np.uint8)
    return images, labels


# ----------------------------------------------------------------------------
# Helpers


def cosine_lr(step, total, base_lr, eta_min=0.0):
    s = min(step, total)
    return eta_min + (base_lr - eta_min) * 0.5 * (1.0 + math.cos(math.pi * s / total))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def truncate_csv(path, max_step):
    """Drop rows logged after the checkpoint we resume from."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.readlines()
    keep = [CSV_HEADER] + [l for l in lines[1:] if l.strip() and int(l.split(",")[0]) <= max_step]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(keep)
    os.replace(tmp, path)


def to_cpu(obj):
    """A state_dict (or optimizer state) with every tensor copied to the CPU."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return type(obj)((k, to_cpu(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def fmt_time(s):
    s = int(max(0, s))
    return f"{s // 3600}h{(s % 3600) // 60:02d}m{s % 60:02d}s"


# ----------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA,
                    help="directory with data_batch_1..5.bin (default: ../shared/data/cifar-10-batches-bin "
                         "from the repository root)")
    ap.add_argument("--jpeg-tar", default=None,
                    help="read cifar-10-train-jpeg.tar.gz (train/NNNNN_L.jpg) instead of --data; needs PIL")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=100_000, help="planned total optimizer steps")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--ema-decay", type=float, default=0.999)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--device", default="cpu", help="torch device for the model and its arithmetic (cpu, cuda)")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds of training in this invocation; stop cleanly and checkpoint")
    ap.add_argument("--stop-after", type=int, default=None,
                    help="stop (and checkpoint) after this many steps in this invocation")
    ap.add_argument("--name", default=None, help="run name (default simple_unet_w<width>)")
    ap.add_argument("--out", default=None, help="output directory (default runs/<name>)")
    ap.add_argument("--resume", action="store_true", help="resume from <out>/ckpt.pt")
    ap.add_argument("--init-from", default=None,
                    help="start from this narrower train.py checkpoint's EMA weights, widened to --width "
                         "(function-preserving); not with --resume")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=500)
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.name or f"simple_unet_w{args.width:g}"
    out = args.out or os.path.join(REPO, "runs", name)
    os.makedirs(out, exist_ok=True)
    ckpt_path = os.path.join(out, "ckpt.pt")
    csv_path = os.path.join(out, "loss.csv")

    # Stop flag for SIGTERM / SIGINT: finish the current step, then checkpoint.
    stop = {"signal": None}

    def on_signal(signum, _frame):
        if stop["signal"] is not None:  # second signal: give up immediately
            raise KeyboardInterrupt
        stop["signal"] = signum
        print(f"\nsignal {signum}: stopping after this step", flush=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t_load = time.time()
    if args.jpeg_tar:
        images, _ = load_cifar_jpeg_tar(args.jpeg_tar)
        source = os.path.abspath(args.jpeg_tar)
    else:
        images, _ = load_cifar_bin(args.data)
        source = os.path.abspath(args.data)
    n_images = images.shape[0]
    print(f"loaded {n_images} images from {source} in {time.time() - t_load:.1f}s", flush=True)

    dev = torch.device(args.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device visible to PyTorch")
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once

    torch.manual_seed(args.seed)
    model = SimpleUNet(args.width)  # initialised on the CPU (same weights for every device), then moved
    model.to(dev)
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=1e-6)
    _, abar64 = linear_schedule(NUM_TIMESTEPS, BETA_START, BETA_END)
    sqrt_abar = torch.tensor(np.sqrt(abar64), dtype=torch.float32, device=dev)
    sqrt_1m_abar = torch.tensor(np.sqrt(1.0 - abar64), dtype=torch.float32, device=dev)

    np_rng = np.random.RandomState(args.seed)
    step = 0
    images_seen = 0
    train_losses = []
    wall_prev = 0.0
    perm = np_rng.permutation(n_images)
    pos = 0
    commands = []
    hardware_history = []  # one entry per invocation: threads (and devices) can change on resume
    warm_start = None

    if args.resume and args.init_from:
        sys.exit("--init-from starts a new run; it cannot be combined with --resume")
    if args.resume:
        if not os.path.exists(ckpt_path):
            sys.exit(f"--resume: {ckpt_path} not found")
        ck = torch.load(ckpt_path, map_location=dev)
        if float(ck["model_config"]["width"]) != args.width:
            sys.exit(f"--resume: checkpoint width {ck['model_config']['width']} != --width {args.width}")
        model.load_state_dict(ck["model_state_dict"])
        ema.load_state_dict(ck["ema_state_dict"])
        opt.load_state_dict(ck["optimizer_state_dict"])
        step = int(ck["step"])
        images_seen = int(ck["images_seen"])
        train_losses = list(ck["train_losses"])
        wall_prev = float(ck["wall_time_s"])
        torch.set_rng_state(ck["torch_rng_state"].cpu())
        st = ck["numpy_rng_state"]
        np_rng.set_state((st[0], np.array(st[1], dtype=np.uint32), st[2], st[3], st[4]))
        perm = np.asarray(ck["data_order"]["perm"])
        pos = int(ck["data_order"]["pos"])
        commands = list(ck.get("commands", []))
        hardware_history = list(ck.get("hardware_history", []))
        warm_start = ck.get("warm_start")
        truncate_csv(csv_path, step)
        print(f"resumed from {ckpt_path} at step {step} ({images_seen} images seen)", flush=True)
    elif os.path.exists(ckpt_path):
        sys.exit(f"{ckpt_path} exists; pass --resume or choose another --out")
    if args.init_from:
        src = torch.load(args.init_from, map_location="cpu")
        src_width = float(src["model_config"]["width"])
        widened = widen_state_dict(src["ema_state_dict"], src_width, args.width, seed=args.seed)
        model.load_state_dict(widened)
        ema.load_state_dict(widened)
        warm_start = {
            "from": os.path.relpath(os.path.abspath(args.init_from), REPO), "width": src_width,
            "weights": "ema_state_dict", "method": "widen.py (Net2WiderNet, function-preserving)",
            "step": int(src["step"]), "images_seen": int(src["images_seen"]), "epoch": float(src["epoch"]),
            "wall_time_s": float(src["wall_time_s"]), "hardware": src.get("hardware"),
            "hardware_history": src.get("hardware_history"),
            "commands": src.get("commands") or [src.get("command")],
            "train_config": src.get("train_config"),
        }
        print(f"initialised from {args.init_from}: width {src_width:g} EMA at step {src['step']} "
              f"({src['images_seen']} images), widened to {args.width:g}", flush=True)
    commands.append(list(sys.argv))

    if not os.path.exists(csv_path) or not args.resume:
        with open(csv_path, "w") as f:
            f.write(CSV_HEADER)

    hardware = {"cpu": cpu_model(), "threads": torch.get_num_threads(),
                "torch": str(torch.__version__)}
    if dev.type == "cuda":
        hardware["gpu"] = torch.cuda.get_device_name(dev)
    hardware_history.append(dict(hardware, from_step=step))
    print(f"width {args.width:g} channels {model.channels} params {count_params(model):,}; "
          f"threads {hardware['threads']}; cpu {hardware['cpu']}", flush=True)

    def checkpoint(wall_total):
        atomic_save({
            # CPU copies: the file loads anywhere, and the project's importer sees plain CPU storages.
            "model_state_dict": to_cpu(model.state_dict()),
            "ema_state_dict": to_cpu(ema.state_dict()),
            "optimizer_state_dict": to_cpu(opt.state_dict()),
            "scheduler_state_dict": {"type": "cosine_per_step", "base_lr": args.lr, "eta_min": 0.0,
                                     "T_max": args.steps, "last_step": step,
                                     "last_lr": cosine_lr(step, args.steps, args.lr)},
            "model_config": {"in_channels": 3, "out_channels": 3, "time_emb_dim": 128,
                             "width": args.width},
            "diffusion_config": {"num_timesteps": NUM_TIMESTEPS, "beta_start": BETA_START,
                                 "beta_end": BETA_END},
            "train_config": {"batch": args.batch, "lr": args.lr, "ema_decay": args.ema_decay,
                             "planned_steps": args.steps, "seed": args.seed,
                             "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-6,
                             "grad_clip": 1.0, "data": source},
            "step": step,
            "images_seen": images_seen,
            "epoch": images_seen / n_images,
            "train_losses": train_losses,
            "wall_time_s": wall_total,
            "hardware": hardware,
            "hardware_history": hardware_history,
            "warm_start": warm_start,
            "command": list(sys.argv),
            "commands": commands,
            "torch_rng_state": torch.get_rng_state(),
            # Plain Python values only, so the project's safe unpickler can read the file.
            "numpy_rng_state": (lambda st: (st[0], st[1].tolist(), int(st[2]), int(st[3]), float(st[4])))(np_rng.get_state()),
            "data_order": {"perm": perm, "pos": pos},
        }, ckpt_path)

    model.train()
    t0 = time.time()
    last_log_t, last_log_imgs = t0, images_seen
    recent = []
    last_step_s = 0.0
    csv = open(csv_path, "a")
    stop_reason = "planned steps reached"
    consistent = True  # False while a step is half-applied
    step_times = []  # (seconds, images) for this invocation
    try:
        while step < args.steps:
            if stop["signal"] is not None:
                stop_reason = f"signal {stop['signal']}"
                break
            if args.stop_after is not None and len(step_times) >= args.stop_after:
                stop_reason = "--stop-after"
                break
            elapsed = time.time() - t0
            if args.time_budget is not None and elapsed + last_step_s > args.time_budget:
                stop_reason = "time budget"
                break
            ts = time.time()
            consistent = False

            if pos >= n_images:
                perm = np_rng.permutation(n_images)
                pos = 0
            idx = perm[pos:pos + args.batch]
            pos += len(idx)
            bsz = len(idx)
            x0 = torch.from_numpy(images[idx]).float().div_(127.5).sub_(1.0)
            flip = torch.rand(bsz) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(3), x0)
            t = torch.randint(0, NUM_TIMESTEPS, (bsz,), dtype=torch.int64)
            noise = torch.randn_like(x0)
            if dev.type != "cpu":
                x0, t, noise = (v.to(dev, non_blocking=True) for v in (x0, t, noise))
            xt = sqrt_abar[t][:, None, None, None] * x0 + sqrt_1m_abar[t][:, None, None, None] * noise

            lr = cosine_lr(step, args.steps, args.lr)
            for g in opt.param_groups:
                g["lr"] = lr
            loss = F.mse_loss(model(xt, t), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

            decay = min(args.ema_decay, (1.0 + step) / (10.0 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.mul_(decay).add_(pm.detach(), alpha=1.0 - decay)
                for be, bm in zip(ema.buffers(), model.buffers()):
                    be.copy_(bm)

            step += 1
            images_seen += bsz
            lv = float(loss.item())
            train_losses.append(lv)
            recent.append(lv)
            now = time.time()
            last_step_s = now - ts
            wall = wall_prev + (now - t0)
            csv.write(f"{step},{lv:.6f},{lr:.6e},{images_seen},{wall:.2f}\n")
            consistent = True
            step_times.append((last_step_s, bsz))

            if step % args.log_every == 0 or step == args.steps:
                csv.flush()
                dt = now - last_log_t
                ips = (images_seen - last_log_imgs) / dt if dt > 0 else float("nan")
                sps = ips / args.batch if ips == ips else float("nan")
                eta = (args.steps - step) / sps if sps and sps == sps else float("nan")
                msg = (f"step {step}/{args.steps} loss {sum(recent) / len(recent):.4f} lr {lr:.2e} "
                       f"epoch {images_seen / n_images:.2f} {ips:.1f} img/s ETA {fmt_time(eta)}")
                if args.time_budget is not None:
                    msg += f" (budget left {fmt_time(args.time_budget - (now - t0))})"
                print(msg, flush=True)
                recent = []
                last_log_t, last_log_imgs = now, images_seen
            if step % args.ckpt_every == 0:
                csv.flush()
                checkpoint(wall_prev + (time.time() - t0))
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    finally:
        csv.flush()
        csv.close()
        wall_total = wall_prev + (time.time() - t0)
        if consistent:
            checkpoint(wall_total)
            print(f"stopped ({stop_reason}) at step {step}; wrote {ckpt_path}; "
                  f"wall {fmt_time(wall_total)}", flush=True)
        else:
            # Interrupted inside a step: the last periodic checkpoint stays the
            # resume point (loss.csv rows after it are dropped on --resume).
            print(f"stopped ({stop_reason}) inside step {step + 1}; kept the previous "
                  f"{ckpt_path}", flush=True)
        if len(step_times) > 1:  # first step excluded (warm-up)
            secs = sum(s for s, _ in step_times[1:])
            imgs = sum(n for _, n in step_times[1:])
            print(f"throughput this run: {imgs / secs:.1f} img/s over {len(step_times) - 1} steps "
                  f"(first step excluded; first step {step_times[0][0]:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
