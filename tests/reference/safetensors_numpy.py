"""Safetensors files and numpy arrays, for the golden-data scripts: written (float32 as F32, int64 as I64, int8
as I8, uint8 as U8) and read back (F32 only)."""
import json
import struct
from pathlib import Path

import numpy as np


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, value in tensors.items():
        dtype, layout = {np.dtype(np.int64): ("I64", "<i8"), np.dtype(np.int8): ("I8", "i1"),
                         np.dtype(np.uint8): ("U8", "u1")}.get(value.dtype, ("F32", "<f4"))
        raw = value.astype(layout).tobytes()
        header[name] = {"dtype": dtype, "shape": list(value.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    """Every F32 tensor of a safetensors file, by name."""
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        begin, end = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype=np.float32).reshape(t["shape"])
    return out
