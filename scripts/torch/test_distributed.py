"""Distributed training and sampling on the CPU (torchrun, gloo), checked against one process.

    /usr/bin/python3 -m unittest scripts/torch/test_distributed.py -v     (≈ 1 minute on 2 cores)

Runs on a tiny network (width 0.125) and 21 synthetic images (train.py --synthetic), so no
CIFAR-10 is needed. test/torch-distributed.test.ts runs this file inside the project's tests;
with DDP_TEST_KEEP=DIR set, the 2-process checkpoint is copied to DIR/ddp-ckpt.pt for the
TypeScript importer to read.

What "equal" means. Two processes with a global batch of 8 must take the same optimizer steps as
one process with batch 8 (same permutation, same random numbers, --dropout 0, no dropout draws).
The gradients are averaged in another order than one process sums them, so they agree to float
rounding (Adam's moments to ~1e-9 here), not bit for bit. Adam divides by the gradient's running
scale, which turns that rounding into a full-size step where the true gradient is zero: a bias
in front of a GroupNorm whose groups hold one channel (width 0.125 has 8 channels in 8 groups)
and attention's key bias are exactly cancelled by what follows, and get float noise as gradient.
Those tensors (largest |Adam first moment| < 1e-7, against ≥ 1e-6 for every other tensor) only
have to stay within the steps' size; every other weight must agree to 5% of one lr step (the worst
seen is ~1%, a class-embedding entry), and the networks' outputs on fixed inputs to a thousandth
of how far training moved them.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sample_dist  # noqa: E402
from simple_unet import SimpleUNet, ddim_sample  # noqa: E402

PY = sys.executable
TRAIN = os.path.join(HERE, "train.py")
SAMPLE = os.path.join(HERE, "sample_dist.py")
TORCHRUN = [PY, os.path.join(HERE, "torchrun.py"), "--standalone", "--nproc_per_node", "2",
            "--monitor_interval", "0.5"]
LR = 1e-3
# The project's recipe ('cond': labels with dropout, min-SNR weights), with a steady lr and no dropout.
RUN = ["--width", "0.125", "--batch", "8", "--steps", "6", "--synthetic", "21", "--dropout", "0",
       "--lr", str(LR), "--warmup", "0", "--log-every", "1", "--ckpt-every", "1000"]
TIMEOUT = 120


def run(cmd, log):
    """Run cmd (its own process group, killed whole on timeout); fail with its output."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    t = time.time()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = "timeout"
    with open(log) as f:
        out = f.read()
    if rc != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {rc}\n{out[-4000:]}")
    print(f"  {time.time() - t:5.1f}s  {' '.join(os.path.relpath(c, REPO) if c.startswith('/') else c for c in cmd[:6])} …",
          file=sys.stderr, flush=True)
    return out


def load(path):
    return torch.load(path, map_location="cpu")


class DistributedTraining(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ddp-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def train(self, out, *extra, ranks=1):
        cmd = (TORCHRUN if ranks > 1 else [PY]) + [TRAIN] + RUN + ["--out", out] + list(extra)
        return run(cmd, os.path.join(self.tmp, f"log-{len(os.listdir(self.tmp))}.txt"))

    def assertSameRun(self, a, b, steps, what):
        """Checkpoints a (one process) and b took the same steps; see the module docstring."""
        for k in ("step", "images_seen"):
            self.assertEqual(a[k], b[k], f"{what}: {k}")
        self.assertTrue(torch.equal(a["torch_rng_state"], b["torch_rng_state"]), f"{what}: data random stream")
        self.assertTrue(np.array_equal(np.asarray(a["data_order"]["perm"]), np.asarray(b["data_order"]["perm"])))
        self.assertEqual(a["data_order"]["pos"], b["data_order"]["pos"])
        self.assertEqual(a["numpy_rng_state"], b["numpy_rng_state"])
        np.testing.assert_allclose(a["train_losses"], b["train_losses"], rtol=0, atol=1e-5, err_msg=what)
        names = list(a["model_state_dict"])
        self.assertEqual(names, list(b["model_state_dict"]), f"{what}: parameter names (no 'module.' prefix)")
        sa, sb = a["optimizer_state_dict"]["state"], b["optimizer_state_dict"]["state"]
        torch.manual_seed(0)  # train.py's initial weights (--seed 0)
        init = SimpleUNet(0.125, num_classes=10).state_dict()
        moved, free, worst = 0.0, [], 0.0
        for i, n in enumerate(names):
            m = sa[i]["exp_avg"].abs().max().item()
            for mom in ("exp_avg", "exp_avg_sq"):
                err = (sa[i][mom] - sb[i][mom]).abs().max().item()
                scale = sa[i][mom].abs().max().item()
                noise = 1e-8 if mom == "exp_avg" else 1e-16  # a gradient-free tensor's float noise
                self.assertLessEqual(err, 1e-4 * scale + noise, f"{what}: Adam {mom} of {n}")
            for sd in ("model_state_dict", "ema_state_dict"):
                d = (a[sd][n] - b[sd][n]).abs().max().item()
                if m < 1e-7:  # no true gradient: float noise normalised into steps of at most ~lr
                    free.append(n)
                    self.assertLessEqual(d, 2 * LR * steps, f"{what}: {sd} {n} (gradient-free)")
                else:
                    worst = max(worst, d / LR)
                    self.assertLessEqual(d, 0.05 * LR, f"{what}: {sd} {n} differs by {d:.3g}")
            moved = max(moved, (a["model_state_dict"][n] - init[n]).abs().max().item())
        # The function: both networks (raw and EMA) on fixed inputs, against how far training moved it.
        g = torch.Generator().manual_seed(5)
        x, t, y = torch.randn(4, 3, 32, 32, generator=g), torch.tensor([10, 300, 600, 900]), torch.tensor([0, 3, 7, 10])
        fn = {}
        for tag, ck in (("a", a), ("b", b), ("init", None)):
            m = SimpleUNet(0.125, num_classes=10)
            m.load_state_dict(init if ck is None else ck["model_state_dict"])
            m.eval()
            with torch.no_grad():
                fn[tag] = m(x, t, y)
        out_err = (fn["a"] - fn["b"]).abs().max().item()
        out_moved = (fn["a"] - fn["init"]).abs().max().item()
        print(f"  {what}: largest weight difference {worst:.2g} lr (gradient-free tensors: {len(set(free))}); "
              f"outputs differ by {out_err:.2g}, moved {out_moved:.2g} from the initial network", file=sys.stderr)
        self.assertLess(out_err, 1e-3 * out_moved, f"{what}: the networks compute different functions")
        self.assertGreater(moved, 0.3 * LR, f"{what}: the weights hardly moved; the test would prove nothing")
        self.assertLess(len(set(free)), 12, f"{what}: too many gradient-free tensors {sorted(set(free))}")

    def test_two_processes_match_one_and_resume_across_world_sizes(self):
        s, d = os.path.join(self.tmp, "one"), os.path.join(self.tmp, "two")
        # One process: 3 steps (8 + 8 + the last partial batch of 5), then 3 more (a new epoch).
        self.train(s, "--stop-after", "3")
        s3 = load(os.path.join(s, "ckpt.pt"))
        self.train(s, "--resume")
        s6 = load(os.path.join(s, "ckpt.pt"))
        # Two processes, global batch 8 (4 + 4, then 3 + 2 for the partial batch).
        log = self.train(d, "--stop-after", "3", ranks=2)
        self.assertIn("2 processes", log)
        d3 = load(os.path.join(d, "ckpt.pt"))
        self.assertSameRun(s3, d3, 3, "2 processes vs 1 after 3 steps")
        dist = d3["distributed"]
        self.assertEqual((dist["world_size"], dist["backend"], dist["replicas_identical"]), (2, "gloo", True))
        self.assertEqual(len(dist["rank_rng_states"]), 2)
        self.assertEqual([x["rank"] for x in d3["hardware"]["devices"]], [0, 1])
        self.assertIn("2 DDP processes", d3["hardware"]["cpu"])
        self.assertEqual(d3["commands"][0][:3], ["torchrun", "--nnodes=1", "--nproc_per_node=2"])
        self.assertEqual(d3["train_config"]["batch"], 8)
        self.assertEqual(d3["model_config"]["num_classes"], 10)
        with open(os.path.join(d, "loss.csv")) as f:
            self.assertEqual(len(f.read().strip().splitlines()), 4, "rank 0 alone writes loss.csv")
        keep = os.environ.get("DDP_TEST_KEEP")
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(os.path.join(d, "ckpt.pt"), os.path.join(keep, "ddp-ckpt.pt"))
        # 2 processes -> 1 (steps 4, 5) -> 2 again (step 6): the same run as one process throughout.
        self.train(d, "--resume", "--stop-after", "2")
        self.train(d, "--resume", ranks=2)
        d6 = load(os.path.join(d, "ckpt.pt"))
        self.assertSameRun(s6, d6, 6, "2 -> 1 -> 2 processes vs 1 after 6 steps")
        self.assertEqual([h["world_size"] for h in d6["hardware_history"]], [2, 1, 2])
        with open(os.path.join(d, "loss.csv")) as f:
            self.assertEqual([int(r.split(",")[0]) for r in f.read().strip().splitlines()[1:]], [1, 2, 3, 4, 5, 6])


class DistributedSampling(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ddp-sample-test-")
        torch.manual_seed(3)
        m = SimpleUNet(0.125, num_classes=10)
        with torch.no_grad():
            m.class_embedding.weight.normal_(0, 0.5)  # labels and guidance change the images
        self.model = m
        self.ckpt = os.path.join(self.tmp, "ckpt.pt")
        torch.save({"ema_state_dict": m.state_dict(), "model_config": {"width": 0.125, "num_classes": 10},
                    "step": 0}, self.ckpt)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_eta0_is_ddim_sample(self):
        gens = [sample_dist.image_generator(0, i) for i in range(2)]
        y = torch.tensor([0, 1])
        got = sample_dist.ddim_per_image(self.model, gens, 4, 0.0, True, y, 2.0)
        x_t = torch.stack([torch.randn((3, 32, 32), generator=sample_dist.image_generator(0, i)) for i in range(2)])
        want = ddim_sample(self.model, x_t, 4, eta=0.0, clip=True, y=y, guidance=2.0)
        self.assertTrue(torch.equal(got, want))

    def test_two_processes_write_the_images_one_process_writes(self):
        args = ["--weights", self.ckpt, "--num-images", "7", "--batch", "2", "--steps", "3", "--eta", "1", "--guidance", "2"]
        one, two = os.path.join(self.tmp, "one"), os.path.join(self.tmp, "two")
        torch.set_num_threads(1)
        sample_dist.main(args + ["--out", one])
        run(TORCHRUN + [SAMPLE] + args + ["--out", two], os.path.join(self.tmp, "log.txt"))
        files = sorted(f for f in os.listdir(one) if f.endswith(".npy"))
        self.assertEqual(files, [f"samples-{k:06d}.npy" for k in range(4)])
        self.assertEqual(files, sorted(f for f in os.listdir(two) if f.endswith(".npy")))
        a = np.concatenate([np.load(os.path.join(one, f)) for f in files])
        b = np.concatenate([np.load(os.path.join(two, f)) for f in files])
        self.assertEqual((a.shape, a.dtype), ((7, 3, 32, 32), np.float32))
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
        self.assertTrue(np.abs(a).max() <= 1.0 + 1e-6)
        # Every image is its own: no two alike, and image 0 does not depend on the others in its chunk.
        self.assertGreater(min(np.abs(a[i] - a[j]).max() for i in range(7) for j in range(i)), 1e-2)
        args1 = ["--weights", self.ckpt, "--num-images", "1", "--batch", "1", "--steps", "3", "--eta", "1", "--guidance", "2"]
        sample_dist.main(args1 + ["--out", os.path.join(self.tmp, "single")])
        np.testing.assert_allclose(np.load(os.path.join(self.tmp, "single", "samples-000000.npy"))[0], a[0],
                                   rtol=0, atol=1e-4)


if __name__ == "__main__":
    unittest.main()
