"""subscores.v5 (the service's flags and explanations: v4 with scan's silence read as no packet back and brute
force's connection count off 443): golden parity with TypeScript (packages/features/test/sub-scores-v5.test.ts checks
the same file), v4's scores otherwise unchanged."""

import json

import numpy as np
import pytest

from model.baselines import corpus_sub_scores, sub_score_names
from model.features import (SPEC, SUB_SCORES_V5, kerberos_refusals, sub_scores, sub_scores_v2, sub_scores_v3, sub_scores_v4,
                            sub_scores_v5)
from model.spec_paths import GOLDEN_SUB_SCORES_V5_PATH, SUB_SCORES_V5_PATH, file_sha256

GOLDEN = json.loads(GOLDEN_SUB_SCORES_V5_PATH.read_text())
BY_NAME = {c["name"]: c for c in GOLDEN["cases"]}
VERSIONS = (("v1", sub_scores), ("v2", sub_scores_v2), ("v3", sub_scores_v3), ("v4", sub_scores_v4),
            ("v5", sub_scores_v5))


def test_golden_matches_spec_hash():
    assert GOLDEN["sub_score_spec_hash"] == file_sha256(SUB_SCORES_V5_PATH)
    assert len(GOLDEN["cases"]) == 131


def test_golden_sub_scores_v1_to_v5():
    for c in GOLDEN["cases"]:
        for version, fn in VERSIONS:
            got = fn(c["sequence"])
            assert set(got) == set(c["expected"][version]), (c["name"], version)
            for k, v in c["expected"][version].items():
                assert abs(got[k] - v) <= 1e-12, (c["name"], version, k, got[k], v)


def brute(name: str, version: str = "v5") -> float:
    return BY_NAME[name]["expected"][version]["brute_force"]


def scan(name: str, version: str = "v5") -> float:
    return BY_NAME[name]["expected"][version]["scan"]


def silence_as_bytes(seq: dict) -> dict:
    """v5's silence written into bwd_bytes for v4 to read: 0 exactly when no packet came back from an unsampled flow."""
    return {**seq, "flows": [{**f, "bwd_bytes": 0 if f["bwd_pkts"] == 0 and f.get("sampling_rate", 1) <= 1
                              else max(1, f["bwd_bytes"])} for f in seq["flows"]]}


def test_v5_scan_is_v4s_with_silence_read_from_packets():
    quieter = []
    for c in GOLDEN["cases"]:
        assert abs(sub_scores_v4(silence_as_bytes(c["sequence"]))["scan"] - c["expected"]["v5"]["scan"]) <= 1e-12, c["name"]
        if c["expected"]["v5"]["scan"] < c["expected"]["v4"]["scan"]:
            quieter.append(c["name"])
    assert quieter == ["tail fragment: 3 packets, one empty answer, initiator fan-out 30 hosts",
                       "refused SYN: one empty answer (a RST), fan-out 30 ports",
                       "2 refused and 2 unanswered SYNs, fan-out 30 ports",
                       "udp datagram with an empty answer, fan-out 30 hosts",
                       "sampled server reply, nothing back (sFlow 1 in 1000), fan-out 30 hosts",
                       "2 sampled and 2 unsampled unanswered SYNs, fan-out 30 ports"]
    assert scan("unanswered SYN, fan-out 30 ports") == 1
    assert scan("2 refused and 2 unanswered SYNs, fan-out 30 ports") == 0.5
    assert scan("2 sampled and 2 unsampled unanswered SYNs, fan-out 30 ports") == 0.5
    # subscores.v2's ICMP term counts an echo whether or not it was answered (or sampled).
    assert scan("icmp echo with an empty answer, 18 hosts swept") == 1
    assert scan("sampled icmp echo, nothing back, 18 hosts swept") == 1


def test_v5_is_v4_with_443_weighed_as_a_non_authentication_port():
    lowered = []
    for c in GOLDEN["cases"]:
        v4, v5 = c["expected"]["v4"], c["expected"]["v5"]
        same = lambda d: {k: v for k, v in d.items() if k not in ("brute_force", "scan")}  # noqa: E731
        assert same(v5) == same(v4), c["name"]
        kerberos = kerberos_refusals(c["sequence"]["flows"])
        if kerberos == 0:
            assert v5["brute_force"] <= v4["brute_force"], c["name"]
        # 443 renamed to 444 (in no list, and no golden flow's port lies between them) scores v5's under v4, the
        # Kerberos term aside.
        renamed = {**c["sequence"], "flows": [{**f, "dst_port": 444 if f["dst_port"] == 443 else f["dst_port"]}
                                              for f in c["sequence"]["flows"]]}
        assert abs(max(sub_scores_v4(renamed)["brute_force"], kerberos) - v5["brute_force"]) <= 1e-12, c["name"]
        if v5["brute_force"] < v4["brute_force"]:
            lowered.append(c["name"])
    assert (brute("25 connections to 443", "v4"), brute("25 connections to 443")) == (0.8, 0.4)
    assert brute("30 connections to 443") == brute("64 connections to 443") == 0.5
    for name in ("25 connections to 80", "25 connections to 8080", "25 connections to 993",
                 "tie: 25 connections each to 443 and 80 (80, the lower port, is p)",
                 "30 connections to 443 and 5 ssh logins (the login term stands)"):
        assert brute(name) == 0.8, name
    assert len(lowered) == 7


def test_kerberos_refusals():
    assert brute("kerberos spray: 13 refusals and 1 ticket", "v4") == 0.18
    assert brute("kerberos spray: 13 refusals and 1 ticket") == 1
    assert abs(brute("kerberos: 10 refusals, no ticket (0.8)") - 0.8) <= 1e-12
    assert abs(brute("kerberos: 9 refusals") - 0.7) <= 1e-12
    assert brute("kerberos: 12 refusals and 4 tickets (share 0.75)") == brute("kerberos over tcp: 12 refusals of 512 B") == 1
    assert abs(brute("kerberos: 12 refusals and 6 tickets (share 2/3)") - 2 / 3) <= 1e-12
    for name in ("kerberos logons: 10 refusals and 10 tickets (share 0.5)", "kerberos: 12 unanswered requests",
                 "kerberos over tcp: 12 answers of 513 B", "kerberos: 12 small answers over icmp are not exchanges"):
        assert brute(name) == brute(name, "v4"), name
    raised = [c["name"] for c in GOLDEN["cases"]
              if c["expected"]["v5"]["brute_force"] >= 0.8 > c["expected"]["v4"]["brute_force"]]
    assert raised == ["kerberos spray: 13 refusals and 1 ticket", "kerberos: 10 refusals, no ticket (0.8)",
                      "kerberos: 12 refusals and 4 tickets (share 0.75)", "kerberos over tcp: 12 refusals of 512 B"]


def test_auth_ports_are_features_v1s_without_443():
    v1 = SPEC["sub_score_constants"]["brute_force"]["auth_ports"]
    assert SUB_SCORES_V5["constants"]["brute_force"]["auth_ports"] == [p for p in v1 if p != 443]


def test_corpus_sub_scores_v5():
    assert sub_score_names("v5") == ("beacon", "scan", "brute_force", "exfiltration", "reflection")
    seqs = [c["sequence"] for c in GOLDEN["cases"]]
    want = np.array([[c["expected"]["v5"][k] for k in sub_score_names("v5")] for c in GOLDEN["cases"]])
    assert np.array_equal(corpus_sub_scores(None, seqs, "v5"), want)
    with pytest.raises(ValueError, match="'v8'"):
        corpus_sub_scores(None, seqs, "v8")
