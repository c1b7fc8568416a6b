"""Source-port spoofing against the held-out fold models: `python -m model.diagnose_spoof [--versions V,V] [--out FILE]`
(a version name, or a `model.experiments run` bundle DIR/<recipe>.pt scored in PyTorch at its inner_fpr thresholds).

A scan run as `nmap -g 53` sends every probe from source port 53. Seen per flow that is the responder's side of a
conversation (a well-known source port), the shape that benign-only direction mirroring (flow-1.4.0) teaches as
benign. No capture holds such a scan, so this is a counterfactual on real scans: the scan sequences of the labelled
captures (malicious, tactic Reconnaissance or Discovery) get each TCP/UDP flow's initiator port rewritten to a
well-known port. Everything else stays as recorded, and the features are recomputed by the normal path (read table
-> sequences -> features), so only the `src_port_well_known` column can change: the port class follows the
responder port, and the entity context counts responders and responder ports, not source ports. Each capture is
scored by each version's fold model that never saw its network (`versions/<v>/loco/<fold>.onnx`, onnxruntime) at
that fold's threshold. Nothing is trained or tuned.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

from .baselines import FLAG_THRESHOLD, SERVICE_SUB_SCORES, corpus_sub_scores
from .corpus import SCAN_TACTICS, SPOOF_PORTS, Corpus, corpus_from_tables, for_spec, scan_sequences
from .data import Capture, labelled_captures, read_capture
from .diagnose import version_spec
from .loco import corpus_folds
from .onnx_scorer import score_corpus, session
from .sequencing import build_sequences, sequence_dicts
from .spec_paths import VERSIONS_DIR

SPOOFED_PROTOCOLS = (6, 17)  # a source port exists only for TCP / UDP
VERSIONS = ("flow-1.2.0", "flow-1.3.0", "flow-1.4.0")


def spoof_table(t: dict, rows: np.ndarray, port: int) -> dict:
    """The flow table with the initiator port of the TCP/UDP flows at `rows` (bool per flow) set to `port`."""
    if not 0 < port < 65536:
        raise ValueError(f"spoofed source port must be 1..65535, got {port}")
    if rows.shape != t["src_port"].shape:
        raise ValueError(f"rows has shape {rows.shape}, the table has {t['src_port'].shape[0]} flows")
    sel = rows & np.isin(t["protocol"], SPOOFED_PROTOCOLS)
    return dict(t, src_port=np.where(sel, port, t["src_port"]).astype(t["src_port"].dtype))


def scan_flow_rows(tables: list[dict], scan: np.ndarray) -> list[np.ndarray]:
    """Per table, a bool per flow: the flow belongs to a sequence marked in `scan` (corpus order)."""
    rows, base = [], 0
    for t in tables:
        seqs = build_sequences(t)
        rows.append(scan[base + seqs.flow_sequence_index(t["start_ms"].shape[0])])
        base += seqs.count
    return rows


def spoofed_corpora(caps: list[Capture], tables: list[dict], ports=SPOOF_PORTS) -> tuple[Corpus, np.ndarray, dict]:
    """(as recorded, scan mask per sequence, {port: corpus with the scans' initiator ports rewritten})."""
    orig = corpus_from_tables(caps, tables)
    scan = scan_sequences(orig)
    rows = scan_flow_rows(tables, scan)
    out = {}
    for p in ports:
        c = corpus_from_tables(caps, [spoof_table(t, r, p) for t, r in zip(tables, rows)])
        # the sequences, their contexts and labels are the recorded ones; only flow features may differ
        for k in ("seq_offset", "seq_len", "ctx", "y", "capture"):
            if not np.array_equal(getattr(c, k), getattr(orig, k)):
                raise AssertionError(f"spoofing source port {p} changed {k}")
        out[p] = c
    return orig, scan, out


def sub_score_flags(caps: list[Capture], tables: list[dict], threshold: float = FLAG_THRESHOLD) -> np.ndarray:
    """[S] bool, corpus order: some baseline sub-score the service flags with (baselines.SERVICE_SUB_SCORES) reaches `threshold`."""
    raw = [d for t in tables for d in sequence_dicts(t, build_sequences(t))]
    return corpus_sub_scores(corpus_from_tables(caps, tables), raw, SERVICE_SUB_SCORES).max(1) >= threshold


def is_bundle(name: str) -> bool:
    return name.endswith(".pt")


@functools.lru_cache(maxsize=2)
def _bundle(path: str) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def bundle_fold_scores(path: str, corpus: Corpus, idx: np.ndarray, rule: str = "inner_fpr") -> tuple[np.ndarray, np.ndarray]:
    """fold_scores for a run bundle (`model.experiments run`'s DIR/<recipe>.pt, PyTorch on the CPU): each sequence
    scored by the fold model that never saw its network, at that fold's `rule` threshold."""
    import torch

    from .net import FlowSequenceEncoder
    from .training import TrainConfig, predict

    bundle = _bundle(path)
    corpus = for_spec(corpus, TrainConfig(**bundle["config"]).feature_spec)
    names = corpus_folds(corpus)[idx]
    score, thr = np.full(idx.shape[0], np.nan, np.float32), np.full(idx.shape[0], np.nan, np.float32)
    for fold in sorted(set(names)):
        f = bundle["folds"].get(fold)
        if f is None or rule not in f["thresholds"]:
            raise ValueError(f"{path}: no fold model with a {rule!r} threshold for {fold}")
        m = FlowSequenceEncoder(**f["config"])
        m.load_state_dict(f["state"])
        pos = np.nonzero(names == fold)[0]
        with torch.no_grad():
            score[pos] = predict(m.eval(), corpus, idx[pos])["score"].reshape(-1)
        thr[pos] = f["thresholds"][rule]
    return score, thr


def fold_scores(version: str, corpus: Corpus, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score and threshold of sequences idx, each from the fold model that never saw its network (a committed
    version's ONNX fold models, or a run bundle DIR/<recipe>.pt at its inner_fpr thresholds)."""
    if is_bundle(version):
        return bundle_fold_scores(version, corpus, idx)
    vdir = VERSIONS_DIR / version
    corpus = for_spec(corpus, version_spec(version))
    folds = json.loads((vdir / "loco" / "folds.json").read_text())
    names = corpus_folds(corpus)[idx]
    score, thr = np.full(idx.shape[0], np.nan, np.float32), np.full(idx.shape[0], np.nan, np.float32)
    for fold in sorted(set(names)):
        if fold not in folds:
            raise ValueError(f"{version}: no fold model for {fold} in {vdir / 'loco' / 'folds.json'}")
        pos = np.nonzero(names == fold)[0]
        score[pos] = score_corpus(session(vdir / folds[fold]["model"]), corpus, idx[pos])["score"].reshape(-1)
        thr[pos] = folds[fold]["threshold"]
    return score, thr


def report(versions=VERSIONS, ports=SPOOF_PORTS, log=print) -> str:
    caps = labelled_captures()
    tables = [read_capture(c) for c in caps]
    orig, scan, spoofed = spoofed_corpora(caps, tables, ports)
    idx = np.nonzero(scan)[0]
    cap_of = orig.capture[idx]
    present = sorted(set(cap_of.tolist()))
    flows = np.concatenate([np.arange(o, o + n) for o, n in zip(orig.seq_offset[idx], orig.seq_len[idx])])
    changed = {p: int((spoofed[p].flow_x[flows, 11] != orig.flow_x[flows, 11]).sum()) for p in ports}
    # the service's flags, as recorded and spoofed (no sub-score reads the source port, but a spoofed port can move a
    # flow to another part of a conversation longer than MAX_FLOWS)
    flagged_all = sub_score_flags(caps, tables)
    rows = scan_flow_rows(tables, scan)
    flagged = {p: sub_score_flags(caps, [spoof_table(t, r, p) for t, r in zip(tables, rows)])[idx] for p in ports}
    L = ["| version | capture (fold threshold) | scan sequences | as recorded | "
         + " | ".join(f"src port {p}" for p in ports) + " | alerts, src port " + "/".join(map(str, ports)) + " |",
         "|---|---|---:|---:|" + "---:|" * (len(ports) + 1)]
    for v in versions:
        base, thr = fold_scores(v, orig, idx)
        det = {p: fold_scores(v, spoofed[p], idx)[0] >= thr for p in ports}
        hit = base >= thr

        def alerts(q):
            return "/".join(f"{int((det[p][q] | flagged[p][q]).sum()):,}" for p in ports)

        for ci in present:
            q = cap_of == ci
            L.append(f"| {v} | {caps[ci].name} ({thr[q].max():.4f}) | {int(q.sum()):,} | {int(hit[q].sum()):,} | "
                     + " | ".join(f"{int(det[p][q].sum()):,}" for p in ports) + f" | {alerts(q)} |")
        every = np.ones(idx.size, bool)
        L.append(f"| {v} | **all** | {idx.size:,} | {int(hit.sum()):,} | "
                 + " | ".join(f"{int(det[p].sum()):,}" for p in ports) + f" | {alerts(every)} |")
        log(f"  {v}: " + ", ".join(f"{caps[ci].name} {int(hit[cap_of == ci].sum())}" for ci in present))
    benign = orig.y == 0
    L += ["", f"{idx.size:,} scan sequences, {flows.size:,} flows; flows whose `src_port_well_known` bit the rewrite "
          "turned on: " + ", ".join(f"port {p}: {n:,}" for p, n in changed.items()) + ".",
          f"Alerts: what the inference service raises, the model's verdict or a baseline sub-score >= {FLAG_THRESHOLD} "
          f"(the flag alone: {int(flagged_all[idx].sum()):,} of the scans as recorded, "
          + "/".join(f"{int(flagged[p].sum()):,}" for p in ports) + " spoofed; on the benign sequences of the same "
          f"captures it flags {int(flagged_all[benign].sum()):,} of {int(benign.sum()):,})."]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="model.diagnose_spoof")
    ap.add_argument("--versions", default=",".join(VERSIONS),
                    help="comma-separated versions with loco/ fold models, or run bundles DIR/<recipe>.pt (inner_fpr)")
    ap.add_argument("--ports", default=",".join(map(str, SPOOF_PORTS)), help="spoofed source ports, comma-separated")
    ap.add_argument("--out", help="write the markdown table here (default: stdout)")
    args = ap.parse_args(argv)
    try:
        ports = tuple(int(p) for p in args.ports.split(","))
    except ValueError:
        ap.error(f"--ports must be comma-separated integers, got {args.ports!r}")
    versions = [v for v in args.versions.split(",") if v]
    for v in versions:
        if is_bundle(v):
            if not Path(v).is_file():
                ap.error(f"--versions: run bundle {v} does not exist")
        elif not (VERSIONS_DIR / v / "loco" / "folds.json").exists():
            ap.error(f"--versions: {v} has no {VERSIONS_DIR / v / 'loco' / 'folds.json'}")
    text = report(versions, ports, log=lambda s: print(s, file=sys.stderr))
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
