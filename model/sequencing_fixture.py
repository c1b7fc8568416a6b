"""Writes model/fixtures/sequencing.golden.json: hand-made bidirectional flows and the sequences the Python
sequencing.v1 builds from them (ids, flow order, parts, entity context with the responder's fan-in), for the TypeScript sequencer to check.

Run: $TW_PYTHON -m model.sequencing_fixture
"""

from __future__ import annotations

import json

import numpy as np

from .data import FLOW_COLUMNS
from .sequencing import MAX_FLOWS, WINDOW_MS, build_sequences, sequence_dicts
from .spec_paths import REPO_ROOT, SEQUENCING_SPEC

OUT = REPO_ROOT / "model/fixtures/sequencing.golden.json"
T0 = 1_700_000_100_000  # inside a window; windows start at multiples of window_ms


def flows() -> list[dict]:
    out = []

    def add(start, src, dst, sport, dport, proto=6, fb=100, fp=2, bb=200, bp=2, dur=10):
        out.append({"start_ms": start, "end_ms": start + dur, "protocol": proto, "src_ip": src, "dst_ip": dst,
                    "src_port": sport, "dst_port": dport, "fwd_bytes": fb, "fwd_pkts": fp, "bwd_bytes": bb,
                    "bwd_pkts": bp, "tcp_flags": 0, "label": 0, "attack": "", "row": len(out)})

    # A scanner touching many ports of one host and a few hosts, across a window boundary.
    for i in range(70):
        add(T0 + i * 1000, "10.0.0.5", "10.0.0.9", 40000 + i, 20 + i, bb=0, bp=0)
    for i, h in enumerate(["10.0.0.10", "10.0.0.11", "10.0.0.12"]):
        add(T0 + 500 + i, "10.0.0.5", h, 41000 + i, 22)
    # Same start time, ordering decided by end_ms, protocol, ports, bytes, packets.
    add(T0 + 7000, "192.168.1.2", "8.8.8.8", 5000, 53, proto=17, dur=5)
    add(T0 + 7000, "192.168.1.2", "8.8.8.8", 5000, 53, proto=17, dur=3)
    add(T0 + 7000, "192.168.1.2", "8.8.8.8", 4999, 53, proto=17, dur=3)
    add(T0 + 7000, "192.168.1.2", "8.8.8.8", 4999, 53, proto=6, dur=3)
    add(T0 + 7000, "192.168.1.2", "8.8.8.8", 4999, 53, proto=6, dur=3, fb=50)
    # The reverse direction is a different conversation; IPv6 too.
    add(T0 + 9000, "8.8.8.8", "192.168.1.2", 53, 5000, proto=17)
    add(T0 + 250_000, "2001:db8::1", "2001:db8::2", 50000, 443, dur=100_000)
    add(T0 + 250_000 + WINDOW_MS, "2001:db8::1", "2001:db8::2", 50001, 443)
    # Responders with several initiators (context.distinct_srcs): a second client of 10.0.0.10, and a
    # reflection flood: reflectors each send the victim one unanswered UDP packet from port 161, one of
    # them again in the next window.
    add(T0 + 600, "10.0.0.6", "10.0.0.10", 42000, 22)
    for k in range(5):
        add(T0 + 20_000 + k, f"198.51.100.{k + 1}", "203.0.113.9", 161, 40000 + k, proto=17, fb=1400, fp=1, bb=0, bp=0, dur=0)
    add(T0 + 20_000 + WINDOW_MS, "198.51.100.1", "203.0.113.9", 161, 40100, proto=17, fb=1400, fp=1, bb=0, bp=0, dur=0)
    # An inbound scan (context.distinct_probe_srcs): scanners each send a web server one unanswered SYN (one sends
    # two, one also gets an answer on another port: each counts once; one sends an unanswered port-0 packet), a
    # client whose flow was answered, and an unanswered reply-shaped flow (from port 53 toward a high port), which
    # is not a probe; at the boundaries, source port 1024 toward 80 is a probe, 1023 toward 1024 is reply-shaped;
    # a NetBIOS-style 137 -> 137 datagram is peer-shaped and a one-way stream of 20 syslog datagrams is telemetry,
    # neither a probe: 10 initiators, 5 probing.
    web = "203.0.113.80"
    for k, port in enumerate([23, 445, 3389]):
        add(T0 + 30_000 + k, f"192.0.2.{k + 1}", web, 50000 + k, port, fb=60, fp=1, bb=0, bp=0, dur=0)
    add(T0 + 30_100, "192.0.2.1", web, 50010, 8080, fb=60, fp=1, bb=0, bp=0, dur=0)
    add(T0 + 30_200, "192.0.2.2", web, 50011, 443, fb=600, fp=5, bb=4000, bp=6)
    add(T0 + 30_300, "192.0.2.4", web, 0, 0, proto=1, fb=64, fp=1, bb=0, bp=0, dur=0)
    add(T0 + 31_000, "10.0.0.6", web, 42001, 443, fb=700, fp=6, bb=9000, bp=8)
    add(T0 + 32_000, "198.51.100.20", web, 53, 33333, proto=17, fb=300, fp=1, bb=0, bp=0, dur=0)
    add(T0 + 33_000, "198.51.100.21", web, 1024, 80, fb=60, fp=1, bb=0, bp=0, dur=0)
    add(T0 + 33_100, "198.51.100.22", web, 1023, 1024, fb=60, fp=1, bb=0, bp=0, dur=0)
    add(T0 + 33_200, "198.51.100.23", web, 137, 137, proto=17, fb=78, fp=1, bb=0, bp=0, dur=0)
    add(T0 + 33_300, "198.51.100.24", web, 40514, 514, proto=17, fb=4000, fp=20, bb=0, bp=0, dur=60_000)
    return out


def main() -> None:
    fl = flows()
    table = {k: np.array([f[k] for f in fl], dtype=object if k in ("src_ip", "dst_ip", "attack") else np.int64) for k in FLOW_COLUMNS}
    seqs = build_sequences(table)
    out = sequence_dicts(table, seqs)
    for s, d in zip(out, range(seqs.count)):
        s["flow_rows"] = [int(r) for r in seqs.order[seqs.offset[d] : seqs.offset[d] + seqs.length[d]]]
        for f in s["flows"]:
            f["origin"] = "fixture"
    out.sort(key=lambda s: (s["src_ip"], s["dst_ip"], s["window_start_ms"], s["part"]))
    doc = {
        "sequencing_spec": SEQUENCING_SPEC, "note": "input flows are bidirectional (src = initiator), so no stitching; "
        "sequences sorted by (src_ip, dst_ip, window_start_ms, part); flow_rows index into `flows`; labels/attack omitted",
        "max_flows": MAX_FLOWS,
        "flows": [{k: v for k, v in f.items() if k not in ("label", "attack", "row")} for f in fl],
        "sequences": out,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(out)} sequences to {OUT}")


if __name__ == "__main__":
    main()
