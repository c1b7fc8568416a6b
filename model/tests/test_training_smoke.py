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
    assert corpus.count == 238 + 44 + 339  # 7-1: 44 sequences once rule 0 leaves out IPv6 link control (92 before)
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


def test_features_v2_model_exports_its_spec(tmp_path):
    """A features.v2 model: 9 context inputs, manifest naming features.v2 and its hash, golden inputs from golden.v2."""
    from model.spec_paths import FEATURE_SPEC_HASHES

    torch.set_num_threads(1)
    caps = [c for c in labelled_captures() if c.name in ("iot23-honeypot-7-1", "nmap-portscan")]
    corpus = build_corpus(caps)
    cfg = TrainConfig(d=16, layers=1, ff=32, pretrain_epochs=1, epochs=1, max_tokens=512, max_batch=64,
                      evidence=True, flow_head=True, feature_spec="features.v2")
    model, hist = train(corpus, np.arange(corpus.count), cfg, log=lambda _: None)
    assert model.config["context"] == 9 and corpus.ctx.shape[1] == 4  # the caller's corpus is left as it was
    out = write_version(model, "smoke-v2", trained_tactics=hist["trained_tactics"], metrics={}, thresholds={"score": 0.5},
                        training_data=[], training={}, versions_dir=tmp_path)
    m = json.loads((out / "manifest.json").read_text())
    assert (m["feature_spec"], m["feature_spec_hash"], m["context_features"]) == (
        "features.v2", FEATURE_SPEC_HASHES["features.v2"], 9)
    golden = json.loads((out / "golden.json").read_text())
    assert golden["feature_golden"] == "packages/features/spec/golden.v2.json"
    assert golden["inputs"]["context_features"]["dims"][1] == 9
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {k: np.array(v["data"], np.float32).reshape(v["dims"]) for k, v in golden["inputs"].items()}
    got = sess.run(["score"], feeds)[0]
    np.testing.assert_allclose(got, np.array(golden["outputs"]["score"]["data"], np.float32), atol=1e-4)
