"""Self-supervised pre-training, supervised heads, calibration (whitening, anomaly scale, threshold)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .corpus import Corpus, length_batches, padded_batch
from .data import TACTICS
from .features import FLAG_OFFSET, FLAGS_PRESENT, PROTO_OFFSET
from .net import FlowSequenceEncoder

MIN_TACTIC_SEQUENCES = 10


@dataclass
class TrainConfig:
    d: int = 64
    layers: int = 2
    heads: int = 4
    ff: int = 128
    pretrain_epochs: int = 3
    epochs: int = 5
    lr: float = 2e-3
    max_tokens: int = 4096
    max_batch: int = 512
    mask_prob: float = 0.2
    flag_dropout: float = 0.5
    protocol_dropout: float = 0.15
    seed: int = 7
    target_fpr: float = 0.001
    rules: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def augment(flow: np.ndarray, rng: np.random.Generator, cfg: TrainConfig) -> np.ndarray:
    """Exporters differ: some carry no TCP flags, some no protocol. Teach the model not to lean on either."""
    b = flow.shape[0]
    drop_flags = rng.random(b) < cfg.flag_dropout
    flow[drop_flags, :, FLAG_OFFSET : FLAGS_PRESENT + 1] = 0.0
    unk = rng.random(b) < cfg.protocol_dropout
    if unk.any():
        sub = flow[unk]
        tu = (sub[:, :, PROTO_OFFSET] + sub[:, :, PROTO_OFFSET + 1]) > 0
        sub[:, :, PROTO_OFFSET : PROTO_OFFSET + 2] = np.where(tu[..., None], 0.0, sub[:, :, PROTO_OFFSET : PROTO_OFFSET + 2])
        sub[:, :, PROTO_OFFSET + 4] = np.where(tu, 1.0, sub[:, :, PROTO_OFFSET + 4])
        sub[:, :, FLAG_OFFSET : FLAGS_PRESENT + 1] = np.where(tu[..., None], 0.0, sub[:, :, FLAG_OFFSET : FLAGS_PRESENT + 1])
        flow[unk] = sub
    return flow


def fit_normalisation(model: FlowSequenceEncoder, corpus: Corpus, idx: np.ndarray) -> None:
    flows = np.isin(corpus.flow_seq, idx)
    x = corpus.flow_x[flows].astype(np.float64)
    mean, std = x.mean(0), x.std(0)
    std = np.where(std < 1e-3, 1.0, std)
    c = corpus.ctx[idx].astype(np.float64)
    cs = np.where(c.std(0) < 1e-3, 1.0, c.std(0))
    with torch.no_grad():
        model.feat_mean.copy_(torch.tensor(mean, dtype=torch.float32))
        model.feat_std.copy_(torch.tensor(std, dtype=torch.float32))
        model.ctx_mean.copy_(torch.tensor(c.mean(0), dtype=torch.float32))
        model.ctx_std.copy_(torch.tensor(cs, dtype=torch.float32))


def capture_weights(corpus: Corpus, idx: np.ndarray) -> np.ndarray:
    """Per-sequence weights so that each capture counts about equally (sqrt-dampened), mean 1."""
    w = np.zeros(corpus.count, dtype=np.float64)
    caps, counts = np.unique(corpus.capture[idx], return_counts=True)
    for c, n in zip(caps, counts):
        w[idx[corpus.capture[idx] == c]] = 1.0 / np.sqrt(n)
    w[idx] /= w[idx].mean()
    return w


def train(corpus: Corpus, idx: np.ndarray, cfg: TrainConfig, log=print) -> tuple[FlowSequenceEncoder, dict]:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    dev = device()
    model = FlowSequenceEncoder(cfg.d, cfg.layers, cfg.heads, cfg.ff, tactics=len(TACTICS), rules=cfg.rules)
    fit_normalisation(model, corpus, idx)
    model.to(dev)
    fs, fm = model.feat_std.detach(), model.feat_mean.detach()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    history = {"pretrain_loss": [], "loss": []}
    t0 = time.time()

    def tensors(b: np.ndarray, aug: bool):
        flow, mask, ctx = padded_batch(corpus.flow_x, corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
        if aug:
            flow = augment(flow, rng, cfg)
        return torch.from_numpy(flow).to(dev), torch.from_numpy(mask).to(dev), torch.from_numpy(ctx).to(dev)

    # 1) self-supervised: reconstruct masked flows from the rest of the sequence and the context (no labels).
    for ep in range(cfg.pretrain_epochs):
        tot, nb = 0.0, 0
        for b in length_batches(corpus.seq_len, idx, cfg.max_tokens, cfg.max_batch, rng):
            flow, mask, ctx = tensors(b, True)
            tm = (torch.rand(mask.shape, device=dev) < cfg.mask_prob) & (mask > 0)
            tm[:, 0] |= ~tm.any(1)
            tokens, _ = model.encode(flow, mask, ctx, tm)
            target = (flow - fm) / fs
            loss = ((model.recon_head(tokens) - target) ** 2).mean(-1)[tm].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot, nb = tot + loss.item(), nb + 1
        history["pretrain_loss"].append(tot / max(nb, 1))
        log(f"  pretrain epoch {ep + 1}/{cfg.pretrain_epochs}: masked-flow mse {tot / max(nb, 1):.4f} ({time.time() - t0:.0f}s)")

    # 2) supervised heads (+ the reconstruction loss kept as a regulariser).
    lab = idx[corpus.y[idx] >= 0]
    w_all = capture_weights(corpus, lab)
    pos = (corpus.y[lab] == 1).mean()
    trained = trained_tactics(corpus, lab)
    tmask = torch.tensor([1.0 if t in trained else 0.0 for t in TACTICS], device=dev)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, cfg.epochs * len(length_batches(corpus.seq_len, lab, cfg.max_tokens, cfg.max_batch))) + 1)
    for ep in range(cfg.epochs):
        tot, nb = 0.0, 0
        for b in length_batches(corpus.seq_len, lab, cfg.max_tokens, cfg.max_batch, rng):
            flow, mask, ctx = tensors(b, True)
            y = torch.from_numpy(corpus.y[b].astype(np.float32)).to(dev)
            cw = np.where(corpus.y[b] == 1, 0.5 / pos, 0.5 / (1 - pos)) * w_all[b]
            w = torch.from_numpy(cw.astype(np.float32)).to(dev)
            tm = (torch.rand(mask.shape, device=dev) < cfg.mask_prob * 0.5) & (mask > 0)
            tokens, rep = model.encode(flow, mask, ctx, tm)
            logit = model.score_head(rep).squeeze(-1)
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none") * w).mean()
            tac = torch.from_numpy(corpus.tactics[b]).to(dev)
            has_tac = (y > 0) & (tac.sum(-1) > 0)
            if has_tac.any():
                tl = torch.nn.functional.binary_cross_entropy_with_logits(model.tactic_head(rep[has_tac]), tac[has_tac], reduction="none")
                loss = loss + 0.5 * (tl * tmask).sum(-1).mean() / tmask.sum()
            if tm.any():
                target = (flow - fm) / fs
                loss = loss + 0.1 * ((model.recon_head(tokens) - target) ** 2).mean(-1)[tm].mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot, nb = tot + loss.item(), nb + 1
        history["loss"].append(tot / max(nb, 1))
        log(f"  epoch {ep + 1}/{cfg.epochs}: loss {tot / max(nb, 1):.4f} ({time.time() - t0:.0f}s)")
    model.eval()
    calibrate(model, corpus, idx)
    history["seconds"] = time.time() - t0
    history["trained_tactics"] = sorted(trained)
    return model.cpu(), history


def trained_tactics(corpus: Corpus, idx: np.ndarray) -> set[str]:
    counts = corpus.tactics[idx].sum(0)
    return {t for t, n in zip(TACTICS, counts) if n >= MIN_TACTIC_SEQUENCES}


@torch.no_grad()
def predict(model: FlowSequenceEncoder, corpus: Corpus, idx: np.ndarray, max_tokens: int = 16384) -> dict:
    model.eval()
    dev = next(model.parameters()).device
    out = {k: [] for k in ("score", "tactic", "anomaly", "embedding", "rep")}
    order = []
    for b in length_batches(corpus.seq_len, idx, max_tokens, 2048):
        flow, mask, ctx = padded_batch(corpus.flow_x, corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
        _, rep = model.encode(torch.from_numpy(flow).to(dev), torch.from_numpy(mask).to(dev), torch.from_numpy(ctx).to(dev))
        s, t, a, e = model.heads(rep)
        for k, v in (("score", s), ("tactic", t), ("anomaly", a), ("embedding", e), ("rep", rep)):
            out[k].append(v.cpu().numpy())
        order.append(b)
    order_all = np.concatenate(order)
    by_id = np.argsort(order_all)
    pos = np.searchsorted(order_all[by_id], idx)
    return {k: np.concatenate(v)[by_id][pos] for k, v in out.items()}


def whitening(x: np.ndarray, eps: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Mean and a PCA-whitening matrix W (x - mean) @ W has identity covariance (regularised by eps)."""
    mean = x.mean(0)
    cov = np.cov((x - mean).T) + eps * np.eye(x.shape[1])
    vals, vecs = np.linalg.eigh(cov)
    return mean, vecs @ np.diag(1.0 / np.sqrt(vals)) @ vecs.T


@torch.no_grad()
def calibrate(model: FlowSequenceEncoder, corpus: Corpus, idx: np.ndarray) -> None:
    p = predict(model, corpus, idx)
    rep = p["rep"].astype(np.float64)
    m, w = whitening(rep)
    benign = rep[corpus.y[idx] == 0]
    bm, bw = whitening(benign if benign.shape[0] > rep.shape[1] * 4 else rep)
    z = (benign - bm) @ bw
    q = float(np.quantile((z * z).mean(-1), 0.99)) if benign.shape[0] else 1.0
    model.emb_mean.copy_(torch.tensor(m, dtype=torch.float32))
    model.emb_whiten.copy_(torch.tensor(w, dtype=torch.float32))
    model.benign_mean.copy_(torch.tensor(bm, dtype=torch.float32))
    model.benign_whiten.copy_(torch.tensor(bw, dtype=torch.float32))
    model.anomaly_scale.copy_(torch.tensor(max(q, 1e-6), dtype=torch.float32))


def choose_threshold(scores: np.ndarray, y: np.ndarray, target_fpr: float) -> float:
    """Lowest threshold whose benign false-positive rate on the training sequences is <= target_fpr, within [0.5, 0.95]."""
    benign = np.sort(scores[y == 0])
    if benign.shape[0] == 0:
        return 0.5
    k = int(np.floor(target_fpr * benign.shape[0]))
    t = benign[-k - 1] if k < benign.shape[0] else 0.0
    return float(min(0.95, max(0.5, np.nextafter(np.float32(t), np.float32(1)))))
