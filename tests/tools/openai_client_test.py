#!/usr/bin/env python3
"""The official `openai` Python client against `octet serve`, unchanged: models,
chat completions whole and streamed, completions, errors as the client's
exception types, and the API key. Exits 77 (skipped, saying why) where the
package is not installed; test.sh installs it in build/py-venv when pip can.

  python3 tests/tools/openai_client_test.py build/octet
"""
import os
import re
import signal
import subprocess
import sys
import time

try:
    import openai
except ImportError:
    why = ("the openai package is not installed for " + sys.executable +
           " (python3 -m venv V && V/bin/pip install openai, then OCTET_PYTHON=V/bin/python)")
    if os.environ.get("CI"):  # test.sh installs it: under CI its absence is a failure
        sys.exit("FAILED: " + why)
    print("SKIPPED: " + why)
    sys.exit(77)


def main(binary):
    server = subprocess.Popen([binary, "serve", "--port", "0", "--parallel", "2", "--api-key", "sesame", "--quiet"],
                              stderr=subprocess.PIPE, text=True)
    port = None
    deadline = time.time() + 60
    log = []
    while time.time() < deadline and port is None:
        line = server.stderr.readline()
        if not line:
            break
        log.append(line)
        m = re.match(r"ready: http://127\.0\.0\.1:(\d+)/v1", line)
        if m:
            port = int(m.group(1))
    assert port is not None, "octet serve did not become ready:\n" + "".join(log)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sesame", max_retries=0)
        models = client.models.list()
        assert [m.id for m in models.data] == ["tinystories-mini"], models

        messages = [{"role": "user", "content": "Once upon a time"}]
        whole = client.chat.completions.create(model="tinystories-mini", messages=messages, max_tokens=16,
                                               temperature=0)
        text = whole.choices[0].message.content
        assert text and whole.choices[0].finish_reason == "length", whole
        assert whole.usage.completion_tokens == 16, whole.usage

        pieces = []
        finish = None
        for chunk in client.chat.completions.create(model="tinystories-mini", messages=messages, max_tokens=16,
                                                    temperature=0, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        assert "".join(pieces) == text, (pieces, text)
        assert finish == "length", finish

        completion = client.completions.create(model="tinystories-mini", prompt="Once upon a time", max_tokens=16,
                                               temperature=0)
        assert completion.choices[0].text == text, completion

        try:
            client.chat.completions.create(model="tinystories-mini", messages=messages, top_p=5)
            raise AssertionError("top_p=5 was accepted")
        except openai.BadRequestError as e:
            assert e.body and e.body.get("param") == "top_p", e.body

        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
            raise AssertionError("a wrong key was accepted")
        except openai.AuthenticationError:
            pass
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    assert code == 0, f"octet serve exited with {code}"
    print("openai", openai.__version__, "client: models, chat (whole and streamed), completions, errors: ok")


if __name__ == "__main__":
    main(sys.argv[1])
