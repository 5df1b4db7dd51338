"""Read a project weights folder (``weights.json`` + shards, e.g. ``public/weights/simple-unet-small``)
into a PyTorch state_dict, so training can continue from the shipped weights alone
(``train.py --init-from public/weights/simple-unet-small``): no large checkpoint needs to live in git.

Shards hold tfjs layouts (conv ``[kh, kw, in, out]``, transposed conv ``[kh, kw, out, in]``,
linear ``[in, out]``), float32 or float16; this undoes both. ``class_embedding.weight`` is a table
(``[classes + 1, 512]``) in the same layout on both sides.
"""

import json
import os

import numpy as np
import torch

_DTYPES = {"float32": np.float32, "float16": np.float16, "int32": np.int32}


def load_weights_dir(path):
    """-> (state_dict of float32 CPU tensors in PyTorch layouts, weights.json as a dict)."""
    with open(os.path.join(path, "weights.json")) as f:
        meta = json.load(f)
    sd = {}
    root = os.path.realpath(path)
    for group in meta["weightsManifest"]:
        blobs = []
        for p in group["paths"]:
            full = os.path.realpath(os.path.join(root, p))
            if os.path.dirname(full) != root:
                raise ValueError(f"{path}: shard {p!r} lies outside the weights folder")
            with open(full, "rb") as f:
                blobs.append(f.read())
        buf = b"".join(blobs)
        off = 0
        for w in group["weights"]:
            stored = (w.get("quantization") or {}).get("dtype", w["dtype"])
            dt = np.dtype(_DTYPES[stored])
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            arr = np.frombuffer(buf, dtype=dt, count=n, offset=off).astype(np.float32).reshape(w["shape"])
            off += n * dt.itemsize
            if not np.isfinite(arr).all():
                raise ValueError(f"{path}: {w['name']} holds NaN or Inf")
            if arr.ndim == 4:
                arr = arr.transpose(3, 2, 0, 1)  # [kh,kw,in,out] -> [out,in,kh,kw]; convT alike
            elif arr.ndim == 2 and not w["name"].endswith("class_embedding.weight"):
                arr = arr.T
            sd[w["name"]] = torch.from_numpy(np.ascontiguousarray(arr))
        if off != len(buf):
            raise ValueError(f"{path}: shards hold {len(buf)} bytes, the manifest describes {off}")
    return sd, meta
