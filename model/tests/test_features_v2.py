"""features.v2 = features.v1 + the responder's address scope: golden parity, and the corpus columns match."""

import json

import numpy as np
import pytest

from model.corpus import corpus_from_tables, for_spec
from model.features import ADDRESS_SCOPES, C, address_scope, context_width, scope_matrix, sequence_features
from model.spec_paths import FEATURE_SPEC_HASHES, GOLDEN_FEATURES_PATHS

GOLDEN = json.loads(GOLDEN_FEATURES_PATHS["features.v2"].read_text())


def test_golden_matches_spec_hash():
    assert GOLDEN["feature_spec_hash"] == FEATURE_SPEC_HASHES["features.v2"]
    assert context_width("features.v2") == C + len(ADDRESS_SCOPES) == 9
    with pytest.raises(ValueError, match="features.v9"):
        context_width("features.v9")


def test_address_table():
    for row in GOLDEN["address_scopes"]:
        i = address_scope(row["ip"])
        assert (ADDRESS_SCOPES[i] if i >= 0 else None) == row["scope"], row["ip"]
    assert address_scope("224.0.0.251") == ADDRESS_SCOPES.index("multicast_broadcast")
    assert address_scope("ff02::1:2") == ADDRESS_SCOPES.index("multicast_broadcast")
    assert address_scope("not an ip") == -1


def test_golden_features_extend_v1():
    for case in GOLDEN["cases"]:
        got = sequence_features(case["sequence"], "features.v2")
        v1 = sequence_features(case["sequence"])
        np.testing.assert_array_equal(got["flow"], v1["flow"])
        np.testing.assert_array_equal(got["context"][:C], v1["context"])
        np.testing.assert_allclose(got["flow"], np.array(case["expected"]["flow"], np.float32), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["context"], case["expected"]["context"], rtol=1e-5, err_msg=case["name"])
        assert got["context"][C:].sum() == 1.0


def test_scope_matrix_and_corpus_columns():
    ips = ["10.0.0.1", "ff02::fb", "bogus", "10.0.0.1", "8.8.8.8"]
    m = scope_matrix(ips)
    assert m.shape == (5, len(ADDRESS_SCOPES))
    assert m[2].sum() == 0 and (m[0] == m[3]).all()
    assert m[1, ADDRESS_SCOPES.index("multicast_broadcast")] == 1 and m[4, ADDRESS_SCOPES.index("public")] == 1


def test_corpus_for_spec_matches_sequence_features():
    from model.sequencing import build_sequences, sequence_dicts
    from model.data import labelled_captures, read_capture

    cap = next(c for c in labelled_captures() if c.name == "iot23-honeypot-7-1")
    t = read_capture(cap)
    corpus = corpus_from_tables([cap], [t])
    v2 = for_spec(corpus, "features.v2")
    assert corpus.ctx.shape[1] == C and v2.ctx.shape[1] == 9
    assert for_spec(v2, "features.v1").ctx.shape == corpus.ctx.shape
    seqs = sequence_dicts(t, build_sequences(t))
    want = np.stack([sequence_features(s, "features.v2")["context"] for s in seqs])
    np.testing.assert_allclose(v2.ctx, want, rtol=1e-6)
    # 7-1's discovery traffic: most responders are multicast / broadcast groups (the diagnosed false positives);
    # 35 of its 44 sequences once rule 0 leaves out the IPv6 neighbour discovery and MLD records (92 before)
    group = v2.ctx[:, C + ADDRESS_SCOPES.index("multicast_broadcast")]
    assert group.sum() >= 30 and group.mean() > 0.75
