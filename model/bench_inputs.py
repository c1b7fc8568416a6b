"""Python mirror of bench/model-inputs.ts: the same deterministic benchmark sequences (same PRNG and draws)."""

from __future__ import annotations

import json
import math

from .spec_paths import REPO_ROOT

_M32 = 0xFFFFFFFF
PROTOCOLS = [6, 6, 6, 17, 17, 1]
PORTS = [443, 80, 53, 22, 445, 3389, 8080, 123, 0]


def _imul(a: int, b: int) -> int:
    return (a * b) & _M32


def mulberry32(seed: int):
    state = [seed & _M32]

    def rand() -> float:
        state[0] = (state[0] + 0x6D2B79F5) & _M32
        t = state[0]
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & _M32
        return ((t ^ (t >> 14)) & _M32) / 4294967296

    return rand


def _lengths():
    h = json.loads((REPO_ROOT / "bench/model-lengths.json").read_text())["histogram"]
    return [(int(k), v) for k, v in h.items()]


def model_bench_sequences(count: int, seed: int = 42) -> list[dict]:
    lengths = _lengths()
    total = sum(v for _, v in lengths)
    rand = mulberry32(seed)
    pick = lambda xs, r: xs[math.floor(r * len(xs))]  # noqa: E731
    out = []
    for s in range(count):
        r = rand()
        acc, length = 0, 1
        for ln, c in lengths:
            acc += c
            if r * total < acc:
                length = ln
                break
        t = 1_700_000_000_000 + math.floor(rand() * 300_000)
        flows = []
        for _ in range(length):
            t += math.floor(rand() * 5_000)
            port = pick(PORTS, rand())
            f = {"start_ms": t, "end_ms": t + math.floor(rand() * 5_000), "protocol": pick(PROTOCOLS, rand()),
                 "src_port": 1024 + math.floor(rand() * 64_000)}
            f["dst_port"] = 1024 + math.floor(rand() * 64_000) if port == 0 else port
            f["fwd_bytes"] = math.floor(math.exp(rand() * 12))
            f["fwd_pkts"] = 1 + math.floor(rand() * 50)
            f["bwd_bytes"] = math.floor(math.exp(rand() * 12))
            f["bwd_pkts"] = math.floor(rand() * 50)
            f["tcp_flags"] = math.floor(rand() * 64)
            f.update({"label": None, "attack": None, "origin": "bench"})
            flows.append(f)
        ctx = {"distinct_dsts": 1 + math.floor(rand() * 50), "distinct_dst_ports": 1 + math.floor(rand() * 50)}
        ctx["connections"] = length + math.floor(rand() * 100)
        out.append({"sequence_id": f"bench-{s}", "src_ip": "192.0.2.1", "dst_ip": "198.51.100.1",
                    "window_start_ms": 1_700_000_000_000, "window_end_ms": 1_700_000_300_000, "part": 0,
                    "flows": flows, "context": ctx})
    return out
