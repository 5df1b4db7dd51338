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

Many processes (DistributedDataParallel). Run as one process, the script is exactly what it was
(same random numbers, same weights, bit for bit). Under torchrun with a world size above 1 it
trains one model with DDP, on the CPU (gloo) or one GPU per process (nccl, with --device cuda),
the backend chosen from the device:
    torchrun --standalone --nproc_per_node 8 scripts/torch/train.py --device cuda --width 1 ...
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \
        scripts/torch/train.py --device cuda ...           (the same command on every node)
The recipe means the same at any world size:
  * --batch is the global batch. Every rank holds the same epoch permutation (one numpy stream
    seeded by --seed) and takes its contiguous slice of each global batch (sizes differ by at most
    one; the last partial batch is split the same way), so an epoch shows every image once.
  * Flips, timesteps, noise and label dropout are drawn for the WHOLE global batch on every rank,
    from one torch generator that all ranks share (seeded like the single-process run), and each
    rank keeps its slice. Every image of a step therefore gets its own random numbers, and they do
    not depend on the world size: N ranks with --dropout 0 take the same steps as one process, up
    to float rounding (scripts/torch/test_distributed.py checks it). Drawing the global batch costs
    ~13 ms per 128 images on one CPU core, small next to a step.
  * Dropout inside the network (nn.Dropout(0.1), the default generator) is seeded per rank from
    (--seed, rank), so ranks drop different units; its state is saved per rank and restored when
    the world size is unchanged, reseeded from (--seed, rank, step) when it changes.
  * Each rank's loss is its samples' weighted sum times world_size / global_batch; DDP averages
    gradients over ranks, so the averaged gradient is the global batch's mean gradient even when
    ranks hold unequal counts. Clipping then sees the global norm, every rank takes the same AdamW
    step and keeps the same EMA (checked at every checkpoint).
  * Rank 0 alone writes the checkpoint, loss.csv and the log; the checkpoint holds the unwrapped
    model's state_dict (no "module." prefix), the shared generator's state as torch_rng_state, the
    world size, backend and devices (hardware, and "distributed"), so --resume works at any world
    size, 8 GPUs -> 1 CPU and back. With several nodes, rank 0 reads the checkpoint and sends it to
    the others; every node needs the data (--data or --jpeg-tar).
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
    # The project's: class-conditional with label dropout (classifier-free guidance), a 10x higher
    # learning rate after a linear warm-up (the recipe study's clearest win, docs/study.md), held
    # constant (the EMA does the averaging, and a run can be extended without a plan), and min-SNR-5
    # loss weights (Hang et al. 2023). The shipped snapshot's conditional stretch used lr 2e-4.
    "cond": {"lr": 1e-3, "lr_schedule": "constant", "warmup": 200, "loss_weight": "min-snr", "cond": True},
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


def make_schedule(kind="linear", T=NUM_TIMESTEPS, beta_start=BETA_START, beta_end=BETA_END):
    """(betas, alphas_cumprod) in float64: the seed's linear betas, or the cosine schedule of
    Nichol & Dhariwal (2021), ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2), β clipped at 0.999 (as src/core/schedule.ts)."""
    if kind == "linear":
        return linear_schedule(T, beta_start, beta_end)
    if kind != "cosine":
        raise ValueError(f"unknown schedule {kind!r}")
    s = 0.008
    f = lambda t: math.cos(((t / T) + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    betas = np.array([min(1 - f(t + 1) / f(t), 0.999) for t in range(T)], dtype=np.float64)
    return betas, np.cumprod(1.0 - betas)


def lr_at(step, rc, total):
    """Learning rate for 0-based optimizer step `step` under recipe config `rc`."""
    if rc["warmup"] and step < rc["warmup"]:
        return rc["lr"] * (step + 1) / rc["warmup"]
    if rc["lr_schedule"] == "constant":
        return rc["lr"]
    return cosine_lr(step, total, rc["lr"])


def loss_weights(t, snr, rc, prediction="epsilon"):
    """Per-sample weights of the MSE: 1 (the seed), or min-SNR-gamma (Hang et al. 2023):
    min(SNR, gamma) / SNR for an eps target, min(SNR, gamma) / (SNR + 1) for a v target."""
    if rc["loss_weight"] == "uniform":
        return None
    s = snr[t]
    return torch.clamp(s, max=rc["min_snr_gamma"]) / (s + 1 if prediction == "v" else s)


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


def synthetic_data(n):
    """n random uint8 images with labels i mod 10: a stand-in for CIFAR-10 in tests."""
    rs = np.random.RandomState(1234)
    return rs.randint(0, 256, size=(n, 3, 32, 32)).astype(np.uint8), (np.arange(n) % 10).astype(np.uint8)


# ----------------------------------------------------------------------------
# Distributed (torchrun)


def dist_init(device):
    """None outside torchrun (or at world size 1): the single-process path, unchanged. Else joins
    the process group (gloo on the CPU, nccl with one GPU per process) and returns its facts."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch.distributed as dist
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device visible to PyTorch")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
        backend = "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        sys.exit(f"--device {device}: distributed training supports cpu (gloo) and cuda (nccl)")
    dist.init_process_group(backend)
    return {"dist": dist, "rank": rank, "world": world, "local_rank": local_rank,
            "local_world": local_world, "backend": backend, "dev": dev}


def shard(n, world, rank):
    """[lo, hi) of rank's contiguous slice of n items; slice sizes differ by at most one."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def rank_seed(seed, rank, step=0):
    """The seed of a rank's own generator (dropout), from (seed, rank, step)."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


def from_rank0(ddp, fn):
    """fn() on rank 0 only, its result sent to every rank (an exit on rank 0 exits every rank)."""
    if ddp is None:
        return fn()
    box = [None]
    if ddp["rank"] == 0:
        try:
            box = [("ok", fn())]
        except SystemExit as e:
            box = [("exit", e.code)]
    ddp["dist"].broadcast_object_list(box, src=0)
    kind, val = box[0]
    if kind == "exit":
        sys.exit(val if ddp["rank"] == 0 else 1)
    return val


def all_gather(ddp, obj):
    out = [None] * ddp["world"]
    ddp["dist"].all_gather_object(out, obj)
    return out


def checksum(module):
    """Float64 sums of a module's parameters: equal on every rank when the replicas are equal."""
    with torch.no_grad():
        ps = [p.detach().double() for p in module.parameters()]
        return (float(sum(p.sum() for p in ps)), float(sum((p * p).sum() for p in ps)))


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
    ap.add_argument("--synthetic", type=int, default=None, metavar="N",
                    help="N random images instead of CIFAR-10 (tests; labels i mod 10)")
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
    ap.add_argument("--schedule", choices=["linear", "cosine"], default="linear",
                    help="noise schedule (the seed's linear, or cosine); travels in the checkpoint")
    ap.add_argument("--prediction", choices=["epsilon", "v"], default="epsilon",
                    help="the network's target: the noise (the seed's) or v = sqrt(ᾱ)ε − sqrt(1−ᾱ)x0")
    ap.add_argument("--min-snr-gamma", type=float, default=5.0)
    ap.add_argument("--cond", action=argparse.BooleanOptionalAction, default=None,
                    help="class-conditional network (10 CIFAR classes + 'no class')")
    ap.add_argument("--p-uncond", type=float, default=0.1,
                    help="probability of replacing a label by 'no class' (classifier-free guidance)")
    ap.add_argument("--ema-decay", type=float, default=0.999)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--device", default="cpu",
                    help="torch device for the model and its arithmetic (cpu, cuda, auto); under torchrun "
                         "cuda means one GPU per process (LOCAL_RANK)")
    ap.add_argument("--dropout", type=float, default=None,
                    help="the network's dropout probability (default: its own, 0.1); 0 makes runs at "
                         "different world sizes take the same steps")
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
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"

    ddp = dist_init(args.device)
    rank, world = (ddp["rank"], ddp["world"]) if ddp else (0, 1)
    is0 = rank == 0
    if args.batch < world:
        sys.exit(f"--batch {args.batch} (the global batch) is smaller than the world size {world}")

    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.name or f"simple_unet_w{args.width:g}"
    out = args.out or os.path.join(REPO, "runs", name)
    if is0:
        os.makedirs(out, exist_ok=True)
    ckpt_path = os.path.join(out, "ckpt.pt")
    csv_path = os.path.join(out, "loss.csv")

    # Stop flag for SIGTERM / SIGINT: finish the current step, then checkpoint.
    stop = {"signal": None}

    def on_signal(signum, _frame):
        if stop["signal"] is not None:  # second signal: give up immediately
            raise KeyboardInterrupt
        stop["signal"] = signum
        if is0:
            print(f"\nsignal {signum}: stopping after this step", flush=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t_load = time.time()
    if args.synthetic:
        images, labels = synthetic_data(args.synthetic)
        source = f"synthetic:{args.synthetic}"
    elif args.jpeg_tar:
        images, labels = load_cifar_jpeg_tar(args.jpeg_tar)
        source = os.path.relpath(os.path.abspath(args.jpeg_tar), REPO)  # no machine paths in shipped records
    else:
        images, labels = load_cifar_bin(args.data)
        source = os.path.relpath(os.path.abspath(args.data), REPO)  # no machine paths in shipped records
    n_images = images.shape[0]
    if is0:
        print(f"loaded {n_images} images from {source} in {time.time() - t_load:.1f}s", flush=True)

    dev = ddp["dev"] if ddp else torch.device(args.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device visible to PyTorch")
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once

    torch.manual_seed(args.seed)
    model = SimpleUNet(args.width, num_classes=num_classes)  # initialised on the CPU (same weights for every device), then moved
    if args.dropout is not None:
        for mod in model.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = args.dropout
    model.to(dev)
    gen = None  # single process: every draw from the default generator, as always
    if ddp:
        # The data's random numbers: one stream shared by all ranks, in the state the single-process
        # run would have here. The default generator becomes this rank's own (dropout).
        gen = torch.Generator()
        gen.set_state(torch.get_rng_state())
        torch.manual_seed(rank_seed(args.seed, rank))
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=rc["lr"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=1e-6)
    _, abar64 = make_schedule(args.schedule, NUM_TIMESTEPS, BETA_START, BETA_END)
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

    def read_ckpt():
        if args.resume:
            if not os.path.exists(ckpt_path):
                sys.exit(f"--resume: {ckpt_path} not found")
            return torch.load(ckpt_path, map_location=dev if ddp is None else "cpu")
        if os.path.exists(ckpt_path):
            sys.exit(f"{ckpt_path} exists; pass --resume or choose another --out")
        return None

    ck = from_rank0(ddp, read_ckpt)  # with several ranks, rank 0 reads it and sends it
    if args.resume:
        if float(ck["model_config"]["width"]) != args.width:
            sys.exit(f"--resume: checkpoint width {ck['model_config']['width']} != --width {args.width}")
        if int(ck["model_config"].get("num_classes", 0)) != num_classes:
            sys.exit(f"--resume: checkpoint has {ck['model_config'].get('num_classes', 0)} classes, "
                     f"this recipe {num_classes} (--cond / --no-cond)")
        for what, have, want in (("schedule", ck["diffusion_config"].get("schedule", "linear"), args.schedule),
                                 ("prediction", ck.get("prediction", "epsilon"), args.prediction)):
            if have != want:
                sys.exit(f"--resume: the checkpoint was trained with --{what} {have}, not {want}")
        model.load_state_dict(ck["model_state_dict"])
        ema.load_state_dict(ck["ema_state_dict"])
        opt.load_state_dict(ck["optimizer_state_dict"])
        step = int(ck["step"])
        images_seen = int(ck["images_seen"])
        train_losses = list(ck["train_losses"])
        wall_prev = float(ck["wall_time_s"])
        if ddp is None:
            torch.set_rng_state(ck["torch_rng_state"].cpu())
        else:
            gen.set_state(ck["torch_rng_state"].cpu())
            prev = ck.get("distributed") or {}
            states = prev.get("rank_rng_states")
            if states is not None and len(states) == world:
                torch.set_rng_state(states[rank].cpu())
            else:  # another world size (or a single-process checkpoint): fresh per-rank streams
                torch.manual_seed(rank_seed(args.seed, rank, step))
        st = ck["numpy_rng_state"]
        np_rng.set_state((st[0], np.array(st[1], dtype=np.uint32), st[2], st[3], st[4]))
        perm = np.asarray(ck["data_order"]["perm"])
        pos = int(ck["data_order"]["pos"])
        commands = list(ck.get("commands", []))
        hardware_history = list(ck.get("hardware_history", []))
        warm_start = ck.get("warm_start")
        if is0:
            truncate_csv(csv_path, step)
            prev_world = (ck.get("distributed") or {}).get("world_size", 1)
            print(f"resumed from {ckpt_path} at step {step} ({images_seen} images seen)"
                  + (f"; world size {prev_world} -> {world}" if prev_world != world else ""), flush=True)
    del ck
    if args.init_from:
        warm_start, init_sd = from_rank0(
            ddp, lambda: init_weights(args.init_from, args.width, num_classes, args.seed))
        model.load_state_dict(init_sd)
        ema.load_state_dict(init_sd)
        if is0:
            print(f"initialised from {args.init_from}: {warm_start['method']}", flush=True)
    if ddp:
        # What was run: torchrun's own arguments are not visible here; this names the same layout.
        nodes = max(1, world // ddp["local_world"])
        commands.append(["torchrun", f"--nnodes={nodes}", f"--nproc_per_node={ddp['local_world']}"]
                        + list(sys.argv))
    else:
        commands.append(list(sys.argv))

    if is0 and (not os.path.exists(csv_path) or not args.resume):
        with open(csv_path, "w") as f:
            f.write(CSV_HEADER)

    hardware = {"cpu": cpu_model(), "threads": torch.get_num_threads(),
                "torch": str(torch.__version__)}
    if dev.type == "cuda":
        hardware["gpu"] = torch.cuda.get_device_name(dev)
    hardware["world_size"] = world
    distributed = None
    if ddp:
        import socket
        me = {"rank": rank, "host": socket.gethostname(), "device": str(dev), "threads": torch.get_num_threads(),
              "name": hardware.get("gpu") or hardware["cpu"]}
        devices = all_gather(ddp, me)
        hosts = sorted({d["host"] for d in devices})
        names = sorted({d["name"] for d in devices})
        where = f"{world} DDP processes" + (f" on {len(hosts)} nodes" if len(hosts) > 1 else "") + f", {ddp['backend']}"
        if dev.type == "cuda":
            hardware["gpu"] = f"{world} × {' + '.join(names)} ({where})"
        else:
            hardware["cpu"] = f"{' + '.join(names)} ({where})"
        hardware.update({"backend": ddp["backend"], "nodes": len(hosts), "devices": devices})
        distributed = {"world_size": world, "backend": ddp["backend"], "nodes": len(hosts),
                       "rng": "data: one generator shared by all ranks, global batch drawn, sliced per rank "
                              "(torch_rng_state); dropout: per rank (rank_rng_states)"}
    hardware_history.append(dict(hardware, from_step=step))
    if is0:
        print(f"width {args.width:g} channels {model.channels} params {count_params(model):,}; "
              f"threads {hardware['threads']}; cpu {hardware['cpu']}"
              + (f"; gpu {hardware['gpu']}" if "gpu" in hardware else ""), flush=True)

    net = model
    if ddp:
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    def checkpoint(wall_total):
        extra = {}
        if ddp:
            # Every rank takes part: its dropout stream, and a check that the replicas agree.
            rngs = all_gather(ddp, torch.get_rng_state())
            sums = all_gather(ddp, (checksum(model), checksum(ema)))
            same = all(s == sums[0] for s in sums)
            if is0 and not same:
                print(f"warning: replicas differ at step {step}: {sums}", flush=True)
            extra["distributed"] = dict(distributed, rank_rng_states=rngs, replicas_identical=same,
                                        checked_at_step=step)
        if not is0:
            return
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
                                 "beta_end": BETA_END, "schedule": args.schedule},
            "prediction": args.prediction,
            "train_config": {"batch": args.batch, "lr": rc["lr"], "ema_decay": args.ema_decay,
                             "recipe": rc["recipe"], "lr_schedule": rc["lr_schedule"],
                             "warmup": rc["warmup"], "loss_weight": rc["loss_weight"],
                             "min_snr_gamma": rc["min_snr_gamma"] if rc["loss_weight"] == "min-snr" else None,
                             "num_classes": num_classes, "p_uncond": rc["p_uncond"],
                             "planned_steps": args.steps, "seed": args.seed,
                             "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-6,
                             "grad_clip": 1.0, "data": source,
                             "dropout": args.dropout if args.dropout is not None else 0.1},
            "step": step,
            "images_seen": images_seen,
            "epoch": images_seen / n_images,
            "train_losses": train_losses,
            "wall_time_s": wall_total,
            "hardware": hardware,
            "hardware_history": hardware_history,
            "warm_start": warm_start,
            "command": commands[-1],  # this invocation (torchrun's layout named under DDP)
            "commands": commands,
            "torch_rng_state": torch.get_rng_state() if gen is None else gen.get_state(),
            # Plain Python values only, so the project's safe unpickler can read the file.
            "numpy_rng_state": (lambda st: (st[0], st[1].tolist(), int(st[2]), int(st[3]), float(st[4])))(np_rng.get_state()),
            "data_order": {"perm": perm, "pos": pos},
            **extra,
        }, ckpt_path)

    model.train()
    t0 = time.time()
    last_log_t, last_log_imgs = t0, images_seen
    recent = []
    last_step_s = 0.0
    csv = open(csv_path, "a") if is0 else None
    stop_reason = "planned steps reached"
    consistent = True  # False while a step is half-applied
    left_loop = False  # True once the loop ends normally (every rank at the same step)
    step_times = []  # (seconds, images) for this invocation
    reasons = [None, "--stop-after", "time budget", "signal"]
    try:
        while step < args.steps:
            code = 0
            if stop["signal"] is not None:
                code = 3
            elif args.stop_after is not None and len(step_times) >= args.stop_after:
                code = 1
            elif args.time_budget is not None and time.time() - t0 + last_step_s > args.time_budget:
                code = 2
            if ddp:  # every rank stops at the same step: the most urgent reason of any rank
                flag = torch.tensor([code], dtype=torch.int64, device=dev)
                ddp["dist"].all_reduce(flag, op=ddp["dist"].ReduceOp.MAX)
                code = int(flag.item())
            if code:
                stop_reason = reasons[code]
                if code == 3:
                    stop_reason = f"signal {stop['signal']}" if stop["signal"] is not None else "signal (another rank)"
                break
            ts = time.time()
            consistent = False

            if pos >= n_images:
                perm = np_rng.permutation(n_images)
                pos = 0
            idx = perm[pos:pos + args.batch]
            pos += len(idx)
            bsz = len(idx)
            if ddp is None:
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
            else:
                # The global batch's random numbers, in the single-process order, from the shared
                # stream; this rank keeps its slice [lo, hi) and weighs its loss by world / bsz.
                flip = torch.rand(bsz, generator=gen) < 0.5
                t = torch.randint(0, NUM_TIMESTEPS, (bsz,), dtype=torch.int64, generator=gen)
                noise = torch.randn((bsz, 3, 32, 32), generator=gen)
                drop = torch.rand(bsz, generator=gen) < rc["p_uncond"] if num_classes else None
                lo, hi = shard(bsz, world, rank)
                share = world / bsz
                if hi == lo:  # fewer images than ranks (a tiny last batch): a zero-weight stand-in
                    lo, hi, share = 0, 1, 0.0
                mine = idx[lo:hi]
                x0 = torch.from_numpy(images[mine]).float().div_(127.5).sub_(1.0)
                x0 = torch.where(flip[lo:hi, None, None, None], x0.flip(3), x0)
                t, noise = t[lo:hi], noise[lo:hi]
                y = None
                if num_classes:
                    y = labels_t[mine]
                    y = torch.where(drop[lo:hi], torch.full_like(y, num_classes), y)
            if dev.type != "cpu":
                x0, t, noise = (v.to(dev, non_blocking=True) for v in (x0, t, noise))
                y = y.to(dev) if y is not None else None
            xt = sqrt_abar[t][:, None, None, None] * x0 + sqrt_1m_abar[t][:, None, None, None] * noise

            lr = lr_at(step, rc, args.steps)
            for g in opt.param_groups:
                g["lr"] = lr
            if args.prediction == "v":
                target = sqrt_abar[t][:, None, None, None] * noise - sqrt_1m_abar[t][:, None, None, None] * x0
            else:
                target = noise
            per = (net(xt, t, y) - target).pow(2).mean(dim=(1, 2, 3))
            w = loss_weights(t, snr, rc, args.prediction)
            if ddp is None:
                loss = per.mean()  # logged: the plain eps-MSE, comparable across recipes
                objective = loss if w is None else (w * per).mean()
            else:
                # DDP averages gradients over ranks: sum(mine) * world / bsz averages to sum(all) / bsz.
                objective = (per if w is None else w * per).sum() * share
                loss = per.detach().sum() * (1.0 if share else 0.0)
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
            if ddp:  # the logged loss is the global batch's mean
                ddp["dist"].all_reduce(loss)
                loss = loss / bsz
            lv = float(loss.item())
            train_losses.append(lv)
            recent.append(lv)
            now = time.time()
            last_step_s = now - ts
            wall = wall_prev + (now - t0)
            if is0:
                csv.write(f"{step},{lv:.6f},{lr:.6e},{images_seen},{wall:.2f}\n")
            consistent = True
            step_times.append((last_step_s, bsz))

            if is0 and (step % args.log_every == 0 or step == args.steps):
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
                if is0:
                    csv.flush()
                checkpoint(wall_prev + (time.time() - t0))
        left_loop = True
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    finally:
        if is0:
            csv.flush()
            csv.close()
        wall_total = wall_prev + (time.time() - t0)
        if ddp and not left_loop:
            # Ranks may be at different points: no collective, so no checkpoint (the last periodic
            # one stays the resume point).
            if is0:
                print(f"stopped ({stop_reason}) at step {step} on rank 0, other ranks not in step; "
                      f"kept the previous {ckpt_path}", flush=True)
        elif consistent:
            checkpoint(wall_total)
            if is0:
                print(f"stopped ({stop_reason}) at step {step}; wrote {ckpt_path}; "
                      f"wall {fmt_time(wall_total)}", flush=True)
        elif is0:
            # Interrupted inside a step: the last periodic checkpoint stays the
            # resume point (loss.csv rows after it are dropped on --resume).
            print(f"stopped ({stop_reason}) inside step {step + 1}; kept the previous "
                  f"{ckpt_path}", flush=True)
        if is0 and len(step_times) > 1:  # first step excluded (warm-up)
            secs = sum(s for s, _ in step_times[1:])
            imgs = sum(n for _, n in step_times[1:])
            print(f"throughput this run: {imgs / secs:.1f} img/s over {len(step_times) - 1} steps "
                  f"(first step excluded; first step {step_times[0][0]:.1f}s)"
                  + (f", {world} processes" if ddp else ""), flush=True)
        if ddp and left_loop:
            ddp["dist"].barrier()  # rank 0 hosts the rendezvous store: nobody leaves while others use it
            # Then leave without destroy_process_group or interpreter teardown: with PyTorch 1.13's gloo
            # either can hang at exit now and then (seen in CI-style runs on 2 loaded cores). The
            # checkpoint and the log are already written, flushed and fsynced.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


if __name__ == "__main__":
    main()
