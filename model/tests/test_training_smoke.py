"""A tiny end-to-end run: sequences from one capture, pre-train + heads for one epoch, export, ORT parity."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from model.corpus import build_corpus
from model.data import labelled_captures
from model.export import write_version
from model.training import TrainConfig, predict, train


def test_train_export_parity(tmp_path):
    torch.set_num_threads(1)
    caps = [c for c in labelled_captures() if c.name in ("nmap-portscan", "iot23-honeypot-7-1", "iot23-honeypot-4-1")]
    corpus = build_corpus(caps)
    assert corpus.count == 238 + 92 + 339
    cfg = TrainConfig(d=32, layers=1, ff=64, pretrain_epochs=1, epochs=3, max_tokens=512, max_batch=64)
    model, hist = train(corpus, np.arange(corpus.count), cfg, log=lambda _: None)
    assert len(hist["pretrain_loss"]) == 1 and len(hist["loss"]) == 3
    out = write_version(model, "smoke", trained_tactics=hist["trained_tactics"], metrics={}, thresholds={"score": 0.5},
                        training_data=[], training={}, versions_dir=tmp_path)
    golden = json.loads((out / "golden.json").read_text())
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {k: np.array(v["data"], np.float32).reshape(v["dims"]) for k, v in golden["inputs"].items()}
    for name, got in zip(["score", "tactic_probs", "anomaly", "embedding"], sess.run(None, feeds)):
        want = np.array(golden["outputs"][name]["data"], np.float32).reshape(golden["outputs"][name]["dims"])
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=name)
    # Separates the scan capture from the honeypots it was trained on (a sanity check, not a metric).
    s = predict(model, corpus, np.arange(corpus.count))["score"]
    assert s[corpus.y == 1].mean() > s[corpus.y == 0].mean()
