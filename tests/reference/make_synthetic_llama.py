#!/usr/bin/env python3
"""A small random Llama checkpoint in the Hugging Face layout, and its float64 reference.

Covers what the shipped model does not: a separate lm_head, BF16 weights,
two safetensors shards with an index, one key/value head for six query heads,
an explicit head_dim, rope_theta 500000 and an odd vocabulary. The forward
pass follows Hugging Face's LlamaForCausalLM math (rotate_half rotary),
written from its definition in numpy, sharing no code with octet.

usage: make_synthetic_llama.py OUT_DIR REFERENCE.json      needs: python3-numpy
"""
import json
import os
import struct
import sys

import numpy as np

CFG = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=48, intermediate_size=80,
           num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=1, head_dim=8, vocab_size=97,
           max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=500000.0, tie_word_embeddings=False,
           hidden_act="silu", bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16")


def to_bf16_bits(x):
    """float32 -> bfloat16 bit patterns, round to nearest even."""
    b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return b.astype(np.uint16)


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, bits in tensors.items():
        raw = bits.tobytes()
        header[name] = {"dtype": "BF16", "shape": list(bits.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_weights(rng):
    d, f, hd = CFG["hidden_size"], CFG["intermediate_size"], CFG["head_dim"]
    q, kv = CFG["num_attention_heads"] * hd, CFG["num_key_value_heads"] * hd
    w = {"model.embed_tokens.weight": rng.normal(0, 1, (CFG["vocab_size"], d)),
         "lm_head.weight": rng.normal(0, 0.2, (CFG["vocab_size"], d)),
         "model.norm.weight": 1 + rng.normal(0, 0.1, d)}
    for l in range(CFG["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + rng.normal(0, 0.1, d)
        w[p + "post_attention_layernorm.weight"] = 1 + rng.normal(0, 0.1, d)
        w[p + "self_attn.q_proj.weight"] = rng.normal(0, 0.3, (q, d))
        w[p + "self_attn.k_proj.weight"] = rng.normal(0, 0.3, (kv, d))
        w[p + "self_attn.v_proj.weight"] = rng.normal(0, 0.3, (kv, d))
        w[p + "self_attn.o_proj.weight"] = rng.normal(0, 0.2, (d, q))
        w[p + "mlp.gate_proj.weight"] = rng.normal(0, 0.2, (f, d))
        w[p + "mlp.up_proj.weight"] = rng.normal(0, 0.2, (f, d))
        w[p + "mlp.down_proj.weight"] = rng.normal(0, 0.2, (d, f))
    return {k: to_bf16_bits(v) for k, v in w.items()}


def forward(w, ids):
    """Logits [len(ids), vocab] of a causal forward pass over ids at positions 0.."""
    H, KV, hd = CFG["num_attention_heads"], CFG["num_key_value_heads"], CFG["head_dim"]
    T = len(ids)

    def norm(x, g):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + CFG["rms_norm_eps"]) * g

    inv_freq = 1.0 / CFG["rope_theta"] ** (np.arange(0, hd, 2) / hd)
    ang = np.outer(np.arange(T), inv_freq)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

    def rope(x):  # x [T, heads, hd]
        rot = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)
        return x * cos[:, None, :] + rot * sin[:, None, :]

    x = w["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(CFG["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = norm(x, w[p + "input_layernorm.weight"])
        q = rope((h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, H, hd))
        k = rope((h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, KV, hd))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, KV, hd)
        out = np.empty((T, H, hd))
        for head in range(H):
            g = head // (H // KV)
            s = q[:, head] @ k[:, g].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, head] = (s / s.sum(-1, keepdims=True)) @ v[:, g]
        x = x + out.reshape(T, -1) @ w[p + "self_attn.o_proj.weight"].T
        h = norm(x, w[p + "post_attention_layernorm.weight"])
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    return norm(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def main():
    out_dir, ref_path = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20261122)
    bits = make_weights(rng)
    names = sorted(bits)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for shard, shard_names in shards.items():
        write_safetensors(os.path.join(out_dir, shard), {n: bits[n] for n in shard_names})
        weight_map.update({n: shard for n in shard_names})
    json.dump({"metadata": {}, "weight_map": weight_map}, open(os.path.join(out_dir, "model.safetensors.index.json"), "w"), indent=1)
    json.dump(CFG, open(os.path.join(out_dir, "config.json"), "w"), indent=2)

    w = {k: from_bf16_bits(v) for k, v in bits.items()}
    prompt = [1] + [int(i) for i in rng.integers(3, CFG["vocab_size"], 11)]
    logits = forward(w, prompt)
    ids = list(prompt)
    for _ in range(20):  # greedy, recomputing the whole prefix each step: no cache to get wrong
        ids.append(int(np.argmax(forward(w, ids)[-1])))
    json.dump({"source": "tests/reference/make_synthetic_llama.py (numpy float64)", "prompt_ids": prompt,
               "prompt_logits": logits.tolist(), "greedy_ids": ids[len(prompt):]}, open(ref_path, "w"))


if __name__ == "__main__":
    main()
