#!/usr/bin/env python3
"""tests/data/sparse24_bitmask.safetensors: a 2:4 int8 weight as compressed-tensors' sparse-24-bitmask
format stores it, made with numpy alone (the rule of compressed_tensors' sparse24_bitmask_compress and
pack_bitmasks): `dense` [3, 20], and `w.compressed` (the kept values, row-major), `w.bitmask`
(numpy.packbits of the keep mask along rows, bitorder "little") and `w.shape` (int64 [2, 1]).
Every group of 4 keeps exactly 2 nonzeros, so the choice of kept values is the same in any implementation.

Run from the repository root in a virtual environment with numpy:
  python3 tests/reference/make_sparse24_golden.py
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from safetensors_numpy import write_safetensors  # noqa: E402

rng = np.random.default_rng(24)
rows, cols = 3, 20
dense = np.zeros((rows, cols), dtype=np.int8)
for r in range(rows):
    for g in range(cols // 4):
        kept = rng.choice(4, size=2, replace=False)
        values = rng.integers(1, 128, size=2) * rng.choice([-1, 1], size=2)
        dense[r, 4 * g + kept] = values
mask = dense != 0
write_safetensors(Path("tests/data/sparse24_bitmask.safetensors"), {
    "dense": dense,
    "w.compressed": dense[mask].reshape(rows, cols // 2),
    "w.bitmask": np.packbits(mask, axis=-1, bitorder="little"),
    "w.shape": np.array([rows, cols], dtype=np.int64).reshape(-1, 1),
})
