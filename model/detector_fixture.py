"""Writes packages/detector/test/fixtures/models/features-v2-tiny: a tiny features.v2 model (not a product model).

The detector's tests load it to check the features.v2 path end to end (TypeScript features with the responder
scope → onnxruntime-node) against PyTorch outputs on golden.v2.json. Run: $TW_PYTHON -m model.detector_fixture
"""

from __future__ import annotations

import numpy as np
import torch

from .corpus import build_corpus
from .data import labelled_captures
from .export import write_version
from .spec_paths import REPO_ROOT
from .training import TrainConfig, train

OUT = REPO_ROOT / "packages/detector/test/fixtures/models"
VERSION = "features-v2-tiny"


def main() -> None:
    torch.set_num_threads(1)
    caps = [c for c in labelled_captures() if c.name in ("iot23-honeypot-7-1", "nmap-portscan")]
    corpus = build_corpus(caps)
    cfg = TrainConfig(d=16, layers=1, heads=2, ff=32, pretrain_epochs=1, epochs=2, max_tokens=512, max_batch=64,
                      evidence=True, flow_head=True, feature_spec="features.v2")
    model, hist = train(corpus, np.arange(corpus.count), cfg, log=lambda _: None)
    out = write_version(model, VERSION, trained_tactics=hist["trained_tactics"], metrics={"note": "test fixture, not evaluated"},
                        thresholds={"score": 0.5}, training_data=[{"capture": c.name} for c in caps],
                        training={"config": cfg.to_dict(), "note": "test fixture"}, versions_dir=OUT)
    (out / "model.pt").unlink()
    (OUT / "DEFAULT").write_text(VERSION + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
