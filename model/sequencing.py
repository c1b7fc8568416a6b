"""sequencing.v1 in Python: the same windows, ordering, parts, ids and entity context (the initiator's, and the
responder's distinct initiators, all and probing) as packages/sequencing.

Input flows are already bidirectional (Zeek, CIC CSV, flowprep parquet, Tempo CSV) with src = initiator,
so biflow stitching (rule 1) does not apply to them, nor does rule 0 (exporter event records that counted no traffic,
NAT / NSEL: none of the labelled files has them).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import numpy as np

from .spec_paths import SEQUENCING_SPEC

WINDOW_MS: int = SEQUENCING_SPEC["window_ms"]
MAX_FLOWS: int = SEQUENCING_SPEC["max_flows"]
NAMESPACE: str = SEQUENCING_SPEC["sequence_id_namespace"]


# ICMPv6 messages that never leave their link: neighbour / router discovery, redirect, MLD, inverse ND, SEND,
# multicast router discovery (packages/sequencing notAConversationFlow: rule 0's link_control).
LINK_CONTROL_ICMP6_TYPES = (130, 131, 132, 133, 134, 135, 136, 137, 141, 142, 143, 148, 149, 151, 152, 153)


def conversation_flows(t: dict) -> dict:
    """Rule 0 on a flow table: without the records that are no conversation's flow, IPv6 link control messages
    (ICMPv6, protocol 58, whose type Zeek writes as id.orig_p: src_port). Rule 0's exporter event records (NAT,
    NSEL) do not occur in the labelled files. Columns other than the per-flow arrays (a reader's counts) pass as
    they are."""
    proto = t["protocol"]
    drop = (proto == 58) & np.isin(t["src_port"], LINK_CONTROL_ICMP6_TYPES)
    if not drop.any():
        return t
    keep = ~drop
    return {k: v[keep] if isinstance(v, np.ndarray) and v.shape[:1] == keep.shape else v for k, v in t.items()}


def sequence_id(src_ip: str, dst_ip: str, window_start_ms: int, part: int) -> str:
    b = bytearray(hashlib.sha256(f"{NAMESPACE}|{src_ip}|{dst_ip}|{window_start_ms}|{part}".encode()).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


@dataclass
class Sequences:
    """Sequences over a flow table: flows order[offset[i] : offset[i] + length[i]] form sequence i."""

    order: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    src_ip: np.ndarray
    dst_ip: np.ndarray
    window_start_ms: np.ndarray
    part: np.ndarray
    distinct_dsts: np.ndarray
    distinct_dst_ports: np.ndarray
    connections: np.ndarray
    # The responder's fan-in: distinct initiators toward dst_ip in the window (context.distinct_srcs).
    distinct_srcs: np.ndarray
    # Of those, the initiators whose conversation in the window holds a probe-shaped flow (is_probe_flow;
    # context.distinct_probe_srcs).
    distinct_probe_srcs: np.ndarray

    @property
    def count(self) -> int:
        return int(self.length.shape[0])

    def flow_sequence_index(self, n_flows: int) -> np.ndarray:
        """For every flow of the table, the index of the sequence holding it."""
        out = np.empty(n_flows, dtype=np.int64)
        out[self.order] = np.repeat(np.arange(self.count), self.length)
        return out

    def ids(self) -> list[str]:
        return [sequence_id(s, d, int(w), int(p)) for s, d, w, p in zip(self.src_ip, self.dst_ip, self.window_start_ms, self.part)]


# Linux sends a SYN and up to 6 retries (tcp_syn_retries), Windows 2; a scanner 1-2 per probe (isProbeFlow's bound).
PROBE_MAX_PKTS = 7


def is_probe_flow(protocol: np.ndarray, src_port: np.ndarray, dst_port: np.ndarray, fwd_pkts: np.ndarray,
                  bwd_pkts: np.ndarray) -> np.ndarray:
    """Probe-shaped flows (packages/sequencing isProbeFlow): an attempt of at most PROBE_MAX_PKTS packets that nothing
    answered (a longer one-way stream is telemetry: syslog, NetFlow export), not reply-shaped (a source port 1-1023
    toward a port >= 1024, e.g. a flow meter's inverted tail of a server's answer), and not peer-shaped (a port to
    the same port outside ICMP: NetBIOS and LAN-sync broadcasts, symmetric NTP)."""
    protocol = protocol.astype(np.int64)
    src_port, dst_port = src_port.astype(np.int64), dst_port.astype(np.int64)
    reply_shaped = (src_port >= 1) & (src_port <= 1023) & (dst_port >= 1024)
    peer_shaped = (src_port >= 1) & (src_port == dst_port) & (protocol != 1) & (protocol != 58)
    attempt = fwd_pkts.astype(np.int64) <= PROBE_MAX_PKTS
    return (bwd_pkts.astype(np.int64) == 0) & attempt & ~reply_shaped & ~peer_shaped


def build_sequences(t: dict) -> Sequences:
    n = t["start_ms"].shape[0]
    start = t["start_ms"].astype(np.int64)
    window = (start // WINDOW_MS) * WINDOW_MS
    src_u, src_code = np.unique(t["src_ip"].astype(str), return_inverse=True)
    dst_u, dst_code = np.unique(t["dst_ip"].astype(str), return_inverse=True)
    order = np.lexsort((
        t["bwd_pkts"], t["fwd_pkts"], t["bwd_bytes"], t["fwd_bytes"], t["dst_port"], t["src_port"],
        t["protocol"], t["end_ms"], start, window, dst_code, src_code,
    ))
    s, d, w = src_code[order], dst_code[order], window[order]
    new_conv = np.ones(n, dtype=bool)
    new_conv[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1]) | (w[1:] != w[:-1])
    conv_start = np.nonzero(new_conv)[0]
    conv_id = np.cumsum(new_conv) - 1
    pos_in_conv = np.arange(n) - conv_start[conv_id]
    part = pos_in_conv // MAX_FLOWS
    new_seq = new_conv | (pos_in_conv % MAX_FLOWS == 0)
    offset = np.nonzero(new_seq)[0]
    length = np.diff(np.append(offset, n))

    # Entity context per (initiator, window): distinct responders, distinct responder ports, flows initiated.
    ent_pairs = np.stack([src_code, window], axis=1)
    ent_u, ent_code = np.unique(ent_pairs, axis=0, return_inverse=True)
    ent_code = ent_code.reshape(-1)
    connections = np.bincount(ent_code, minlength=len(ent_u))
    dd = np.unique(np.stack([ent_code, dst_code], axis=1), axis=0)
    distinct_dsts = np.bincount(dd[:, 0], minlength=len(ent_u))
    dp = np.unique(np.stack([ent_code, t["dst_port"].astype(np.int64)], axis=1), axis=0)
    distinct_ports = np.bincount(dp[:, 0], minlength=len(ent_u))
    # Per (responder, window): distinct initiators (context.distinct_srcs).
    resp_u, resp_code = np.unique(np.stack([dst_code, window], axis=1), axis=0, return_inverse=True)
    resp_code = resp_code.reshape(-1)
    rs = np.unique(np.stack([resp_code, src_code], axis=1), axis=0)
    distinct_srcs = np.bincount(rs[:, 0], minlength=len(resp_u))
    probe = is_probe_flow(t["protocol"], t["src_port"], t["dst_port"], t["fwd_pkts"], t["bwd_pkts"])
    if "sampling_rate" in t:  # a flow from sampled packets never counts (most replies are not seen)
        probe &= t["sampling_rate"].astype(np.int64) <= 1
    rps = np.unique(np.stack([resp_code[probe], src_code[probe]], axis=1).reshape(-1, 2), axis=0)
    distinct_probe_srcs = np.bincount(rps[:, 0], minlength=len(resp_u))
    first = order[offset]
    e = ent_code[first]
    return Sequences(
        order=order, offset=offset, length=length,
        src_ip=src_u[src_code[first]], dst_ip=dst_u[dst_code[first]], window_start_ms=window[first], part=part[offset],
        distinct_dsts=distinct_dsts[e], distinct_dst_ports=distinct_ports[e], connections=connections[e],
        distinct_srcs=distinct_srcs[resp_code[first]], distinct_probe_srcs=distinct_probe_srcs[resp_code[first]],
    )


def sequence_dicts(t: dict, seqs: Sequences, indices=None) -> list[dict]:
    """Sequences as contract-shaped dicts (the TypeScript `Sequence`), for golden files and fine-tuning checks."""
    out = []
    ids = seqs.ids()
    for i in range(seqs.count) if indices is None else indices:
        rows = seqs.order[seqs.offset[i] : seqs.offset[i] + seqs.length[i]]
        flows = [{
            "start_ms": int(t["start_ms"][r]), "end_ms": int(t["end_ms"][r]), "protocol": int(t["protocol"][r]),
            "src_port": int(t["src_port"][r]), "dst_port": int(t["dst_port"][r]),
            "fwd_bytes": int(t["fwd_bytes"][r]), "fwd_pkts": int(t["fwd_pkts"][r]),
            "bwd_bytes": int(t["bwd_bytes"][r]), "bwd_pkts": int(t["bwd_pkts"][r]), "tcp_flags": int(t["tcp_flags"][r]),
            "label": None, "attack": None, "origin": f"row:{int(t['row'][r])}",
            "sampling_rate": int(t["sampling_rate"][r]) if "sampling_rate" in t else 1,
        } for r in rows]
        out.append({
            "sequence_id": ids[i], "src_ip": str(seqs.src_ip[i]), "dst_ip": str(seqs.dst_ip[i]),
            "window_start_ms": int(seqs.window_start_ms[i]), "window_end_ms": int(seqs.window_start_ms[i]) + WINDOW_MS,
            "part": int(seqs.part[i]), "flows": flows,
            "context": {"distinct_dsts": int(seqs.distinct_dsts[i]), "distinct_dst_ports": int(seqs.distinct_dst_ports[i]),
                        "connections": int(seqs.connections[i]), "distinct_srcs": int(seqs.distinct_srcs[i]),
                        "distinct_probe_srcs": int(seqs.distinct_probe_srcs[i])},
        })
    return out
