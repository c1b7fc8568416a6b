"""subscores.v4 (the service's flags and explanations: v3 with an inbound-scan term in scan): golden parity with
TypeScript (packages/features/test/sub-scores-v4.test.ts checks the same file), v3's scores otherwise unchanged."""

import json

import numpy as np
import pytest

from model.baselines import corpus_sub_scores, sub_score_names
from model.features import SUB_SCORES_V4, inbound_scan, is_probe_shaped, sub_scores, sub_scores_v2, sub_scores_v3, sub_scores_v4
from model.sequencing import is_probe_flow
from model.spec_paths import GOLDEN_SUB_SCORES_V4_PATH, SUB_SCORES_V4_PATH, file_sha256

GOLDEN = json.loads(GOLDEN_SUB_SCORES_V4_PATH.read_text())
BY_NAME = {c["name"]: c for c in GOLDEN["cases"]}


def test_golden_matches_spec_hash():
    assert GOLDEN["sub_score_spec_hash"] == file_sha256(SUB_SCORES_V4_PATH)
    assert len(GOLDEN["cases"]) == 100


def test_golden_sub_scores_v1_to_v4():
    for c in GOLDEN["cases"]:
        for version, fn in (("v1", sub_scores), ("v2", sub_scores_v2), ("v3", sub_scores_v3), ("v4", sub_scores_v4)):
            got = fn(c["sequence"])
            assert set(got) == set(c["expected"][version]), (c["name"], version)
            for k, v in c["expected"][version].items():
                assert abs(got[k] - v) <= 1e-12, (c["name"], version, k, got[k], v)


def test_v4_is_v3_with_scan_at_least_the_inbound_term():
    for c in GOLDEN["cases"]:
        v3, v4 = c["expected"]["v3"], c["expected"]["v4"]
        assert {k: v for k, v in v4.items() if k != "scan"} == {k: v for k, v in v3.items() if k != "scan"}, c["name"]
        assert v4["scan"] == max(v3["scan"], inbound_scan(c["sequence"])), c["name"]
        if "distinct_probe_srcs" not in c["sequence"]["context"]:
            assert v4 == v3, c["name"]


def scan(name: str, version: str = "v4") -> float:
    return BY_NAME[name]["expected"][version]["scan"]


def test_inbound_scan_cases():
    # The brief's three: one probe at fan-in 8 -> 1; a reply-shaped unanswered flow and fan-in 2 -> v3's scan.
    assert scan("inbound scan: one unanswered SYN to 23, probing fan-in 8") == 1
    for name in ("reply-shaped unanswered flow 80 -> 51000, probing fan-in 8", "inbound scan, probing fan-in 2"):
        assert scan(name) == scan(name, "v3") == 0, name
    assert scan("inbound scan, probing fan-in 7 (0.8)") == 0.8
    assert scan("inbound scan, probing fan-in 5 (0.4)") == 0.4
    assert scan("half probes: 1 of 2 flows unanswered, probing fan-in 8") == 0.5
    for name in ("inbound scan, probing fan-in 3 (ramp start)", "inbound scan shape from a producer without distinct_probe_srcs",
                 "answered: a RST came back (bwd_pkts 1), probing fan-in 8", "reply-shaped edge 1 -> 1024, probing fan-in 8",
                 "an empty reply packet (bwd_bytes 0, bwd_pkts 1), probing fan-in 8", "reply-shaped edge 1023 -> 65535, probing fan-in 8",
                 "empty sequence, probing fan-in 8", "peer-shaped NetBIOS broadcast 137 -> 137, probing fan-in 8",
                 "peer-shaped 1024 -> 1024, probing fan-in 8", "one-way stream of 8 datagrams to 514 (telemetry), probing fan-in 8"):
        assert scan(name) == 0, name
    for name in ("source port 0 -> 1024 is a probe, probing fan-in 8", "source port 1024 -> 1025 is a probe, probing fan-in 8",
                 "icmp type 3 code 3 (ports 3 -> 3) is a probe, probing fan-in 8",
                 "a SYN and 6 retransmissions (7 packets) is a probe, probing fan-in 8",
                 "source port 443 -> 1023 is a probe, probing fan-in 8", "unanswered icmp echo, probing fan-in 8",
                 "unanswered udp probe to a high port, probing fan-in 8", "one SYN and 2 retries to 445, probing fan-in 8"):
        assert scan(name) == 1, name
    raised = [c["name"] for c in GOLDEN["cases"] if c["expected"]["v4"]["scan"] >= 0.8 > c["expected"]["v3"]["scan"]]
    assert raised == [
        "inbound scan: one unanswered SYN to 23, probing fan-in 8",
        "inbound scan, probing fan-in 40 (simulator's scanners)",
        "inbound scan, probing fan-in 7 (0.8)",
        "one SYN and 2 retries to 445, probing fan-in 8",
        "unanswered udp probe to 161, probing fan-in 8",
        "unanswered udp probe to a high port, probing fan-in 8",
        "unanswered icmp echo, probing fan-in 8",
        "source port 0 -> 1024 is a probe, probing fan-in 8",
        "source port 1024 -> 1025 is a probe, probing fan-in 8",
        "icmp type 3 code 3 (ports 3 -> 3) is a probe, probing fan-in 8",
        "a SYN and 6 retransmissions (7 packets) is a probe, probing fan-in 8",
        "source port 443 -> 1023 is a probe, probing fan-in 8",
        "probing fan-in above distinct_srcs (a producer's inconsistency is taken as is)",
    ]


def test_probe_shape_bounds():
    f = lambda sport, dport, bp=0, proto=6, fp=1: {"protocol": proto, "src_port": sport, "dst_port": dport,  # noqa: E731
                                                   "fwd_pkts": fp, "bwd_pkts": bp}
    assert [is_probe_shaped(f(s, d)) for s, d in ((1, 1024), (1023, 1024), (0, 1024), (1024, 1025), (80, 1023), (80, 51000))] == [
        False, False, True, True, True, False]
    assert not is_probe_shaped(f(47000, 23, 1))
    # Peer-shaped (a port to the same port) is not a probe, except ICMP, whose "ports" are type and code.
    assert [is_probe_shaped(f(137, 137, 0, 17)), is_probe_shaped(f(1024, 1024)), is_probe_shaped(f(3, 3, 0, 1)),
            is_probe_shaped(f(1, 1, 0, 58)), is_probe_shaped(f(0, 0, 0, 1))] == [False, False, True, True, True]
    # An attempt (a SYN and up to 6 retransmissions) is a probe; a longer one-way stream (telemetry) is not.
    assert is_probe_shaped(f(47000, 23, 0, 6, 7)) and not is_probe_shaped(f(47000, 514, 0, 17, 8))


def test_spec_names_the_sequencers_probe_bound():
    from model.sequencing import PROBE_MAX_PKTS
    assert SUB_SCORES_V4["constants"]["inbound_scan"]["max_probe_pkts"] == PROBE_MAX_PKTS


def test_probe_shape_is_the_sequencers():
    # context.distinct_probe_srcs counts initiators with a flow model.sequencing.is_probe_flow calls a probe.
    ports = [0, 1, 2, 22, 80, 137, 1022, 1023, 1024, 1025, 8080, 40000, 65535]
    grid = [(pr, sp, dp, fp, bp) for pr in (0, 1, 6, 17, 58) for sp in ports for dp in ports for fp in (0, 1, 7, 8, 100)
            for bp in (0, 1, 3)]
    want = is_probe_flow(*(np.array(col) for col in zip(*grid, strict=True)))
    got = [is_probe_shaped({"protocol": pr, "src_port": sp, "dst_port": dp, "fwd_pkts": fp, "bwd_pkts": bp})
           for pr, sp, dp, fp, bp in grid]
    assert got == want.tolist()


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="'v8'"):
        sub_scores(GOLDEN["cases"][0]["sequence"], "v8")


def test_v4_reads_a_missing_field_as_0():
    assert sub_score_names("v4") == ("beacon", "scan", "brute_force", "exfiltration", "reflection")
    seqs = [c["sequence"] for c in GOLDEN["cases"]]
    got = corpus_sub_scores(None, seqs, "v4")
    want = np.array([[c["expected"]["v4"][k] for k in sub_score_names("v4")] for c in GOLDEN["cases"]])
    assert np.array_equal(got, want)
    without = [{**s, "context": {k: v for k, v in s["context"].items() if k != "distinct_probe_srcs"}} for s in seqs]
    assert np.array_equal(corpus_sub_scores(None, without, "v4"), corpus_sub_scores(None, without, "v3"))
    with pytest.raises(ValueError, match="'v8'"):
        corpus_sub_scores(None, seqs, "v8")
