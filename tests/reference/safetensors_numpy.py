"""Writes a safetensors file from numpy arrays (float32 as F32, int64 as I64), for the golden-data scripts."""
import json
import struct

import numpy as np


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, value in tensors.items():
        dtype = "I64" if value.dtype == np.int64 else "F32"
        raw = value.astype("<i8" if dtype == "I64" else "<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(value.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
