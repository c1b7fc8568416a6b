"""`python -m model.finetune --data FILE [--format F] [--base V] [--version V] [--epochs N] [--set-default]`

A new model version from a user's labelled flows (Tempo CSV, Zeek conn.log, CIC CSV, flowprep parquet):
start from the base version's weights, train the heads and encoder on the user's sequences (labels from the
file's `label` column), recalibrate, export. The last 20 % of the file's time span (by window, never by row)
is held out and reported in the manifest's metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from .corpus import corpus_from_tables, for_spec
from .data import Capture, read_user_file
from .evaluate import binary_metrics
from .export import write_version, set_default
from .features import spec_of_context_width
from .net import load_model
from .sequencing import build_sequences
from .spec_paths import VERSIONS_DIR
from .training import TrainConfig, calibrate, choose_threshold, predict


def finetune(model, corpus, idx, epochs: int, lr: float, seed: int, log=print):
    """Supervised fine-tuning on labelled user sequences (same losses as training, lower learning rate)."""
    from .corpus import length_batches, padded_batch
    from .training import augment, capture_weights

    cfg = TrainConfig(seed=seed)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    lab = idx[corpus.y[idx] >= 0]
    pos = float((corpus.y[lab] == 1).mean()) if lab.shape[0] else 0.5
    pos = min(max(pos, 0.01), 0.99)
    w_all = capture_weights(corpus, lab)
    for ep in range(epochs):
        tot, nb = 0.0, 0
        for b in length_batches(corpus.seq_len, lab, cfg.max_tokens, cfg.max_batch, rng):
            flow, mask, ctx = padded_batch(corpus.flow_x, corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
            flow = augment(flow, rng, cfg)
            _, rep = model.encode(torch.from_numpy(flow), torch.from_numpy(mask), torch.from_numpy(ctx))
            y = torch.from_numpy(corpus.y[b].astype(np.float32))
            w = torch.from_numpy((np.where(corpus.y[b] == 1, 0.5 / pos, 0.5 / (1 - pos)) * w_all[b]).astype(np.float32))
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(model.score_head(rep).squeeze(-1), y, reduction="none") * w).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot, nb = tot + loss.item(), nb + 1
        log(f"  finetune epoch {ep + 1}/{epochs}: loss {tot / max(nb, 1):.4f}")
    model.eval()
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="model.finetune")
    ap.add_argument("--data", required=True)
    ap.add_argument("--format", choices=["tempo_csv", "zeek_conn", "cic_csv", "parquet"])
    ap.add_argument("--base")
    ap.add_argument("--version")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set-default", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    base = args.base or (VERSIONS_DIR / "DEFAULT").read_text().strip()
    base_dir = VERSIONS_DIR / base
    if not (base_dir / "model.pt").is_file():
        print(f"model.finetune: base version {base} has no model.pt (weights) to start from", file=sys.stderr)
        return 2
    path = Path(args.data)
    if not path.is_file():
        print(f"model.finetune: no such file: {path}", file=sys.stderr)
        return 2
    t0 = time.time()
    table = read_user_file(path, args.format)
    n_lab = int((table["label"] >= 0).sum())
    if n_lab == 0 or not ((table["label"] == 1).any() and (table["label"] == 0).any()):
        print(f"model.finetune: {path} needs labelled flows of both classes (label column: 0/1, benign/malicious); "
              f"found {n_lab} labelled of {table['label'].shape[0]}", file=sys.stderr)
        return 2
    cap = Capture(path.name, "user", (path,), args.format or "auto")
    model = load_model(base_dir / "model.pt")
    corpus = for_spec(corpus_from_tables([cap], [table]), spec_of_context_width(model.context_width))
    # Time split: sequences starting in the last 20 % (by time) are held out for the report.
    seqs = build_sequences(table)
    seq_start = table["start_ms"][seqs.order[seqs.offset]].astype(np.float64)
    cut = np.quantile(seq_start, 0.8) if corpus.count >= 10 else np.inf
    train_idx = np.nonzero(seq_start < cut)[0]
    test_idx = np.nonzero(seq_start >= cut)[0]
    if train_idx.shape[0] == 0:
        train_idx, test_idx = np.arange(corpus.count), np.arange(0)
    base_manifest = json.loads((base_dir / "manifest.json").read_text())
    log(f"fine-tuning {base} on {train_idx.shape[0]} sequences from {path.name} (holding out {test_idx.shape[0]} by time)")
    model = finetune(model, corpus, train_idx, args.epochs, args.lr, args.seed, log)
    if train_idx.shape[0] >= 200:
        calibrate(model, corpus, train_idx)
    lab_tr = train_idx[corpus.y[train_idx] >= 0]
    thr = choose_threshold(predict(model, corpus, lab_tr)["score"], corpus.y[lab_tr], 0.001)
    metrics = {"protocol": "time split of the fine-tuning file: last 20 % of sequences by start time held out"}
    if test_idx.shape[0]:
        s = predict(model, corpus, test_idx)["score"]
        full = np.zeros(corpus.count)
        full[test_idx] = s
        fsel = np.isin(corpus.flow_seq, test_idx)
        metrics["held_out"] = {
            "per_sequence": binary_metrics(corpus.y[test_idx], s >= thr),
            "per_flow": binary_metrics(corpus.flow_label[fsel], full[corpus.flow_seq[fsel]] >= thr),
        }
    version = args.version or "flow-ft-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    trained = sorted(set(t["id"] for t in base_manifest["tactic_status"] if t["trained"]))
    out = write_version(
        model, version, trained_tactics=trained, metrics=metrics, thresholds={"score": thr},
        training_data=[*base_manifest["training_data"], {"capture": path.name, "network": "user", "file": str(path),
                                                          "sequences": int(corpus.count), "flows": int(corpus.flow_x.shape[0]),
                                                          "fine_tuned": True}],
        training={"base_version": base, "epochs": args.epochs, "lr": args.lr, "seconds": round(time.time() - t0, 1)},
    )
    if args.set_default:
        set_default(version)
    log(f"wrote {out} (threshold {thr:.4f}) in {time.time() - t0:.0f}s")
    print(str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
