"""features.v1 / features.v2 in Python: the same per-flow / context features and sub-scores as @tidewatch/features.

features.v2 = features.v1 + the responder's address scope (one-hot context columns). `F`, `C` are features.v1's;
`context_width(spec)` and the `spec=` arguments select v2.

Two entry points: `sequence_features(seq)` for one Sequence dict (golden tests, fine-tuning input)
and `flow_feature_matrix(...)` vectorised over all flows of many sequences (training).
"""

from __future__ import annotations

import ipaddress
import math

import numpy as np

from .sequencing import is_probe_flow
from .spec_paths import (FEATURE_SPEC, FEATURE_SPEC_PATHS, SUB_SCORES_V2_PATH, SUB_SCORES_V3_PATH, SUB_SCORES_V4_PATH,
                         SUB_SCORES_V5_PATH, SUB_SCORES_V6_PATH, SUB_SCORES_V7_PATH, load_json)

SPEC = FEATURE_SPEC
PORT_CLASSES: list[str] = SPEC["port_classes"]
PROTOCOL_CLASSES: list[str] = SPEC["protocol_classes"]
TCP_FLAG_MASKS: list[int] = [b["mask"] for b in SPEC["tcp_flag_bits"]]
SCALAR = 12
PORT_OFFSET = SCALAR
PROTO_OFFSET = PORT_OFFSET + len(PORT_CLASSES)
FLAG_OFFSET = PROTO_OFFSET + len(PROTOCOL_CLASSES)
FLAGS_PRESENT = FLAG_OFFSET + len(TCP_FLAG_MASKS)
FLOW_FEATURE_NAMES: list[str] = (
    [f["name"] for f in SPEC["flow_features"][:SCALAR]]
    + [f"port_{c}" for c in PORT_CLASSES]
    + [f"proto_{c}" for c in PROTOCOL_CLASSES]
    + [f"flag_{b['name']}" for b in SPEC["tcp_flag_bits"]]
    + ["tcp_flags_present"]
)
F = len(FLOW_FEATURE_NAMES)
CONTEXT_FEATURE_NAMES: list[str] = [f["name"] for f in SPEC["context_features"]]
C = len(CONTEXT_FEATURE_NAMES)

SPEC_V2 = load_json(FEATURE_SPEC_PATHS["features.v2"])
ADDRESS_SCOPES: list[str] = SPEC_V2["address_scopes"]
CONTEXT_FEATURE_NAMES_V2: list[str] = CONTEXT_FEATURE_NAMES + [f"responder_{s}" for s in ADDRESS_SCOPES]
FEATURE_SPECS = ("features.v1", "features.v2")


def spec_of_context_width(width: int) -> str:
    """The feature spec a model with `width` context inputs was trained on."""
    for spec in FEATURE_SPECS:
        if context_width(spec) == width:
            return spec
    raise ValueError(f"no feature spec has {width} context features")


def context_width(spec: str = "features.v1") -> int:
    if spec == "features.v1":
        return C
    if spec == "features.v2":
        return len(CONTEXT_FEATURE_NAMES_V2)
    raise ValueError(f"unknown feature spec {spec!r} (known: {', '.join(FEATURE_SPECS)})")

_OTHER_WK = PORT_CLASSES.index("other_well_known")
_REGISTERED = PORT_CLASSES.index("registered")
_EPHEMERAL = PORT_CLASSES.index("ephemeral")
_NA = PORT_CLASSES.index("not_applicable")

# dst_port -> class index lookup table over the whole port range (first listed class wins).
_PORT_TABLE = np.empty(65536, dtype=np.int64)
_PORT_TABLE[:1024] = _OTHER_WK
_PORT_TABLE[1024:49152] = _REGISTERED
_PORT_TABLE[49152:] = _EPHEMERAL
for _cls in reversed(PORT_CLASSES):
    for _p in SPEC["port_buckets"].get(_cls, []):
        _PORT_TABLE[_p] = PORT_CLASSES.index(_cls)


def port_class_index(protocol: np.ndarray, dst_port: np.ndarray) -> np.ndarray:
    idx = _PORT_TABLE[np.clip(dst_port, 0, 65535).astype(np.int64)]
    return np.where((protocol == 0) | (protocol == 6) | (protocol == 17), idx, _NA)


def protocol_class_index(protocol: np.ndarray) -> np.ndarray:
    out = np.full(protocol.shape, 3, dtype=np.int64)
    out[protocol == 6] = 0
    out[protocol == 17] = 1
    out[(protocol == 1) | (protocol == 58)] = 2
    out[protocol == 0] = 4
    return out


def flow_feature_matrix(
    start_ms, end_ms, protocol, src_port, dst_port, fwd_bytes, fwd_pkts, bwd_bytes, bwd_pkts, tcp_flags, is_first
) -> np.ndarray:
    """Features of N flows laid out sequence by sequence (in sequence order); is_first marks flow 0 of each."""
    start = np.asarray(start_ms, dtype=np.float64)
    proto = np.asarray(protocol, dtype=np.int64)
    fb = np.maximum(0.0, np.asarray(fwd_bytes, dtype=np.float64))
    bb = np.maximum(0.0, np.asarray(bwd_bytes, dtype=np.float64))
    fp = np.maximum(0.0, np.asarray(fwd_pkts, dtype=np.float64))
    bp = np.maximum(0.0, np.asarray(bwd_pkts, dtype=np.float64))
    first = np.asarray(is_first, dtype=bool)
    sport = np.asarray(src_port, dtype=np.int64)
    flags = np.asarray(tcp_flags, dtype=np.int64)
    n = start.shape[0]
    x = np.zeros((n, F), dtype=np.float64)
    x[:, 0] = np.log1p(fb)
    x[:, 1] = np.log1p(bb)
    x[:, 2] = np.log1p(fp)
    x[:, 3] = np.log1p(bp)
    x[:, 4] = np.log1p(np.maximum(0.0, np.asarray(end_ms, dtype=np.float64) - start))
    x[:, 5] = np.log1p(fb / np.maximum(1.0, fp))
    x[:, 6] = np.log1p(bb / np.maximum(1.0, bp))
    prev = np.concatenate([[0.0], start[:-1]]) if n else start
    x[:, 7] = np.where(first, 0.0, np.log1p(np.maximum(0.0, start - prev)))
    x[:, 8] = first.astype(np.float64)
    a = fb + fp
    b = bb + bp
    tot = a + b
    x[:, 9] = np.where(tot > 0, a / np.where(tot > 0, tot, 1.0), 0.5)
    x[:, 10] = ((bp == 0) & (bb == 0)).astype(np.float64)
    tcp_udp = (proto == 0) | (proto == 6) | (proto == 17)
    x[:, 11] = (tcp_udp & (sport > 0) & (sport < 1024)).astype(np.float64)
    rows = np.arange(n)
    x[rows, PORT_OFFSET + port_class_index(proto, np.asarray(dst_port))] = 1.0
    x[rows, PROTO_OFFSET + protocol_class_index(proto)] = 1.0
    tcp = proto == 6
    for k, mask in enumerate(TCP_FLAG_MASKS):
        x[:, FLAG_OFFSET + k] = (tcp & ((flags & mask) != 0)).astype(np.float64)
    x[:, FLAGS_PRESENT] = (tcp & (flags != 0)).astype(np.float64)
    return x.astype(np.float32)


def context_matrix(distinct_dsts, distinct_dst_ports, connections, length) -> np.ndarray:
    cols = [distinct_dsts, distinct_dst_ports, connections, length]
    return np.stack([np.log1p(np.maximum(0.0, np.asarray(c, dtype=np.float64))) for c in cols], axis=1).astype(
        np.float32
    )


_V4_NETS = [  # (scope, network, prefix) in features.v2 address_scope_rules order: the first match wins
    ("multicast_broadcast", 0xE0000000, 4), ("multicast_broadcast", 0xFFFFFFFF, 32),
    ("loopback_unspecified", 0x00000000, 8), ("loopback_unspecified", 0x7F000000, 8),
    ("link_local", 0xA9FE0000, 16),
    ("private", 0x0A000000, 8), ("private", 0xAC100000, 12), ("private", 0xC0A80000, 16), ("private", 0x64400000, 10),
]
_V6_NETS = [
    ("multicast_broadcast", 0xFF << 120, 8),
    ("loopback_unspecified", 0, 128), ("loopback_unspecified", 1, 128),
    ("link_local", 0xFE80 << 112, 10),
    ("private", 0xFC << 120, 7),
]


def _in(value: int, net: int, prefix: int, bits: int) -> bool:
    return (value >> (bits - prefix)) == (net >> (bits - prefix))


def address_scope(ip: str) -> int:
    """Index into ADDRESS_SCOPES of an address's class (features.v2 address_scope_rules); -1 when ip is not an IP."""
    if not isinstance(ip, str) or ip != ip.strip():
        return -1
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return -1
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    v, bits, nets = int(addr), addr.max_prefixlen, _V4_NETS if addr.version == 4 else _V6_NETS
    for scope, net, prefix in nets:
        if _in(v, net, prefix, bits):
            return ADDRESS_SCOPES.index(scope)
    return ADDRESS_SCOPES.index("public")


def scope_matrix(ips) -> np.ndarray:
    """[S, len(ADDRESS_SCOPES)] one-hot address scope of each ip (all 0 when it is not an IP)."""
    arr = np.asarray(ips).astype(str)
    out = np.zeros((arr.shape[0], len(ADDRESS_SCOPES)), dtype=np.float32)
    if not arr.shape[0]:
        return out
    uniq, inv = np.unique(arr, return_inverse=True)
    idx = np.array([address_scope(u) for u in uniq], dtype=np.int64)[inv]
    rows = np.nonzero(idx >= 0)[0]
    out[rows, idx[rows]] = 1.0
    return out


_FLOW_KEYS = ("start_ms", "end_ms", "protocol", "src_port", "dst_port", "fwd_bytes", "fwd_pkts", "bwd_bytes", "bwd_pkts", "tcp_flags")


def sequence_features(seq: dict, spec: str = "features.v1") -> dict:
    """{flow: float32[len, F], mask: float32[len], context: float32[context_width(spec)]} for one Sequence dict."""
    context_width(spec)
    flows = seq["flows"]
    n = len(flows)
    cols = {k: np.array([f[k] for f in flows], dtype=np.float64) for k in _FLOW_KEYS}
    first = np.zeros(n, dtype=bool)
    if n:
        first[0] = True
    flow = flow_feature_matrix(*(cols[k] for k in _FLOW_KEYS), first) if n else np.zeros((0, F), np.float32)
    ctx = seq["context"]
    context = context_matrix([ctx["distinct_dsts"]], [ctx["distinct_dst_ports"]], [ctx["connections"]], [n])[0]
    if spec == "features.v2":
        context = np.concatenate([context, scope_matrix([seq["dst_ip"]])[0]])
    return {"flow": flow, "mask": np.ones(n, dtype=np.float32), "context": context}


# ---- sub-scores (the same formulas as packages/features/src/sub-scores.ts) ----
_SC = SPEC["sub_score_constants"]
_AUTH_PORTS = frozenset(_SC["brute_force"]["auth_ports"])


def _clamp01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def _ramp(x: float, a: float, b: float) -> float:
    return _clamp01((x - a) / (b - a))


def _quantile(v: list[float], q: float) -> float:
    h = (len(v) - 1) * q
    lo = math.floor(h)
    hi = min(len(v) - 1, lo + 1)
    return v[lo] + (h - lo) * (v[hi] - v[lo])


def _dispersion(values: list[float]) -> tuple[float, float, float]:
    v = sorted(values)
    q1, q2, q3 = _quantile(v, 0.25), _quantile(v, 0.5), _quantile(v, 0.75)
    bowley = 0.0 if (q3 == q1 or q2 == q1 or q2 == q3) else (q3 + q1 - 2 * q2) / (q3 - q1)
    mad = _quantile(sorted(abs(x - q2) for x in v), 0.5)
    return 1 - abs(bowley), (_clamp01(1 - mad / q2) if q2 > 0 else 0.0), q2


def _beacon(flows: list[dict]) -> float:
    c = _SC["beacon"]
    n = len(flows)
    if n < c["min_flows"]:
        return 0.0
    intervals = [float(flows[i + 1]["start_ms"] - flows[i]["start_ms"]) for i in range(n - 1)]
    sizes = [float(f["fwd_bytes"] + f["bwd_bytes"]) for f in flows]
    ts_skew, ts_madm, _ = _dispersion(intervals)
    ds_skew, ds_madm, ds_median = _dispersion(sizes)
    ts = (ts_skew + ts_madm + _clamp01(n / c["full_count"])) / 3
    ds = (ds_skew + ds_madm + _clamp01(1 - ds_median / c["small_bytes"])) / 3
    return _clamp01((ts + ds) / 2)


def _silent(f: dict, v5: bool) -> bool:
    """Nothing came back: bwd_bytes 0 (features.v1 to subscores.v4); subscores.v5: bwd_pkts 0 and not from sampled
    packets (sampling_rate above 1, absent reads 1: the answer may just not have been sampled)."""
    if not v5:
        return f["bwd_bytes"] == 0
    return f["bwd_pkts"] == 0 and f.get("sampling_rate", 1) <= 1


def _scan(flows: list[dict], ctx: dict, v5: bool = False) -> float:
    """features.v1's scan (`v5`: with subscores.v5's silence, _silent)."""
    c = _SC["scan"]
    if not flows:
        return 0.0
    silent = sum(1 for f in flows if _silent(f, v5)) / len(flows)
    fan = max(
        _ramp(ctx["distinct_dst_ports"], c["min_ports"], c["full_ports"]),
        _ramp(ctx["distinct_dsts"], c["min_dsts"], c["full_dsts"]),
    )
    return _clamp01(fan * silent)


def _brute_force(flows: list[dict], auth_ports: frozenset = _AUTH_PORTS) -> float:
    c = _SC["brute_force"]
    counts: dict[int, int] = {}
    for f in flows:
        counts[f["dst_port"]] = counts.get(f["dst_port"], 0) + 1
    m, port = 0, 0
    for p, k in counts.items():
        if k > m or (k == m and p < port):
            m, port = k, p
    auth = 1.0 if port in auth_ports else c["non_auth_weight"]
    return _clamp01(_ramp(m, c["min_attempts"], c["full_attempts"]) * auth)


def _exfiltration(flows: list[dict]) -> float:
    c = _SC["exfiltration"]
    up = float(sum(f["fwd_bytes"] for f in flows))
    down = float(sum(f["bwd_bytes"] for f in flows))
    ratio = up / (up + down) if up + down > 0 else 0.0
    return _clamp01(
        _ramp(math.log10(up + 1), c["min_log10_bytes"], c["full_log10_bytes"]) * _ramp(ratio, 0.5, 0.9)
    )


SUB_SCORE_VERSIONS = ("v1", "v2", "v3", "v4", "v5", "v6", "v7")


def sub_scores(seq: dict, version: str = "v1") -> dict:
    """features.v1's sub-scores (a model's evidence), or with version "v2" subscores.v2, "v3" subscores.v3, "v4"
    subscores.v4, "v5" subscores.v5, "v6" subscores.v6 (v5 over the sequence's connections), "v7" subscores.v7 (v6
    with ICMP errors left out of scan: the service's flags and explanations; defined below). v3 to v7 add
    "reflection"; v1 and v2 have no such key."""
    if version not in SUB_SCORE_VERSIONS:
        raise ValueError(f"sub-score version {version!r}: expected one of {', '.join(SUB_SCORE_VERSIONS)}")
    if version == "v6":
        return sub_scores({**seq, "flows": connections(seq["flows"])}, "v5")
    if version == "v7":
        return _sub_scores_v7({**seq, "flows": connections(seq["flows"])})
    flows = seq["flows"]
    v2 = version != "v1"
    v3 = version in ("v3", "v4", "v5")
    scan = _scan_v2(flows, seq["context"], version == "v5") if v2 else _scan(flows, seq["context"])
    if version in ("v4", "v5"):
        scan = max(scan, inbound_scan(seq))
    out = {
        "beacon": _beacon_v3(flows) if v3 else _beacon(flows),
        "scan": scan,
        "brute_force": (max(_brute_force_v2(flows, _AUTH_PORTS_V5), kerberos_refusals(flows)) if version == "v5"
                        else _brute_force_v2(flows) if v2 else _brute_force(flows)),
        "exfiltration": _exfiltration(flows),
    }
    if v3:
        out["reflection"] = _reflection(flows, seq["context"])
    return out


# ---- subscores.v2: what the service flags and explains (packages/features/spec/subscores.v2.json) ----
SUB_SCORES_V2 = load_json(SUB_SCORES_V2_PATH)
_SC2 = SUB_SCORES_V2["constants"]
_LOGIN_PORTS = frozenset(_SC2["brute_force_login"]["ports"])


def _scan_v2(flows: list[dict], ctx: dict, v5: bool = False) -> float:
    c, ci = _SC["scan"], _SC2["scan_icmp"]
    n = len(flows)
    if n == 0:
        return 0.0
    icmp = sum(1 for f in flows if f["protocol"] in (1, 58))
    quiet = sum(1 for f in flows if f["protocol"] not in (1, 58) and _silent(f, v5))
    fan = max(
        _ramp(ctx["distinct_dst_ports"], c["min_ports"], c["full_ports"]),
        _ramp(ctx["distinct_dsts"], c["min_dsts"], c["full_dsts"]),
    )
    fan_icmp = max(fan, _ramp(ctx["distinct_dsts"], ci["min_dsts"], ci["full_dsts"]))
    return max(_scan(flows, ctx, v5), _clamp01(fan * (quiet / n) + fan_icmp * (icmp / n)))


def _brute_force_v2(flows: list[dict], auth_ports: frozenset = _AUTH_PORTS) -> float:
    """subscores.v2's brute force: features.v1's connection count (over `auth_ports`; subscores.v5 passes its own)
    or repeated login exchanges to one interactive-login port."""
    c = _SC2["brute_force_login"]
    counts: dict[int, int] = {}
    for f in flows:
        if (f["protocol"] in (6, 0) and f["dst_port"] in _LOGIN_PORTS
                and f["fwd_pkts"] >= c["min_pkts"] and f["bwd_pkts"] >= c["min_pkts"]):
            counts[f["dst_port"]] = counts.get(f["dst_port"], 0) + 1
    a = max(counts.values(), default=0)
    return max(_brute_force(flows, auth_ports), _clamp01(_ramp(a, c["min_attempts"], c["full_attempts"])))


def sub_scores_v2(seq: dict) -> dict:
    return sub_scores(seq, "v2")


# ---- subscores.v3: v2 plus reflection (packages/features/spec/subscores.v3.json) ----
SUB_SCORES_V3 = load_json(SUB_SCORES_V3_PATH)
_SC3 = SUB_SCORES_V3["constants"]
_AMP_PORTS = frozenset(_SC3["reflection"]["amplification_ports"])


def _beacon_v3(flows: list[dict]) -> float:
    """features.v1's beacon, 0 below subscores.v3's beacon.min_flows (the spec's rationale)."""
    return 0.0 if len(flows) < _SC3["beacon"]["min_flows"] else _beacon(flows)


def _reflection(flows: list[dict], ctx: dict) -> float:
    c = _SC3["reflection"]
    n = len(flows)
    if n == 0:
        return 0.0
    amp = sum(1 for f in flows if f["protocol"] == 17 and f["src_port"] in _AMP_PORTS
              and f["dst_port"] != f["src_port"] and f["bwd_pkts"] == 0)
    if amp == 0:
        return 0.0
    return _clamp01(_ramp(ctx.get("distinct_srcs", 0), c["min_srcs"], c["full_srcs"]) * (amp / n))


def sub_scores_v3(seq: dict) -> dict:
    return sub_scores(seq, "v3")


# ---- subscores.v4: v3 with an inbound (distributed) scan term in scan (packages/features/spec/subscores.v4.json) ----
SUB_SCORES_V4 = load_json(SUB_SCORES_V4_PATH)
_INBOUND = SUB_SCORES_V4["constants"]["inbound_scan"]


def is_probe_shaped(f: dict) -> bool:
    """The flow is probe-shaped as context.distinct_probe_srcs counts it (model.sequencing.is_probe_flow, the one
    definition; the spec's inbound_scan bounds name it)."""
    one = lambda k: np.array([f[k]])  # noqa: E731
    return bool(is_probe_flow(one("protocol"), one("src_port"), one("dst_port"), one("fwd_pkts"), one("bwd_pkts"))[0])


def inbound_scan(seq: dict) -> float:
    """subscores.v4's inbound term: the responder's probing fan-in (context.distinct_probe_srcs, 0 when absent) times
    the share of probe-shaped flows; subscores.v4 scan is the larger of it and v3's scan."""
    flows = seq["flows"]
    n = len(flows)
    if n == 0:
        return 0.0
    fan_in = _ramp(seq["context"].get("distinct_probe_srcs", 0), _INBOUND["min_srcs"], _INBOUND["full_srcs"])
    if fan_in == 0:
        return 0.0
    probes = sum(1 for f in flows if is_probe_shaped(f))
    return _clamp01(fan_in * (probes / n))


def sub_scores_v4(seq: dict) -> dict:
    return sub_scores(seq, "v4")


# ---- subscores.v5: v4 with silence from the packets of unsampled flows (_silent), brute force off 443 and Kerberos
# refusals (packages/features/spec/subscores.v5.json) ----
SUB_SCORES_V5 = load_json(SUB_SCORES_V5_PATH)
_AUTH_PORTS_V5 = frozenset(SUB_SCORES_V5["constants"]["brute_force"]["auth_ports"])
_KERBEROS = SUB_SCORES_V5["constants"]["kerberos"]


def kerberos_refusals(flows: list[dict]) -> float:
    """subscores.v5's Kerberos refusal term: answered Kerberos exchanges whose answers are too small to carry a ticket,
    counted and weighed by their share of the answered exchanges (a password spray or guessing run)."""
    c = _KERBEROS
    k = r = 0
    for f in flows:
        if f["dst_port"] != c["port"] or f["protocol"] not in (0, 6, 17) or f["bwd_pkts"] < 1:
            continue
        k += 1
        r += f["bwd_bytes"] <= c["max_answer_bytes"]
    if r == 0:
        return 0.0
    return _clamp01(_ramp(r, c["min_refusals"], c["full_refusals"]) * _ramp(r / k, c["min_share"], c["full_share"]))


def sub_scores_v5(seq: dict) -> dict:
    return sub_scores(seq, "v5")


# ---- subscores.v6: v5 over the sequence's connections (packages/features/spec/subscores.v6.json) ----
SUB_SCORES_V6 = load_json(SUB_SCORES_V6_PATH)
_CONNECTION_PROTOCOLS = frozenset(SUB_SCORES_V6["constants"]["connection_protocols"])
_CONTINUATION_GAP_MS = SUB_SCORES_V6["constants"]["continuation_gap_ms"]
_RULE4 = ("start_ms", "end_ms", "protocol", "src_port", "dst_port", "fwd_bytes", "bwd_bytes", "fwd_pkts", "bwd_pkts",
          "tcp_flags")


def connections(flows: list[dict]) -> list[dict]:
    """subscores.v6's connections of a sequence: records of one port pair merged into one flow (start the smallest, end
    the largest, counters summed, flags ORed, sampling rate the largest) when (a) the pair is TCP (or protocol 0) and
    one of its records was answered (bwd_pkts >= 1), or (b) the pair is another protocol's and a record starts within
    continuation_gap_ms of the end of its pair's connection so far (an exporter's active-timeout cut), in
    sequencing.v1's rule 4 order, after a record with bytes but no packets in a direction reads 1 packet there (an
    exporter that counts none, e.g. NSEL). The flows themselves when nothing merges or needs a packet."""
    floored = [f for f in flows if (f["fwd_bytes"] > 0 and f["fwd_pkts"] == 0) or (f["bwd_bytes"] > 0 and f["bwd_pkts"] == 0)]
    if floored:  # bytes without packets (an exporter that counts none, e.g. NSEL): at least one packet came
        flows = [{**f, "fwd_pkts": f["fwd_pkts"] or (1 if f["fwd_bytes"] > 0 else 0),
                  "bwd_pkts": f["bwd_pkts"] or (1 if f["bwd_bytes"] > 0 else 0)} for f in flows]
    key_of = lambda f: (f["protocol"], f["src_port"], f["dst_port"])  # noqa: E731
    answered = {key_of(f) for f in flows if f["protocol"] in _CONNECTION_PROTOCOLS and f["bwd_pkts"] > 0}
    merged: list[dict] = []
    current: dict[tuple, dict] = {}
    for f in sorted(flows, key=lambda f: (f["start_ms"], f["end_ms"])):
        key = key_of(f)
        c = current.get(key)
        joins = c is not None and (key in answered if f["protocol"] in _CONNECTION_PROTOCOLS
                                   else f["start_ms"] - c["end_ms"] <= _CONTINUATION_GAP_MS)
        if not joins:
            current[key] = c = dict(f)
            merged.append(c)
            continue
        c["start_ms"] = min(c["start_ms"], f["start_ms"])
        c["end_ms"] = max(c["end_ms"], f["end_ms"])
        for k in ("fwd_bytes", "fwd_pkts", "bwd_bytes", "bwd_pkts"):
            c[k] += f[k]
        c["tcp_flags"] = c["tcp_flags"] | f["tcp_flags"]
        c["sampling_rate"] = max(c.get("sampling_rate", 1), f.get("sampling_rate", 1))
    if len(merged) == len(flows) and not floored:
        return flows
    return sorted(merged, key=lambda f: tuple(f[k] for k in _RULE4))


def sub_scores_v6(seq: dict) -> dict:
    return sub_scores(seq, "v6")


# ---- subscores.v7: v6 with ICMP error messages left out of scan (packages/features/spec/subscores.v7.json) ----
SUB_SCORES_V7 = load_json(SUB_SCORES_V7_PATH)
_SC7 = SUB_SCORES_V7["constants"]
_ICMP_ERROR_TYPES = {int(p): frozenset(types) for p, types in _SC7["icmp_error_types"].items()}
_ICMP_TYPE_IN_DST_PORT_FROM = _SC7["icmp_type_in_dst_port_from"]


def is_icmp_error(f: dict) -> bool:
    """An ICMP error message; the type from the ports (NetFlow: type * 256 + code in dst_port; Zeek: src_port)."""
    errors = _ICMP_ERROR_TYPES.get(f["protocol"])
    if errors is None:
        return False
    dst = f["dst_port"]
    return (dst >> 8 if dst >= _ICMP_TYPE_IN_DST_PORT_FROM else f["src_port"]) in errors


def _sub_scores_v7(seq: dict) -> dict:
    """subscores.v5 of `seq` (already its connections) with scan's own term over the flows that are no ICMP error."""
    out = sub_scores(seq, "v5")
    kept = [f for f in seq["flows"] if not is_icmp_error(f)]
    if len(kept) != len(seq["flows"]):
        out["scan"] = max(_scan_v2(kept, seq["context"], True), inbound_scan(seq))
    return out


def sub_scores_v7(seq: dict) -> dict:
    return sub_scores(seq, "v7")
