"""FlowSequenceEncoder: a small pre-norm transformer over the flows of one sequence.

Everything the ONNX contract promises happens inside the graph: input standardisation, P(suspicious),
tactic probabilities, an anomaly score (Mahalanobis distance of the sequence representation to the
benign training representations, mapped to [0,1): 0.5 at the benign 99th percentile), and an
embedding centred, whitened and L2-normalised.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .features import C, F, PORT_CLASSES, PORT_OFFSET, SPEC

SCAN = SPEC["sub_score_constants"]["scan"]
BEACON = SPEC["sub_score_constants"]["beacon"]
BRUTE = SPEC["sub_score_constants"]["brute_force"]
EXFIL = SPEC["sub_score_constants"]["exfiltration"]
EVIDENCE = 4 + 1 + 3 + len(PORT_CLASSES)  # scan, beacon, exfiltration, flows per port class
BIG = 1e30


def _masked_quantile(sorted_v: torch.Tensor, count: torch.Tensor, q: float) -> torch.Tensor:
    """features.v1 quantile of each row's first `count` ascending values (rows with count 0 give v[0])."""
    h = (count - 1.0).clamp(min=0.0) * q
    lo = torch.floor(h)
    hi = torch.minimum((count - 1.0).clamp(min=0.0), lo + 1.0)
    vlo = torch.gather(sorted_v, 1, lo.long().unsqueeze(1)).squeeze(1)
    vhi = torch.gather(sorted_v, 1, hi.long().unsqueeze(1)).squeeze(1)
    return vlo + (h - lo) * (vhi - vlo)


def _dispersion(v: torch.Tensor, valid: torch.Tensor):
    """(1 - |bowley|, madm, median) of each row's valid values, as the features.v1 beacon defines them."""
    count = valid.sum(1)
    sv = torch.sort(torch.where(valid > 0, v, torch.full_like(v, BIG)), dim=1).values
    q1, q2, q3 = (_masked_quantile(sv, count, q) for q in (0.25, 0.5, 0.75))
    degenerate = (q3 == q1) | (q2 == q1) | (q2 == q3)
    bowley = torch.where(degenerate, torch.zeros_like(q1), (q3 + q1 - 2 * q2) / torch.where(degenerate, torch.ones_like(q1), q3 - q1))
    dev = torch.where(valid > 0, (v - q2.unsqueeze(1)).abs(), torch.full_like(v, BIG))
    mad = _masked_quantile(torch.sort(dev, dim=1).values, count, 0.5)
    madm = torch.where(q2 > 0, (1.0 - mad / torch.where(q2 > 0, q2, torch.ones_like(q2))).clamp(0.0, 1.0), torch.zeros_like(q2))
    return 1.0 - bowley.abs(), madm, q2


class EncoderLayer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ff)
        self.ff2 = nn.Linear(ff, d)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d // h)) + bias, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.out(y)
        return x + self.ff2(torch.relu(self.ff1(self.ln2(x))))


class FlowSequenceEncoder(nn.Module):
    def __init__(self, d: int = 64, layers: int = 2, heads: int = 4, ff: int = 128, max_len: int = 64, tactics: int = 14,
                 rules: bool = False, evidence: bool = False, flow_head: bool = False, context: int = C):
        super().__init__()
        self.d, self.max_len, self.rules, self.evidence, self.flow_head = d, max_len, rules, evidence, flow_head
        self.config = {"d": d, "layers": layers, "heads": heads, "ff": ff, "max_len": max_len, "tactics": tactics, "rules": rules}
        if evidence or flow_head:
            self.config |= {"evidence": evidence, "flow_head": flow_head}
        if context != C:  # features.v2 and later: wider context (features.v1 configs stay as they were)
            self.config["context"] = context
        self.context_width = context
        if rules:
            self.rule_proj = nn.Linear(EVIDENCE if evidence else 4, d)
        if flow_head:
            # Per-flow classifier on the flow's own features + context (no attention): the ExtraTrees-like
            # evidence, max-pooled over the sequence's flows.
            self.flow_mlp = nn.Sequential(nn.Linear(F + context, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))
            self.flow_proj = nn.Linear(2, d)
        # Training-time sub-score dropout: probability of hiding the rule evidence of a sequence.
        self.evidence_dropout = 0.0
        self.register_buffer("feat_mean", torch.zeros(F))
        self.register_buffer("feat_std", torch.ones(F))
        self.register_buffer("ctx_mean", torch.zeros(context))
        self.register_buffer("ctx_std", torch.ones(context))
        self.inp = nn.Linear(F, d)
        self.pos = nn.Parameter(torch.zeros(max_len, d))
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.ctx = nn.Linear(context, d)
        self.layers = nn.ModuleList([EncoderLayer(d, heads, ff) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.pool = nn.Sequential(nn.Linear(2 * d + d, d), nn.ReLU(), nn.Dropout(0.1), nn.Linear(d, d))
        self.score_head = nn.Linear(d, 1)
        self.tactic_head = nn.Linear(d, tactics)
        self.recon_head = nn.Linear(d, F)
        self.register_buffer("emb_mean", torch.zeros(d))
        self.register_buffer("emb_whiten", torch.eye(d))
        self.register_buffer("benign_mean", torch.zeros(d))
        self.register_buffer("benign_whiten", torch.eye(d))
        self.register_buffer("anomaly_scale", torch.ones(()))
        nn.init.normal_(self.pos, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def encode(self, flow: torch.Tensor, mask: torch.Tensor, ctx: torch.Tensor, token_mask: torch.Tensor | None = None):
        """Token states [B, L, d] and the pooled sequence representation [B, d]."""
        n = flow.shape[1]
        x = self.inp((flow - self.feat_mean) / self.feat_std) + self.pos[:n]
        if token_mask is not None:
            x = torch.where(token_mask.unsqueeze(-1), self.mask_token.expand_as(x), x)
        c = self.ctx((ctx - self.ctx_mean) / self.ctx_std)
        x = x + c.unsqueeze(1)
        bias = ((mask - 1.0) * 1e4).reshape(mask.shape[0], 1, 1, n)
        for layer in self.layers:
            x = layer(x, bias)
        x = self.ln(x)
        m = mask.unsqueeze(-1)
        mean = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        mx = (x + (m - 1.0) * 1e4).max(1).values
        if self.rules:
            ev = self.evidence_features(flow, mask, ctx) if self.evidence else self.rule_features(flow, mask, ctx)
            c = c + self.rule_proj(self._drop(ev))
        if self.flow_head:
            fl = self.flow_logits(flow, ctx)
            fmax = (fl + (mask - 1.0) * 1e4).max(1).values
            fmean = (torch.sigmoid(fl) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            c = c + self.flow_proj(self._drop(torch.stack([torch.tanh(fmax / 4.0), fmean], dim=-1)))
        rep = self.pool(torch.cat([mean, mx, c], dim=-1))
        return x, rep

    def _drop(self, ev: torch.Tensor) -> torch.Tensor:
        if not self.training or self.evidence_dropout <= 0:
            return ev
        keep = (torch.rand(ev.shape[0], 1, device=ev.device) >= self.evidence_dropout).to(ev.dtype)
        return ev * keep

    def flow_logits(self, flow: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """[B, L] per-flow logits of the ExtraTrees-like head."""
        xf = (flow - self.feat_mean) / self.feat_std
        xc = ((ctx - self.ctx_mean) / self.ctx_std).unsqueeze(1).expand(-1, flow.shape[1], -1)
        return self.flow_mlp(torch.cat([xf, xc], dim=-1)).squeeze(-1)

    @classmethod
    def evidence_features(cls, flow: torch.Tensor, mask: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """All four features.v1 sub-scores recomputed from the model inputs (bytes and gaps come back through
        expm1 of their log1p features, so within float32 rounding), plus their parts: scan (4), RITA beacon,
        exfiltration (score, upload ratio, log10 upload / 8), and brute-force evidence per port class
        (ramp of the flows to that service class; the raw port is not a model input)."""
        scan = cls.rule_features(flow, mask, ctx)
        n = mask.sum(1)
        fb = (torch.exp(flow[:, :, 0]) - 1.0).clamp(min=0.0) * mask
        bb = (torch.exp(flow[:, :, 1]) - 1.0).clamp(min=0.0) * mask
        # beacon
        gap_valid = mask * (1.0 - flow[:, :, 8])
        gaps = (torch.exp(flow[:, :, 7]) - 1.0).clamp(min=0.0)
        ts_skew, ts_madm, _ = _dispersion(gaps, gap_valid)
        ds_skew, ds_madm, ds_median = _dispersion(fb + bb, mask)
        ts = (ts_skew + ts_madm + (n / BEACON["full_count"]).clamp(0.0, 1.0)) / 3.0
        ds = (ds_skew + ds_madm + (1.0 - ds_median / BEACON["small_bytes"]).clamp(0.0, 1.0)) / 3.0
        beacon = torch.where(n >= BEACON["min_flows"], ((ts + ds) / 2.0).clamp(0.0, 1.0), torch.zeros_like(n))
        # exfiltration
        up, down = fb.sum(1), bb.sum(1)
        ratio = torch.where(up + down > 0, up / (up + down).clamp(min=1e-9), torch.zeros_like(up))
        lg = torch.log10(up + 1.0)
        exfil = ((lg - EXFIL["min_log10_bytes"]) / (EXFIL["full_log10_bytes"] - EXFIL["min_log10_bytes"])).clamp(0.0, 1.0) * (
            (ratio - 0.5) / 0.4).clamp(0.0, 1.0)
        # brute force, per port class
        per_class = (flow[:, :, PORT_OFFSET : PORT_OFFSET + len(PORT_CLASSES)] * mask.unsqueeze(-1)).sum(1)
        brute = ((per_class - BRUTE["min_attempts"]) / (BRUTE["full_attempts"] - BRUTE["min_attempts"])).clamp(0.0, 1.0)
        return torch.cat([scan, beacon.unsqueeze(-1), exfil.unsqueeze(-1), ratio.unsqueeze(-1), (lg / 8.0).unsqueeze(-1), brute], dim=-1)

    @staticmethod
    def rule_features(flow: torch.Tensor, mask: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """The Slips-style scan evidence (features.v1 sub-score `scan`), computed from the model inputs alone:
        share of flows without response bytes, and the initiator's port / destination fan-out ramps."""
        sc = SCAN
        silent = ((flow[:, :, 1] == 0).float() * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        ports = ((torch.exp(ctx[:, 1]) - 1.0 - sc["min_ports"]) / (sc["full_ports"] - sc["min_ports"])).clamp(0.0, 1.0)
        dsts = ((torch.exp(ctx[:, 0]) - 1.0 - sc["min_dsts"]) / (sc["full_dsts"] - sc["min_dsts"])).clamp(0.0, 1.0)
        scan = torch.maximum(ports, dsts) * silent
        return torch.stack([silent, ports, dsts, scan], dim=-1)

    def heads(self, rep: torch.Tensor):
        score = torch.sigmoid(self.score_head(rep)).squeeze(-1)
        tactic = torch.sigmoid(self.tactic_head(rep))
        z = (rep - self.benign_mean) @ self.benign_whiten
        d2 = (z * z).mean(-1)
        anomaly = d2 / (d2 + self.anomaly_scale)
        e = (rep - self.emb_mean) @ self.emb_whiten
        emb = e / torch.sqrt((e * e).sum(-1, keepdim=True) + 1e-12)
        return score, tactic, anomaly, emb

    def forward(self, flow_features: torch.Tensor, flow_mask: torch.Tensor, context_features: torch.Tensor):
        _, rep = self.encode(flow_features, flow_mask, context_features)
        return self.heads(rep)


def load_model(path) -> FlowSequenceEncoder:
    """A version's model.pt (weights + architecture), for fine-tuning and the PyTorch side of benchmarks."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    model = FlowSequenceEncoder(**blob["config"])
    model.load_state_dict(blob["state_dict"])
    return model.eval()
