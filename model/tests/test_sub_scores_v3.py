"""subscores.v3 (the service's flags and explanations: v2 plus reflection): golden parity with TypeScript
(packages/features/test/sub-scores-v3.test.ts checks the same file), v2's four scores unchanged."""

import json

import pytest

from model.features import sub_scores, sub_scores_v2, sub_scores_v3
from model.spec_paths import GOLDEN_SUB_SCORES_V3_PATH, SUB_SCORES_V3_PATH, file_sha256

GOLDEN = json.loads(GOLDEN_SUB_SCORES_V3_PATH.read_text())


def test_golden_matches_spec_hash():
    assert GOLDEN["sub_score_spec_hash"] == file_sha256(SUB_SCORES_V3_PATH)
    assert len(GOLDEN["cases"]) == 59


def test_golden_sub_scores_v1_v2_v3():
    for c in GOLDEN["cases"]:
        for version, fn in (("v1", sub_scores), ("v2", sub_scores_v2), ("v3", sub_scores_v3)):
            got = fn(c["sequence"])
            assert set(got) == set(c["expected"][version]), (c["name"], version)
            for k, v in c["expected"][version].items():
                assert abs(got[k] - v) <= 1e-12, (c["name"], version, k, got[k], v)


def test_v3_is_v2_plus_reflection():
    flagged = []
    for c in GOLDEN["cases"]:
        v2, v3 = c["expected"]["v2"], c["expected"]["v3"]
        n = len(c["sequence"]["flows"])
        assert {k: v3[k] for k in v2 if k != "beacon"} == {k: v for k, v in v2.items() if k != "beacon"}, c["name"]
        assert v3["beacon"] == (v2["beacon"] if n >= 10 else 0.0), c["name"]
        if v3["reflection"] >= 0.8:
            flagged.append(c["name"])
    assert flagged == [
        "snmp reflection: one unanswered packet from 161, fan-in 4276",
        "snmp reflection, fan-in 300 (ramp end)",
        "snmp reflection, fan-in 250 (0.8)",
        "dns amplification: 3 large replies from 53 to port 80",
        "memcached amplification from 11211",
        "ntp monlist replies from 123",
        "cldap, chargen, qotd, ssdp replies",
    ]
    by_name = {c["name"]: c["expected"]["v3"]["reflection"] for c in GOLDEN["cases"]}
    assert by_name["snmp reflection, fan-in 175 (0.5)"] == 0.5
    assert by_name["half reflection: 2 of 4 flows from 161"] == 0.5
    for name in ("answered dns from 53 (a reply came back)", "ntp peers 123 <-> 123, unanswered",
                 "tcp from 53, unanswered", "lan discovery: ssdp reply from 1900, fan-in 30",
                 "snmp reflection shape from a producer without distinct_srcs"):
        assert by_name[name] == 0, name


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="'v8'"):
        sub_scores(GOLDEN["cases"][0]["sequence"], "v8")


def test_v3_beacon_needs_ten_connections():
    """v2 scores a beacon from 4 flows; v3 from 10 (subscores.v3.json beacon.min_flows), the golden set has both."""
    by_name = {c["name"]: c for c in GOLDEN["cases"]}
    nine = by_name["ssh guessing, 9 login exchanges"]["expected"]
    assert nine["v2"]["beacon"] > 0.8 and nine["v3"]["beacon"] == 0
    ten = by_name["regular beacon every 60 s"]["expected"]
    assert ten["v3"]["beacon"] == ten["v2"]["beacon"] > 0.8
