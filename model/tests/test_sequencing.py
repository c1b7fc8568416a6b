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
    assert len(got) == len(doc["sequences"]) == 9
    for want in doc["sequences"]:
        g = got[want["sequence_id"]]
        assert g["context"] == want["context"]
        assert [f["start_ms"] for f in g["flows"]] == [f["start_ms"] for f in want["flows"]]
        assert [(f["protocol"], f["src_port"], f["fwd_bytes"]) for f in g["flows"]] == [(f["protocol"], f["src_port"], f["fwd_bytes"]) for f in want["flows"]]
    parts = sorted(s["part"] for s in doc["sequences"] if s["dst_ip"] == "10.0.0.9")
    assert parts == [0, 1]
