"""The rule evidence the flow-1.2 models compute inside the graph, the network-shift augmentation and the
threshold rules of the leave-one-network-out recipes."""

import json

import numpy as np
import torch

from model.features import sequence_features, sub_scores
from model.net import EVIDENCE, FlowSequenceEncoder
from model.spec_paths import GOLDEN_FEATURES_PATH
from model.training import choose_threshold_f1, choose_threshold_fpr, rescale

CASES = json.loads(GOLDEN_FEATURES_PATH.read_text())["cases"]


def _batch():
    feats = [sequence_features(c["sequence"]) for c in CASES]
    L = max(f["flow"].shape[0] for f in feats)
    flow = np.zeros((len(feats), L, feats[0]["flow"].shape[1]), np.float32)
    mask = np.zeros((len(feats), L), np.float32)
    for i, f in enumerate(feats):
        n = f["flow"].shape[0]
        flow[i, :n], mask[i, :n] = f["flow"], 1.0
    return flow, mask, np.stack([f["context"] for f in feats]).astype(np.float32)


def test_in_graph_sub_scores_match_features_v1_on_the_golden_sequences():
    flow, mask, ctx = _batch()
    ev = FlowSequenceEncoder.evidence_features(torch.from_numpy(flow), torch.from_numpy(mask), torch.from_numpy(ctx)).numpy()
    assert ev.shape == (len(CASES), EVIDENCE)
    want = [sub_scores(c["sequence"]) for c in CASES]
    for i, w in enumerate(want):
        assert abs(ev[i, 3] - w["scan"]) < 1e-4, CASES[i]["name"]
        assert abs(ev[i, 4] - w["beacon"]) < 1e-3, CASES[i]["name"]
        assert abs(ev[i, 5] - w["exfiltration"]) < 1e-3, CASES[i]["name"]
    # The golden set exercises every rule at least once.
    assert max(w["beacon"] for w in want) > 0.5 and max(w["exfiltration"] for w in want) > 0.5
    brute = next(i for i, c in enumerate(CASES) if c["name"] == "ssh brute force")
    assert ev[brute, 8:].max() > 0


def test_padding_does_not_change_the_evidence():
    flow, mask, ctx = _batch()
    padded = np.concatenate([flow, np.zeros((flow.shape[0], 5, flow.shape[2]), np.float32)], axis=1)
    pmask = np.concatenate([mask, np.zeros((mask.shape[0], 5), np.float32)], axis=1)
    f = FlowSequenceEncoder.evidence_features
    a = f(torch.from_numpy(flow), torch.from_numpy(mask), torch.from_numpy(ctx))
    b = f(torch.from_numpy(padded), torch.from_numpy(pmask), torch.from_numpy(ctx))
    torch.testing.assert_close(a, b)


def test_rescale_keeps_padding_and_silence_and_bytes_per_packet_under_sampling_only():
    flow, mask, _ = _batch()
    out = rescale(flow.copy(), mask, np.random.default_rng(1), 1.0)
    assert (out[mask == 0] == 0).all()
    silent = (flow[:, :, 0] == 0) & (mask > 0)
    assert (out[:, :, 0][silent] == 0).all()
    # port / protocol / flag one-hots never change
    np.testing.assert_array_equal(out[:, :, 12:], flow[:, :, 12:])
    assert not np.allclose(out[:, :, :8], flow[:, :, :8])


def test_threshold_rules():
    y = np.array([0] * 90 + [1] * 10)
    s = np.concatenate([np.linspace(0, 0.6, 90), np.linspace(0.5, 1.0, 10)])
    t = choose_threshold_f1(s, y)
    pred = s >= t
    assert pred[y == 1].sum() >= 8 and pred[y == 0].sum() <= 2
    t2 = choose_threshold_fpr(s, y, 0.0)
    assert (s[y == 0] >= t2).sum() == 0 and t2 <= 0.99
    assert choose_threshold_fpr(s, y, 0.5) < t2
