#!/usr/bin/env python3
"""Golden ids for octet's byte-level BPE tokenizer, from Hugging Face's `tokenizers`.

Makes two small test tokenizers (trained here on the TinyStories head and the
test strings themselves) and records, for them and for SmolLM2's real
tokenizer.json, the ids `tokenizers` gives for every test string:

  tests/data/bpe/gpt2_style.json    ByteLevel pre-tokenizer (GPT-2's regex), merges in the "a b" string form
  tests/data/bpe/llama3_style.json  NFC, Split with Llama 3's regex, ByteLevel without its regex,
                                    ignore_merges, TemplateProcessing BOS, special and lstrip/rstrip added tokens
  tests/data/bpe_golden.json        strings, and per tokenizer: ids, ids with specials, decoded text

Run from the repository root in a virtual environment with `tokenizers`:
  python3 tests/reference/make_bpe_golden.py [SHARED_DIR]
"""
import json
import random
import sys
import unicodedata
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import AddedToken

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
OUT = ROOT / "tests" / "data"

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def tricky_strings():
    base = [
        "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t x", "a  b", "a   b", "a \t b", "a\n\n\nb",
        "hello world", "Hello World", "HELLO WORLD", " leading space", "trailing space ", "  both  ",
        "It's", "it's", "IT'S", "I'm", "you're", "we've", "they'll", "he'd", "don't", "won't", "'s", "''", "'''",
        "1", "12", "123", "1234", "12345", "3.14159", "1,000,000", "-42", "+7", "0x1F", "2024-12-04", "v1.2.3",
        "a1b2c3", "abc123def", "١٢٣", "٣.١٤", "Ⅻ", "½", "²³",
        "café", "naïve", "Ångström", "résumé", "e\u0301", "cafe\u0301", "n\u0303", "A\u030A", "\u0301",
        "Zürich", "São Paulo", "Œuvre", "ß", "ǅ",
        "日本語", "中文字符", "한국어", "こんにちは世界", "你好，世界！", "漢字かな交じり文",
        "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "😀😀😀", "emoji 😀 in text", "✓ ✗ ★",
        "!!!", "...", "?!", "@#$%^&*()", "<|endoftext>?", "a-b_c", "foo.bar(baz)", "x=y+z", "[1, 2, 3]",
        "{\"key\": \"value\"}", "<html><body></body></html>", "C:\\path\\to\\file", "https://example.com/a?b=c",
        "user@example.com", "#hashtag", "$100.00", "€50", "£20", "¥1000", "§3", "©®™",
        "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "a" * 50, "ab" * 40, " " * 20, "\n" * 10, "1" * 30, "😀" * 12,
        "Once upon a time, there was a little girl named Lily.", "The quick brown fox jumps over the lazy dog.",
        "def f(x):\n    return x * 2\n", "int main() {\n\treturn 0;\n}\n", "    indented", "\tTabbed",
        "mixed\u00a0nbsp", "zero\u200bwidth", "line\u2028sep", "ideographic\u3000space", "\u00a0",
        "Ελληνικά", "Русский язык", "עברית", "العربية", "हिन्दी", "ไทย",
    ]
    rng = random.Random(20261204)
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + list(" \t\n") * 6 +
            list(".,;:!?'\"-()[]{}<>/\\@#$%&*+=_~^|`") +
            ["é", "ü", "ñ", "ç", "ø", "\u0301", "\u0308", "日", "本", "中", "한", "😀", "👍", "€", "½", "١", "’s", "'S",
             "'ll", "  ", "\n\n", "\r\n"])
    words = ["the", "The", "and", "story", "Lily", "tokens", "BPE", "don't", "I'm", "1990s", "naïve", "über"]
    generated = []
    while len(base) + len(generated) < 330:
        n = rng.randint(1, 24)
        parts = [rng.choice(pool) if rng.random() < 0.7 else " " + rng.choice(words) for _ in range(n)]
        generated.append("".join(parts))
    return base + generated


SPECIAL_STRINGS = [
    "<|begin_of_text|>Hello", "Hi<|eot_id|>", "a <|eot_id|> b", "<|endoftext|>", "x<|endoftext|>y",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", "<tool>  call", "left   <tool>right",
    "<|eot_id|><|eot_id|>", "<|begin_of_text|><|eot_id|>",
]


def train(tokenizer, texts, vocab_size, specials):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def gpt2_style(texts):
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=True)
    train(t, texts, 700, ["<|endoftext|>"])
    path = OUT / "bpe" / "gpt2_style.json"
    t.save(str(path))
    # The older "a b" string form of merges, which tokenizers still reads.
    j = json.loads(path.read_text())
    j["model"]["merges"] = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in j["model"]["merges"]]
    path.write_text(json.dumps(j, ensure_ascii=False, indent=1))
    return path


def llama3_style(texts):
    t = Tokenizer(models.BPE(ignore_merges=True))
    t.normalizer = normalizers.Sequence([normalizers.NFC()])
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    t.decoder = decoders.ByteLevel()
    train(t, texts, 800, ["<|begin_of_text|>", "<|eot_id|>"])
    t.add_tokens([AddedToken("<tool>", lstrip=True, rstrip=True, special=False, normalized=False)])
    bos = t.token_to_id("<|begin_of_text|>")
    t.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    path = OUT / "bpe" / "llama3_style.json"
    t.save(str(path))
    return path


def main():
    strings = tricky_strings()
    corpus = (SHARED / "data" / "tinystories_val_head.txt").read_text()[:200_000].split("\n\n") + strings * 3
    files = {
        "gpt2_style": gpt2_style(corpus),
        "llama3_style": llama3_style(corpus),
        "smollm2": SHARED / "models" / "smollm2-135m-instruct" / "tokenizer.json",
    }
    golden = {"strings": strings, "special_strings": SPECIAL_STRINGS, "tokenizers": {}}
    for name, path in files.items():
        tok = Tokenizer.from_file(str(path))
        plain = [tok.encode(s, add_special_tokens=False).ids for s in strings]
        golden["tokenizers"][name] = {
            "file": str(path.relative_to(ROOT)) if name != "smollm2" else "models/smollm2-135m-instruct/tokenizer.json",
            "shared": name == "smollm2",
            "ids": plain,
            "decoded": [tok.decode(ids, skip_special_tokens=False) for ids in plain],
            "special_ids": [tok.encode(s, add_special_tokens=False).ids for s in SPECIAL_STRINGS],
            "framed_ids": tok.encode("Hello world", add_special_tokens=True).ids,
        }
    (OUT / "bpe_golden.json").write_text(json.dumps(golden, ensure_ascii=False, indent=None))
    print(f"{len(strings)} strings, {len(SPECIAL_STRINGS)} with specials; tokenizers: {', '.join(files)}")


if __name__ == "__main__":
    main()
