#!/bin/sh
# Expected ids for tests/data/tokenizer_strings.txt from the spm_encode command
# (Debian package `sentencepiece`), one line of ids per input line.
# usage: tests/reference/make_tokenizer_golden.sh TOKENIZER.model OUT.txt
set -eu
here=$(dirname "$0")
spm_encode --model="$1" --output_format=id < "$here/../data/tokenizer_strings.txt" > "$2"
