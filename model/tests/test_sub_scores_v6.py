"""subscores.v6 (the service's flags and explanations: v5 over the sequence's connections, so a TCP connection
exported as one record per active timeout counts once): golden parity with TypeScript
(packages/features/test/sub-scores-v6.test.ts checks the same file), v5's scores where no port pair repeats."""

import json

import numpy as np

from model.baselines import SERVICE_SUB_SCORES, corpus_sub_scores, sub_score_names
from model.corpus import build_corpus, model_input
from model.data import labelled_captures
from model.features import connections, sequence_features, sub_scores_v5, sub_scores_v6
from model.raw_sequences import corpus_raw_sequences
from model.spec_paths import GOLDEN_SUB_SCORES_V6_PATH, SUB_SCORES_V6_PATH, file_sha256

GOLDEN = json.loads(GOLDEN_SUB_SCORES_V6_PATH.read_text())
BY_NAME = {c["name"]: c for c in GOLDEN["cases"]}


def test_golden_matches_spec_hash():
    assert GOLDEN["sub_score_spec_hash"] == file_sha256(SUB_SCORES_V6_PATH)
    assert len(GOLDEN["cases"]) == 154


def test_golden_sub_scores_v5_and_v6():
    for c in GOLDEN["cases"]:
        for version, fn in (("v5", sub_scores_v5), ("v6", sub_scores_v6)):
            got = fn(c["sequence"])
            assert set(got) == set(c["expected"][version]), (c["name"], version)
            for k, v in c["expected"][version].items():
                assert abs(got[k] - v) <= 1e-12, (c["name"], version, k, got[k], v)


def test_v6_is_v5_where_nothing_merges():
    unchanged = 0
    for c in GOLDEN["cases"]:
        flows = c["sequence"]["flows"]
        if connections(flows) is flows:
            unchanged += 1
            assert c["expected"]["v6"] == c["expected"]["v5"], c["name"]
    assert unchanged > 120
    # UDP records merge only where they tile: a second apart at most.
    edge = BY_NAME["udp records exactly 1000 ms apart continue, 1001 ms do not"]["sequence"]["flows"]
    assert [f["fwd_pkts"] for f in connections(edge)] == [4, 2]
    assert len(connections(BY_NAME["wireguard stream, a record every 30 s (records 100 ms apart)"]["sequence"]["flows"])) == 1
    # NSEL counts bytes, not packets: bytes back read one packet back (answered), a deny stays a silent look.
    nsel = BY_NAME["nsel teardown: bytes both ways, no packet counts, fan-out 30 hosts, probing fan-in 12"]
    assert [(f["fwd_pkts"], f["bwd_pkts"]) for f in connections(nsel["sequence"]["flows"])] == [(1, 1)]
    assert nsel["expected"]["v5"]["scan"] == 1 and nsel["expected"]["v6"]["scan"] == 0
    create = BY_NAME["nsel create (no counters) and teardown (bytes only) of one connection, fan-out 30 hosts"]
    assert len(connections(create["sequence"]["flows"])) == 1
    assert BY_NAME["nsel deny: no counters, fan-out 30 ports (still a silent look)"]["expected"]["v6"]["scan"] == 1


def test_a_session_exported_per_active_timeout_is_one_connection():
    for name in ("ssh session, a record every 60 s", "ssh session, a record every 30 s",
                 "postgresql session, a record every 30 s", "https session, a record every 30 s"):
        seq = BY_NAME[name]["sequence"]
        merged = connections(seq["flows"])
        assert len(merged) == 1, name
        assert merged[0]["fwd_pkts"] == sum(f["fwd_pkts"] for f in seq["flows"])
        assert merged[0]["start_ms"] == seq["flows"][0]["start_ms"] and merged[0]["end_ms"] == seq["flows"][-1]["end_ms"]
        assert all(v == 0 for v in BY_NAME[name]["expected"]["v6"].values()), name
    assert BY_NAME["ssh session, a record every 60 s"]["expected"]["v5"]["brute_force"] == 0.8
    assert BY_NAME["ssh guessing: 12 attempts, each exported as 2 records"]["expected"]["v6"]["brute_force"] == 1
    # UDP exchanges from a fixed port stay separate exchanges.
    ntp = BY_NAME["ntp 123 -> 123, 10 polls (udp: not merged)"]["sequence"]["flows"]
    assert connections(ntp) is ntp
    # A raw-socket scanner's probes share one source port but nothing answered them: still looks.
    scanner = BY_NAME["raw-socket scanner: 7 unanswered SYNs to port 23 from one source port, probing fan-in 12"]
    assert connections(scanner["sequence"]["flows"]) is scanner["sequence"]["flows"]
    assert scanner["expected"]["v6"]["scan"] == 1


def test_corpus_sub_scores_v6():
    assert SERVICE_SUB_SCORES == "v7"  # the service's default moved on (test_sub_scores_v7.py)
    assert sub_score_names("v6") == ("beacon", "scan", "brute_force", "exfiltration", "reflection")
    seqs = [c["sequence"] for c in GOLDEN["cases"]]
    want = np.array([[c["expected"]["v6"][k] for k in sub_score_names("v6")] for c in GOLDEN["cases"]])
    assert np.array_equal(corpus_sub_scores(None, seqs, "v6"), want)


def test_the_model_reads_connections_as_the_service_does():
    """corpus.model_input: each sequence's features over features.connections (what packages/detector feeds the model
    by default), equal to sequence_features of the merged sequence; labels and per-flow arrays stay on the records."""
    caps = [c for c in labelled_captures() if c.name == "ctu50-normal-43-day1"]
    assert len(caps) == 1
    corpus = build_corpus(caps)
    m = model_input(corpus)
    raw = corpus_raw_sequences(corpus)
    merged = 0
    for i, seq in enumerate(raw):
        view = {**seq, "flows": connections(seq["flows"])}
        merged += view["flows"] is not seq["flows"]
        want = sequence_features(view)
        a, n = int(m.seq_offset[i]), int(m.seq_len[i])
        assert n == len(view["flows"]), i
        assert np.allclose(m.flow_x[a:a + n], want["flow"], atol=1e-6), i
        assert np.allclose(m.ctx[i], want["context"], atol=1e-6), i
    assert merged > 0
    assert m.flow_x.shape[0] == corpus.flow_x.shape[0] - sum(len(s["flows"]) - len(connections(s["flows"])) for s in raw)
    assert m.flow_label is corpus.flow_label and m.flow_seq is corpus.flow_seq and m.y is corpus.y
