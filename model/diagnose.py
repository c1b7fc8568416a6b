"""Where the held-out false positives come from: `python -m model.diagnose --version V [--out FILE]`.

Loads each committed leave-one-network-out fold model (versions/V/loco/<fold>.onnx) back into PyTorch (the
ONNX initializers are the state dict; transposed MatMul weights are matched by order of use) and, for the
sequences each fold model scores, separates what drives the score:

- `full`: the model as shipped;
- `no_rules`: the in-graph sub-score evidence (scan / beacon / exfiltration / brute force per port class)
  zeroed, which is exactly what the 20 % training-time evidence dropout shows the model;
- `no_flow_head`: the per-flow head's evidence (max logit, mean probability) zeroed;
- `encoder_only`: both zeroed;
- the per-flow head's max probability over the sequence, and each evidence input.

Only committed fold models are used, each on the network it never saw; nothing is trained or tuned here.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .corpus import Corpus, build_corpus, for_spec, length_batches, padded_batch
from .evaluate import binary_metrics
from .features import ADDRESS_SCOPES, C, PORT_CLASSES, PORT_OFFSET, SPEC, address_scope
from .loco import corpus_folds
from .net import FlowSequenceEncoder
from .spec_paths import VERSIONS_DIR

EVIDENCE_NAMES = ["silent", "port_fan", "dst_fan", "scan", "beacon", "exfil", "up_ratio", "log10_up_8",
                  *[f"brute_{c}" for c in PORT_CLASSES]]
# Transposed MatMul weights in the order the exported graph uses them (inp, per layer qkv/out/ff1/ff2, flow_mlp).
_TRAINING_ONLY = {"mask_token", "recon_head.weight", "recon_head.bias"}  # not in the inference graph
_MATMUL_ORDER = ["inp.weight", *[f"layers.{i}.{n}.weight" for i in range(8) for n in ("qkv", "out", "ff1", "ff2")]]


def torch_from_onnx(path: Path, layers: int = 2, heads: int = 4, d: int = 64, ff: int = 128) -> FlowSequenceEncoder:
    """A FlowSequenceEncoder (evidence + flow head, as flow-1.2.0) whose weights are the ONNX file's. The context
    width (4 for features.v1, 9 for features.v2) is read from the file's `ctx_mean`."""
    init = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    context = int(init["ctx_mean"].shape[0]) if "ctx_mean" in init else C
    model = FlowSequenceEncoder(d, layers, heads, ff, rules=True, evidence=True, flow_head=True, context=context).eval()
    state = model.state_dict()
    named = {k: v for k, v in init.items() if k in state}
    anon = sorted((k for k in init if k.startswith("onnx::MatMul_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    targets = _MATMUL_ORDER[: 1 + 4 * layers] + ["flow_mlp.0.weight", "flow_mlp.2.weight", "flow_mlp.4.weight"]
    if len(anon) != len(targets):
        raise ValueError(f"{path}: {len(anon)} anonymous MatMul weights, expected {len(targets)}")
    for k, t in zip(anon, targets):
        named[t] = init[k].T
    missing = set(state) - set(named) - _TRAINING_ONLY
    if missing:
        raise ValueError(f"{path}: no weights for {sorted(missing)}")
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)).to(state[k].dtype).reshape(state[k].shape)
                           for k, v in named.items()}, strict=False)
    return model


@torch.no_grad()
def decompose(model: FlowSequenceEncoder, flow: torch.Tensor, mask: torch.Tensor, ctx: torch.Tensor) -> dict:
    """Scores with each evidence path on/off, the per-flow head's max probability, the evidence inputs."""
    x, _ = model.encode(flow, mask, ctx)
    m = mask.unsqueeze(-1)
    mean = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
    mx = (x + (m - 1.0) * 1e4).max(1).values
    c = model.ctx((ctx - model.ctx_mean) / model.ctx_std)
    ev = model.evidence_features(flow, mask, ctx)
    fl = model.flow_logits(flow, ctx)
    fmax = (fl + (mask - 1.0) * 1e4).max(1).values
    fmean = (torch.sigmoid(fl) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    rule_term = model.rule_proj(ev)
    flow_term = model.flow_proj(torch.stack([torch.tanh(fmax / 4.0), fmean], dim=-1))
    zero_rule = model.rule_proj(torch.zeros_like(ev))
    zero_flow = model.flow_proj(torch.zeros(ev.shape[0], 2))

    def score(cc):
        return torch.sigmoid(model.score_head(model.pool(torch.cat([mean, mx, cc], dim=-1)))).squeeze(-1)

    return {
        "full": score(c + rule_term + flow_term).numpy(),
        "no_rules": score(c + zero_rule + flow_term).numpy(),
        "no_flow_head": score(c + rule_term + zero_flow).numpy(),
        "encoder_only": score(c + zero_rule + zero_flow).numpy(),
        "flow_max_prob": torch.sigmoid(fmax).numpy(),
        "flow_mean_prob": fmean.numpy(),
        "flow_prob": torch.sigmoid(fl).numpy(),
        "evidence": ev.numpy(),
    }


def decompose_corpus(model: FlowSequenceEncoder, corpus: Corpus, idx: np.ndarray) -> dict:
    out: dict[str, np.ndarray] = {}
    flow_prob = np.zeros(corpus.flow_x.shape[0], np.float32)
    for b in length_batches(corpus.seq_len, idx, 16384, 2048):
        flow, mask, ctx = padded_batch(corpus.flow_x, corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
        r = decompose(model, torch.from_numpy(flow), torch.from_numpy(mask), torch.from_numpy(ctx))
        valid = mask > 0
        flat = (corpus.seq_offset[b][:, None] + np.arange(mask.shape[1])[None, :])[valid]
        flow_prob[flat] = r.pop("flow_prob")[valid]
        for k, v in r.items():
            if k not in out:
                out[k] = np.zeros((corpus.count,) + v.shape[1:], np.float32)
            out[k][b] = v
    out["flow_prob_per_flow"] = flow_prob
    return out


def version_spec(version: str) -> str:
    return json.loads((VERSIONS_DIR / version / "manifest.json").read_text()).get("feature_spec", "features.v1")


def fold_decomposition(version: str, corpus: Corpus, log=print) -> tuple[dict, np.ndarray]:
    """Every sequence decomposed by the fold model that never saw its network; plus each sequence's threshold."""
    vdir = VERSIONS_DIR / version
    corpus = for_spec(corpus, version_spec(version))
    folds = json.loads((vdir / "loco" / "folds.json").read_text())
    names = corpus_folds(corpus)
    res: dict[str, np.ndarray] = {}
    thr = np.zeros(corpus.count, np.float32)
    for fold, meta in folds.items():
        idx = np.nonzero(names == fold)[0]
        model = torch_from_onnx(vdir / meta["model"])
        r = decompose_corpus(model, corpus, idx)
        for k, v in r.items():
            if k not in res:
                res[k] = np.zeros_like(v)
            if k == "flow_prob_per_flow":
                sel = np.isin(corpus.flow_seq, idx)
                res[k][sel] = v[sel]
            else:
                res[k][idx] = v[idx]
        thr[idx] = meta["threshold"]
        log(f"  fold {fold}: {idx.shape[0]} sequences decomposed")
    return res, thr


# ---------------------------------------------------------------- traffic facts (diagnosis only, never model input)
def responder_class(ip: str) -> str:
    """The responder address's class (multicast/broadcast, private/link-local, public): to describe traffic."""
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return "unparsed"
    if a.is_multicast or ip == "255.255.255.255" or (a.version == 4 and ip.endswith(".255")):
        return "multicast/broadcast"
    if a.is_private or a.is_link_local or a.is_loopback or a.is_unspecified:
        return "private/link-local"
    return "public"


PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp", 0: "unknown"}


def sequence_facts(corpus: Corpus, raw: list[dict]) -> dict:
    """Per-sequence descriptive facts from the contract dicts (raw[i] = sequence i)."""
    first_class = corpus.flow_x[corpus.seq_offset, PORT_OFFSET : PORT_OFFSET + len(PORT_CLASSES)].argmax(1)
    return {
        "one_way": np.array([all(f["bwd_pkts"] == 0 and f["bwd_bytes"] == 0 for f in r["flows"]) for r in raw]),
        "no_reply_payload": np.array([all(f["bwd_bytes"] == 0 for f in r["flows"]) for r in raw]),
        "server_to_client": np.array([all(0 < f["src_port"] < 1024 <= f["dst_port"] for f in r["flows"]) for r in raw]),
        "no_payload": np.array([all(f["fwd_bytes"] == 0 and f["bwd_bytes"] == 0 for f in r["flows"]) for r in raw]),
        "proto": np.array([PROTO_NAMES.get(r["flows"][0]["protocol"], "other") for r in raw], dtype=object),
        "port_class": np.array([PORT_CLASSES[k] for k in first_class], dtype=object),
        "responder": np.array([responder_class(r["dst_ip"]) for r in raw], dtype=object),
        "dst_port": np.array([r["flows"][0]["dst_port"] for r in raw]),
    }


# ---------------------------------------------------------------- the Slips-style scan sub-score, variants
_SCAN = SPEC["sub_score_constants"]["scan"]


def _ramp(x: float, a: float, b: float) -> float:
    return min(1.0, max(0.0, (x - a) / (b - a)))


SCAN_SILENT_RULES = {
    "V0: bwd_bytes == 0 (features.v1)": lambda f: f["bwd_bytes"] == 0,
    "V1: unknown protocol also needs bwd_pkts == 0": lambda f: f["bwd_bytes"] == 0 and (f["protocol"] != 0 or f["bwd_pkts"] == 0),
    "V2: tcp/unknown probes carry no payload either way": lambda f: f["bwd_bytes"] == 0 and (f["protocol"] not in (0, 6) or f["fwd_bytes"] == 0),
    "V3: scan = 0 when the protocol is unknown": lambda f: f["bwd_bytes"] == 0 and f["protocol"] != 0,
}
# V2 is shown but never selected: NetFlow/IPFIX/sFlow count IP-level bytes (a bare SYN is 40-60 bytes), so "no forward
# payload" cannot be read from their byte counts, and every capture here counts payload bytes (nothing can validate it).
NOT_SELECTABLE = {"V2: tcp/unknown probes carry no payload either way"}
UNANSWERED_CONTEXT = "C: fan-out counts only unanswered destinations / ports (a sequencer context change)"


def scan_variant(seq: dict, silent, ctx: dict | None = None) -> float:
    flows = seq["flows"]
    if not flows:
        return 0.0
    ctx = ctx or seq["context"]
    fan = max(_ramp(ctx["distinct_dst_ports"], _SCAN["min_ports"], _SCAN["full_ports"]),
              _ramp(ctx["distinct_dsts"], _SCAN["min_dsts"], _SCAN["full_dsts"]))
    return fan * sum(1 for f in flows if silent(f)) / len(flows)


def unanswered_context(raw: list[dict]) -> list[dict]:
    """Per (initiator, window): distinct responders / responder ports none of whose flows had response bytes (the
    Slips notion of a scan's fan-out), attached to each of the initiator's sequences in that window."""
    dst_answered: dict[tuple, dict] = {}
    port_answered: dict[tuple, dict] = {}
    for r in raw:
        key = (r["src_ip"], r["window_start_ms"])
        d = dst_answered.setdefault(key, {})
        p = port_answered.setdefault(key, {})
        for f in r["flows"]:
            ans = f["bwd_bytes"] > 0
            d[r["dst_ip"]] = d.get(r["dst_ip"], False) or ans
            p[f["dst_port"]] = p.get(f["dst_port"], False) or ans
    out = []
    for r in raw:
        key = (r["src_ip"], r["window_start_ms"])
        out.append({"distinct_dsts": sum(1 for a in dst_answered[key].values() if not a),
                    "distinct_dst_ports": sum(1 for a in port_answered[key].values() if not a)})
    return out


def inner_select(y: np.ndarray, folds: np.ndarray, scores: dict[str, np.ndarray], thr, base: str) -> tuple[np.ndarray, dict]:
    """Per held-out network k: the variant with the best pooled F1 over the OTHER networks' labelled sequences among
    those whose FPR there is not above `base`'s (ties: the earlier-listed variant). Returns held-out scores of the
    chosen variants and the choice per network."""
    lab = y >= 0
    out = np.zeros(y.shape[0], np.float64)
    chosen = {}
    t = thr if isinstance(thr, np.ndarray) else np.full(y.shape[0], thr)
    for k in sorted(set(folds)):
        sel = lab & (folds != k)
        st = {v: binary_metrics(y[sel], s[sel] >= t[sel]) for v, s in scores.items()}
        ok = [v for v in scores if st[v]["fpr"] <= st[base]["fpr"] + 1e-12]
        best = max(ok, key=lambda v: (round(st[v]["f1"] or 0.0, 9), -list(scores).index(v)))
        chosen[k] = {"variant": best, "inner": {v: (st[v]["f1"], st[v]["fpr"]) for v in scores}}
        out[folds == k] = scores[best][folds == k]
    return out, chosen


# ---------------------------------------------------------------- report
MODES = ["full", "no_rules", "no_flow_head", "encoder_only"]
MODE_TEXT = {"full": "as shipped", "no_rules": "sub-score evidence zeroed", "no_flow_head": "per-flow head evidence zeroed",
             "encoder_only": "both zeroed (encoder + context only)"}


def _f(x, d=3) -> str:
    return "–" if x is None else f"{x:.{d}f}"


def _counts_table(title: str, keys: np.ndarray, groups: list[tuple[str, np.ndarray]], top: int = 12) -> list[str]:
    order = Counter()
    for _, sel in groups:
        order.update(keys[sel].tolist())
    L = [f"| {title} | " + " | ".join(g for g, _ in groups) + " |", "|---|" + "---:|" * len(groups)]
    for k, _ in order.most_common(top):
        L.append(f"| {k} | " + " | ".join(str(int((keys[sel] == k).sum())) for _, sel in groups) + " |")
    return L


def report(version: str, corpus: Corpus, raw: list[dict], log=print, compare: str | None = None) -> str:
    from .raw_sequences import corpus_raw_sequences  # noqa: F401  (raw comes from it)

    spec = version_spec(version)
    mcorpus = for_spec(corpus, spec)  # what the model reads (features.v2: + responder scope)
    res, thr = fold_decomposition(version, corpus, log=log)
    folds = corpus_folds(corpus)
    facts = sequence_facts(corpus, raw)
    names = [c.name for c in corpus.captures]
    cap = np.array([names[i] for i in corpus.capture], dtype=object)
    y, lab = corpus.y, corpus.y >= 0
    flagged = res["full"] >= thr
    L = [f"# Where {version}'s held-out false positives come from", "",
         f"Generated by `python -m model.diagnose --version {version}"
         + (f" --compare {compare}" if compare else "") + "` from the committed leave-one-network-out fold models "
         "(`loco/<fold>.onnx`, loaded back into PyTorch; scores match onnxruntime within 3e-7), each scoring only the network it "
         "never saw, at its fold threshold. Nothing here is trained or tuned. "
         + ("Raw ports and addresses are used to describe the traffic only; they are not model inputs. The responder's "
            "address scope (multicast/broadcast, loopback, link-local, private, public) IS a model input of this "
            f"{spec} model." if spec != "features.v1" else
            "Responder address classes and raw ports are used to describe the traffic only; they are not model inputs."), ""]

    # 1. paths
    L += ["## 1. Which part of the model drives the score", "",
          "Each sequence is re-scored with an evidence path zeroed (what the 20 % training-time evidence dropout shows the "
          "model): " + "; ".join(f"`{m}` = {MODE_TEXT[m]}" for m in MODES) + ". Cells: sequences at or above the fold "
          "threshold, benign (false positives) / malicious (true positives).", "",
          "| capture | " + " | ".join(f"`{m}` FP / TP" for m in MODES) + " | per-flow head max p ≥ thr: FP |",
          "|---|" + "---:|" * (len(MODES) + 1)]
    for ci, n in enumerate(names):
        s = corpus.capture == ci
        cells = [f"{int((s & (y == 0) & (res[m] >= thr)).sum())} / {int((s & (y == 1) & (res[m] >= thr)).sum())}" for m in MODES]
        L.append(f"| {n} | " + " | ".join(cells) + f" | {int((s & (y == 0) & (res['flow_max_prob'] >= thr)).sum())} |")
    pooled = {m: binary_metrics(y[lab], res[m][lab] >= thr[lab]) for m in MODES}
    L.append("| **pooled F1 / FPR** | " + " | ".join(f"{pooled[m]['f1']:.4f} / {pooled[m]['fpr']:.4f}" for m in MODES) + " | |")
    sel_scores, chosen = inner_select(y, folds, {m: res[m] for m in MODES}, thr, "full")
    ps = binary_metrics(y[lab], sel_scores[lab] >= thr[lab])
    L += ["", "Is zeroing an evidence path a fix? Chosen per held-out network on the *other* networks' held-out scores "
          "(best pooled F1 among modes whose FPR there is not above `full`'s): "
          + ", ".join(f"{k} → `{v['variant']}`" for k, v in chosen.items())
          + f". Held-out result of those choices: pooled F1 {ps['f1']:.4f} at FPR {ps['fpr']:.4f}, vs {pooled['full']['f1']:.4f} / "
          f"{pooled['full']['fpr']:.4f} as shipped. (Those other networks were scored by fold models that had seen the held-out "
          "network, a second-order leak that can only flatter the ablation.)", ""]

    # 2. honeypots
    hp = np.isin(cap, ["iot23-honeypot-5-1", "iot23-honeypot-7-1"]) & lab
    reply = np.where(facts["one_way"], "no reply", "reply")
    key = np.array([f"{a} · {p}/{d} · {r}" for a, p, d, r in zip(facts["responder"], facts["proto"], facts["dst_port"], reply)], dtype=object)
    L += ["## 2. IoT-23 honeypots 5-1 (Amazon Echo) and 7-1 (Somfy lock): scored by the `iot23` fold model", "",
          "Sequences by responder class · protocol/first flow's responder port (ICMP: code) · whether anything came back:", ""]
    L += _counts_table("traffic", key, [("5-1 flagged", hp & flagged & (cap == "iot23-honeypot-5-1")),
                                        ("5-1 not flagged", hp & ~flagged & (cap == "iot23-honeypot-5-1")),
                                        ("7-1 flagged", hp & flagged & (cap == "iot23-honeypot-7-1")),
                                        ("7-1 not flagged", hp & ~flagged & (cap == "iot23-honeypot-7-1"))], top=14)
    tr = (folds != "iot23") & lab
    pk = np.array([f"{p}/{c}" for p, c in zip(facts["proto"], facts["port_class"])], dtype=object)
    ow = facts["one_way"]
    rows = sorted({k for k in pk[hp & ow]} | {k for k in pk[tr & ow] if k.startswith(("icmp", "udp"))})
    L += ["", "One-way sequences (no packet and no byte came back) by protocol / port class of the first flow: what the `iot23` "
          "fold model was trained on, and the honeypots' one-way sequences it flags:", "",
          "| protocol / port class | training benign | training malicious | honeypot 5-1+7-1 flagged / all |", "|---|---:|---:|---:|"]
    for k in rows:
        L.append(f"| {k} | {int((tr & ow & (pk == k) & (y == 0)).sum())} | {int((tr & ow & (pk == k) & (y == 1)).sum())} | "
                 f"{int((hp & ow & flagged & (pk == k)).sum())} / {int((hp & ow & (pk == k)).sum())} |")
    fp_hp = np.nonzero(hp & flagged)[0]
    if fp_hp.size:
        model = torch_from_onnx(VERSIONS_DIR / version / "loco" / "iot23.onnx")
        from .training import predict

        trn = np.nonzero(tr)[0]
        a = predict(model, mcorpus, fp_hp)["rep"]
        b = predict(model, mcorpus, trn)["rep"]
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        nn = np.argsort(-(a @ b.T), axis=1)[:, :20]
        nb = Counter((names[corpus.capture[trn][i]], "malicious" if y[trn][i] == 1 else "benign") for i in nn.ravel())
        L += ["", f"The 20 nearest training sequences (cosine, the fold model's pooled representation) of the {fp_hp.size} flagged "
              f"honeypot sequences: {y[trn][nn].mean():.1%} malicious; by capture: "
              + ", ".join(f"{c} {l} {n}" for (c, l), n in nb.most_common(6)) + "."]
    L += [""]

    # 3. flowprep model false positives
    fp = cap == "cic2017-flowprep"
    dirn = np.where(facts["server_to_client"], "server→client (src port < 1024, dst port ≥ 1024)", "client→server")
    pay = np.where(facts["no_payload"], "no payload either way", np.where(facts["no_reply_payload"], "no response payload", "response payload"))
    k3 = np.array([f"{a} · {b}" for a, b in zip(dirn, pay)], dtype=object)
    L += ["## 3. cic2017-flowprep (protocol unknown): scored by the `cic2017` fold model", ""]
    L += _counts_table("direction · payload", k3, [("benign flagged (FP)", fp & (y == 0) & flagged), ("benign, all", fp & (y == 0)),
                                                   ("malicious flagged (TP)", fp & (y == 1) & flagged), ("malicious, all", fp & (y == 1))])
    trc = (folds != "cic2017") & lab
    hi = np.isin(facts["port_class"], ["registered", "ephemeral"]) & facts["no_reply_payload"]
    L += ["", f"In the `cic2017` fold's training networks (all Zeek: ctu50, iot23, mcfp-botnet-4, nmap): server→client sequences "
          f"benign {int((trc & facts['server_to_client'] & (y == 0)).sum())} / malicious {int((trc & facts['server_to_client'] & (y == 1)).sum())}; "
          f"sequences to a registered/ephemeral port with no response payload benign {int((trc & hi & (y == 0)).sum())} / malicious "
          f"{int((trc & hi & (y == 1)).sum())}. In flowprep, {int((fp & (y == 0) & hi).sum())} benign sequences look like that and "
          f"{int((fp & (y == 0) & hi & flagged).sum())} of them are flagged ({int((fp & (y == 0) & flagged).sum())} false positives in all).", ""]

    # 4. the scan sub-score
    sub = {name: np.array([scan_variant(r, rule) for r in raw]) for name, rule in SCAN_SILENT_RULES.items()}
    base = next(iter(SCAN_SILENT_RULES))
    sub[UNANSWERED_CONTEXT] = np.array([scan_variant(r, SCAN_SILENT_RULES[base], c) for r, c in zip(raw, unanswered_context(raw))])
    hit = fp & (y == 0) & (sub[base] >= 0.5)
    horiz = np.array([r["context"]["distinct_dsts"] > r["context"]["distinct_dst_ports"] for r in raw])
    L += ["## 4. The Slips-style scan sub-score (features.v1 `scan`, an alert flag in the product) on cic2017-flowprep", "",
          f"It fires (≥ 0.5) on {int(hit.sum())} benign flowprep sequences and on none of its malicious ones. Of those hits "
          f"{int((hit & horiz).sum())} get their fan-out from distinct destinations (horizontal), {int((hit & facts['server_to_client']).sum())} "
          f"are server→client; {int((hit & facts['no_payload']).sum())} carried no payload either way. Typical: a workstation that "
          "opened 20+ web connections in the 5-minute window (distinct_dsts ≥ 24 → fan = 1) and one of them is a CICFlowMeter "
          "fragment with no response payload (silent = 1). The fan-out counts every destination the initiator contacted, "
          "answered or not; Slips counts unanswered ones. The sequence alone cannot tell, so the remedy inside features is "
          "to require the silent flows to look like probes.", "",
          "Candidate rules (threshold 0.5 throughout; no training), per-sequence F1 / FPR. V1–V3 change which flows count as "
          "silent; C keeps V0's silent flows but computes the fan-out from the initiator's unanswered destinations and ports "
          "only (computed here from the captures; the sequencer's entity context does not carry it). V2 is not selectable: "
          "NetFlow/IPFIX/sFlow count IP-level bytes (a bare SYN is 40–60 bytes), so 'no forward payload' cannot be read "
          "from their counts, and every capture here counts payload bytes.", "",
          "| rule | pooled F1 / FPR | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for name, s in sub.items():
        p = binary_metrics(y[lab], s[lab] >= 0.5)
        cells = []
        for ci in range(len(names)):
            q = corpus.capture == ci
            m = binary_metrics(y[q], s[q] >= 0.5)
            cells.append(f"{_f(m['f1'], 2)} / {_f(m['fpr'])}")
        L.append(f"| {name} | {p['f1']:.4f} / {p['fpr']:.4f} | " + " | ".join(cells) + " |")
    sel, ch = inner_select(y, folds, {k: v for k, v in sub.items() if k not in NOT_SELECTABLE}, 0.5, base)
    p = binary_metrics(y[lab], sel[lab] >= 0.5)
    L += ["", "Chosen per held-out network on the other networks only (best pooled F1 among rules whose FPR there is not above "
          "V0's; ties keep V0): " + "; ".join(f"{k} → {v['variant'].split(':')[0]}" for k, v in ch.items())
          + f". Held-out result of those choices: pooled F1 {p['f1']:.4f} / FPR {p['fpr']:.4f}.", ""]
    if spec != "features.v1":
        L += scope_section(corpus, raw)
    if compare:
        L += compare_section(version, compare, corpus, raw, res, thr, facts, log=log)
    return "\n".join(L)


# ---------------------------------------------------------------- against a reference version
def scope_name(ip: str) -> str:
    """The features.v2 responder address scope of ip (the model input of a features.v2 model), or 'not an IP'."""
    k = address_scope(ip)
    return ADDRESS_SCOPES[k] if k >= 0 else "not an IP"


@torch.no_grad()
def scope_counterfactual(version: str, corpus: Corpus, idx: np.ndarray) -> np.ndarray:
    """[len(idx), scopes] the fold model's score of each sequence with its responder scope replaced by each scope in
    turn (features.v2 models only; everything else as recorded)."""
    vdir = VERSIONS_DIR / version
    mc = for_spec(corpus, version_spec(version))
    folds = json.loads((vdir / "loco" / "folds.json").read_text())
    names = corpus_folds(corpus)
    out = np.zeros((idx.shape[0], len(ADDRESS_SCOPES)), np.float32)
    for fold, meta in folds.items():
        pos = np.nonzero(names[idx] == fold)[0]
        if not pos.size:
            continue
        model = torch_from_onnx(vdir / meta["model"])
        for k in range(len(ADDRESS_SCOPES)):
            ctx = mc.ctx.copy()
            ctx[idx[pos], C:] = 0.0
            ctx[idx[pos], C + k] = 1.0
            sub = replace(mc, ctx=ctx)
            out[pos, k] = decompose_corpus(model, sub, idx[pos])["full"][idx[pos]]
    return out


def scope_section(corpus: Corpus, raw: list[dict]) -> list[str]:
    """Benign / malicious labelled sequences per capture by responder scope: what a features.v2 fold model sees of
    the scope when its network is held out (the other networks' rows) and what it meets on the held-out one."""
    names = [c.name for c in corpus.captures]
    scope = np.array([scope_name(r["dst_ip"]) for r in raw], dtype=object)
    cols = [*ADDRESS_SCOPES, "not an IP"]
    folds = corpus_folds(corpus)
    L = ["## 5. The responder scope in the data (a features.v2 input)", "",
         "Labelled sequences by the responder's address scope, benign / malicious, per capture; then per fold, what the "
         "fold model was trained on (every other network). A scope column can only be learned from these rows.", "",
         "| capture | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for ci, n in enumerate(names):
        q = corpus.capture == ci
        L.append(f"| {n} | " + " | ".join(f"{int((q & (scope == c) & (corpus.y == 0)).sum())} / "
                                         f"{int((q & (scope == c) & (corpus.y == 1)).sum())}" for c in cols) + " |")
    for k in sorted(set(folds)):
        t = folds != k
        cells = []
        for c in cols:
            b, m = int((t & (scope == c) & (corpus.y == 0)).sum()), int((t & (scope == c) & (corpus.y == 1)).sum())
            cells.append(f"{b} / {m}" + (f" ({m / (b + m):.0%} mal.)" if b + m else ""))
        L.append(f"| *training of fold {k}* | " + " | ".join(cells) + " |")
    return L + [""]


def compare_section(version: str, ref: str, corpus: Corpus, raw: list[dict], res: dict, thr: np.ndarray,
                    facts: dict, log=print) -> list[str]:
    """Per held-out capture, which sequences `version` flags that `ref` did not (new false positives) and which true
    positives it lost; for the captures where that got worse, what those sequences are and which input drives them."""
    ref_res, ref_thr = fold_decomposition(ref, corpus, log=log)
    names = [c.name for c in corpus.captures]
    y = corpus.y
    now, was = res["full"] >= thr, ref_res["full"] >= ref_thr
    scope = np.array([scope_name(r["dst_ip"]) for r in raw], dtype=object)
    v2 = version_spec(version) != "features.v1"
    L = [f"## 6. Against {ref}, per held-out capture", "",
         f"Sequences flagged by {version} (each capture scored by the fold model that never saw its network, at its fold "
         f"threshold) vs by {ref}'s fold models. New FP: benign, flagged now but not by {ref}; gone FP: the reverse; "
         "lost TP: malicious, flagged by the reference only; new TP: the reverse.", "",
         f"| capture | thr {ref} | thr {version} | {ref} TP / FP | {version} TP / FP | new FP | gone FP | lost TP | new TP |",
         "|---|---:|---:|---|---|---:|---:|---:|---:|"]
    worse = []
    for ci, n in enumerate(names):
        q = corpus.capture == ci
        b, m = q & (y == 0), q & (y == 1)
        nfp, gfp = int((b & now & ~was).sum()), int((b & ~now & was).sum())
        ltp, ntp = int((m & ~now & was).sum()), int((m & now & ~was).sum())
        L.append(f"| {n} | {ref_thr[q].max():.4f} | {thr[q].max():.4f} | {int((m & was).sum())} / {int((b & was).sum())} | "
                 f"{int((m & now).sum())} / {int((b & now).sum())} | {nfp} | {gfp} | {ltp} | {ntp} |")
        if nfp - gfp >= 20 or ltp - ntp >= 10:
            worse.append((n, q))
    reply = np.where(facts["one_way"], "no reply", np.where(facts["no_reply_payload"], "no reply payload", "reply payload"))
    key = np.array([f"{a} · {p}/{d} · {r}" for a, p, d, r in zip(scope, facts["proto"], facts["dst_port"], reply)], dtype=object)
    for n, q in worse:
        groups = [("new FP", q & (y == 0) & now & ~was), ("lost TP", q & (y == 1) & ~now & was)]
        groups = [(g, sel) for g, sel in groups if sel.any()]
        L += ["", f"### {n}", "", "By responder scope (features.v2 address class) · protocol/first flow's responder port · reply:", ""]
        L += _counts_table("traffic", key, groups + [("benign, all", q & (y == 0)), ("malicious, all", q & (y == 1))], top=10)
        for g, sel in groups:
            idx = np.nonzero(sel)[0]
            dst = Counter(raw[i]["dst_ip"] for i in idx).most_common(5)
            src = Counter(raw[i]["src_ip"] for i in idx).most_common(3)
            modes = ", ".join(f"`{md}` {int((res[md][idx] >= thr[idx]).sum())}" for md in MODES)
            at_ref = int((res["full"][idx] >= ref_thr[idx]).sum())
            L += ["", f"**{g}** ({idx.size} sequences): responders " + ", ".join(f"{a} ({c})" for a, c in dst)
                  + "; initiators " + ", ".join(f"{a} ({c})" for a, c in src) + ". "
                  f"Score of {version} median {np.median(res['full'][idx]):.4f} (threshold {thr[idx].max():.4f}), of {ref} "
                  f"median {np.median(ref_res['full'][idx]):.4f} (threshold {ref_thr[idx].max():.4f}); at {ref}'s threshold "
                  f"{version} would flag {at_ref}. Still flagged by {version} "
                  f"with an evidence path zeroed: {modes}; per-flow head max p ≥ threshold: "
                  f"{int((res['flow_max_prob'][idx] >= thr[idx]).sum())}."]
            if v2:
                cf = scope_counterfactual(version, corpus, idx)
                L += ["", f"Counterfactual responder scope (the same sequences re-scored by {version}'s fold model with the "
                      "scope one-hot set to each class, nothing else changed): flagged of " + str(idx.size) + ": "
                      + ", ".join(f"{s} {int((cf[:, k] >= thr[idx]).sum())}" for k, s in enumerate(ADDRESS_SCOPES))
                      + "; median score " + ", ".join(f"{s} {np.median(cf[:, k]):.4f}" for k, s in enumerate(ADDRESS_SCOPES)) + "."]
    L += [""]
    return L


def threshold_caps(bundle_path: Path, corpus: Corpus, caps=(0.99, 0.999, 0.9999, 1.0)) -> str:
    """The inner_fpr rule under other caps, from a `model.experiments run` bundle's kept inner scores (same models,
    same inner scores; only the cap on the threshold differs). Per-sequence held-out F1 / FPR (TP/FP)."""
    from .training import choose_threshold_fpr

    b = torch.load(bundle_path, map_location="cpu", weights_only=False)
    folds = corpus_folds(corpus)
    names = [c.name for c in corpus.captures]
    y, lab, oof = corpus.y, corpus.y >= 0, b["oof"]
    rate = b["config"].get("inner_fpr", 0.01)
    cols, header = [], []
    for cap in caps:
        thr = np.zeros(corpus.count)
        ths = []
        for k, f in b["folds"].items():
            s = f["inner_scores"]
            t = choose_threshold_fpr(s["score"], y[s["idx"]], rate, hi=cap)
            thr[folds == k] = t
            ths.append(f"{k} {t:.5f}")
        cols.append(thr)
        p = binary_metrics(y[lab], oof[lab] >= thr[lab])
        header.append(f"- cap {cap}: thresholds {', '.join(ths)}; pooled F1 {p['f1']:.4f} / FPR {p['fpr']:.4f}")
    L = [f"inner_fpr (FPR <= {rate}) thresholds under other caps, {bundle_path}:", "", *header, "",
         "| capture | " + " | ".join(f"cap {c}" for c in caps) + " |", "|---|" + "---|" * len(caps)]
    for ci, n in enumerate(names):
        q = corpus.capture == ci
        cells = []
        for thr in cols:
            m = binary_metrics(y[q], oof[q] >= thr[q])
            cells.append(f"{_f(m['f1'])} / {m['fpr']:.4f} ({m['tp']}/{m['fp']})")
        L.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="model.diagnose")
    ap.add_argument("--version")
    ap.add_argument("--out", help="write the markdown report here (default: stdout)")
    ap.add_argument("--bundle", help="instead: the inner_fpr threshold under other caps, from a model.experiments bundle")
    ap.add_argument("--compare", help="also compare per capture with this version's fold models (e.g. flow-1.2.0)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.bundle:
        print(threshold_caps(Path(args.bundle), build_corpus()))
        return 0
    version = args.version or (VERSIONS_DIR / "DEFAULT").read_text().strip()
    from .raw_sequences import corpus_raw_sequences

    corpus = build_corpus()
    text = report(version, corpus, corpus_raw_sequences(corpus), log=lambda s: print(s, file=sys.stderr),
                  compare=args.compare if args.compare != version else None)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
