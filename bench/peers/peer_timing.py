"""What the BERT peer scripts share: their command line, and sentences per second of one inference call."""

import argparse
import time


def parse_arguments(doc, variants):
    """The peer scripts' options (threads, sequence length, batches, timed
    seconds, variants; `variants` the default list), parsed."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per (variant, batch)")
    parser.add_argument("--variants", default=variants)
    return parser.parse_args()


def sentences_per_second(infer, batch, seconds):
    """Calls infer() (one batch of `batch` sentences) twice untimed, then for at
    least `seconds` and three calls; returns sentences per second."""
    for _ in range(2):  # warm-up
        infer()
    runs, start = 0, time.perf_counter()
    while True:
        infer()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and runs >= 3:
            return runs * batch / elapsed
