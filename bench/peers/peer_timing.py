"""Timing shared by the peer scripts: sentences per second of one inference call."""

import time


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
