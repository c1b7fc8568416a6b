"""subscores.v2 (the service's flags and explanations): golden parity with TypeScript
(packages/features/test/sub-scores-v2.test.ts checks the same file), and v2 never below features.v1."""

import json

from model.features import sub_scores, sub_scores_v2
from model.spec_paths import GOLDEN_SUB_SCORES_V2_PATH, SUB_SCORES_V2_PATH, file_sha256

GOLDEN = json.loads(GOLDEN_SUB_SCORES_V2_PATH.read_text())


def test_golden_matches_spec_hash():
    assert GOLDEN["sub_score_spec_hash"] == file_sha256(SUB_SCORES_V2_PATH)
    assert len(GOLDEN["cases"]) == 29


def test_golden_sub_scores_v1_and_v2():
    for c in GOLDEN["cases"]:
        for version, fn in (("v1", sub_scores), ("v2", sub_scores_v2)):
            got = fn(c["sequence"])
            for k, v in c["expected"][version].items():
                assert abs(got[k] - v) <= 1e-12, (c["name"], version, k, got[k], v)


def test_v2_adds_icmp_sweeps_and_logins_only():
    raised = {"scan": [], "brute_force": []}
    for c in GOLDEN["cases"]:
        v1, v2 = c["expected"]["v1"], c["expected"]["v2"]
        assert v2["beacon"] == v1["beacon"] and v2["exfiltration"] == v1["exfiltration"], c["name"]
        for k in raised:
            assert v2[k] >= v1[k], (c["name"], k)
            if v2[k] >= 0.8 > v1[k]:
                raised[k].append(c["name"])
    assert all("ping" in n or "icmp" in n for n in raised["scan"]) and len(raised["scan"]) >= 3
    assert all("login" in n or "ssh" in n for n in raised["brute_force"]) and len(raised["brute_force"]) >= 3
    by_name = {c["name"]: c["expected"]["v2"] for c in GOLDEN["cases"]}
    # Below the packet minimum, on UDP and on web ports the login rule does not fire.
    assert by_name["ssh, 9 connections of 2 packets (no login exchange)"]["brute_force"] < 0.8
    assert by_name["udp to 22 is not a login"]["brute_force"] < 0.8
    assert by_name["https, 9 similar connections (web stays on v1)"]["brute_force"] < 0.8
