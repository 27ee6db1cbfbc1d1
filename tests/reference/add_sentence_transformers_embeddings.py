#!/usr/bin/env python3
"""The sentence-transformers package's own embeddings of tests/data/minilm-style, beside the numpy reference.

Loads tests/data/minilm-style with sentence_transformers.SentenceTransformer (its modules.json: Transformer,
mean Pooling, Normalize without a folder), checks that its ids are the reference's, encodes the reference's
sentences in batches of 3 (padded), and writes each as "sentence_transformers_embedding" into
tests/data/minilm_style_reference.json, with the package versions under "sentence_transformers".

Run from the repository root in a virtual environment with sentence-transformers (and torch):
  python3 tests/reference/add_sentence_transformers_embeddings.py
"""
import json
from pathlib import Path

import numpy as np
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

ROOT = Path(__file__).resolve().parents[2]
REF = ROOT / "tests" / "data" / "minilm_style_reference.json"


def main():
    ref = json.loads(REF.read_text())
    model = SentenceTransformer(str(ROOT / "tests" / "data" / "minilm-style"), device="cpu")
    texts = [e["text"] for e in ref["examples"]]
    for e in ref["examples"]:
        assert model.tokenizer(e["text"])["input_ids"] == e["ids"], e["text"]
    embeddings = model.encode(texts, batch_size=3, convert_to_numpy=True)
    for e, v in zip(ref["examples"], embeddings):
        numpy_ref = np.array(e["embedding"])
        print(f"max |sentence-transformers - numpy| {np.abs(v - numpy_ref).max():.2e}: {e['text'][:40]}")
        e["sentence_transformers_embedding"] = [round(float(x), 9) for x in v]
    ref["sentence_transformers"] = {"sentence_transformers": sentence_transformers.__version__,
                                    "torch": torch.__version__}
    REF.write_text(json.dumps(ref, indent=1) + "\n")


if __name__ == "__main__":
    main()
