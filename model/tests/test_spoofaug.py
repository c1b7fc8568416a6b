"""The `spoof_scan` training augmentation (recipe evidence-mirror-benign-spoof, issue #5): a scan sequence shown as if its
TCP/UDP probes came from a well-known source port, features exactly those of the rewritten sequence."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from model.corpus import build_corpus, corpus_from_tables, padded_batch, scan_sequences
from model.data import labelled_captures, read_capture
from model.diagnose_spoof import spoof_table
from model.features import FLOW_FEATURE_NAMES, sequence_features
from model.sequencing import build_sequences, sequence_dicts
from model.training import RECIPES, TrainConfig, spoof_rows, train

NAMES = ["nmap-portscan", "iot23-honeypot-7-1"]  # the scanner, and a capture without scans (must stay untouched)
WELL_KNOWN = FLOW_FEATURE_NAMES.index("src_port_well_known")


@pytest.fixture(scope="module")
def data():
    caps = [c for c in labelled_captures() if c.name in NAMES]
    tables = [read_capture(c) for c in caps]
    corpus = corpus_from_tables(caps, tables)
    return caps, tables, corpus, scan_sequences(corpus)


def _rewritten_features(tables, scan, ports) -> np.ndarray:
    """Per flow, in corpus order: features of each sequence with its scan flows' source port rewritten by
    model.diagnose_spoof's spoof_table to ports[sequence], kept in the recorded order."""
    out, base = [], 0
    for t in tables:
        seqs = build_sequences(t)
        seq_of_flow = base + seqs.flow_sequence_index(t["start_ms"].shape[0])
        for i in range(seqs.count):
            s = base + i
            t2 = spoof_table(t, seq_of_flow == s, int(ports[s])) if scan[s] else t
            out.append(sequence_features(sequence_dicts(t2, seqs, [i])[0])["flow"])
        base += seqs.count
    return np.concatenate(out)


def test_spoofed_scans_are_the_features_of_the_rewritten_sequences(data):
    _, tables, corpus, scan = data
    assert scan.sum() == 236  # every malicious nmap sequence; the honeypot has none
    ports = np.random.default_rng(1).integers(1, 1024, corpus.count)  # any well-known port, one per sequence
    want = _rewritten_features(tables, scan, ports)
    b = np.arange(corpus.count)
    flow, mask, _ = padded_batch(corpus.flow_x, corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
    got = spoof_rows(flow.copy(), scan, b, np.random.default_rng(0), 1.0)
    np.testing.assert_array_equal(got[mask > 0], want)
    assert (got[mask == 0] == 0).all()
    # what it changes: the well-known bit of the scans' TCP/UDP flows, off as recorded (the scanner used high ports)
    changed = (got != flow).any(2)
    assert changed.sum() == (got[..., WELL_KNOWN] != flow[..., WELL_KNOWN]).sum() > 0.9 * corpus.seq_len[scan].sum()
    assert not changed[~scan].any()
    assert (got != flow).sum() == changed.sum()


def test_spoof_rows_picks_whole_scan_sequences_with_probability_p(data):
    _, _, corpus, scan = data
    b = np.concatenate([np.nonzero(scan)[0][:64], np.nonzero(~scan)[0][:64]])
    flow, _, _ = padded_batch(corpus.flow_x, corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
    full = spoof_rows(flow.copy(), scan, b, np.random.default_rng(0), 1.0)
    np.testing.assert_array_equal(spoof_rows(flow.copy(), scan, b, np.random.default_rng(0), 0.0), flow)
    half = spoof_rows(flow.copy(), scan, b, np.random.default_rng(3), 0.5)
    same = np.array([(half[i] == flow[i]).all() for i in range(b.shape[0])])
    spoofed = np.array([(half[i] == full[i]).all() and (full[i] != flow[i]).any() for i in range(b.shape[0])])
    assert (same | spoofed).all() and not spoofed[64:].any()
    assert 16 < spoofed[:64].sum() < 48


def test_recipe_is_mirror_benign_plus_spoof():
    assert RECIPES["evidence-mirror-benign-spoof"] == replace(RECIPES["evidence-mirror-benign"], spoof_scan=0.25)
    assert TrainConfig().spoof_scan == 0.0


def test_training_with_spoof_scan_runs_and_leaves_the_corpus_alone():
    torch.set_num_threads(1)
    caps = [c for c in labelled_captures() if c.name in NAMES]
    corpus = build_corpus(caps)
    before = corpus.flow_x.copy()
    cfg = TrainConfig(d=16, layers=1, ff=32, pretrain_epochs=1, epochs=1, max_tokens=512, max_batch=64,
                      evidence=True, flow_head=True, spoof_scan=1.0)
    _, hist = train(corpus, np.arange(corpus.count), cfg, log=lambda _: None)
    assert len(hist["loss"]) == 1
    np.testing.assert_array_equal(corpus.flow_x, before)
