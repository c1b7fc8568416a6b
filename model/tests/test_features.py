import json

import numpy as np

from model.features import C, F, flow_feature_matrix, sequence_features, sub_scores
from model.spec_paths import FEATURE_SPEC_HASH, GOLDEN_FEATURES_PATH

GOLDEN = json.loads(GOLDEN_FEATURES_PATH.read_text())


def test_golden_matches_spec_hash():
    assert GOLDEN["feature_spec_hash"] == FEATURE_SPEC_HASH
    assert len(GOLDEN["cases"]) == 12
    assert (F, C) == (36, 4)


def test_golden_features_and_sub_scores():
    for case in GOLDEN["cases"]:
        got = sequence_features(case["sequence"])
        np.testing.assert_allclose(got["flow"], np.array(case["expected"]["flow"], np.float32), rtol=1e-5, atol=1e-6, err_msg=case["name"])
        np.testing.assert_allclose(got["context"], case["expected"]["context"], rtol=1e-5, err_msg=case["name"])
        s = sub_scores(case["sequence"])
        for k, v in case["expected"]["sub_scores"].items():
            assert abs(s[k] - v) < 1e-9, (case["name"], k)


def test_vectorised_matches_per_sequence():
    seqs = [c["sequence"] for c in GOLDEN["cases"]]
    flows = [f for s in seqs for f in s["flows"]]
    first = [i == 0 for s in seqs for i in range(len(s["flows"]))]
    keys = ("start_ms", "end_ms", "protocol", "src_port", "dst_port", "fwd_bytes", "fwd_pkts", "bwd_bytes", "bwd_pkts", "tcp_flags")
    x = flow_feature_matrix(*(np.array([f[k] for f in flows]) for k in keys), np.array(first))
    expected = np.concatenate([sequence_features(s)["flow"] for s in seqs])
    np.testing.assert_array_equal(x, expected)
