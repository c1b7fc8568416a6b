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

from .features import C, F, SPEC

SCAN = SPEC["sub_score_constants"]["scan"]


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
                 rules: bool = False):
        super().__init__()
        self.d, self.max_len, self.rules = d, max_len, rules
        self.config = {"d": d, "layers": layers, "heads": heads, "ff": ff, "max_len": max_len, "tactics": tactics, "rules": rules}
        if rules:
            self.rule_proj = nn.Linear(4, d)
        self.register_buffer("feat_mean", torch.zeros(F))
        self.register_buffer("feat_std", torch.ones(F))
        self.register_buffer("ctx_mean", torch.zeros(C))
        self.register_buffer("ctx_std", torch.ones(C))
        self.inp = nn.Linear(F, d)
        self.pos = nn.Parameter(torch.zeros(max_len, d))
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.ctx = nn.Linear(C, d)
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
            c = c + self.rule_proj(self.rule_features(flow, mask, ctx))
        rep = self.pool(torch.cat([mean, mx, c], dim=-1))
        return x, rep

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
