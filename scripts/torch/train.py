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
from simple_unet import (BETA_END, BETA_START, NUM_CLASSES_CIFAR, NUM_TIMESTEPS, SimpleUNet,  # noqa: E402
                         count_params, linear_schedule)
from weights_dir import load_weights_dir  # noqa: E402
from widen import widen_state_dict  # noqa: E402

# --recipe presets; any flag given explicitly overrides its preset value.
RECIPES = {
    # The seed's notebook: unconditional, AdamW 1e-4 with a per-step cosine to zero, uniform MSE.
    "seed": {"lr": 1e-4, "lr_schedule": "cosine", "warmup": 0, "loss_weight": "uniform", "cond": False},
    # The project's: class-conditional with label dropout (classifier-free guidance), a higher
    # learning rate after a linear warm-up, held constant (the EMA does the averaging, and a run
    # can be extended without a plan), and min-SNR-5 loss weights (Hang et al. 2023).
    "cond": {"lr": 2e-4, "lr_schedule": "constant", "warmup": 200, "loss_weight": "min-snr", "cond": True},
}

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


def lr_at(step, rc, total):
    """Learning rate for 0-based optimizer step `step` under recipe config `rc`."""
    if rc["warmup"] and step < rc["warmup"]:
        return rc["lr"] * (step + 1) / rc["warmup"]
    if rc["lr_schedule"] == "constant":
        return rc["lr"]
    return cosine_lr(step, total, rc["lr"])


def loss_weights(t, snr, rc):
    """Per-sample weights of the eps-MSE: 1 (the seed), or min(SNR, gamma) / SNR (min-SNR-gamma)."""
    if rc["loss_weight"] == "uniform":
        return None
    s = snr[t]
    return torch.clamp(s, max=rc["min_snr_gamma"]) / s


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


def init_weights(path, width, num_classes, seed):
    """EMA weights of a train.py checkpoint or a weights folder, made to fit (width, num_classes).
    -> (warm_start record, state_dict)."""
    if os.path.isdir(path):
        sd, meta = load_weights_dir(path)
        src_width = float(meta["modelConfig"]["width"])
        tr = meta.get("training") or {}
        rec = {"step": tr.get("steps"), "images_seen": tr.get("imagesSeen"), "epoch": tr.get("epochs"),
               "wall_time_s": tr.get("wallTimeS"), "hardware": tr.get("hardware"),
               "command": tr.get("command"), "train_config": tr.get("recipe"),
               "warm_start": tr.get("warmStart"), "weights": f"{meta.get('weightsKind', 'ema')} weights folder"}
    else:
        src = torch.load(path, map_location="cpu")
        sd = src["ema_state_dict"]
        src_width = float(src["model_config"]["width"])
        rec = {"step": int(src["step"]), "images_seen": int(src["images_seen"]), "epoch": float(src["epoch"]),
               "wall_time_s": float(src["wall_time_s"]), "hardware": src.get("hardware"),
               "hardware_history": src.get("hardware_history"),
               "commands": src.get("commands") or [src.get("command")],
               "train_config": src.get("train_config"), "warm_start": src.get("warm_start"),
               "weights": "ema_state_dict"}
    sd = {k: v.float() for k, v in sd.items()}
    cls = sd.pop("class_embedding.weight", None)
    src_classes = 0 if cls is None else cls.shape[0] - 1
    method = []
    if src_width != width:
        if src_width > width:
            sys.exit(f"--init-from: {path} has width {src_width:g}, wider than --width {width:g}")
        sd = widen_state_dict(sd, src_width, width, seed=seed)
        method.append(f"widened {src_width:g} -> {width:g} by widen.py (Net2WiderNet, function-preserving)")
    if num_classes:
        if cls is None:
            cls = torch.zeros(num_classes + 1, 512)
            method.append("zero class embedding added (same function until trained)")
        elif src_classes != num_classes:
            sys.exit(f"--init-from: {path} has {src_classes} classes, this run {num_classes}")
        sd["class_embedding.weight"] = cls
    elif cls is not None:
        sys.exit(f"--init-from: {path} is class-conditional; pass --cond")
    method.append("optimizer state fresh")
    rec.update({"from": os.path.relpath(os.path.abspath(path), REPO), "width": src_width,
                "num_classes": src_classes, "method": "; ".join(method)})
    return rec, sd


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
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="cond",
                    help="preset: 'seed' (the seed notebook's recipe) or 'cond' (the project's, default)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--lr-schedule", choices=["cosine", "constant"], default=None)
    ap.add_argument("--warmup", type=int, default=None, help="linear learning-rate warm-up steps")
    ap.add_argument("--loss-weight", choices=["uniform", "min-snr"], default=None)
    ap.add_argument("--min-snr-gamma", type=float, default=5.0)
    ap.add_argument("--cond", action=argparse.BooleanOptionalAction, default=None,
                    help="class-conditional network (10 CIFAR classes + 'no class')")
    ap.add_argument("--p-uncond", type=float, default=0.1,
                    help="probability of replacing a label by 'no class' (classifier-free guidance)")
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
                    help="start from a train.py checkpoint's EMA weights or a weights folder "
                         "(e.g. public/weights/simple-unet-small), widened to --width if narrower "
                         "(function-preserving), with a zero class embedding added if it has none; "
                         "the optimizer starts fresh (use --warmup); not with --resume")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=500)
    args = ap.parse_args()
    rc = dict(RECIPES[args.recipe])
    for k in ("lr", "lr_schedule", "warmup", "loss_weight", "cond"):
        if getattr(args, k) is not None:
            rc[k] = getattr(args, k)
    rc["min_snr_gamma"] = args.min_snr_gamma
    rc["p_uncond"] = args.p_uncond if rc["cond"] else 0.0
    rc["recipe"] = args.recipe
    num_classes = NUM_CLASSES_CIFAR if rc["cond"] else 0

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
        images, labels = load_cifar_jpeg_tar(args.jpeg_tar)
        source = os.path.abspath(args.jpeg_tar)
    else:
        images, labels = load_cifar_bin(args.data)
        source = os.path.abspath(args.data)
    n_images = images.shape[0]
    print(f"loaded {n_images} images from {source} in {time.time() - t_load:.1f}s", flush=True)

    dev = torch.device(args.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device visible to PyTorch")
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once

    torch.manual_seed(args.seed)
    model = SimpleUNet(args.width, num_classes=num_classes)  # initialised on the CPU (same weights for every device), then moved
    model.to(dev)
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=rc["lr"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=1e-6)
    _, abar64 = linear_schedule(NUM_TIMESTEPS, BETA_START, BETA_END)
    sqrt_abar = torch.tensor(np.sqrt(abar64), dtype=torch.float32, device=dev)
    sqrt_1m_abar = torch.tensor(np.sqrt(1.0 - abar64), dtype=torch.float32, device=dev)
    snr = torch.tensor(abar64 / (1.0 - abar64), dtype=torch.float32, device=dev)
    labels_t = torch.from_numpy(labels.astype(np.int64))

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
        if int(ck["model_config"].get("num_classes", 0)) != num_classes:
            sys.exit(f"--resume: checkpoint has {ck['model_config'].get('num_classes', 0)} classes, "
                     f"this recipe {num_classes} (--cond / --no-cond)")
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
        warm_start, init_sd = init_weights(args.init_from, args.width, num_classes, args.seed)
        model.load_state_dict(init_sd)
        ema.load_state_dict(init_sd)
        print(f"initialised from {args.init_from}: {warm_start['method']}", flush=True)
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
            "scheduler_state_dict": {"type": f"{rc['lr_schedule']}_per_step", "base_lr": rc["lr"],
                                     "eta_min": 0.0, "warmup": rc["warmup"],
                                     "T_max": args.steps, "last_step": step,
                                     "last_lr": lr_at(step, rc, args.steps)},
            "model_config": {"in_channels": 3, "out_channels": 3, "time_emb_dim": 128,
                             "width": args.width, "num_classes": num_classes},
            "diffusion_config": {"num_timesteps": NUM_TIMESTEPS, "beta_start": BETA_START,
                                 "beta_end": BETA_END},
            "train_config": {"batch": args.batch, "lr": rc["lr"], "ema_decay": args.ema_decay,
                             "recipe": rc["recipe"], "lr_schedule": rc["lr_schedule"],
                             "warmup": rc["warmup"], "loss_weight": rc["loss_weight"],
                             "min_snr_gamma": rc["min_snr_gamma"] if rc["loss_weight"] == "min-snr" else None,
                             "num_classes": num_classes, "p_uncond": rc["p_uncond"],
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
            y = None
            if num_classes:
                # Label dropout: one network learns p(x | class) and p(x) (classifier-free guidance).
                y = labels_t[idx]
                y = torch.where(torch.rand(bsz) < rc["p_uncond"], torch.full_like(y, num_classes), y)
            if dev.type != "cpu":
                x0, t, noise = (v.to(dev, non_blocking=True) for v in (x0, t, noise))
                y = y.to(dev) if y is not None else None
            xt = sqrt_abar[t][:, None, None, None] * x0 + sqrt_1m_abar[t][:, None, None, None] * noise

            lr = lr_at(step, rc, args.steps)
            for g in opt.param_groups:
                g["lr"] = lr
            per = (model(xt, t, y) - noise).pow(2).mean(dim=(1, 2, 3))
            loss = per.mean()  # logged: the plain eps-MSE, comparable across recipes
            w = loss_weights(t, snr, rc)
            objective = loss if w is None else (w * per).mean()
            opt.zero_grad(set_to_none=True)
            objective.backward()
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
