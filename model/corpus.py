"""Labelled captures → sequences → model-ready arrays (features in sequence order, labels per sequence)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .data import TACTICS, Capture, labelled_captures, read_capture, tactic_matrix
from .features import C, F, connections, context_matrix, context_width, flow_feature_matrix, scope_matrix
from .sequencing import Sequences, build_sequences


@dataclass
class Corpus:
    flow_x: np.ndarray          # [N, F] float32, flows in sequence order
    flow_label: np.ndarray      # [N] 1/0/-1
    flow_seq: np.ndarray        # [N] sequence index of each flow (in corpus order)
    seq_offset: np.ndarray      # [S] into flow_x
    seq_len: np.ndarray         # [S]
    ctx: np.ndarray             # [S, C]
    y: np.ndarray               # [S] 1 if any labelled flow is malicious, 0 if labelled benign, -1 unlabelled
    tactics: np.ndarray         # [S, T]
    capture: np.ndarray         # [S] capture index
    captures: list[Capture] = field(default_factory=list)
    flow_capture: np.ndarray | None = None
    flow_sub: np.ndarray | None = None  # [N, 4] not used by the model (baselines)
    dst_scope: np.ndarray | None = None  # [S, scopes] responder address scope one-hot (features.v2 context columns)
    feature_spec: str = "features.v1"   # which spec `ctx` follows (see for_spec)
    flow_x_mirror: np.ndarray | None = None  # [N, F] each flow seen from its responder's side (training augmentation)
    flow_dst_port: np.ndarray | None = None  # [N] responder port as recorded (the spoof augmentation's UDP rule)
    # What the service's model reads (packages/detector's default modelInput): each sequence's connections
    # (features.connections), features.v1 layout; flow_x / seq_offset / seq_len / ctx of model_input(corpus).
    conn_x: np.ndarray | None = None
    conn_offset: np.ndarray | None = None
    conn_len: np.ndarray | None = None
    conn_ctx: np.ndarray | None = None

    @property
    def count(self) -> int:
        return int(self.seq_len.shape[0])

    def networks(self) -> np.ndarray:
        return np.array([self.captures[c].network for c in self.capture], dtype=object)


def table_arrays(t: dict, seqs: Sequences) -> tuple[np.ndarray, np.ndarray]:
    o = seqs.order
    first = np.zeros(o.shape[0], dtype=bool)
    first[seqs.offset] = True
    x = flow_feature_matrix(
        t["start_ms"][o], t["end_ms"][o], t["protocol"][o], t["src_port"][o], t["dst_port"][o],
        t["fwd_bytes"][o], t["fwd_pkts"][o], t["bwd_bytes"][o], t["bwd_pkts"][o], t["tcp_flags"][o], first,
    )
    ctx = context_matrix(seqs.distinct_dsts, seqs.distinct_dst_ports, seqs.connections, seqs.length)
    return x, ctx


_FLOW_KEYS = ("start_ms", "end_ms", "protocol", "src_port", "dst_port", "fwd_bytes", "fwd_pkts", "bwd_bytes", "bwd_pkts",
              "tcp_flags")


def connection_arrays(t: dict, seqs: Sequences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """table_arrays of each sequence's connections (subscores.v6's `features.connections`), as the service's model reads
    them: flow_x, ctx and the per-sequence lengths. Only sequences with a repeated port pair are rebuilt."""
    o = seqs.order
    cols = {k: t[k][o].astype(np.int64) for k in _FLOW_KEYS}
    sid = np.repeat(np.arange(seqs.count), seqs.length)
    # Candidates: sequences where some port pair repeats (only those can merge) ...
    keys = np.stack([sid, cols["protocol"], cols["src_port"], cols["dst_port"]], axis=1)
    uk, cnt = np.unique(keys, axis=0, return_counts=True)
    # ... and sequences with bytes but no packets in a direction (read as 1 packet).
    floor = ((cols["fwd_bytes"] > 0) & (cols["fwd_pkts"] == 0)) | ((cols["bwd_bytes"] > 0) & (cols["bwd_pkts"] == 0))
    affected = np.union1d(uk[cnt >= 2][:, 0], sid[floor])
    length = seqs.length.copy()
    if affected.size:
        parts = {k: [] for k in _FLOW_KEYS}
        at = 0
        for i in affected:
            a, n = int(seqs.offset[i]), int(seqs.length[i])
            for k in _FLOW_KEYS:
                parts[k].append(cols[k][at:a])
            merged = connections([{k: int(cols[k][j]) for k in _FLOW_KEYS} for j in range(a, a + n)])
            for k in _FLOW_KEYS:
                parts[k].append(np.array([f[k] for f in merged], dtype=np.int64))
            length[i] = len(merged)
            at = a + n
        for k in _FLOW_KEYS:
            parts[k].append(cols[k][at:])
        cols = {k: np.concatenate(v) for k, v in parts.items()}
    first = np.zeros(cols["start_ms"].shape[0], dtype=bool)
    first[np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)] = True
    x = flow_feature_matrix(*(cols[k] for k in ("start_ms", "end_ms", "protocol", "src_port", "dst_port", "fwd_bytes",
                                                 "fwd_pkts", "bwd_bytes", "bwd_pkts", "tcp_flags")), first)
    return x, context_matrix(seqs.distinct_dsts, seqs.distinct_dst_ports, seqs.connections, length), length


def model_input(corpus: Corpus) -> Corpus:
    """The corpus as the service's model reads it (each sequence's connections; features.v1 layout, so convert with
    for_spec afterwards). Labels, per-flow arrays and baselines stay on the records."""
    if corpus.feature_spec != "features.v1":
        raise ValueError(f"model_input wants a features.v1 corpus, got {corpus.feature_spec}")
    if corpus.conn_x is None:
        return corpus
    return replace(corpus, flow_x=corpus.conn_x, seq_offset=corpus.conn_offset, seq_len=corpus.conn_len,
                   ctx=corpus.conn_ctx)


def mirror_arrays(t: dict, seqs: Sequences) -> np.ndarray:
    """flow_x of the same flows with initiator and responder exchanged (ports, bytes and packets each way), as a flow
    meter that took the responder for the initiator would record them (CICFlowMeter's inversions, README quirk 3).
    Sequence order, timing and TCP flags (Zeek's history covers both directions) stay."""
    o = seqs.order
    first = np.zeros(o.shape[0], dtype=bool)
    first[seqs.offset] = True
    return flow_feature_matrix(
        t["start_ms"][o], t["end_ms"][o], t["protocol"][o], t["dst_port"][o], t["src_port"][o],
        t["bwd_bytes"][o], t["bwd_pkts"][o], t["fwd_bytes"][o], t["fwd_pkts"][o], t["tcp_flags"][o], first,
    )


SCAN_TACTICS = ("TA0043", "TA0007")  # Reconnaissance, Discovery
SPOOF_PORTS = (53, 80, 123, 88)  # `nmap -g` values scanners use: DNS, HTTP, NTP, Kerberos


def scan_sequences(corpus: Corpus) -> np.ndarray:
    """Malicious sequences whose flows carry a Reconnaissance or Discovery tactic (the scans), corpus order."""
    cols = [TACTICS.index(t) for t in SCAN_TACTICS]
    return (corpus.y == 1) & (corpus.tactics[:, cols].max(1) > 0)


def for_spec(corpus: Corpus, spec: str) -> Corpus:
    """The corpus with `ctx` laid out as `spec` says (features.v2 appends the responder scope columns)."""
    context_width(spec)
    if spec == corpus.feature_spec:
        return corpus
    if spec == "features.v2" and corpus.feature_spec == "features.v1":
        return replace(corpus, ctx=np.concatenate([corpus.ctx, corpus.dst_scope], axis=1), feature_spec=spec)
    if spec == "features.v1" and corpus.feature_spec == "features.v2":
        return replace(corpus, ctx=corpus.ctx[:, :C], feature_spec=spec)
    raise ValueError(f"no conversion from {corpus.feature_spec} to {spec}")


def seq_labels(flow_label_ordered: np.ndarray, seqs: Sequences) -> np.ndarray:
    sid = np.repeat(np.arange(seqs.count), seqs.length)
    y = np.full(seqs.count, -1, dtype=np.int64)
    np.maximum.at(y, sid, np.where(flow_label_ordered >= 0, flow_label_ordered, -1))
    return y


def build_corpus(captures: list[Capture] | None = None) -> Corpus:
    caps = captures if captures is not None else labelled_captures()
    return corpus_from_tables(caps, [read_capture(c) for c in caps])


def corpus_from_tables(caps: list[Capture], tables: list[dict]) -> Corpus:
    parts = []
    base = 0
    for ci, (cap, t) in enumerate(zip(caps, tables)):
        seqs = build_sequences(t)
        x, ctx = table_arrays(t, seqs)
        fl = t["label"][seqs.order]
        y = seq_labels(fl, seqs)
        ft = tactic_matrix(cap.name, fl, t["attack"][seqs.order])
        sid = np.repeat(np.arange(seqs.count), seqs.length)
        tac = np.zeros((seqs.count, len(TACTICS)), dtype=np.float32)
        np.maximum.at(tac, sid, ft)
        cx, cctx, cln = connection_arrays(t, seqs)
        parts.append(dict(cx=cx, cctx=cctx, cln=cln, x=x, xm=mirror_arrays(t, seqs), dport=t["dst_port"][seqs.order].astype(np.int32), fl=fl, sid=sid + base, off=seqs.offset, ln=seqs.length, ctx=ctx, y=y, tac=tac,
                          scope=scope_matrix(seqs.dst_ip),
                          cap=np.full(seqs.count, ci), fcap=np.full(x.shape[0], ci)))
        base += seqs.count
    offs, total = [], 0
    for p in parts:
        offs.append(p["off"] + total)
        total += p["x"].shape[0]
    conn_len = np.concatenate([p["cln"] for p in parts])
    return Corpus(
        flow_x=np.concatenate([p["x"] for p in parts]), flow_label=np.concatenate([p["fl"] for p in parts]),
        flow_seq=np.concatenate([p["sid"] for p in parts]), seq_offset=np.concatenate(offs),
        seq_len=np.concatenate([p["ln"] for p in parts]), ctx=np.concatenate([p["ctx"] for p in parts]),
        y=np.concatenate([p["y"] for p in parts]), tactics=np.concatenate([p["tac"] for p in parts]),
        capture=np.concatenate([p["cap"] for p in parts]), captures=list(caps),
        flow_capture=np.concatenate([p["fcap"] for p in parts]),
        dst_scope=np.concatenate([p["scope"] for p in parts]),
        flow_x_mirror=np.concatenate([p["xm"] for p in parts]),
        flow_dst_port=np.concatenate([p["dport"] for p in parts]),
        conn_x=np.concatenate([p["cx"] for p in parts]), conn_len=conn_len,
        conn_offset=np.concatenate([[0], np.cumsum(conn_len)[:-1]]).astype(np.int64),
        conn_ctx=np.concatenate([p["cctx"] for p in parts]),
    )


def padded_batch(corpus_x: np.ndarray, offset: np.ndarray, length: np.ndarray, ctx: np.ndarray, idx: np.ndarray):
    """flow [B, L, F], mask [B, L], context [B, C] for the sequences idx (L = their longest)."""
    ln = length[idx]
    L = int(ln.max())
    pos = np.arange(L)
    valid = pos[None, :] < ln[:, None]
    flat = (offset[idx][:, None] + pos[None, :])[valid]
    flow = np.zeros((idx.shape[0], L, F), dtype=np.float32)
    flow[valid] = corpus_x[flat]
    return flow, valid.astype(np.float32), ctx[idx].astype(np.float32)


def length_batches(length: np.ndarray, idx: np.ndarray, max_tokens: int, max_batch: int, rng=None) -> list[np.ndarray]:
    """Length-bucketed batches: sort by length, cut at a token budget (padding stays small)."""
    if rng is not None:
        idx = idx[rng.permutation(idx.shape[0])]
    order = idx[np.argsort(length[idx], kind="stable")]
    out, cur, cur_max = [], [], 0
    for s in order:
        l = int(length[s])
        if cur and (max(cur_max, l) * (len(cur) + 1) > max_tokens or len(cur) >= max_batch):
            out.append(np.array(cur))
            cur, cur_max = [], 0
        cur.append(s)
        cur_max = max(cur_max, l)
    if cur:
        out.append(np.array(cur))
    if rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


assert F == 36 and C == 4
