"""PyTorch side of `npm run bench`: the same SimpleUNet (scripts/torch/simple_unet.py), the same
batches, the same measurements as the tfjs cases, on this machine's CPU.

    python3 bench/torch_bench.py '<json spec>'

spec: {"threads": n or null, "cases": [{"kind": "forward"|"train", "width", "batch", "warmup",
"repeats", "budgetS"}]}. Prints one line per case, prefixed with "@@bench ", as JSON (the same
record shape as src/cli/bench/types.ts NodeRecord). A forward is model(x, t) under no_grad in
eval mode; a training step mirrors src/core/trainer.ts: noising, epsilon MSE, backward,
clip_grad_norm_(1.0), AdamW, EMA update and reading the loss back.
"""

import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "torch"))

import torch  # noqa: E402
from simple_unet import SimpleUNet, linear_schedule  # noqa: E402

PREFIX = "@@bench "

FLOPS_PER_IMAGE = {}


def emit(kind, data):
    sys.stdout.write(PREFIX + json.dumps({"kind": kind, "data": data}) + "\n")
    sys.stdout.flush()


def quantile(s, p):
    i = (len(s) - 1) * p
    lo, hi = math.floor(i), math.ceil(i)
    return s[lo] + (s[hi] - s[lo]) * (i - lo)


def stats(xs):
    if not xs:
        return None
    s = sorted(xs)
    return {"n": len(s), "median": quantile(s, 0.5), "min": s[0], "max": s[-1], "q1": quantile(s, 0.25), "q3": quantile(s, 0.75)}


def map_stats(st, f):
    if st is None:
        return None
    a, b, c, d = f(st["min"]), f(st["max"]), f(st["q1"]), f(st["q3"])
    return {"n": st["n"], "median": f(st["median"]), "min": min(a, b), "max": max(a, b), "q1": min(c, d), "q3": max(c, d)}


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def run_case(c, threads, models, abar):
    width, batch, kind = c["width"], c["batch"], c["kind"]
    m = models.get(width)
    if m is None:
        torch.manual_seed(0)
        m = models[width] = SimpleUNet(width)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, 32, 32, generator=gen)
    t = torch.tensor([(i * 997) % 1000 for i in range(batch)], dtype=torch.int64)

    if kind == "forward":
        m.eval()

        def call():
            with torch.no_grad():
                y = m(x, t)
            y.numpy()
    else:
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=1e-6, betas=(0.9, 0.999), eps=1e-8)
        ema = [p.detach().clone() for p in m.parameters()]
        sqrt_ab = torch.tensor(abar, dtype=torch.float32).sqrt()
        sqrt_1mab = (1 - torch.tensor(abar, dtype=torch.float32)).sqrt()

        def call():
            x0 = torch.rand(batch, 3, 32, 32, generator=gen) * 2 - 1
            tt = torch.randint(0, 1000, (batch,), generator=gen)
            noise = torch.randn(batch, 3, 32, 32, generator=gen)
            xt = sqrt_ab[tt][:, None, None, None] * x0 + sqrt_1mab[tt][:, None, None, None] * noise
            loss = torch.mean((m(xt, tt) - noise) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                for e, p in zip(ema, m.parameters()):
                    e.mul_(0.999).add_(p.detach(), alpha=0.001)
            loss.item()

    warm = [timed(call) for _ in range(c["warmup"])]
    est = warm[-1] if warm else timed(call)
    repeats = max(1, min(c["repeats"], int((c["budgetS"] * 1000) // max(est, 1))))
    ms, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        ms.append(timed(call))
        cpu.append((time.process_time() - c0) * 1000.0)  # process CPU ms: its work, whatever the load
    st = stats(ms)
    flops = FLOPS_PER_IMAGE[str(width)] * (3 if kind == "train" else 1) * batch
    rec = {
        "runtime": "torch", "threads": threads, "kind": kind, "width": width, "batch": batch, "warmup": c["warmup"],
        "status": "ok", "ms": st, "imagesPerS": map_stats(st, lambda v: batch * 1000.0 / v), "cpuMs": stats(cpu),
        "gflops": flops / (st["median"] / 1000.0) / 1e9 if st else None,
    }
    if repeats < c["repeats"]:
        rec["note"] = f"{repeats} of {c['repeats']} repeats (time budget {c['budgetS']} s)"
    return rec


def main():
    spec = json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}")
    default_threads = torch.get_num_threads()
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    threads = torch.get_num_threads()
    FLOPS_PER_IMAGE.update(spec.get("flopsPerImage", {}))
    emit("torch", {
        "version": torch.__version__, "defaultThreads": default_threads, "threads": threads,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "parallel": torch.__config__.parallel_info().splitlines()[:4],
    })
    _, abar = linear_schedule()
    models = {}
    done = []
    max_call = float(spec.get("maxCallS", 1e9))
    deadline = float(spec.get("deadline") or 1e18) / 1000.0

    def skipped(c, note):
        emit("record", {"runtime": "torch", "threads": threads, "kind": c["kind"], "width": c["width"], "batch": c["batch"],
                        "warmup": c["warmup"], "status": "skipped", "ms": None, "imagesPerS": None, "gflops": None, "note": note})

    for c in spec.get("cases", []):
        if time.time() > deadline:
            skipped(c, "skipped: out of the time budget (--budget)")
            continue
        prev = next((d for d in reversed(done) if d["kind"] == c["kind"] and d["width"] == c["width"] and d["ms"]), None) \
            or next((d for d in reversed(done) if d["kind"] == c["kind"] and d["ms"]), None)
        if prev:
            f = FLOPS_PER_IMAGE
            projected = prev["ms"]["median"] / (prev["batch"] * f[str(prev["width"])]) * c["batch"] * f[str(c["width"])] / 1000.0
            if projected > max_call:
                skipped(c, f"skipped: projected {projected:.0f} s per call (from width {prev['width']} batch {prev['batch']}) > --max-call {max_call:.0f} s")
                continue
            if time.time() + projected * (c["warmup"] + 1) > deadline + 60:
                skipped(c, f"skipped: its projected {projected * (c['warmup'] + 1):.0f} s would overrun the time budget (--budget)")
                continue
        try:
            rec = run_case(c, threads, models, abar.tolist())
            done.append(rec)
            emit("record", rec)
        except Exception as e:  # noqa: BLE001 - one failing case must not hide the others
            emit("record", {"runtime": "torch", "threads": threads, "kind": c["kind"], "width": c["width"], "batch": c["batch"],
                            "warmup": c["warmup"], "status": "error", "ms": None, "imagesPerS": None, "gflops": None, "note": repr(e)})


if __name__ == "__main__":
    main()
