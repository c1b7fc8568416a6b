import json

import numpy as np

from model.data import FLOW_COLUMNS
from model.sequencing import build_sequences, sequence_dicts, sequence_id
from model.sequencing_fixture import OUT, flows


def test_sequence_id_is_a_uuid_v5_shape_from_sha256():
    sid = sequence_id("10.0.0.1", "10.0.0.2", 1700000000000, 0)
    assert sid == "46e40290-e7fa-5391-b0c6-60b547fd71d0"
    assert sid[14] == "5" and sid[19] in "89ab"


def test_fixture_matches_the_python_sequencer():
    doc = json.loads(OUT.read_text())
    fl = flows()
    table = {k: np.array([f[k] for f in fl], dtype=object if k in ("src_ip", "dst_ip", "attack") else np.int64) for k in FLOW_COLUMNS}
    seqs = build_sequences(table)
    got = {s["sequence_id"]: s for s in sequence_dicts(table, seqs)}
    assert len(got) == len(doc["sequences"]) == 16
    for want in doc["sequences"]:
        g = got[want["sequence_id"]]
        assert g["context"] == want["context"]
        assert [f["start_ms"] for f in g["flows"]] == [f["start_ms"] for f in want["flows"]]
        assert [(f["protocol"], f["src_port"], f["fwd_bytes"]) for f in g["flows"]] == [(f["protocol"], f["src_port"], f["fwd_bytes"]) for f in want["flows"]]
    parts = sorted(s["part"] for s in doc["sequences"] if s["dst_ip"] == "10.0.0.9")
    assert parts == [0, 1]


def test_distinct_srcs_counts_the_responders_initiators_per_window():
    doc = json.loads(OUT.read_text())
    fan_in = {(s["src_ip"], s["dst_ip"], s["window_start_ms"]): s["context"]["distinct_srcs"] for s in doc["sequences"]}
    flood = [v for (src, dst, _), v in fan_in.items() if dst == "203.0.113.9"]
    assert sorted(flood) == [1, 5, 5, 5, 5, 5]  # five reflectors in one window, one of them in the next
    assert [v for (src, dst, _), v in fan_in.items() if dst == "10.0.0.10"] == [2, 2]
    assert fan_in[("10.0.0.5", "10.0.0.9", min(w for (s, d, w) in fan_in if d == "10.0.0.9"))] == 1
    # Every sequence's value is the number of distinct initiators toward its responder in its window.
    flows = doc["flows"]
    for (src, dst, ws), v in fan_in.items():
        srcs = {f["src_ip"] for f in flows if f["dst_ip"] == dst and f["start_ms"] - f["start_ms"] % doc["sequencing_spec"]["window_ms"] == ws}
        assert v == len(srcs)
