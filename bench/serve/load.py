#!/usr/bin/env python3
"""A bounded load test of an OpenAI-compatible server (octet serve, or nginx in
front of several), standard library only.

Sends REQUESTS streaming chat completions, CONCURRENCY at a time, over loopback,
and reports requests/s, generated tokens/s, time to first token (TTFT) and time
per output token (TPOT, per request: (last token - first token) / (tokens - 1))
at p50 and p99, errors, and which upstream answered (nginx's X-Upstream header).

  bench/serve/load.py --port 8080 --concurrency 8 --requests 32 --max-tokens 64 [--json OUT]
"""
import argparse
import http.client
import json
import statistics
import threading
import time

PROMPTS = [
    "Write a short story about a dog who learns to fly.",
    "Explain why the sky is blue to a child.",
    "Give me three ideas for a rainy afternoon.",
    "What is a good name for a small cat, and why?",
    "Describe the sea in four sentences.",
    "Tell me about a robot who wants to paint.",
    "How do plants drink water?",
    "Write a poem about an old bicycle.",
]


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def one_request(host, port, index, max_tokens, timeout):
    body = json.dumps({
        "messages": [{"role": "user", "content": PROMPTS[index % len(PROMPTS)]}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    })
    start = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        upstream = resp.getheader("X-Upstream", "direct")
        if resp.status != 200:
            return {"error": f"HTTP {resp.status}: {resp.read()[:200]!r}", "upstream": upstream}
        first = last = None
        tokens = 0
        done = False
        for raw in resp:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if "error" in event:
                return {"error": event["error"]["message"], "upstream": upstream}
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            for choice in event.get("choices", []):
                if choice.get("delta", {}).get("content"):
                    last = time.perf_counter()
                    if first is None:
                        first = last
        if not done:
            return {"error": "the stream ended without [DONE]", "upstream": upstream}
        end = time.perf_counter()
        return {
            "ttft": (first or end) - start,
            "tpot": (last - first) / (tokens - 1) if first is not None and tokens > 1 else None,
            "tokens": tokens,
            "latency": end - start,
            "upstream": upstream,
        }
    except Exception as e:  # a refused or reset connection is an error of the run, not of the script
        return {"error": f"{type(e).__name__}: {e}", "upstream": "none"}
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args()

    results = [None] * args.requests
    next_index = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= args.requests:
                    return
                next_index[0] += 1
            results[i] = one_request(args.host, args.port, i, args.max_tokens, args.timeout)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start

    ok = [r for r in results if "error" not in r]
    errors = [r["error"] for r in results if "error" in r]
    tokens = sum(r["tokens"] for r in ok)
    ttft = [r["ttft"] for r in ok]
    tpot = [r["tpot"] for r in ok if r["tpot"] is not None]
    upstreams = {}
    for r in results:
        upstreams[r["upstream"]] = upstreams.get(r["upstream"], 0) + 1
    summary = {
        "concurrency": args.concurrency,
        "requests": args.requests,
        "ok": len(ok),
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(wall, 3),
        "requests_per_s": round(len(ok) / wall, 3),
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 2),
        "ttft_p50_ms": round(1000 * percentile(ttft, 50), 1),
        "ttft_p99_ms": round(1000 * percentile(ttft, 99), 1),
        "tpot_p50_ms": round(1000 * percentile(tpot, 50), 2),
        "tpot_p99_ms": round(1000 * percentile(tpot, 99), 2),
        "mean_latency_s": round(statistics.mean(r["latency"] for r in ok), 3) if ok else None,
        "upstreams": upstreams,
    }
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
