"""Writes packages/features/spec/golden.v1.json (and golden.v2.json): hand-made sequences and their features;
golden.subscores.v2.json: features.v1's sequences plus ICMP-sweep and login shapes with their features.v1 and
subscores.v2 sub-scores; and golden.subscores.v3.json: those plus reflection shapes (responder fan-in
context.distinct_srcs) with their features.v1, subscores.v2 and subscores.v3 sub-scores.

Run: $TW_PYTHON -m model.golden_features. Both test suites (Python and TypeScript) check against them.
golden.v2.json holds the same sequences with responders of every address scope, and an address table
(text → scope) with the parsing edge cases both implementations must agree on.
"""

from __future__ import annotations

import json

from .features import (ADDRESS_SCOPES, address_scope, sequence_features, sub_scores, sub_scores_v2, sub_scores_v3,
                       sub_scores_v4, sub_scores_v5, sub_scores_v6, sub_scores_v7)
from .spec_paths import (FEATURE_SPEC_HASHES, GOLDEN_FEATURES_PATHS, GOLDEN_SUB_SCORES_V2_PATH, GOLDEN_SUB_SCORES_V3_PATH,
                         GOLDEN_SUB_SCORES_V4_PATH, GOLDEN_SUB_SCORES_V5_PATH, GOLDEN_SUB_SCORES_V6_PATH, SUB_SCORES_V2_PATH, SUB_SCORES_V3_PATH,
                         SUB_SCORES_V4_PATH, SUB_SCORES_V5_PATH, SUB_SCORES_V6_PATH, GOLDEN_SUB_SCORES_V7_PATH,
                         SUB_SCORES_V7_PATH, file_sha256)

T0 = 1_700_000_000_000


def flow(start, dur, proto, sport, dport, fb, fp, bb, bp, flags=0, label=None, attack=None):
    return {
        "start_ms": start, "end_ms": start + dur, "protocol": proto, "src_port": sport, "dst_port": dport,
        "fwd_bytes": fb, "fwd_pkts": fp, "bwd_bytes": bb, "bwd_pkts": bp, "tcp_flags": flags,
        "label": label, "attack": attack, "origin": "golden",
    }


def seq(name, flows, dsts=1, ports=1, conns=None):
    return {
        "name": name,
        "sequence": {
            "sequence_id": "00000000-0000-5000-8000-000000000000", "src_ip": "192.0.2.10", "dst_ip": "198.51.100.20",
            "window_start_ms": T0, "window_end_ms": T0 + 300_000, "part": 0, "flows": flows,
            "context": {"distinct_dsts": dsts, "distinct_dst_ports": ports, "connections": conns if conns is not None else len(flows)},
        },
    }


def cases() -> list[dict]:
    out = [
        seq("single https flow with reply and flags", [flow(T0 + 1234, 850, 6, 51544, 443, 1840, 12, 48211, 40, 0x1B)]),
        seq("vertical SYN scan, no replies", [flow(T0 + 7 * i, 0, 6, 40000 + i, 20 + 37 * i, 0, 1, 0, 0, 0x02) for i in range(20)], dsts=3, ports=120, conns=140),
        seq("regular beacon every 60 s", [flow(T0 + 60_000 * i, 120, 6, 49000 + i, 8443, 310, 4, 190, 3, 0x1B) for i in range(10)], dsts=2, ports=2, conns=12),
        seq("jittered beacon on udp", [flow(T0 + 30_000 * i + (i * 7919) % 2000, 15, 17, 50000, 4444, 96 + (i % 3), 1, 64, 1) for i in range(12)]),
        seq("ssh brute force", [flow(T0 + 2_000 * i, 1500 + 13 * i, 6, 33000 + i, 22, 1900 + i, 14, 2600, 12, 0x1F) for i in range(30)], conns=30),
        seq("large upload", [flow(T0, 240_000, 6, 52000, 443, 210_000_000, 150_000, 3_000_000, 60_000, 0x1B)]),
        seq("icmp echo (ports carry type/code)", [flow(T0 + 1000 * i, 0, 1, 8, 0, 84, 1, 84, 1) for i in range(3)], dsts=40, ports=1, conns=43),
        seq("dns over udp", [flow(T0 + 10, 3, 17, 53211, 53, 45, 1, 120, 1), flow(T0 + 40, 2, 17, 53212, 53, 45, 1, 0, 0)]),
        seq("tempo csv without protocol", [flow(T0 + 5, 2000, 0, 61000, 8080, 500, 5, 7000, 6), flow(T0 + 5, 100, 0, 61001, 3306, 0, 0, 0, 0)]),
        seq("gre and odd values (end before start, zero packets)", [flow(T0 + 100, -50, 47, 0, 0, 1000, 0, 0, 0), flow(T0 + 90, 0, 132, 9, 9, 0, 0, 5, 0)]),
        seq("reversed direction: well-known source port", [flow(T0, 30, 6, 80, 51000, 400, 3, 0, 0, 0x12), flow(T0 + 300, 30, 17, 123, 123, 48, 1, 48, 1)]),
        seq(
            "every port bucket once",
            [flow(T0 + 1000 * i, 10 * i, 6 if i % 2 else 17, 40000 + i, p, 100 * i, i, 50 * i, i // 2, 0x10 | (i % 64))
             for i, p in enumerate([80, 53, 25, 22, 445, 1433, 123, 21, 111, 5000, 60000, 8883, 993, 3389, 27017, 69])],
            dsts=30, ports=30, conns=64,
        ),
    ]
    return out


# Responders for the features.v2 cases (one per case, in order) and the address table's extra edge cases.
V2_RESPONDERS = [
    "224.0.0.251", "ff02::fb", "192.168.1.20", "10.1.2.3", "172.20.0.9", "8.8.8.8", "fe80::1c2d:3eff:fe4f:5a6b",
    "255.255.255.255", "2001:db8:85a3::8a2e:370:7334", "169.254.10.1", "::1", "ff02::1:2",
]
ADDRESS_EDGE_CASES = [
    "0.0.0.0", "127.0.0.1", "100.64.0.1", "100.128.0.1", "172.15.255.255", "172.16.0.0", "172.31.255.255", "172.32.0.0",
    "192.167.255.255", "239.255.255.255", "240.0.0.1", "223.255.255.255", "169.253.0.1", "::", "::ffff:10.0.0.1",
    "::ffff:8.8.4.4", "::ffff:224.0.0.1", "::10.0.0.1", "64:ff9b::8.8.8.8", "FE80::ABCD", "febf::1", "fec0::1", "fc00::1",
    "fdff:ffff::1", "fe00::1", "FF05::1:3", "2606:4700:4700::1111", "fe80::1%eth0", "fe80::1%", "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::1", "g::1", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:",
    "::1.2.3", "::1.2.3.04", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "01.2.3.4", "1.2.3.256", "1.2.3", "1.2.3.4.5",
    "1.2.3.4 ", " 1.2.3.4", "", "localhost", "host-10.0.0.1", "0x7f.0.0.1", "1.2.3.-4", "::ffff:1.2.3.4%3",
    # Zone ids: Python takes any text without '%' or '/', but strips none (address_scope's white-space rule).
    "fe80::1%Ethernet 2", "fe80::1%\u00e9", "fe80::1%a%b", "fe80::1%a/b", "fe80::1%eth0\n", "fe80::1%\t",
    "::1%\u00a0", "::ffff:10.0.0.1%x",
]


def v2_cases() -> list[dict]:
    out = []
    for c, ip in zip(cases(), V2_RESPONDERS, strict=True):
        seq = dict(c["sequence"], dst_ip=ip)
        out.append({"name": f"{c['name']} (responder {ip})", "sequence": seq})
    return out


def write(spec: str) -> None:
    doc = {"feature_spec": spec, "feature_spec_hash": FEATURE_SPEC_HASHES[spec], "cases": []}
    if spec == "features.v2":
        doc["address_scopes"] = [
            {"ip": ip, "scope": ADDRESS_SCOPES[address_scope(ip)] if address_scope(ip) >= 0 else None}
            for ip in V2_RESPONDERS + ADDRESS_EDGE_CASES
        ]
    for c in v2_cases() if spec == "features.v2" else cases():
        f = sequence_features(c["sequence"], spec)
        doc["cases"].append({
            **c,
            "expected": {
                "flow": [[float(v) for v in row] for row in f["flow"]],
                "context": [float(v) for v in f["context"]],
                "sub_scores": sub_scores(c["sequence"]),
            },
        })
    path = GOLDEN_FEATURES_PATHS[spec]
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {path}")


def sub_score_v2_cases() -> list[dict]:
    """features.v1's golden sequences plus the shapes subscores.v2 adds (ICMP sweeps, repeated logins) and their
    edges (ramp ends, packet minimums, web ports, mixed protocols)."""
    echo = lambda i, reply: flow(T0 + 400 * i, 3, 1, 0, 0, 28, 1, 28 if reply else 0, 1 if reply else 0)  # noqa: E731
    login = lambda i, port, fp=22, bp=15, proto=6: flow(T0 + 5_000 * i, 4_000, proto, 55000 + i, port, 3737, fp, 3124, bp, 0x1B)  # noqa: E731
    out = [dict(c) for c in cases()]
    out += [
        seq("answered ping to one host of an 18-host sweep", [echo(0, True)], dsts=18, ports=1, conns=18),
        seq("unanswered ping, 18-host sweep", [echo(0, False)], dsts=18, ports=1, conns=18),
        seq("pings answered, 2 hosts (ramp start)", [echo(i, True) for i in range(3)], dsts=2, ports=1, conns=3),
        seq("pings answered, 7 hosts", [echo(i, True) for i in range(2)], dsts=7, ports=1, conns=8),
        seq("pings answered, 12 hosts (ramp end)", [echo(0, True)], dsts=12, ports=1, conns=12),
        seq("icmpv6 echo answered, 10 hosts", [flow(T0, 1, 58, 0, 0, 64, 1, 64, 1)], dsts=10, ports=1, conns=10),
        seq("ping + tcp port probes, wide port fan-out", [echo(0, True), flow(T0 + 9, 0, 6, 41000, 443, 0, 1, 0, 0, 0x02),
                                                           flow(T0 + 11, 1, 6, 41000, 80, 40, 1, 40, 1, 0x14)], dsts=3, ports=30, conns=40),
        seq("ssh guessing, 9 login exchanges", [login(i, 22) for i in range(9)], conns=9),
        seq("ssh guessing, 5 login exchanges (0.8)", [login(i, 22) for i in range(5)], conns=5),
        seq("ssh, 2 logins", [login(i, 22) for i in range(2)], conns=2),
        seq("ssh, 9 connections of 2 packets (no login exchange)", [login(i, 22, 2, 2) for i in range(9)], conns=9),
        seq("ssh, 6 connections, responder sent 3 packets (minimum)", [login(i, 22, 3, 3) for i in range(6)], conns=6),
        seq("rdp 4 + vnc 3 logins (per-port count)", [login(i, 3389) for i in range(4)] + [login(4 + i, 5900) for i in range(3)], conns=7),
        seq("telnet logins, protocol unknown", [login(i, 23, proto=0) for i in range(4)], conns=4),
        seq("udp to 22 is not a login", [login(i, 22, proto=17) for i in range(7)], conns=7),
        seq("https, 9 similar connections (web stays on v1)", [login(i, 443) for i in range(9)], conns=9),
        seq("empty sequence", []),
    ]
    return out


def write_sub_scores_v2() -> None:
    doc = {"sub_score_spec": "subscores.v2", "sub_score_spec_hash": file_sha256(SUB_SCORES_V2_PATH), "cases": []}
    for c in sub_score_v2_cases():
        doc["cases"].append({**c, "expected": {"v1": sub_scores(c["sequence"]), "v2": sub_scores_v2(c["sequence"])}})
    GOLDEN_SUB_SCORES_V2_PATH.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {GOLDEN_SUB_SCORES_V2_PATH}")


def with_srcs(case: dict, srcs: int) -> dict:
    """The case with context.distinct_srcs set (the responder's distinct initiators in the window)."""
    sq = case["sequence"]
    return {**case, "sequence": {**sq, "context": {**sq["context"], "distinct_srcs": srcs}}}


def sub_score_v3_cases() -> list[dict]:
    """subscores.v2's cases (responder fan-in 1, and a large fan-in where their shapes are not reflection), plus
    reflection shapes and their edges (ramp ends, answered replies, same-port peer traffic, TCP, other ports,
    mixed sequences, a producer without the field)."""
    # (start offset, protocol, src port, dst port, bytes, packets, reply bytes, reply packets)
    reply = lambda i, proto, sport, dport, fb, fp=1, bb=0, bp=0: flow(T0 + 700 * i, 0, proto, sport, dport, fb, fp, bb, bp)  # noqa: E731
    snmp = lambda i=0: reply(i, 17, 161, 41000 + i % 3, 57)  # noqa: E731
    out = [with_srcs(c, 1) for c in sub_score_v2_cases()]
    out += [with_srcs(c, 4000) for c in sub_score_v2_cases()[:12]]
    for c in out[len(out) - 12:]:
        c["name"] += ", responder fan-in 4000"
    out += [
        with_srcs(seq("snmp reflection: one unanswered packet from 161, fan-in 4276", [snmp()]), 4276),
        with_srcs(seq("snmp reflection, fan-in 300 (ramp end)", [snmp()]), 300),
        with_srcs(seq("snmp reflection, fan-in 250 (0.8)", [snmp()]), 250),
        with_srcs(seq("snmp reflection, fan-in 175 (0.5)", [snmp()]), 175),
        with_srcs(seq("snmp reflection, fan-in 50 (ramp start)", [snmp()]), 50),
        with_srcs(seq("lan discovery: ssdp reply from 1900, fan-in 30", [reply(0, 17, 1900, 52000, 310)]), 30),
        seq("snmp reflection shape from a producer without distinct_srcs", [snmp()]),
        with_srcs(seq("dns amplification: 3 large replies from 53 to port 80", [reply(i, 17, 53, 80, 3400, 3) for i in range(3)]), 2000),
        with_srcs(seq("memcached amplification from 11211", [reply(0, 17, 11211, 33000, 1_400_000, 1000)]), 600),
        with_srcs(seq("ntp monlist replies from 123", [reply(i, 17, 123, 5000 + i, 468 * 100, 100) for i in range(2)]), 1000),
        with_srcs(seq("cldap, chargen, qotd, ssdp replies", [reply(0, 17, 389, 40001, 3000), reply(1, 17, 19, 40002, 1000),
                                                             reply(2, 17, 17, 40003, 500), reply(3, 17, 1900, 40004, 300)]), 400),
        with_srcs(seq("answered dns from 53 (a reply came back)", [reply(0, 17, 53, 40000, 120, 1, 45, 1)]), 4000),
        with_srcs(seq("ntp peers 123 <-> 123, unanswered", [reply(0, 17, 123, 123, 48)]), 4000),
        with_srcs(seq("tcp from 53, unanswered", [reply(0, 6, 53, 40000, 60)]), 4000),
        with_srcs(seq("udp from 162 (snmp trap port, not amplification)", [reply(0, 17, 162, 40000, 90)]), 4000),
        with_srcs(seq("udp from an ephemeral port to 161", [reply(0, 17, 40000, 161, 90)]), 4000),
        with_srcs(seq("half reflection: 2 of 4 flows from 161", [snmp(0), snmp(1), reply(2, 6, 51000, 443, 400, 4, 5000, 5),
                                                                  reply(3, 17, 40000, 53, 45, 1, 90, 1)]), 4000),
        with_srcs(seq("empty sequence, fan-in 4000", []), 4000),
    ]
    return out


def write_sub_scores_v3() -> None:
    doc = {"sub_score_spec": "subscores.v3", "sub_score_spec_hash": file_sha256(SUB_SCORES_V3_PATH), "cases": []}
    for c in sub_score_v3_cases():
        sq = c["sequence"]
        doc["cases"].append({**c, "expected": {"v1": sub_scores(sq), "v2": sub_scores_v2(sq), "v3": sub_scores_v3(sq)}})
    GOLDEN_SUB_SCORES_V3_PATH.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {GOLDEN_SUB_SCORES_V3_PATH}")


def with_probe_srcs(case: dict, srcs: int) -> dict:
    """The case with context.distinct_probe_srcs set (the responder's initiators with a probe-shaped flow)."""
    sq = case["sequence"]
    return {**case, "sequence": {**sq, "context": {**sq["context"], "distinct_probe_srcs": srcs}}}


def sub_score_v4_cases() -> list[dict]:
    """subscores.v3's cases (no distinct_probe_srcs: v4 equals v3), features.v1's cases toward a responder of probing
    fan-in 8, plus inbound-scan shapes and their edges (ramp ends, answered and reply-shaped flows, the port bounds of
    the reply-shaped test, peer-shaped flows (a port to the same port, outside ICMP), the packet bound of an attempt, mixed sequences, a producer without the field, v3's scan above the inbound term)."""
    # (start offset, protocol, src port, dst port, bytes, packets, reply bytes, reply packets, tcp flags)
    probe = lambda i, proto, sport, dport, fb=60, fp=1, bb=0, bp=0, flags=0x02: flow(T0 + 900 * i, 0, proto, sport, dport, fb, fp, bb, bp, flags)  # noqa: E731
    syn = lambda i=0, port=23: probe(i, 6, 47000 + i, port)  # noqa: E731
    out = sub_score_v3_cases()
    out += [with_probe_srcs(c, 8) for c in cases()]
    for c in out[len(out) - len(cases()):]:
        c["name"] += ", probing fan-in 8"
    out += [
        with_probe_srcs(seq("inbound scan: one unanswered SYN to 23, probing fan-in 8", [syn()]), 8),
        with_probe_srcs(seq("inbound scan, probing fan-in 40 (simulator's scanners)", [syn(0, 445)]), 40),
        with_probe_srcs(seq("inbound scan, probing fan-in 7 (0.8)", [syn(0, 22)]), 7),
        with_probe_srcs(seq("inbound scan, probing fan-in 5 (0.4)", [syn(0, 80)]), 5),
        with_probe_srcs(seq("inbound scan, probing fan-in 3 (ramp start)", [syn(0, 8080)]), 3),
        with_probe_srcs(seq("inbound scan, probing fan-in 2", [syn()]), 2),
        seq("inbound scan shape from a producer without distinct_probe_srcs", [syn()]),
        with_probe_srcs(seq("one SYN and 2 retries to 445, probing fan-in 8", [syn(i, 445) for i in range(3)]), 8),
        with_probe_srcs(seq("unanswered udp probe to 161, probing fan-in 8", [probe(0, 17, 51000, 161, 70, 1, 0, 0, 0)]), 8),
        with_probe_srcs(seq("unanswered udp probe to a high port, probing fan-in 8", [probe(0, 17, 51000, 37215, 70, 1, 0, 0, 0)]), 8),
        with_probe_srcs(seq("unanswered icmp echo, probing fan-in 8", [probe(0, 1, 8, 0, 28, 1, 0, 0, 0)]), 8),
        with_probe_srcs(seq("reply-shaped unanswered flow 80 -> 51000, probing fan-in 8", [probe(0, 6, 80, 51000, 400, 3, 0, 0, 0x12)]), 8),
        with_probe_srcs(seq("reply-shaped edge 1 -> 1024, probing fan-in 8", [probe(0, 6, 1, 1024)]), 8),
        with_probe_srcs(seq("reply-shaped edge 1023 -> 65535, probing fan-in 8", [probe(0, 17, 1023, 65535)]), 8),
        with_probe_srcs(seq("source port 0 -> 1024 is a probe, probing fan-in 8", [probe(0, 6, 0, 1024)]), 8),
        with_probe_srcs(seq("source port 1024 -> 1025 is a probe, probing fan-in 8", [probe(0, 6, 1024, 1025)]), 8),
        with_probe_srcs(seq("peer-shaped NetBIOS broadcast 137 -> 137, probing fan-in 8", [probe(0, 17, 137, 137, 78, 1, 0, 0, 0)]), 8),
        with_probe_srcs(seq("peer-shaped 1024 -> 1024, probing fan-in 8", [probe(0, 6, 1024, 1024)]), 8),
        with_probe_srcs(seq("icmp type 3 code 3 (ports 3 -> 3) is a probe, probing fan-in 8", [probe(0, 1, 3, 3, 56, 1, 0, 0, 0)]), 8),
        with_probe_srcs(seq("a SYN and 6 retransmissions (7 packets) is a probe, probing fan-in 8", [probe(0, 6, 47000, 22, 420, 7)]), 8),
        with_probe_srcs(seq("one-way stream of 8 datagrams to 514 (telemetry), probing fan-in 8", [probe(0, 17, 51000, 514, 900, 8, 0, 0, 0)]), 8),
        with_probe_srcs(seq("source port 443 -> 1023 is a probe, probing fan-in 8", [probe(0, 6, 443, 1023)]), 8),
        with_probe_srcs(seq("answered: a RST came back (bwd_pkts 1), probing fan-in 8", [probe(0, 6, 47000, 23, 60, 1, 40, 1, 0x16)]), 8),
        with_probe_srcs(seq("an empty reply packet (bwd_bytes 0, bwd_pkts 1), probing fan-in 8", [probe(0, 6, 47000, 23, 60, 1, 0, 1, 0x16)]), 8),
        with_probe_srcs(seq("half probes: 1 of 2 flows unanswered, probing fan-in 8", [syn(0), probe(1, 6, 47001, 443, 900, 8, 5000, 7, 0x1B)]), 8),
        with_probe_srcs(seq("3 of 4 flows probes, probing fan-in 6 (0.6 x 0.75)", [syn(0), syn(1, 22), syn(2, 80), probe(3, 6, 47003, 443, 900, 8, 5000, 7, 0x1B)]), 6),
        with_srcs(with_probe_srcs(seq("probing fan-in above distinct_srcs (a producer's inconsistency is taken as is)", [syn()]), 9), 4),
        with_probe_srcs(seq("vertical SYN scan with a small probing fan-in (v3's scan is larger)",
                            [syn(i, 20 + 37 * i) for i in range(20)], dsts=3, ports=120, conns=140), 4),
        with_probe_srcs(seq("empty sequence, probing fan-in 8", []), 8),
    ]
    return out


def write_sub_scores_v4() -> None:
    doc = {"sub_score_spec": "subscores.v4", "sub_score_spec_hash": file_sha256(SUB_SCORES_V4_PATH), "cases": []}
    for c in sub_score_v4_cases():
        sq = c["sequence"]
        expected = {"v1": sub_scores(sq), "v2": sub_scores_v2(sq), "v3": sub_scores_v3(sq), "v4": sub_scores_v4(sq)}
        doc["cases"].append({**c, "expected": expected})
    GOLDEN_SUB_SCORES_V4_PATH.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {GOLDEN_SUB_SCORES_V4_PATH}")


def sub_score_v5_cases() -> list[dict]:
    """subscores.v4's cases (v5 differs where a flow's answer has packets but no bytes, or 443 is the most attempted
    port), plus: empty answers (a payload-counting producer's SYN-ACK, RST or tail) at a large fan-out beside
    unanswered probes; flows from sampled packets (sampling_rate > 1) with nothing back; Kerberos refusals (counts and
    shares at the ramps' edges, unanswered requests, TCP, the answer-size bound); connection counts toward 443 and the ports that keep their weight (80, 8080, 993) at the
    features.v1 ramp's edges, the lowest-port tie between 443 and 80, a single 443 flow, and repeated logins beside a
    larger 443 count (the login term stands)."""
    # (index, dst port, reply bytes): short TLS / HTTP connections of one client to one server.
    conn = lambda i, port, bb=4200: flow(T0 + 5_000 * i, 180, 6, 50000 + i, port, 620, 9, bb, 8, 0x1B)  # noqa: E731
    login = lambda i: flow(T0 + 5_000 * i + 2_500, 1400, 6, 40000 + i, 22, 1900, 14, 2600, 12, 0x1F)  # noqa: E731
    # (index, dst port, packets, reply packets): payload bytes 0 both ways, as CICFlowMeter / Zeek count them.
    empty = lambda i, port, fp=1, bp=1, proto=6: flow(T0 + 700 * i, 2, proto, 47000 + i, port, 0, fp, 0, bp)  # noqa: E731
    sampled = lambda f, rate: {**f, "sampling_rate": rate}  # noqa: E731
    out = sub_score_v4_cases()
    out += [
        seq("tail fragment: 3 packets, one empty answer, initiator fan-out 30 hosts", [empty(0, 443, 3)], dsts=30, ports=3),
        seq("refused SYN: one empty answer (a RST), fan-out 30 ports", [empty(0, 23)], dsts=1, ports=30),
        seq("unanswered SYN, fan-out 30 ports", [empty(0, 23, 1, 0)], dsts=1, ports=30),
        seq("2 refused and 2 unanswered SYNs, fan-out 30 ports",
            [empty(0, 23), empty(1, 25), empty(2, 80, 1, 0), empty(3, 110, 2, 0)], dsts=1, ports=30),
        seq("icmp echo with an empty answer, 18 hosts swept", [empty(0, 0, 1, 1, 1)], dsts=18, ports=1),
        seq("udp datagram with an empty answer, fan-out 30 hosts", [empty(0, 161, 1, 1, 17)], dsts=30, ports=1),
        seq("sampled server reply, nothing back (sFlow 1 in 1000), fan-out 30 hosts",
            [sampled(empty(0, 51000, 1, 0), 1000)], dsts=30, ports=1),
        seq("2 sampled and 2 unsampled unanswered SYNs, fan-out 30 ports",
            [sampled(empty(0, 23, 1, 0), 2), sampled(empty(1, 25, 1, 0), 64), empty(2, 80, 1, 0), sampled(empty(3, 110, 1, 0), 1)],
            dsts=1, ports=30),
        seq("sampled icmp echo, nothing back, 18 hosts swept", [sampled(empty(0, 0, 1, 0, 1), 1000)], dsts=18, ports=1),
    ]
    # (index, answer bytes, protocol, answer packets): one Kerberos exchange with the domain controller.
    krb = lambda i, bb, proto=17, bp=1: flow(T0 + 2_000 * i, 3, proto, 50000 + i, 88, 180, 1 if proto == 17 else 5, bb, bp)  # noqa: E731
    out += [
        seq("kerberos spray: 13 refusals and 1 ticket", [krb(i, 130 + 100 * (i % 3 == 0)) for i in range(13)] + [krb(13, 1557, 6, 2)]),
        seq("kerberos: 10 refusals, no ticket (0.8)", [krb(i, 130) for i in range(10)]),
        seq("kerberos: 9 refusals", [krb(i, 130) for i in range(9)]),
        seq("kerberos logons: 10 refusals and 10 tickets (share 0.5)",
            [krb(2 * i, 230) for i in range(10)] + [krb(2 * i + 1, 1420) for i in range(10)]),
        seq("kerberos: 12 refusals and 4 tickets (share 0.75)", [krb(i, 130) for i in range(12)] + [krb(12 + i, 1420) for i in range(4)]),
        seq("kerberos: 12 refusals and 6 tickets (share 2/3)", [krb(i, 130) for i in range(12)] + [krb(12 + i, 1420) for i in range(6)]),
        seq("kerberos: 12 unanswered requests", [krb(i, 0, 17, 0) for i in range(12)]),
        seq("kerberos over tcp: 12 refusals of 512 B", [krb(i, 512, 6, 4) for i in range(12)]),
        seq("kerberos over tcp: 12 answers of 513 B", [krb(i, 513, 6, 4) for i in range(12)]),
        seq("kerberos: 12 small answers over icmp are not exchanges", [krb(i, 130, 1) for i in range(12)]),
    ]
    for k in (5, 24, 25, 30, 64):
        out.append(seq(f"{k} connections to 443", [conn(i, 443) for i in range(k)], conns=k))
    for port in (80, 8080, 993):
        out.append(seq(f"25 connections to {port}", [conn(i, port) for i in range(25)], conns=25))
    out += [
        seq("single connection to 443", [conn(0, 443)]),
        seq("tie: 25 connections each to 443 and 80 (80, the lower port, is p)",
            [conn(i, 443 if i % 2 else 80) for i in range(50)], ports=2, conns=50),
        seq("30 connections to 443 and 5 ssh logins (the login term stands)",
            [conn(i, 443) for i in range(30)] + [login(i) for i in range(5)], ports=2, conns=35),
        with_probe_srcs(seq("30 unanswered SYNs to 443, probing fan-in 8 (inbound scan as v4)",
                            [flow(T0 + 900 * i, 0, 6, 47000 + i, 443, 60, 1, 0, 0, 0x02) for i in range(30)]), 8),
    ]
    return out


def write_sub_scores_v5() -> None:
    doc = {"sub_score_spec": "subscores.v5", "sub_score_spec_hash": file_sha256(SUB_SCORES_V5_PATH), "cases": []}
    for c in sub_score_v5_cases():
        sq = c["sequence"]
        expected = {"v1": sub_scores(sq), "v2": sub_scores_v2(sq), "v3": sub_scores_v3(sq), "v4": sub_scores_v4(sq),
                    "v5": sub_scores_v5(sq)}
        doc["cases"].append({**c, "expected": expected})
    GOLDEN_SUB_SCORES_V5_PATH.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {GOLDEN_SUB_SCORES_V5_PATH}")


def sub_score_v6_cases() -> list[dict]:
    """subscores.v5's cases (v6 differs only where TCP or protocol-0 flows of a sequence share a port pair), plus: one
    long-lived session exported as a record per active timeout (SSH, PostgreSQL and HTTPS at 30 s and 60 s); a brute
    force whose attempts each open a connection (unchanged); the same guessing with each attempt re-exported once
    (merged to one per attempt); a CICFlowMeter-style tail of protocol 0 after its answered connection (no longer a
    silent flow); fixed-port UDP exchanges (NTP 123 -> 123, DNS from one port: not merged); TCP and protocol-0 flows
    with one port pair (two connections); a probe and its re-exported retry and a raw-socket scanner's probes from one
    source port (never answered: not merged); sampled records of one connection; merged connections whose start order
    changes."""
    # (record index, period ms, dst port, sport): one record per active timeout of one idle session.
    rec = lambda i, period, port, sport=51514, fb=156, bb=156: flow(T0 + period * i, period - 100, 6, sport, port,  # noqa: E731
                                                                    fb + (i % 2) * 36, 3, bb, 3, 0x18 if i else 0x1A)
    attempt = lambda i, sport=None: flow(T0 + 6_000 * i, 2_200, 6, sport or 40000 + i, 22, 1900, 14, 2600, 12, 0x1F)  # noqa: E731
    out = sub_score_v5_cases()
    out += [
        seq("ssh session, a record every 60 s", [rec(i, 60_000, 22) for i in range(5)]),
        seq("ssh session, a record every 30 s", [rec(i, 30_000, 22) for i in range(10)]),
        seq("postgresql session, a record every 30 s", [rec(i, 30_000, 5432, 51515, 120, 120) for i in range(10)]),
        seq("https session, a record every 30 s", [rec(i, 30_000, 443, 51516, 1200, 5400) for i in range(10)]),
        seq("ssh guessing: 12 attempts, a connection each", [attempt(i) for i in range(12)]),
        seq("ssh guessing: 12 attempts, each exported as 2 records",
            sorted([attempt(i) for i in range(12)] + [{**attempt(i), "start_ms": T0 + 6_000 * i + 2_300, "end_ms": T0 + 6_000 * i + 2_400,
                                                       "fwd_bytes": 52, "fwd_pkts": 1, "bwd_bytes": 0, "bwd_pkts": 0, "tcp_flags": 0x11}
                                                      for i in range(12)], key=lambda f: (f["start_ms"], f["end_ms"]))),
        seq("protocol 0: an answered connection and its unanswered tail, fan-out 30 hosts",
            [flow(T0, 900, 0, 50000, 443, 620, 9, 4200, 8), flow(T0 + 1_000, 0, 0, 50000, 443, 0, 1, 0, 0)], dsts=30, ports=3),
        seq("ntp 123 -> 123, 10 polls (udp: not merged)", [flow(T0 + 30_000 * i, 20, 17, 123, 123, 76, 1, 76, 1) for i in range(10)]),
        seq("dns from one source port, 12 queries (udp: not merged)",
            [flow(T0 + 20_000 * i, 15, 17, 5353, 53, 70, 1, 130, 1) for i in range(12)]),
        seq("tcp and protocol 0 with one port pair: two connections",
            [flow(T0, 900, 6, 50000, 22, 620, 9, 4200, 8, 0x1B), flow(T0 + 1_000, 900, 0, 50000, 22, 620, 9, 4200, 8)]),
        seq("unanswered SYN re-exported with its retry, fan-out 30 ports",
            [flow(T0, 0, 6, 47000, 23, 44, 1, 0, 0, 0x02), flow(T0 + 3_000, 0, 6, 47000, 23, 44, 1, 0, 0, 0x02)], ports=30),
        with_probe_srcs(seq("raw-socket scanner: 7 unanswered SYNs to port 23 from one source port, probing fan-in 12",
                            [flow(T0 + 40_000 * i, 0, 6, 61000, 23, 40, 1, 0, 0, 0x02) for i in range(7)]), 12),
        seq("sampled records of one connection (rates 1 and 1000), one answered, fan-out 30 hosts",
            [{**flow(T0, 100, 6, 47001, 80, 60, 1, 40, 1, 0x12), "sampling_rate": 1},
             {**flow(T0 + 400, 100, 6, 47001, 80, 60, 1, 0, 0, 0x10), "sampling_rate": 1000}], dsts=30),
        seq("wireguard stream, a record every 30 s (records 100 ms apart)",
            [flow(T0 + 30_000 * i, 29_900, 17, 51820, 51820, 592 + 40 * (i % 3), 4, 592, 4) for i in range(10)]),
        seq("openvpn stream, a record every 30 s, one 2 s pause (records 100 ms and 2 s apart)",
            [flow(T0 + 30_000 * i + (2_000 if i >= 5 else 0), 29_900, 17, 1194, 1194, 1200, 10, 1200, 10) for i in range(10)]),
        seq("udp records exactly 1000 ms apart continue, 1001 ms do not",
            [flow(T0, 5_000, 17, 40000, 3478, 200, 2, 200, 2), flow(T0 + 6_000, 5_000, 17, 40000, 3478, 200, 2, 200, 2),
             flow(T0 + 12_001, 5_000, 17, 40000, 3478, 200, 2, 200, 2)]),
        seq("icmp echo stream cut every 30 s (type 8 in the port)",
            [flow(T0 + 30_000 * i, 29_500, 1, 0, 2048, 2520, 30, 2520, 30) for i in range(10)]),
        seq("unanswered SYN records 500 ms apart from one source port (tcp: only answered pairs merge)",
            [flow(T0 + 3_500 * i, 3_000, 6, 47100, 445, 44, 1, 0, 0, 0x02) for i in range(3)], ports=30),
        with_probe_srcs(seq("nsel teardown: bytes both ways, no packet counts, fan-out 30 hosts, probing fan-in 12",
                            [flow(T0, 4_000, 6, 50000, 443, 1800, 0, 48000, 0)], dsts=30, ports=1), 12),
        seq("nsel create (no counters) and teardown (bytes only) of one connection, fan-out 30 hosts",
            [flow(T0, 0, 6, 50001, 443, 0, 0, 0, 0), flow(T0, 4_000, 6, 50001, 443, 1800, 0, 48000, 0)], dsts=30),
        seq("nsel deny: no counters, fan-out 30 ports (still a silent look)", [flow(T0, 0, 6, 50002, 23, 0, 0, 0, 0)], ports=30),
        seq("sampled records of one connection (rates 1 and 1000), nothing back, fan-out 30 hosts",
            [{**flow(T0, 100, 6, 47001, 80, 60, 1, 0, 0, 0x10), "sampling_rate": 1},
             {**flow(T0 + 400, 100, 6, 47001, 80, 60, 1, 0, 0, 0x10), "sampling_rate": 1000}], dsts=30),
        seq("merged connections reorder: a long session starts before a short one's second record",
            [flow(T0, 50_000, 6, 50001, 443, 900, 6, 4000, 5, 0x1B), flow(T0 + 10_000, 1_000, 6, 50002, 443, 800, 5, 3000, 4, 0x1B),
             flow(T0 + 60_000, 50_000, 6, 50002, 443, 700, 5, 2000, 4, 0x18), flow(T0 + 70_000, 1_000, 6, 50001, 443, 600, 4, 1000, 3, 0x11)]),
    ]
    return out


def write_sub_scores_v6() -> None:
    doc = {"sub_score_spec": "subscores.v6", "sub_score_spec_hash": file_sha256(SUB_SCORES_V6_PATH), "cases": []}
    for c in sub_score_v6_cases():
        sq = c["sequence"]
        doc["cases"].append({**c, "expected": {"v5": sub_scores_v5(sq), "v6": sub_scores_v6(sq)}})
    GOLDEN_SUB_SCORES_V6_PATH.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {GOLDEN_SUB_SCORES_V6_PATH}")


def sub_score_v7_cases() -> list[dict]:
    """subscores.v6's cases (v7 differs only where a sequence holds an ICMP error), plus ICMP errors as NetFlow encodes
    them (type * 256 + code in dst_port) and as Zeek does (type in src_port, code in dst_port): a firewall's port
    unreachable and a router's time exceeded toward a host of a wide fan-out (scan 0 now), ICMPv6 unreachable and
    packet too big, an ICMPv6 type 11 (no error there), errors beside an echo sweep's pings and beside unanswered UDP
    probes (those still scan), and an echo reply in NetFlow's encoding (type 0: no error)."""
    icmp = lambda i, proto, sport, dport, bp=0: flow(T0 + 2_000 * i, 0, proto, sport, dport, 56, 1, 56 * bp, bp)  # noqa: E731
    out = sub_score_v6_cases()
    out += [
        seq("netflow: port unreachable to a host, fan-out 40", [icmp(0, 1, 0, 3 * 256 + 3)], dsts=40),
        seq("netflow: time exceeded to a host, fan-out 30", [icmp(0, 1, 0, 11 * 256)], dsts=30),
        seq("netflow: two unreachables and a redirect, fan-out 40",
            [icmp(0, 1, 0, 3 * 256 + 1), icmp(1, 1, 0, 3 * 256 + 13), icmp(2, 1, 0, 5 * 256 + 1)], dsts=40),
        seq("zeek: port unreachable (type 3 as src_port, code 3), fan-out 40", [icmp(0, 1, 3, 3)], dsts=40),
        seq("zeek: time exceeded (type 11, code 0), fan-out 30", [icmp(0, 1, 11, 0)], dsts=30),
        seq("icmpv6 netflow: unreachable and packet too big, fan-out 40",
            [icmp(0, 58, 0, 1 * 256 + 4), icmp(1, 58, 0, 2 * 256)], dsts=40),
        seq("icmpv6 type 11 is no error, fan-out 40", [icmp(0, 58, 0, 11 * 256)], dsts=40),
        seq("echo sweep pings beside an unreachable, fan-out 40",
            [icmp(0, 1, 0, 8 * 256), icmp(1, 1, 0, 8 * 256, 1), icmp(2, 1, 0, 3 * 256 + 1)], dsts=40),
        seq("unanswered udp probes beside port unreachables, 20 ports",
            [flow(T0 + 100 * i, 0, 17, 40000, 1000 + i, 40, 1, 0, 0) for i in range(4)]
            + [icmp(3 + i, 1, 0, 3 * 256 + 3) for i in range(2)], dsts=3, ports=20),
        seq("netflow echo reply (type 0, code 0), fan-out 40", [icmp(0, 1, 0, 0)], dsts=40),
        seq("zeek echo request (type 8 as src_port), fan-out 40", [icmp(0, 1, 8, 0)], dsts=40),
    ]
    return out


def write_sub_scores_v7() -> None:
    doc = {"sub_score_spec": "subscores.v7", "sub_score_spec_hash": file_sha256(SUB_SCORES_V7_PATH), "cases": []}
    for c in sub_score_v7_cases():
        sq = c["sequence"]
        doc["cases"].append({**c, "expected": {"v6": sub_scores_v6(sq), "v7": sub_scores_v7(sq)}})
    GOLDEN_SUB_SCORES_V7_PATH.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(doc['cases'])} cases to {GOLDEN_SUB_SCORES_V7_PATH}")


def main() -> None:
    for spec in ("features.v1", "features.v2"):
        write(spec)
    write_sub_scores_v2()
    write_sub_scores_v3()
    write_sub_scores_v4()
    write_sub_scores_v5()
    write_sub_scores_v6()
    write_sub_scores_v7()


if __name__ == "__main__":
    main()
