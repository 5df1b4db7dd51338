#!/usr/bin/env python3
"""Small fixtures for the framework-neutral checkpoint readers in src/core/weights/.

Writes test/fixtures/io/ (well under 200 KB in all):
  state_dict.pth         bare OrderedDict: float32/float16/bfloat16/float64/int64/int32/uint8/bool
                         tensors, a non-contiguous (transposed) view, two views sharing one storage
                         (one with a storage offset), a 0-d tensor and an nn.Parameter
  state_dict_p4.pth      the same tensors saved with pickle_protocol=4 (FRAME, MEMOIZE, ...)
  state_dict_deflate.pth state_dict.pth re-zipped with DEFLATE entries
  checkpoint.pth         dict with model_state_dict, ema_state_dict ("module."-prefixed keys),
                         optimizer_state_dict (a real AdamW after one step), model_config,
                         diffusion_config, epoch, train_losses (Python and numpy floats)
  tiny.safetensors       written by hand with struct + json
  malicious.pth          a torch.save'd object whose __reduce__ is (os.system, ('echo pwned',));
                         pickling never runs it, and the reader must refuse it
  legacy.pth             saved with _use_new_zipfile_serialization=False
  pickles.json           plain-value pickles in protocols 2..5 (hex) with their expected values
  expected.json          every tensor's dtype, shape and values, for the tests

Run: /usr/bin/python3 scripts/torch/make_io_fixtures.py
"""
import collections
import io
import json
import math
import os
import pickle
import struct
import subprocess
import zipfile

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "io")
os.makedirs(ROOT, exist_ok=True)
torch.manual_seed(1234)


def values(t):
    """Row-major values of t as JSON-friendly Python numbers (int64 as strings)."""
    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16, torch.float64, torch.float32):
        # the reader converts every float storage to float32
        # (non-finite values as strings: JSON has no inf/nan)
        return [float(v) if math.isfinite(v) else str(v)
                for v in t.to(torch.float32).reshape(-1).tolist()]
    if t.dtype == torch.int64:
        return [str(v) for v in t.reshape(-1).tolist()]
    if t.dtype == torch.bool:
        return [1 if v else 0 for v in t.reshape(-1).tolist()]
    return [int(v) for v in t.reshape(-1).tolist()]


def describe(sd):
    return {
        k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "values": values(v)}
        for k, v in sd.items()
    }


expected = {}

# ---------------------------------------------------------------- state_dict.pth
base = torch.arange(12, dtype=torch.float32) * 0.5 - 2.0  # one storage, two views
mat = torch.randn(3, 4)
sd = collections.OrderedDict()
sd["conv.weight"] = torch.randn(2, 3, 2, 2)
sd["conv.bias"] = torch.randn(2)
sd["lin.weight_t"] = mat.t()  # non-contiguous: size (4, 3), stride (1, 4)
assert not sd["lin.weight_t"].is_contiguous()
sd["strided.every_other"] = torch.arange(20, dtype=torch.float32).reshape(4, 5)[:, ::2]  # stride (5, 2)
sd["shared.a"] = base[2:8].view(2, 3)  # storage offset 2
sd["shared.b"] = base[6:]  # same storage, offset 6, overlapping a
sd["half.w"] = torch.tensor([0.0, -1.5, 65504.0, 6.1e-5, 5.96e-8, float("inf"), 0.1, -2.0], dtype=torch.float16)
sd["bf16.w"] = torch.tensor([1.0, -3.140625, 1e30, 0.0], dtype=torch.bfloat16)
sd["f64.w"] = torch.tensor([[1.0, 2.5], [-1e-3, 3.0e10]], dtype=torch.float64)
sd["steps"] = torch.tensor([0, -1, 2**40, -(2**62)], dtype=torch.int64)
sd["i32"] = torch.tensor([-7, 0, 2**31 - 1], dtype=torch.int32)
sd["u8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
sd["mask"] = torch.tensor([True, False, True])
sd["bn.num_batches_tracked"] = torch.tensor(5)  # 0-d int64
sd["scalar"] = torch.tensor(3.25)  # 0-d float32
sd["param"] = torch.nn.Parameter(torch.randn(2, 2))
sd["empty"] = torch.zeros(0, 3)
assert sd["shared.a"].storage_offset() == 2 and sd["shared.b"].storage_offset() == 6
torch.save(sd, os.path.join(ROOT, "state_dict.pth"))
torch.save(sd, os.path.join(ROOT, "state_dict_p4.pth"), pickle_protocol=4)
expected["state_dict"] = describe(sd)
expected["state_dict_meta"] = {
    "lin.weight_t": {"stride": list(sd["lin.weight_t"].stride())},
    "shared.a": {"storage_offset": 2},
    "shared.b": {"storage_offset": 6},
}

# the same archive with DEFLATE entries
with zipfile.ZipFile(os.path.join(ROOT, "state_dict.pth")) as src, zipfile.ZipFile(
    os.path.join(ROOT, "state_dict_deflate.pth"), "w", compression=zipfile.ZIP_DEFLATED
) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))

# ---------------------------------------------------------------- checkpoint.pth


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.bn = torch.nn.BatchNorm1d(2)

    def forward(self, x):
        return self.bn(self.lin(x))


model = Tiny()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
loss = model(torch.randn(4, 3)).pow(2).mean()
loss.backward()
opt.step()
ema = collections.OrderedDict(("module." + k, v.clone() * 0.5) for k, v in model.state_dict().items())
ckpt = {
    "epoch": 7,
    "model_state_dict": model.state_dict(),
    "ema_state_dict": ema,
    "optimizer_state_dict": opt.state_dict(),
    "model_config": {"ch": 32, "ch_mult": (1, 2), "attn": [False, True], "dropout": 0.1, "name": "tiny"},
    "diffusion_config": {"T": 1000, "beta_start": 1e-4, "beta_end": 0.02, "schedule": "linear"},
    "train_losses": [0.5, 0.25, float(np.float64(0.125))],
    "np_losses": [np.float64(0.75), np.float32(0.5)],
    "big_int": 2**70,
    "neg_int": -(2**40),
    "note": "héllo ✓",
    "raw": b"\x00\x01\xff",
    "nothing": None,
    "flags": (True, False),
}
torch.save(ckpt, os.path.join(ROOT, "checkpoint.pth"))
expected["checkpoint"] = {
    "model_state_dict": describe(model.state_dict()),
    "ema_state_dict": describe(collections.OrderedDict((k[len("module."):], v) for k, v in ema.items())),
    "optimizer": {
        "state": {str(k): describe(v) for k, v in opt.state_dict()["state"].items()},
        "param_groups": [
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
            for g in opt.state_dict()["param_groups"]
        ],
    },
    "meta": {
        "epoch": 7,
        "model_config": {"ch": 32, "ch_mult": [1, 2], "attn": [False, True], "dropout": 0.1, "name": "tiny"},
        "diffusion_config": {"T": 1000, "beta_start": 1e-4, "beta_end": 0.02, "schedule": "linear"},
        "train_losses": [0.5, 0.25, 0.125],
        "np_losses": [0.75, 0.5],
        "big_int": str(2**70),
        "neg_int": -(2**40),
        "note": "héllo ✓",
        "raw": [0, 1, 255],
        "nothing": None,
        "flags": [True, False],
    },
}

# ---------------------------------------------------------------- tiny.safetensors
st_tensors = [
    ("a.f32", "F32", [2, 3], np.arange(6, dtype=np.float32) - 2.5),
    ("b.f16", "F16", [3], np.array([1.0, -0.5, 65504.0], dtype=np.float16)),
    ("c.bf16", "BF16", [2], (torch.tensor([1.5, -2.0], dtype=torch.bfloat16).view(torch.int16).numpy())),
    ("d.i64", "I64", [2], np.array([-3, 2**50], dtype=np.int64)),
    ("e.f64", "F64", [1], np.array([0.1], dtype=np.float64)),
    ("f.u8", "U8", [2, 2], np.array([[1, 2], [3, 250]], dtype=np.uint8)),
    ("g.bool", "BOOL", [2], np.array([True, False], dtype=np.bool_)),
    ("h.i32", "I32", [0], np.zeros(0, dtype=np.int32)),
]
header = {"__metadata__": {"format": "pt", "source": "make_io_fixtures"}}
blobs = []
offset = 0
for name, dt, shape, arr in st_tensors:
    raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
hjson = json.dumps(header, separators=(",", ":")).encode()
hjson += b" " * ((8 - len(hjson) % 8) % 8)
with open(os.path.join(ROOT, "tiny.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hjson)))
    f.write(hjson)
    for b in blobs:
        f.write(b)
expected["safetensors"] = {
    "metadata": header["__metadata__"],
    "tensors": {
        "a.f32": {"dtype": "float32", "shape": [2, 3], "values": [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]},
        "b.f16": {"dtype": "float16", "shape": [3], "values": [1.0, -0.5, 65504.0]},
        "c.bf16": {"dtype": "bfloat16", "shape": [2], "values": [1.5, -2.0]},
        "d.i64": {"dtype": "int64", "shape": [2], "values": ["-3", str(2**50)]},
        "e.f64": {"dtype": "float64", "shape": [1], "values": [float(np.float32(0.1))]},
        "f.u8": {"dtype": "uint8", "shape": [2, 2], "values": [1, 2, 3, 250]},
        "g.bool": {"dtype": "bool", "shape": [2], "values": [1, 0]},
        "h.i32": {"dtype": "int32", "shape": [0], "values": []},
    },
}

# ---------------------------------------------------------------- float16 rounding reference
rng = np.random.default_rng(7)
probe = np.concatenate([
    rng.standard_normal(150).astype(np.float32) * np.float32(10.0) ** rng.integers(-9, 6, 150).astype(np.float32),
    # exact ties and near-ties around half ulps, subnormals and the overflow edge
    (np.arange(1, 40, dtype=np.float32) * np.float32(2.0 ** -25)),
    np.array([65504, 65519, 65520, 65535, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -14 - 2 ** -25], dtype=np.float32),
]).astype(np.float32)
with np.errstate(over="ignore"):  # overflow to inf is part of the reference
    f16 = probe.astype(np.float16)
expected["float16"] = {
    "f32_bits": [int(b) for b in probe.view(np.uint32)],
    "f16_bits": [int(b) for b in f16.view(np.uint16)],
}

# ---------------------------------------------------------------- malicious.pth


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


torch.save({"model_state_dict": collections.OrderedDict(w=torch.zeros(2)), "x": Evil()},
           os.path.join(ROOT, "malicious.pth"))

# ---------------------------------------------------------------- legacy.pth
torch.save(collections.OrderedDict(w=torch.ones(2)), os.path.join(ROOT, "legacy.pth"),
           _use_new_zipfile_serialization=False)

# ---------------------------------------------------------------- pickles.json
plain = {
    "ints": [0, 1, -1, 255, 256, 65535, 65536, -(2**31), 2**31 - 1, 2**31, 2**53, -(2**63), 2**64],
    "floats": [0.5, -2.25, 1e300, float("inf")],
    "strs": ["", "a", "x" * 300, "ünïcödé"],
    "bytes": b"\x00abc",
    "tuple": (1, (2, 3), ()),
    "set": {1, 2},
    "frozen": frozenset([3]),
    "nested": {"k": [None, True, False]},
    "shared": None,
}
shared = [1, 2]
plain["shared"] = [shared, shared]  # memo: the same list twice
plain_expected = {
    "ints": [str(v) if abs(v) > 2**53 - 1 else v for v in plain["ints"]],
    "floats": [0.5, -2.25, 1e300, "inf"],
    "strs": plain["strs"],
    "bytes": [0, 97, 98, 99],
    "tuple": [1, [2, 3], []],
    "set": [1, 2],
    "frozen": [3],
    "nested": {"k": [None, True, False]},
    "shared": [[1, 2], [1, 2]],
}
pickles = {
    "expected": plain_expected,
    "by_protocol": {str(p): pickle.dumps(plain, protocol=p).hex() for p in (2, 3, 4, 5)},
    "evil_eval": pickle.dumps(eval, protocol=2).hex(),  # GLOBAL builtins.eval / __builtin__.eval
}
# protocol 4 STACK_GLOBAL for subprocess.call, made by pickling the function itself
pickles["evil_stack_global"] = pickle.dumps(subprocess.call, protocol=4).hex()
with open(os.path.join(ROOT, "pickles.json"), "w") as f:
    json.dump(pickles, f, indent=1)

with open(os.path.join(ROOT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, allow_nan=False)

total = 0
for name in sorted(os.listdir(ROOT)):
    size = os.path.getsize(os.path.join(ROOT, name))
    total += size
    print(f"{name:28s} {size:8d}")
print(f"{'total':28s} {total:8d}")
assert total < 200_000
