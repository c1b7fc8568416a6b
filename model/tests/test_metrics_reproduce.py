"""The committed model's reported metrics reproduce: re-score held-out captures with the committed fold
model and compare with the numbers in manifest.json (and hence EVALUATION.md)."""

import json

import numpy as np
import pytest

from model.corpus import build_corpus, for_spec
from model.data import labelled_captures
from model.evaluate import capture_metrics, fold_of
from model.onnx_scorer import score_corpus, session
from model.spec_paths import VERSIONS_DIR

VERSION = (VERSIONS_DIR / "DEFAULT").read_text().strip()
DIR = VERSIONS_DIR / VERSION
CAPTURES = ["iot23-honeypot-5-1", "iot23-20-1", "nmap-portscan"]


@pytest.mark.parametrize("name", CAPTURES)
def test_held_out_capture_metrics_reproduce(name):
    manifest = json.loads((DIR / "manifest.json").read_text())
    folds = json.loads((DIR / "loco" / "folds.json").read_text())
    cap = next(c for c in labelled_captures() if c.name == name)
    reported = next(r for r in manifest["metrics"]["captures"] if r["capture"] == name)
    fold = fold_of(cap.network)
    assert reported["fold"] == fold
    assert cap.name not in folds[fold]["train_captures"], "a held-out capture must not be in its fold's training data"
    corpus = for_spec(build_corpus([cap]), manifest["feature_spec"])
    idx = np.arange(corpus.count)
    scores = score_corpus(session(DIR / folds[fold]["model"]), corpus, idx)["score"]
    got = capture_metrics(corpus, 0, scores, float(folds[fold]["threshold"]))
    for level in ("per_sequence", "per_flow"):
        for k in ("tp", "fp", "tn", "fn"):
            assert got[level][k] == reported["model"][level][k], (level, k)
        for k in ("precision", "recall", "f1", "fpr"):
            a, b = got[level][k], reported["model"][level][k]
            assert (a is None and b is None) or abs(a - b) < 1e-9, (level, k)
