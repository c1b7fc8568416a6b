"""The false-positive diagnosis: fold models loaded back from ONNX score as onnxruntime does, the evidence
decomposition's `full` mode is the model's score, and the helpers behind its tables."""

import json

import numpy as np
import pytest
import torch

from model.diagnose import SCAN_SILENT_RULES, decompose, inner_select, scan_variant, torch_from_onnx, unanswered_context
from model.export import golden_inputs
from model.features import sub_scores
from model.onnx_scorer import session
from model.spec_paths import GOLDEN_FEATURES_PATH, VERSIONS_DIR

VERSION = (VERSIONS_DIR / "DEFAULT").read_text().strip()


def _diagnosable(v: str) -> bool:
    """Fold models of the evidence + per-flow-head architecture model.diagnose loads (flow-1.2.0 and later)."""
    cfg = json.loads((VERSIONS_DIR / v / "manifest.json").read_text())["training"].get("config", {})
    return (VERSIONS_DIR / v / "loco" / "folds.json").exists() and bool(cfg.get("evidence") and cfg.get("flow_head"))


# features.v1 and features.v2 versions alike (the context width comes from the ONNX file), the DEFAULT among them.
LOCO_VERSIONS = sorted(p.name for p in VERSIONS_DIR.iterdir() if (p / "manifest.json").exists() and _diagnosable(p.name))


def test_default_has_fold_models():
    assert VERSION in LOCO_VERSIONS


@pytest.mark.parametrize("version", LOCO_VERSIONS)
def test_fold_models_load_back_from_onnx_and_score_as_onnxruntime(version):
    folds = json.loads((VERSIONS_DIR / version / "loco" / "folds.json").read_text())
    spec = json.loads((VERSIONS_DIR / version / "manifest.json").read_text()).get("feature_spec", "features.v1")
    inputs, _ = golden_inputs(spec)
    for meta in folds.values():
        path = VERSIONS_DIR / version / meta["model"]
        want = session(path).run(None, inputs)[0]
        model = torch_from_onnx(path)
        t = {k: torch.from_numpy(v) for k, v in inputs.items()}
        got = decompose(model, t["flow_features"], t["flow_mask"], t["context_features"])
        np.testing.assert_allclose(got["full"], want, atol=1e-5, err_msg=meta["model"])
        with torch.no_grad():
            np.testing.assert_allclose(model(*t.values())[0].numpy(), want, atol=1e-5)
        for k in ("no_rules", "no_flow_head", "encoder_only", "flow_max_prob"):
            assert got[k].shape == want.shape and ((got[k] >= 0) & (got[k] <= 1)).all()


def test_scan_variant_v0_is_the_features_v1_scan():
    cases = json.loads(GOLDEN_FEATURES_PATH.read_text())["cases"]
    v0 = next(iter(SCAN_SILENT_RULES.values()))
    for c in cases:
        assert abs(scan_variant(c["sequence"], v0) - sub_scores(c["sequence"])["scan"]) < 1e-12, c["name"]


def _seq(src, dst, window, flows):
    return {"src_ip": src, "dst_ip": dst, "window_start_ms": window,
            "flows": [{"dst_port": p, "bwd_bytes": b} for p, b in flows], "context": {}}


def test_unanswered_context_counts_responders_and_ports_that_never_answered():
    raw = [
        _seq("a", "x", 0, [(80, 0), (80, 500)]),   # x answered once on 80: neither x nor 80 is unanswered
        _seq("a", "y", 0, [(22, 0)]),
        _seq("a", "z", 0, [(23, 0), (80, 0)]),
        _seq("a", "y", 300_000, [(22, 10)]),      # another window: its own context
        _seq("b", "y", 0, [(22, 0)]),              # another initiator
    ]
    ctx = unanswered_context(raw)
    assert ctx[0] == ctx[1] == ctx[2] == {"distinct_dsts": 2, "distinct_dst_ports": 2}
    assert ctx[3] == {"distinct_dsts": 0, "distinct_dst_ports": 0}
    assert ctx[4] == {"distinct_dsts": 1, "distinct_dst_ports": 1}


def test_inner_select_never_looks_at_the_held_out_network():
    # Variant "b" is perfect on network k1 and useless elsewhere: held-out k1 must still get the variant that the
    # other networks prefer ("a"), and vice versa.
    folds = np.array(["k1"] * 4 + ["k2"] * 4 + ["k3"] * 4, dtype=object)
    y = np.array([1, 1, 0, 0] * 3)
    a = np.array([0.0, 0.0, 0.0, 0.0, 1, 1, 0, 0, 1, 1, 0, 0])
    b = np.array([1.0, 1.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0])
    out, chosen = inner_select(y, folds, {"a": a, "b": b}, 0.5, "a")
    assert chosen["k1"]["variant"] == "a" and chosen["k2"]["variant"] == "a" and chosen["k3"]["variant"] == "a"
    np.testing.assert_array_equal(out, a)
