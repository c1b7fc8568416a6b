"""subscores.v7 (the service's flags and explanations: v6 with ICMP error messages left out of scan): golden parity
with TypeScript (packages/features/test/sub-scores-v7.test.ts checks the same file), v6's scores elsewhere."""

import json

import numpy as np

from model.baselines import SERVICE_SUB_SCORES, corpus_sub_scores, sub_score_names
from model.features import is_icmp_error, sub_scores_v6, sub_scores_v7
from model.spec_paths import GOLDEN_SUB_SCORES_V7_PATH, SUB_SCORES_V7_PATH, file_sha256

GOLDEN = json.loads(GOLDEN_SUB_SCORES_V7_PATH.read_text())


def test_golden_matches_spec_hash():
    assert GOLDEN["sub_score_spec_hash"] == file_sha256(SUB_SCORES_V7_PATH)
    assert len(GOLDEN["cases"]) == 165


def test_golden_sub_scores_v6_and_v7():
    for c in GOLDEN["cases"]:
        for version, fn in (("v6", sub_scores_v6), ("v7", sub_scores_v7)):
            got = fn(c["sequence"])
            assert set(got) == set(c["expected"][version]), (c["name"], version)
            for k, v in c["expected"][version].items():
                assert abs(got[k] - v) <= 1e-12, (c["name"], version, k, got[k], v)


def test_v7_is_v6_without_icmp_errors_and_differs_only_in_scan():
    changed = 0
    for c in GOLDEN["cases"]:
        v6, v7 = c["expected"]["v6"], c["expected"]["v7"]
        if not any(is_icmp_error(f) for f in c["sequence"]["flows"]):
            assert v6 == v7, c["name"]
        elif v6 != v7:
            changed += 1
            assert {k for k in v6 if v6[k] != v7[k]} == {"scan"}, c["name"]
            assert v7["scan"] < v6["scan"], c["name"]
    assert changed == 6


def test_icmp_type_from_either_encoding():
    f = lambda proto, sport, dport: {"protocol": proto, "src_port": sport, "dst_port": dport}  # noqa: E731
    assert is_icmp_error(f(1, 0, 3 * 256 + 3))  # NetFlow: type 3 code 3 in the destination port
    assert is_icmp_error(f(1, 11, 0))  # Zeek: type 11 as the originator's port
    assert is_icmp_error(f(58, 0, 2 * 256))  # ICMPv6 packet too big
    assert not is_icmp_error(f(1, 0, 8 * 256))  # echo request
    assert not is_icmp_error(f(1, 0, 0))  # NetFlow echo reply (type 0)
    assert not is_icmp_error(f(58, 0, 11 * 256))  # ICMPv6 type 11 is no error
    assert not is_icmp_error(f(17, 3, 3))  # UDP


def test_service_flags_with_v7():
    assert SERVICE_SUB_SCORES == "v7"
    assert sub_score_names("v7") == ("beacon", "scan", "brute_force", "exfiltration", "reflection")
    seqs = [c["sequence"] for c in GOLDEN["cases"]]
    want = np.array([[c["expected"]["v7"][k] for k in sub_score_names("v7")] for c in GOLDEN["cases"]])
    assert np.array_equal(corpus_sub_scores(None, seqs, "v7"), want)
