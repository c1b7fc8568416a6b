"""`model.diagnose_spoof`: the rewritten scans differ from the recorded ones exactly where a spoofed source port
shows, and the fold scoring reproduces the committed held-out counts."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from model.data import labelled_captures, read_capture
from model.diagnose_spoof import (
    FLAG_THRESHOLD,
    fold_scores,
    scan_flow_rows,
    spoof_table,
    spoofed_corpora,
    sub_score_flags,
)
from model.features import FLOW_FEATURE_NAMES, sequence_features
from model.sequencing import MAX_FLOWS, build_sequences, sequence_dicts
from model.spec_paths import VERSIONS_DIR

WELL_KNOWN = FLOW_FEATURE_NAMES.index("src_port_well_known")
NAMES = ["nmap-portscan", "iot23-honeypot-7-1"]  # the scanner, and a capture without scans (must stay untouched)


@pytest.fixture(scope="module")
def spoofed():
    caps = [c for c in labelled_captures() if c.name in NAMES]
    tables = [read_capture(c) for c in caps]
    orig, scan, out = spoofed_corpora(caps, tables, ports=(53, 1023))
    return caps, tables, orig, scan, out


def _per_capture_rows(c, cols):
    """Each capture's flow rows (columns cols) sorted, with the capture index first: a flow order free view."""
    rows = np.concatenate([c.flow_capture[:, None].astype(np.float32), c.flow_x[:, cols]], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def test_only_the_scans_source_port_bit_changes(spoofed):
    caps, _, orig, scan, out = spoofed
    nmap = orig.capture == [c.name for c in caps].index("nmap-portscan")
    assert scan.sum() == (nmap & (orig.y == 1)).sum() == 236  # every malicious nmap sequence, nothing else
    scan_flow = scan[orig.flow_seq]
    # the gap to the previous flow and the first-flow bit depend on the order within a sequence
    order_bound = {WELL_KNOWN, FLOW_FEATURE_NAMES.index("log_gap_ms"), FLOW_FEATURE_NAMES.index("is_first")}
    others = [k for k in range(orig.flow_x.shape[1]) if k not in order_bound]
    tcp_udp = orig.flow_x[:, FLOW_FEATURE_NAMES.index("proto_tcp")] + orig.flow_x[:, FLOW_FEATURE_NAMES.index("proto_udp")]
    for p, c in out.items():
        # sequencing.v1 orders flows of one start ms by source port, so a flow may move within its conversation (and
        # so to another part of it, parts hold MAX_FLOWS each)
        np.testing.assert_array_equal(_per_capture_rows(c, others), _per_capture_rows(orig, others))
        np.testing.assert_array_equal(c.seq_len, orig.seq_len)
        np.testing.assert_array_equal(c.flow_x[~scan_flow], orig.flow_x[~scan_flow])
        np.testing.assert_array_equal(c.ctx, orig.ctx)
        # the recorded scanner used high source ports: the bit is off as recorded and on once spoofed (TCP/UDP)
        assert orig.flow_x[scan_flow, WELL_KNOWN].sum() == 0
        np.testing.assert_array_equal(c.flow_x[scan_flow, WELL_KNOWN], tcp_udp[scan_flow])
        assert c.flow_x[scan_flow, WELL_KNOWN].sum() > 0.9 * scan_flow.sum()


_SEQUENCING_ORDER = ("start_ms", "end_ms", "protocol", "src_port", "dst_port", "fwd_bytes", "bwd_bytes", "fwd_pkts", "bwd_pkts")


def _sequencing_key(t: dict, f: dict) -> tuple:
    """sequencing.v1's order of flows within a sequence: whole start ms, then the table's values (the end time may
    hold fractions of a ms), the source port as spoofed."""
    row = int(f["origin"].removeprefix("row:"))
    key = [f["src_port"] if k == "src_port" else t[k][row] for k in _SEQUENCING_ORDER]
    return (int(t["start_ms"][row]), *key[1:])


def test_spoofed_features_are_those_of_the_sequences_sent_from_that_port(spoofed):
    caps, tables, orig, scan, out = spoofed
    ci = [c.name for c in caps].index("nmap-portscan")
    t = tables[ci]
    base = int(np.nonzero(orig.capture == ci)[0][0])
    seqs = sequence_dicts(t, build_sequences(t))
    conversations: dict[tuple, list[int]] = {}
    for i, s in enumerate(seqs):
        conversations.setdefault((s["src_ip"], s["dst_ip"], s["window_start_ms"]), []).append(i)
    for parts in conversations.values():
        flows = [dict(f, src_port=53) if scan[base + i] and f["protocol"] in (6, 17) else f
                 for i in parts for f in seqs[i]["flows"]]
        flows.sort(key=lambda f: _sequencing_key(t, f))
        for k, i in enumerate(parts):
            assert seqs[i]["part"] == k
            seqs[i] = dict(seqs[i], flows=flows[k * MAX_FLOWS : (k + 1) * MAX_FLOWS])
    want = [sequence_features(s)["flow"] for s in seqs]
    rows = orig.flow_capture == ci
    np.testing.assert_array_equal(out[53].flow_x[rows], np.concatenate(want))


@pytest.mark.parametrize("version", ["flow-1.2.0", "flow-1.4.0"])
def test_recorded_scans_score_as_the_committed_held_out_evaluation(spoofed, version):
    caps, _, orig, scan, _ = spoofed
    manifest = json.loads((VERSIONS_DIR / version / "manifest.json").read_text())["metrics"]
    tp = next(c for c in manifest["captures"] if c["capture"] == "nmap-portscan")["model"]["per_sequence"]["tp"]
    score, thr = fold_scores(version, orig, np.nonzero(scan)[0])
    assert int((score >= thr).sum()) == tp


def test_spoof_table_rejects_bad_input():
    t = {"src_port": np.array([40000, 50000]), "protocol": np.array([6, 1])}
    np.testing.assert_array_equal(spoof_table(t, np.array([True, True]), 53)["src_port"], [53, 50000])
    with pytest.raises(ValueError, match="source port must be 1..65535, got 0"):
        spoof_table(t, np.array([True, True]), 0)
    with pytest.raises(ValueError, match="rows has shape"):
        spoof_table(t, np.array([True]), 53)


def test_alert_flags_follow_the_service_and_ignore_the_source_port(spoofed):
    caps, tables, orig, scan, _ = spoofed
    # the flag threshold is the inference service's default (a finding is raised at verdict malicious OR a flag)
    config = (Path(__file__).resolve().parents[2] / "services/inference/src/config.ts").read_text()
    default = re.search(r"TIDEWATCH_INFERENCE_FLAG_THRESHOLD: number\(0, 1, ([0-9.]+)\)", config)
    assert default and float(default.group(1)) == FLAG_THRESHOLD
    recorded = sub_score_flags(caps, tables)
    rows = scan_flow_rows(tables, scan)
    np.testing.assert_array_equal(rows[0].sum() + rows[1].sum(), orig.seq_len[scan].sum())
    for port in (53, 1023):
        spoofed_flags = sub_score_flags(caps, [spoof_table(t, r, port) for t, r in zip(tables, rows)])
        np.testing.assert_array_equal(spoofed_flags, recorded)
    # nmap's fan-out flags most of its scans whatever their source port; some benign sequences are flagged too
    assert 150 < recorded[scan].sum() < scan.sum()
