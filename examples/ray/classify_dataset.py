#!/usr/bin/env python3
"""Classify a partitioned dataset with octet on Ray Data.

INPUT is a directory of JSON-lines files (or one file), one object per text with a
"text" field; every other field (an "id", say) is kept. OUTPUT is a directory that
receives JSON-lines files: each input object with "label" and "score" added.

Each Ray worker process loads octet once (an actor per worker) and classifies the
batches it is given; Ray spreads the partitions over the workers.

  python classify_dataset.py INPUT OUTPUT [--model DIR] [--quant int8] [--workers 2]

Without --model it runs the sst2-mini sentiment classifier that ships with octet.
See README.md for running it on a cluster.
"""
import argparse

import ray


class OctetClassifier:
    """One per worker process: the model loads once, then classifies batch after batch."""

    def __init__(self, model, quant, threads):
        import octet  # in the worker, where the octet module must be importable

        self.classifier = octet.Classifier(model=model, quant=quant, threads=threads)

    def __call__(self, batch):  # a pandas DataFrame with a "text" column
        results = self.classifier.classify([str(t) for t in batch["text"]])
        batch["label"] = [r["label"] for r in results]
        batch["score"] = [r["score"] for r in results]
        return batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="JSON-lines file, or a directory of them, with a \"text\" field")
    parser.add_argument("output", help="directory for the labelled JSON-lines files")
    parser.add_argument("--model", default=None, help="encoder directory (default: octet's sst2-mini)")
    parser.add_argument("--quant", default="f32", help="f32, w8, int8 or fp8 (default f32)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, each with its own octet")
    parser.add_argument("--threads-per-worker", type=int, default=1, help="octet's CPU threads in each worker")
    parser.add_argument("--batch", type=int, default=64, help="texts per batch handed to a worker")
    parser.add_argument("--address", default=None,
                        help="a running Ray cluster (\"auto\" on a cluster node); default: a local one")
    args = parser.parse_args()

    if args.address:
        ray.init(address=args.address)
    else:
        # The workers' CPUs, and one for the tasks that read and write the partitions.
        ray.init(num_cpus=args.workers * args.threads_per_worker + 1, include_dashboard=False)
    dataset = ray.data.read_json(args.input)
    labelled = dataset.map_batches(
        OctetClassifier,
        fn_constructor_kwargs={"model": args.model, "quant": args.quant, "threads": args.threads_per_worker},
        concurrency=args.workers,
        num_cpus=args.threads_per_worker,
        batch_size=args.batch,
        batch_format="pandas",
    )
    labelled.write_json(args.output)
    print(f"labelled texts written to {args.output}")


if __name__ == "__main__":
    main()
