"""Generate N images with DDIM across any number of processes (torchrun), for evaluation at scale.

    /usr/bin/python3 scripts/torch/sample_dist.py --weights public/weights/simple-unet-small --num-images 256 --out /tmp/s
    torchrun --standalone --nproc_per_node 8 scripts/torch/sample_dist.py --device cuda \\
        --weights runs/simple-unet/ckpt.pt --num-images 50000 --batch 500 --out samples/
    node bin/diffusion.mjs eval --images samples/ --n 50000

--weights is a train.py checkpoint (its EMA weights; --raw for the raw ones; a slim_ckpt.py file
works too) or a project weights folder (weights.json + shards, via weights_dir.py).

The result does not depend on the number of processes. Image i starts from its own noise: a torch
CPU generator seeded from (--seed, i) draws its x_T and, with --eta > 0, its fresh noise at every
step. The images are cut into chunks of --batch (chunk k holds images k*batch .. k*batch+batch-1);
chunk k is computed by rank k mod world as one forward batch, so every chunk sees the same batch
whatever the world size; the chunks are gathered to rank 0, which writes chunk k as
<out>/samples-<k, 6 digits>.npy (float32 [n, 3, 32, 32], NCHW, in [-1, 1]) and, at the end,
<out>/samples.json (what made them). `diffusion eval --images DIR` reads the .npy files in name
order, i.e. image order. The out folder must not hold other .npy files.

Class-conditional weights: image i asks for class i mod 10 (as `diffusion eval` does), with
classifier-free guidance scale --guidance (default 2, the page's), one doubled-batch forward per
step (simple_unet.guided_eps); --unconditional samples with "no class". The sampler is
simple_unet.ddim_sample's arithmetic (float64 schedule scalars, timesteps rounded half up,
x0 clipped to [-1, 1] unless --no-clip) with per-image noise; at eta 0 it equals ddim_sample.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simple_unet import (NUM_TIMESTEPS, SimpleUNet, ddim_timesteps, guided_eps,  # noqa: E402
                         linear_schedule)
from weights_dir import load_weights_dir  # noqa: E402

NUM_CLASSES_CIFAR = 10


def load_model(path, raw=False):
    """-> (SimpleUNet in eval mode on the CPU, description) from a train.py checkpoint or a weights folder."""
    if os.path.isdir(path):
        sd, meta = load_weights_dir(path)
        width = float(meta["modelConfig"]["width"])
        what = f"{path} ({meta.get('weightsKind', 'ema')} weights folder)"
    else:
        ck = torch.load(path, map_location="cpu")
        key = "model_state_dict" if raw else "ema_state_dict"
        if key not in ck:
            sys.exit(f"{path}: no {key}" + (" (a slim checkpoint keeps only the EMA weights)" if raw else ""))
        sd = ck[key]
        width = float(ck["model_config"]["width"])
        what = f"{path} ({key}, step {ck.get('step')})"
    sd = {k: v.float() for k, v in sd.items()}
    cls = sd.get("class_embedding.weight")
    num_classes = 0 if cls is None else cls.shape[0] - 1
    model = SimpleUNet(width, num_classes=num_classes)
    model.load_state_dict(sd)
    model.eval()
    return model, what


def image_generator(seed, i):
    """Image i's own CPU generator: its starting noise and (eta > 0) its noise at every step."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))


@torch.no_grad()
def ddim_per_image(model, gens, steps, eta=0.0, clip=True, y=None, guidance=1.0, device="cpu"):
    """simple_unet.ddim_sample's DDIM, every image drawing its noise from its own generator."""
    model.eval()
    _, abar = linear_schedule(NUM_TIMESTEPS)
    ts = ddim_timesteps(steps, NUM_TIMESTEPS)
    x = torch.stack([torch.randn((3, 32, 32), generator=g) for g in gens]).to(device)
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
            z = torch.stack([torch.randn((3, 32, 32), generator=g) for g in gens]).to(device)
            x = x + sigma * z
    return x


def chunk_images(model, k, args, device):
    """Chunk k: images [k*batch, min((k+1)*batch, n)) as a float32 CPU tensor."""
    lo, hi = k * args.batch, min((k + 1) * args.batch, args.n)
    gens = [image_generator(args.seed, i) for i in range(lo, hi)]
    y = None
    if model.num_classes and not args.unconditional:
        y = torch.tensor([i % NUM_CLASSES_CIFAR for i in range(lo, hi)], dtype=torch.int64, device=device)
    x = ddim_per_image(model, gens, args.steps, args.eta, not args.no_clip, y, args.guidance, device)
    return x.float().cpu()


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="train.py checkpoint or weights folder")
    ap.add_argument("--raw", action="store_true", help="a checkpoint's raw weights instead of its EMA")
    ap.add_argument("--num-images", type=int, required=True, dest="n",
                    help="number of images (not --n: torchrun would take that for its --nnodes)")
    ap.add_argument("--batch", type=int, default=250, help="images per chunk (one forward batch, one file)")
    ap.add_argument("--steps", type=int, default=20, help="DDIM steps (default 20, the page's)")
    ap.add_argument("--eta", type=float, default=0.5, help="DDIM eta (default 0.5, the page's)")
    ap.add_argument("--no-clip", action="store_true", help="do not clip the predicted x0 to [-1, 1]")
    ap.add_argument("--guidance", type=float, default=2.0, help="guidance scale for class-conditional weights (default 2, the page's)")
    ap.add_argument("--unconditional", action="store_true", help="class-conditional weights: no class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--device", default="cpu", help="cpu, cuda (one GPU per process: LOCAL_RANK) or auto")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args(argv)
    if args.n < 1 or args.batch < 1 or args.steps < 1:
        ap.error("--num-images, --batch and --steps must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dist = None
    dev = torch.device(args.device)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")

    def agree(msg):
        """rank 0's verdict on the out folder, for every rank."""
        if dist is None:
            return msg
        box = [msg]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    problem = None
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        old = [f for f in os.listdir(args.out) if f.endswith(".npy")]
        if old:
            problem = f"{args.out} already holds {len(old)} .npy files: choose an empty folder"
    problem = agree(problem)
    if problem:
        sys.exit(problem if rank == 0 else 1)

    model, what = load_model(args.weights, args.raw)
    model.to(dev)
    cond = bool(model.num_classes) and not args.unconditional
    nchunks = -(-args.n // args.batch)
    if rank == 0:
        print(f"{what}: width {model.width:g}, {'class-conditional' if model.num_classes else 'unconditional'}; "
              f"{args.n} images in {nchunks} chunks of {args.batch} over {world} process(es); DDIM {args.steps} "
              f"eta {args.eta:g}" + (f", guidance {args.guidance:g}" if cond else ""), flush=True)
    t0 = time.time()
    for r in range(-(-nchunks // world)):
        k = r * world + rank
        x = chunk_images(model, k, args, dev) if k < nchunks else torch.zeros(0, 3, 32, 32)
        if dist is None:
            parts = [x]
        else:
            # Equal-size tensors for the collective: pad to --batch, cut back with the known sizes.
            pad = torch.zeros(args.batch, 3, 32, 32)
            pad[:x.shape[0]] = x
            pad = pad.to(dev)
            parts = [torch.empty_like(pad) for _ in range(world)]
            dist.all_gather(parts, pad)
        if rank == 0:
            for j, p in enumerate(parts):
                kk = r * world + j
                if kk >= nchunks:
                    continue
                m = min((kk + 1) * args.batch, args.n) - kk * args.batch
                np.save(os.path.join(args.out, f"samples-{kk:06d}.npy"), p[:m].cpu().numpy().astype(np.float32))
            done = min((r + 1) * world * args.batch, args.n)
            el = time.time() - t0
            print(f"{done}/{args.n} images, {done / el:.1f} img/s", flush=True)
    wall = time.time() - t0
    if rank == 0:
        with open(os.path.join(args.out, "samples.json"), "w") as f:
            json.dump({"weights": what, "n": args.n, "batch": args.batch, "sampler": "ddim", "steps": args.steps,
                       "eta": args.eta, "clip": not args.no_clip, "seed": args.seed,
                       "noise": "image i: torch CPU generator seeded from SeedSequence([seed, i])",
                       "labels": "i mod 10" if cond else None, "guidance": args.guidance if cond else None,
                       "world_size": world, "device": dev.type, "torch": str(torch.__version__),
                       "files": [f"samples-{k:06d}.npy" for k in range(nchunks)],
                       "wall_s": round(wall, 2), "images_per_s": round(args.n / wall, 2)}, f, indent=1)
        print(f"wrote {nchunks} files to {args.out} in {wall:.1f}s ({args.n / wall:.1f} img/s)", flush=True)
    if dist is not None:
        dist.barrier()
        # Leave without destroy_process_group or interpreter teardown (both can hang with PyTorch
        # 1.13's gloo); every file is written by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
