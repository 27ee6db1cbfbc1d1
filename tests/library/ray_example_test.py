#!/usr/bin/env python3
"""examples/ray/classify_dataset.py in local mode on 2 workers (CTest
library_ray_example): a dataset split in 4 partitions gets the labels
`octet classify` gives for the same texts. The texts are SST-2's dev set from
../shared where present, else the sst2-mini reference examples.

Exits 77 (skipped, saying why) where Ray cannot be imported, except under CI
(where test.sh installs it), where that is a failure.

  ray_example_test.py SOURCE_DIR OCTET_BINARY   (octet's module on PYTHONPATH)
"""
import csv
import glob
import json
import os
import pathlib
import subprocess
import sys
import tempfile

try:
    import ray  # noqa: F401
except ImportError:
    why = (f"Ray is not installed for {sys.executable} "
           "(python3 -m venv V && V/bin/pip install 'ray[data]', then OCTET_PYTHON=V/bin/python)")
    if os.environ.get("CI"):
        sys.exit("FAILED: " + why)
    print("SKIPPED: " + why)
    sys.exit(77)

# Labels may differ from the command line's only where the two classes are
# this close: the workers batch other texts together than `octet classify`
# does, and float sums in other orders differ in the last bits.
TIE = 1e-5


def load_texts(source_dir):
    shared = pathlib.Path(os.environ.get("OCTET_SHARED_DIR", pathlib.Path(source_dir).parent / "shared"))
    dev = shared / "data" / "sst2_dev.tsv"
    if dev.exists():
        with open(dev, newline="") as f:
            return [row["sentence"] for row in csv.DictReader(f, delimiter="\t")], str(dev)
    with open(pathlib.Path(source_dir) / "tests" / "data" / "sst2-mini-reference.json") as f:
        return [e["text"] for e in json.load(f)["examples"]], "tests/data/sst2-mini-reference.json"


def main(source_dir, octet):
    texts, origin = load_texts(source_dir)
    with tempfile.TemporaryDirectory() as tmp:
        parts = pathlib.Path(tmp) / "parts"
        parts.mkdir()
        n_parts = 4
        per = (len(texts) + n_parts - 1) // n_parts
        for p in range(n_parts):
            with open(parts / f"part-{p}.jsonl", "w") as f:
                for i in range(p * per, min(len(texts), (p + 1) * per)):
                    f.write(json.dumps({"id": i, "text": texts[i]}) + "\n")
        out = pathlib.Path(tmp) / "labelled"
        r = subprocess.run([sys.executable, pathlib.Path(source_dir) / "examples" / "ray" / "classify_dataset.py",
                            parts, out, "--workers", "2", "--batch", "64"], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"classify_dataset.py failed:\n{r.stdout}\n{r.stderr}"
        rows = []
        for name in sorted(glob.glob(str(out / "*.json*"))):
            with open(name) as f:
                rows += [json.loads(line) for line in f if line.strip()]
        rows.sort(key=lambda row: row["id"])
        assert [row["id"] for row in rows] == list(range(len(texts))), "rows lost or repeated"

        lines = pathlib.Path(tmp) / "all.jsonl"
        lines.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        c = subprocess.run([octet, "classify", "-i", lines], capture_output=True, text=True)
        assert c.returncode == 0, c.stderr
        expected = [json.loads(line) for line in c.stdout.splitlines()]
    assert len(expected) == len(rows)
    ties = 0
    for row, e in zip(rows, expected):
        if row["label"] != e["label"]:
            assert abs(e["score"] - 0.5) < TIE and abs(row["score"] - 0.5) < TIE, (row, e)
            ties += 1
        assert abs(row["score"] - e["score"]) < TIE, (row, e)
    print(f"{len(rows)} texts ({origin}) in {n_parts} partitions on 2 Ray workers: the labels of `octet classify`"
          f" ({ties} near-ties differ), scores within {TIE}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
