#!/usr/bin/env python3
"""A sentence-transformers directory shaped as the hub ships all-MiniLM-L6-v2, and its embeddings.

  tests/data/minilm-style/   config.json (BertModel, as transformers writes it), model.safetensors
                             (random float32 weights under BertModel's names, no prefix, with the
                             int64 buffer embeddings.position_ids), vocab.txt, tokenizer_config.json,
                             modules.json (Transformer, Pooling, Normalize; no 2_Normalize folder),
                             1_Pooling/config.json (mean)
  tests/data/minilm_style_reference.json
                             sentences, their ids from Hugging Face's tokenizers (BertWordPieceTokenizer,
                             lower-cased), and the embeddings of an independent float64 numpy BERT
                             (post-LayerNorm, exact GELU) mean-pooled over real tokens and L2-normalized,
                             as sentence-transformers computes them

Run from the repository root in a virtual environment with numpy and tokenizers:
  python3 tests/reference/make_minilm_style_golden.py
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
from tokenizers import BertWordPieceTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from safetensors_numpy import write_safetensors  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data"
DIR = OUT / "minilm-style"

WORDS = ("the a an is was it this that film movie story good bad great terrible charming bleak journey "
         "and but not very so of to in on with for about love hate fun boring funny sad happy long short "
         "actor actors plot music scene scenes end ending , . ! ? ' s un ##able ##s ##ing ##ed ##ly").split()
SENTENCES = ["it's a charming and often affecting journey.", "unflinchingly bleak and desperate",
             "The film was very good!", "a boring, long movie with a sad ending", "I loved the music.",
             "not funny at all", "Actors, plot and scenes: great fun", "so so"]


def layer_norm(x, w, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def bert(w, ids, cfg):
    d, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    hd, T = d // nh, len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T] + \
        w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        lin = lambda v, n: v @ w[p + n + ".weight"].T + w[p + n + ".bias"]  # noqa: E731
        q, k, v = (lin(x, f"attention.self.{n}").reshape(T, nh, hd) for n in ("query", "key", "value"))
        s = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        a = np.einsum("hqk,khd->qhd", s / s.sum(-1, keepdims=True), v).reshape(T, d)
        x = layer_norm(x + lin(a, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"])
        h = lin(gelu(lin(x, "intermediate.dense")), "output.dense")
        x = layer_norm(x + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    e = x.mean(0)  # every token is real: one sentence at a time
    return e / max(np.linalg.norm(e), 1e-12)


def main():
    rng = np.random.default_rng(20261204)
    DIR.mkdir(exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    (DIR / "vocab.txt").write_text("\n".join(vocab) + "\n")
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
           "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu", "max_position_embeddings": 64,
           "type_vocab_size": 2, "vocab_size": len(vocab), "layer_norm_eps": 1e-12, "pad_token_id": 0,
           "position_embedding_type": "absolute", "torch_dtype": "float32", "transformers_version": "4.46.0"}
    (DIR / "config.json").write_text(json.dumps(cfg, indent=2))
    (DIR / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": True, "cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]",
         "pad_token": "[PAD]", "mask_token": "[MASK]", "model_max_length": 64,
         "tokenizer_class": "BertTokenizer"}, indent=2))
    (DIR / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], indent=2))
    (DIR / "1_Pooling").mkdir(exist_ok=True)
    (DIR / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
         "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, indent=2))
    d, f, V = 32, 64, len(vocab)
    w = {"embeddings.word_embeddings.weight": rng.standard_normal((V, d)) * 0.5,
         "embeddings.position_embeddings.weight": rng.standard_normal((64, d)) * 0.1,
         "embeddings.token_type_embeddings.weight": rng.standard_normal((2, d)) * 0.1,
         "embeddings.LayerNorm.weight": 1 + 0.1 * rng.standard_normal(d),
         "embeddings.LayerNorm.bias": 0.1 * rng.standard_normal(d),
         "pooler.dense.weight": rng.standard_normal((d, d)) / math.sqrt(d), "pooler.dense.bias": np.zeros(d)}
    for l in range(2):
        p = f"encoder.layer.{l}."
        for name, (o, i) in {"attention.self.query": (d, d), "attention.self.key": (d, d),
                             "attention.self.value": (d, d), "attention.output.dense": (d, d),
                             "intermediate.dense": (f, d), "output.dense": (d, f)}.items():
            w[p + name + ".weight"] = rng.standard_normal((o, i)) / math.sqrt(i)
            w[p + name + ".bias"] = 0.1 * rng.standard_normal(o)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + name + ".weight"] = 1 + 0.1 * rng.standard_normal(d)
            w[p + name + ".bias"] = 0.1 * rng.standard_normal(d)
    w = {k: v.astype(np.float32) for k, v in w.items()}
    tensors = dict(w)
    tensors["embeddings.position_ids"] = np.arange(64, dtype=np.int64).reshape(1, 64)  # the hub's buffer
    write_safetensors(DIR / "model.safetensors", tensors, {"format": "pt"})

    tok = BertWordPieceTokenizer(str(DIR / "vocab.txt"), lowercase=True)
    w64 = {k: v.astype(np.float64) for k, v in w.items()}
    examples = []
    for s in SENTENCES:
        ids = tok.encode(s).ids
        examples.append({"text": s, "ids": ids, "embedding": [round(float(v), 9) for v in bert(w64, ids, cfg)]})
    (OUT / "minilm_style_reference.json").write_text(json.dumps({"examples": examples}, indent=1))


if __name__ == "__main__":
    main()
