"""What the BERT peer scripts share: their command line, and sentences per second of one inference call."""

import argparse
import os
import subprocess
import time


def parse_arguments(doc, variants, rounds=False):
    """The peer scripts' options (threads, sequence length, batches, timed
    seconds, variants; `variants` the default list), parsed; with `rounds`,
    also --rounds and --between (see between_rounds)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per (variant, batch)")
    parser.add_argument("--variants", default=variants)
    if rounds:
        parser.add_argument("--rounds", type=int, default=1, help="times each (variant, batch) is timed")
        parser.add_argument("--between", default="", help="a shell command run after each timing, BATCH set")
    return parser.parse_args()


def between_rounds(args, batch):
    """Runs args.between (if any) with BATCH in its environment: another
    engine's timing of the same batch, right after this one's, so that a
    host whose speed drifts between minutes slows both alike."""
    if args.between:
        subprocess.run(args.between, shell=True, check=True, env=dict(os.environ, BATCH=str(batch)))


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
