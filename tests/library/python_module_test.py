#!/usr/bin/env python3
"""The installed `octet` Python module (CTest library_python): Classifier and
Generator give what the command line gives for the same inputs; streaming,
chat, perplexity, errors as exceptions, and the GIL released while octet
computes. Run with the installed module first on PYTHONPATH.

  python_module_test.py PREFIX OCTET_BINARY
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading

PROMPT = "Once upon a time"
STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
         "One day, she saw a big red ball under a tree. She ran to get it, but a dog took the ball and ran away. "
         "Lily was sad. Her mom said, \"Don't worry, we will find a new ball.\" They went to the shop and "
         "bought a blue ball. Lily was happy again and played with her new ball all day.")


def cli(octet, *args):
    r = subprocess.run([octet, *args], capture_output=True, text=True)
    assert r.returncode == 0, f"octet {' '.join(args)}: {r.stderr}"
    return r.stdout


def texts_from_reference(source_dir):
    with open(pathlib.Path(source_dir) / "tests" / "data" / "sst2-mini-reference.json") as f:
        return [e["text"] for e in json.load(f)["examples"]]


def main(prefix, octet, source_dir):
    import octet as lib  # the installed module (PYTHONPATH)
    assert pathlib.Path(lib.__file__).resolve().is_relative_to(pathlib.Path(prefix).resolve()), lib.__file__
    print(f"octet {lib.__version__} from {lib.__file__}")

    # Classifier: the sst2-mini model that ships with octet, as `octet classify`.
    classifier = lib.Classifier()
    assert classifier.labels == ["negative", "positive"], classifier.labels
    texts = texts_from_reference(source_dir)
    results = classifier.classify(texts)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(texts) + "\n")
    try:
        expected = [json.loads(line) for line in cli(octet, "classify", "-i", f.name).splitlines()]
    finally:
        os.unlink(f.name)
    assert len(results) == len(expected) == len(texts)
    for r, e in zip(results, expected):
        assert r == {"label": e["label"], "score": e["score"]}, (r, e)
    print(f"classify: {len(texts)} texts, labels and scores equal `octet classify`'s")
    embedding = classifier.embed(texts[:2])
    assert len(embedding) == 2 and len(embedding[0]) == 2  # with a head: the logits

    # Generator: tinystories-mini, greedy and seeded sampling, as `octet generate`.
    generator = lib.Generator()
    greedy = generator.generate(PROMPT, max_tokens=40, temperature=0)
    assert cli(octet, "generate", "-p", PROMPT, "-n", "40", "--temp", "0") == PROMPT + greedy + "\n"
    sampled = generator.generate(PROMPT, max_tokens=40, temperature=0.8, seed=7)
    assert cli(octet, "generate", "-p", PROMPT, "-n", "40", "--temp", "0.8", "--seed", "7") == PROMPT + sampled + "\n"
    assert sampled != greedy
    stream = generator.stream(PROMPT, max_tokens=40, temperature=0)
    pieces = list(stream)
    assert "".join(pieces) == greedy and len(pieces) > 5, pieces
    assert stream.result["stop_reason"] in ("length", "eos") and stream.result["text"] == greedy, stream.result
    print(f"generate: greedy and seeded text equal `octet generate`'s; the stream gave {len(pieces)} pieces")

    # Perplexity, as `octet perplexity`.
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(STORY)
    try:
        expected = json.loads(cli(octet, "perplexity", "-f", f.name, "-c", "32", "--json"))
    finally:
        os.unlink(f.name)
    score = generator.perplexity(STORY, window=32)
    assert score["tokens"] == expected["tokens"] and abs(score["perplexity"] / expected["perplexity"] - 1) < 1e-12, (
        score, expected)
    print(f"perplexity {score['perplexity']:.4f} over {score['tokens']} tokens, as `octet perplexity`")

    # A chat keeps the conversation.
    chat = lib.Chat(generator)
    answer = chat.reply("Tom had a dog.", max_tokens=12, temperature=0)
    assert isinstance(answer, str) and chat.messages == [("user", "Tom had a dog."), ("assistant", answer)], chat.messages
    assert chat.format == "plain"

    # Errors are octet.Error, with octet's message.
    for make, words in [(lambda: lib.Classifier(model="/nonexistent/model"), "/nonexistent/model"),
                        (lambda: lib.Generator(quant="int9"), "int9"),
                        (lambda: lib.Classifier(model=str(pathlib.Path(prefix) / "share" / "octet" / "models" /
                                                          "tinystories-mini")), "decoder"),
                        (lambda: generator.generate(PROMPT, top_p=2.0), "top-p"),
                        (lambda: classifier.classify(["fine", ""]), "text 1")]:
        try:
            make()
        except lib.Error as e:
            assert words in str(e), str(e)
        else:
            raise AssertionError(f"no octet.Error mentioning {words}")
    short = lib.Generator(context=8)
    try:
        short.generate(STORY)
    except lib.ContextFullError as e:
        assert isinstance(e, lib.Error) and "context" in str(e), e
    else:
        raise AssertionError("a prompt longer than the context was accepted")
    print("errors: octet.Error and octet.ContextFullError with octet's messages")

    # The GIL is free while octet computes: this thread counts meanwhile.
    done = threading.Event()
    count = 0
    worker = threading.Thread(target=lambda: (generator.generate(PROMPT, max_tokens=200, temperature=0), done.set()))
    worker.start()
    while not done.is_set():
        count += 1
    worker.join()
    assert count > 1000, f"the main thread ran only {count} times while octet generated"

    # Threads share one Generator: two requests batched together give their own texts.
    pair = lib.Generator(parallel=2)
    outputs = [None, None]
    prompts = [PROMPT, "The little dog"]
    threads = [threading.Thread(target=lambda i=i: outputs.__setitem__(
        i, pair.generate(prompts[i], max_tokens=30, temperature=0))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outputs[0] == generator.generate(PROMPT, max_tokens=30, temperature=0)
    assert outputs[1] == generator.generate(prompts[1], max_tokens=30, temperature=0)
    print(f"threads: the GIL was free (the main thread counted {count}); two threads' requests batched correctly")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
