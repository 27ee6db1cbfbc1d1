"""A Llama-family decoder forward pass in numpy, written from Hugging Face's
modeling_llama / modeling_qwen2 / modeling_qwen3 (half-split rotary,
rotate_half), sharing no code with octet. Used by the golden-data scripts.

Weights: {"embed", "norm", "head", "layers": [{"input_layernorm", "q", "k", "v", "o",
"post_attention_layernorm", "gate", "up", "down", and optionally "q_bias", "k_bias",
"v_bias" (Qwen2), "q_norm", "k_norm" (Qwen3)}]}; matrices [out, in].
cfg: n_heads, n_kv, head_dim, eps, theta, and optionally rope_scaling (as config.json's: linear or llama3).
"""
import numpy as np


def scaled_inv_freq(inv, scaling):
    """transformers' rope_type "linear" and "llama3" (Llama 3.1's context extension)."""
    if not scaling:
        return inv
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return inv / scaling["factor"]
    assert kind == "llama3", kind
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelen = 2 * np.pi / inv
    smooth = (old / wavelen - low) / (high - low)
    mid = (1 - smooth) * inv / factor + smooth * inv
    return np.where(wavelen < old / high, inv, np.where(wavelen > old / low, inv / factor, mid))


def forward(p, cfg, ids, dtype, cache=None, start=0):
    """Logits of `ids` at positions start.., and the KV cache to continue from."""
    hd, nh, nkv = cfg["head_dim"], cfg["n_heads"], cfg["n_kv"]
    eps, theta = dtype(cfg["eps"]), cfg["theta"]
    x = p["embed"][ids].astype(dtype)
    T = len(ids)
    pos = np.arange(start, start + T)
    inv = scaled_inv_freq(1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd), cfg.get("rope_scaling"))
    ang = np.outer(pos, inv)
    cos = np.concatenate([np.cos(ang)] * 2, axis=-1).astype(dtype)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, axis=-1).astype(dtype)[:, None, :]

    def norm(v, g):
        return (v / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + eps)) * g.astype(dtype)

    def rope(v):
        half = np.concatenate([-v[..., hd // 2:], v[..., :hd // 2]], axis=-1)
        return v * cos + half * sin

    def linear(h, L, name):
        y = h @ L[name].T.astype(dtype)
        return y + L[name + "_bias"].astype(dtype) if name + "_bias" in L else y

    if cache is None:
        cache = [{"k": np.zeros((0, nkv, hd), dtype), "v": np.zeros((0, nkv, hd), dtype)} for _ in p["layers"]]
    for L, c in zip(p["layers"], cache):
        h = norm(x, L["input_layernorm"])
        q = linear(h, L, "q").reshape(T, nh, hd)
        k = linear(h, L, "k").reshape(T, nkv, hd)
        v = linear(h, L, "v").reshape(T, nkv, hd)
        if "q_norm" in L:
            q, k = norm(q, L["q_norm"]), norm(k, L["k_norm"])
        q, k = rope(q), rope(k)
        c["k"] = np.concatenate([c["k"], k])
        c["v"] = np.concatenate([c["v"], v])
        S = c["k"].shape[0]
        out = np.zeros((T, nh, hd), dtype)
        for head in range(nh):
            kv = head // (nh // nkv)
            s = (q[:, head, :] @ c["k"][:, kv, :].T) / np.sqrt(dtype(hd))
            s = s + np.where(np.arange(S)[None, :] > pos[:, None], -np.inf, 0.0).astype(dtype)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            out[:, head, :] = (s / s.sum(axis=-1, keepdims=True)) @ c["v"][:, kv, :]
        x = x + out.reshape(T, nh * hd) @ L["o"].T.astype(dtype)
        h = norm(x, L["post_attention_layernorm"])
        g = h @ L["gate"].T.astype(dtype)
        x = x + ((g / (1 + np.exp(-g))) * (h @ L["up"].T.astype(dtype))) @ L["down"].T.astype(dtype)
    return norm(x, p["norm"]) @ p["head"].T.astype(dtype), cache
