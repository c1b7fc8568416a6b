"""The committed model's reported metrics reproduce: re-score held-out captures with the committed fold
model and compare with the numbers in manifest.json (and hence EVALUATION.md)."""

import json

import numpy as np
import pytest

from model.baselines import FLAG_THRESHOLD, SERVICE_SUB_SCORES, corpus_sub_scores, sub_score_names
from model.builtin_suppression import sequences_suppressed
from model.corpus import build_corpus, for_spec, model_input
from model.data import labelled_captures
from model.evaluate import capture_metrics, fold_of, service_alerts
from model.onnx_scorer import score_corpus, session
from model.raw_sequences import corpus_raw_sequences
from model.spec_paths import VERSIONS_DIR

VERSION = (VERSIONS_DIR / "DEFAULT").read_text().strip()
DIR = VERSIONS_DIR / VERSION
CAPTURES = ["iot23-honeypot-5-1", "iot23-20-1", "nmap-portscan"]


def held_out(name):
    """(manifest's reported entry, the capture's corpus as built and in the model's spec, the fold model's scores,
    threshold)."""
    manifest = json.loads((DIR / "manifest.json").read_text())
    folds = json.loads((DIR / "loco" / "folds.json").read_text())
    cap = next(c for c in labelled_captures() if c.name == name)
    reported = next(r for r in manifest["metrics"]["captures"] if r["capture"] == name)
    fold = fold_of(cap.network)
    assert reported["fold"] == fold
    assert cap.name not in folds[fold]["train_captures"], "a held-out capture must not be in its fold's training data"
    base = build_corpus([cap])
    corpus = for_spec(model_input(base), manifest["feature_spec"])
    idx = np.arange(corpus.count)
    scores = score_corpus(session(DIR / folds[fold]["model"]), corpus, idx)["score"]
    return reported, base, corpus, scores, float(folds[fold]["threshold"])


def assert_same(got, reported):
    for level in ("per_sequence", "per_flow"):
        for k in ("tp", "fp", "tn", "fn"):
            assert got[level][k] == reported[level][k], (level, k)
        for k in ("precision", "recall", "f1", "fpr"):
            a, b = got[level][k], reported[level][k]
            assert (a is None and b is None) or abs(a - b) < 1e-9, (level, k)


@pytest.mark.parametrize("name", CAPTURES)
def test_held_out_capture_metrics_reproduce(name):
    reported, _, corpus, scores, threshold = held_out(name)
    assert_same(capture_metrics(corpus, 0, scores, threshold), reported["model"])


@pytest.mark.parametrize("name", CAPTURES)
def test_held_out_service_alerts_reproduce(name):
    """What the service raises (model verdict OR a sub-score >= the flag threshold) reproduces too, and differs
    from the model alone wherever a sub-score flagged a sequence the model let through."""
    reported, base, corpus, scores, threshold = held_out(name)
    v1 = for_spec(base, "features.v1")
    raw = corpus_raw_sequences(v1)
    sub = corpus_sub_scores(v1, raw, SERVICE_SUB_SCORES)
    suppressed = sequences_suppressed(raw, sub >= FLAG_THRESHOLD, sub_score_names(SERVICE_SUB_SCORES),
                                      scores >= threshold)
    alerts = service_alerts(scores, np.full(corpus.count, threshold, np.float32), sub, suppressed)
    assert_same(capture_metrics(corpus, 0, alerts, 0.5), reported["service"])
    flagged_only = (sub.max(1) >= FLAG_THRESHOLD) & (scores < threshold)
    raised = (scores >= threshold) | flagged_only
    assert int(alerts.sum()) == int((raised & ~suppressed).sum())
    if name == "iot23-honeypot-5-1":  # its mDNS / MLD / neighbour-discovery chatter
        assert int((raised & suppressed).sum()) > 0
