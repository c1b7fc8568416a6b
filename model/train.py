"""`python -m model.train`: train the default flow model on the labelled captures, export it as a new version.

  --version V        version folder name (default: flow-<UTC timestamp>)
  --evaluate         also run leave-one-network-out evaluation and write EVALUATION.md (default on)
  --no-evaluate      skip it
  --set-default      write model/versions/DEFAULT
  --pretrain-epochs N / --epochs N / --threads N / --seed N
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

import numpy as np
import torch

from .corpus import build_corpus
from .export import set_default, write_version
from .training import TrainConfig, choose_threshold, predict, train


def training_data_list(corpus) -> list[dict]:
    out = []
    for i, cap in enumerate(corpus.captures):
        sel = corpus.capture == i
        fl = corpus.flow_label[corpus.flow_capture == i]
        out.append({
            "capture": cap.name, "network": cap.network, "files": [str(p).split("/labeled/")[-1] for p in cap.paths],
            "sequences": int(sel.sum()), "flows": int(fl.shape[0]), "malicious_flows": int((fl == 1).sum()),
            "benign_flows": int((fl == 0).sum()), "unlabelled_flows": int((fl == -1).sum()),
            **({"label_note": "42-1: flows to 185.244.25.183:4975 (IRC C&C, officially Benign) trained as malicious"} if cap.name == "iot23-42-1" else {}),
            **({"label_note": "no label column: scan flows = malicious, the 8 DNS flows to 8.8.8.8:53 = benign"} if cap.name == "nmap-portscan" else {}),
        })
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="model.train")
    ap.add_argument("--version")
    ap.add_argument("--evaluate", dest="evaluate", action="store_true", default=True)
    ap.add_argument("--no-evaluate", dest="evaluate", action="store_false")
    ap.add_argument("--set-default", action="store_true")
    ap.add_argument("--pretrain-epochs", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = TrainConfig()
    if args.pretrain_epochs is not None:
        cfg.pretrain_epochs = args.pretrain_epochs
    if args.epochs is not None:
        cfg.epochs = args.epochs
    if args.seed is not None:
        cfg.seed = args.seed
    version = args.version or "flow-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    t0 = time.time()
    corpus = build_corpus()
    print(f"corpus: {corpus.count} sequences, {corpus.flow_x.shape[0]} flows from {len(corpus.captures)} captures", file=sys.stderr)
    idx = np.arange(corpus.count)
    evaluation = None
    if args.evaluate:
        from .evaluate import leave_one_network_out
        evaluation = leave_one_network_out(corpus, cfg, log=lambda m: print(m, file=sys.stderr))
    print("training the final model on all captures", file=sys.stderr)
    model, hist = train(corpus, idx, cfg, log=lambda m: print(m, file=sys.stderr))
    lab = idx[corpus.y >= 0]
    scores = predict(model, corpus, lab)["score"]
    threshold = choose_threshold(scores, corpus.y[lab], cfg.target_fpr)
    metrics = {"note": "leave-one-network-out metrics are in 'evaluation' (EVALUATION.md); none yet" if evaluation is None else "see evaluation"}
    extra = {}
    out = write_version(
        model, version, trained_tactics=hist["trained_tactics"], metrics=metrics, thresholds={"score": threshold},
        training_data=training_data_list(corpus),
        training={"config": cfg.to_dict(), "history": {k: v for k, v in hist.items() if k != "trained_tactics"},
                  "device": str(torch.device("cuda" if torch.cuda.is_available() else "cpu")), "threads": args.threads},
        extra=extra,
    )
    if evaluation is not None:
        from .evaluate import finish_evaluation
        finish_evaluation(out, model, corpus, evaluation, threshold)
    if args.set_default:
        set_default(version)
    print(f"wrote {out} in {time.time() - t0:.0f}s (threshold {threshold:.4f})", file=sys.stderr)
    print(str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
