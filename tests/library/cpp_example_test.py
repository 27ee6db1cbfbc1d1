#!/usr/bin/env python3
"""The installed C++ package as a user meets it (CTest library_cpp_example):
only octet's own headers are installed, each compiles on its own with -Wall
-Wextra, examples/cpp configures and builds with find_package(octet) and with
pkg-config, and its results equal the command line's for the same inputs; the
installed binary finds the models that ship with it.

  cpp_example_test.py PREFIX SOURCE_DIR OCTET_BINARY CXX SANITIZE(1|0)
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

PROMPT = "Once upon a time"
TEXTS = ["it 's a charming and often affecting journey .", "unflinchingly bleak and desperate",
         "the acting , costumes , music , cinematography and sound are all astounding"]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def main(prefix, source, octet, cxx, sanitize):
    prefix = pathlib.Path(prefix)
    # A program that links the sanitized liboctet must be built with the sanitizers too (ASan comes first).
    sanitize_flags = ["-fsanitize=address,undefined"] if sanitize == "1" else []
    env = dict(os.environ)
    env.pop("OCTET_ASSETS_DIR", None)

    headers = sorted((prefix / "include").rglob("*"))
    headers = [h for h in headers if h.is_file()]
    names = sorted(h.relative_to(prefix / "include").as_posix() for h in headers)
    assert names and all(n.startswith("octet/") and n.endswith(".h") for n in names), names
    for name in names:  # each header, alone in a file, includes what it uses, and nothing warns
        run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++", "-I", prefix / "include",
             "-"], input=f"#include <{name}>\n")
    print(f"{len(headers)} installed headers compile on their own: {', '.join(names)}")

    with tempfile.TemporaryDirectory() as tmp:
        build = pathlib.Path(tmp) / "build"
        run(["cmake", "-S", pathlib.Path(source) / "examples" / "cpp", "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}",
             f"-DCMAKE_CXX_COMPILER={cxx}", "-DCMAKE_BUILD_TYPE=Release",
             f"-DCMAKE_CXX_FLAGS={' '.join(sanitize_flags)}"])
        run(["cmake", "--build", build])
        example = build / "octet_example"

        # The same program through pkg-config.
        pc_env = dict(env, PKG_CONFIG_PATH=str(next(prefix.rglob("octet.pc")).parent))
        flags = run(["pkg-config", "--cflags", "--libs", "octet"], env=pc_env).split()
        by_pkg_config = pathlib.Path(tmp) / "octet_example_pc"
        run([cxx, "-std=c++20", *sanitize_flags, pathlib.Path(source) / "examples" / "cpp" / "main.cpp", *flags, "-o",
             by_pkg_config])
        libdir = next(prefix.rglob("liboctet.so")).parent

        # Run from elsewhere: the shipped models come from the prefix, not the source tree.
        cwd = tmp
        story = run([example, "generate", PROMPT, "40"], env=env, cwd=cwd)
        cli_story = run([octet, "generate", "-p", PROMPT, "-n", "40", "--temp", "0"], env=env)
        assert cli_story == PROMPT + story, f"example:\n{story!r}\noctet generate:\n{cli_story!r}"
        installed_story = run([prefix / "bin" / "octet", "generate", "-p", PROMPT, "-n", "40", "--temp", "0"], env=env,
                              cwd=cwd)
        assert installed_story == cli_story, installed_story
        print(f"generate: the example and the installed binary equal `octet generate` ({len(story.split())} words)")

        labels = [line.split("\t") for line in run([example, "classify", *TEXTS], env=env, cwd=cwd).splitlines()]
        pc_env_run = dict(env, LD_LIBRARY_PATH=str(libdir))
        assert run([by_pkg_config, "classify", *TEXTS], env=pc_env_run, cwd=cwd).splitlines() == [
            "\t".join(x) for x in labels]
        cli = [json.loads(line) for line in run([octet, "classify", *TEXTS], env=env).splitlines()]
        assert len(labels) == len(cli) == len(TEXTS)
        for (label, score), c in zip(labels, cli):
            assert label == c["label"] and float(score) == c["score"], (label, score, c)
        print(f"classify: {len(TEXTS)} labels and scores equal `octet classify`'s exactly")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
