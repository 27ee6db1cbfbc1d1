#!/usr/bin/env python3
"""Independent float64 reference for llama2.c legacy checkpoints (stories260K).

Written from the llama2.c file layout and Meta's original model.py math
(rotary embedding as complex multiplication of adjacent pairs), sharing no
code with octet. Writes greedy ids from BOS, the logits of the first steps, and
each step's margin between its two largest logits (a float32 engine may choose
the other at a near-tie).
With --kv-fp8, every key (after rotation) and value is stored in the cache as
FP8 E4M3 with one scale per token and key/value head (absmax / 448), the way
the OCP FP8 spec rounds (nearest even, saturating): octet's --kv-cache fp8.

usage: llama2c_reference.py CHECKPOINT.bin OUT.json [--steps N] [--logit-steps K] [--kv-fp8]
needs: Debian's python3-numpy
"""
import argparse
import hashlib
import json
import struct

import numpy as np


def load(path):
    raw = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    w = np.frombuffer(raw[28:], dtype=np.float32).astype(np.float64)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        out = w[pos:pos + n].reshape(shape)
        pos += n
        return out

    p = {}
    p["emb"] = take(vocab, dim)
    p["att_norm"] = take(n_layers, dim)
    p["wq"] = take(n_layers, n_heads * hd, dim)
    p["wk"] = take(n_layers, n_kv * hd, dim)
    p["wv"] = take(n_layers, n_kv * hd, dim)
    p["wo"] = take(n_layers, dim, n_heads * hd)
    p["ffn_norm"] = take(n_layers, dim)
    p["w1"] = take(n_layers, hidden, dim)
    p["w2"] = take(n_layers, dim, hidden)
    p["w3"] = take(n_layers, hidden, dim)
    p["norm"] = take(dim)
    take(seq_len, hd // 2)
    take(seq_len, hd // 2)
    p["cls"] = p["emb"] if shared else take(vocab, dim)
    assert pos == w.size, "file size does not match the header"
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, vocab=vocab,
               seq_len=seq_len, hd=hd)
    return cfg, p


def rmsnorm(x, g, eps=1e-5):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def rotate(x, pos, hd, theta=10000.0):
    # x: [heads, hd]; adjacent pairs (2i, 2i+1) are one complex number.
    freqs = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    rot = np.exp(1j * pos * freqs)
    z = (x[:, 0::2] + 1j * x[:, 1::2]) * rot
    out = np.empty_like(x)
    out[:, 0::2] = z.real
    out[:, 1::2] = z.imag
    return out


def e4m3(x):
    """x rounded to the nearest E4M3 value (ties to even), saturating at 448."""
    a = np.abs(x)
    exponent = np.maximum(np.floor(np.log2(np.maximum(a, 1e-300))), -6)  # below 2^-6: subnormal spacing
    step = 2.0 ** (exponent - 3)  # 3 mantissa bits
    return np.sign(x) * np.minimum(np.round(a / step) * step, 448.0)  # np.round: ties to even


def fp8_rows(x):
    """Each row of x [heads, hd] as E4M3 codes times absmax / 448 of the row."""
    scale = np.abs(x).max(axis=1, keepdims=True) / 448.0
    safe = np.where(scale > 0, scale, 1.0)
    return e4m3(x / safe) * scale


def run(cfg, p, steps, logit_steps, kv_fp8=False):
    L, H, KV, hd = cfg["n_layers"], cfg["n_heads"], cfg["n_kv"], cfg["hd"]
    k_cache = np.zeros((L, cfg["seq_len"], KV, hd))
    v_cache = np.zeros((L, cfg["seq_len"], KV, hd))
    token, ids, logits_out, margins = 1, [], [], []
    for pos in range(steps):
        x = p["emb"][token].copy()
        for l in range(L):
            h = rmsnorm(x, p["att_norm"][l])
            q = rotate((p["wq"][l] @ h).reshape(H, hd), pos, hd)
            k = rotate((p["wk"][l] @ h).reshape(KV, hd), pos, hd)
            v = (p["wv"][l] @ h).reshape(KV, hd)
            if kv_fp8:
                k, v = fp8_rows(k), fp8_rows(v)
            k_cache[l, pos], v_cache[l, pos] = k, v
            att = np.empty((H, hd))
            for head in range(H):
                kvh = head // (H // KV)
                s = k_cache[l, :pos + 1, kvh] @ q[head] / np.sqrt(hd)
                s = np.exp(s - s.max())
                s /= s.sum()
                att[head] = s @ v_cache[l, :pos + 1, kvh]
            x = x + p["wo"][l] @ att.reshape(-1)
            h = rmsnorm(x, p["ffn_norm"][l])
            g = p["w1"][l] @ h
            x = x + p["w2"][l] @ (g / (1 + np.exp(-g)) * (p["w3"][l] @ h))
        logits = p["cls"] @ rmsnorm(x, p["norm"])
        if pos < logit_steps:
            logits_out.append([float(v) for v in logits])
        token = int(np.argmax(logits))
        ids.append(token)
        top2 = np.sort(logits)[-2:]
        margins.append(float(top2[1] - top2[0]))
    return ids, logits_out, margins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--logit-steps", type=int, default=8)
    ap.add_argument("--kv-fp8", action="store_true")
    a = ap.parse_args()
    cfg, p = load(a.checkpoint)
    ids, logits, margins = run(cfg, p, a.steps, a.logit_steps, a.kv_fp8)
    source = "tests/reference/llama2c_reference.py (numpy float64{}), greedy from BOS".format(
        ", --kv-fp8" if a.kv_fp8 else "")
    json.dump({"source": source,
               "checkpoint_sha256": hashlib.sha256(open(a.checkpoint, "rb").read()).hexdigest(), "greedy_ids": ids, "step_logits": logits,
               "top2_margins": margins},
              open(a.out, "w"))


if __name__ == "__main__":
    main()
