"""`spoof_probes` (recipe evidence-mirror-benign-spoof2, issue #5): a scan re-sent from a well-known source port, limited
to the flows a spoofing scanner crafts, with the features of exactly that rewritten sequence and its protocol kept."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from model.corpus import SPOOF_PORTS, build_corpus, corpus_from_tables, padded_batch, scan_sequences
from model.data import labelled_captures, read_capture
from model.diagnose_spoof import spoof_table
from model.features import FLOW_FEATURE_NAMES, PROTO_OFFSET, sequence_features
from model.sequencing import build_sequences, sequence_dicts
from model.training import RECIPES, TrainConfig, augment, augment_batch, spoof_probe_rows, spoof_rows, train

# nmap: TCP probes, 16 of them answered with payload; ctu50 42: UDP probes to 123 and 53 among others
NAMES = ["nmap-portscan", "ctu50-normal-42-day2"]
WELL_KNOWN = FLOW_FEATURE_NAMES.index("src_port_well_known")
UNKNOWN = PROTO_OFFSET + 4


@pytest.fixture(scope="module")
def data():
    caps = [c for c in labelled_captures() if c.name in NAMES]
    tables = [read_capture(c) for c in caps]
    corpus = corpus_from_tables(caps, tables)
    return tables, corpus, scan_sequences(corpus)


def _probe_rows(t: dict, port: int) -> np.ndarray:
    """Per flow of the raw table: what a `nmap -g port` scanner would have sent from that port."""
    tcp = (t["protocol"] == 6) & (t["bwd_bytes"] == 0)
    udp = (t["protocol"] == 17) & (t["dst_port"] != port)
    return tcp | udp


def _resent_features(tables, picked: np.ndarray, ports: np.ndarray) -> np.ndarray:
    """Per flow, in corpus order, of the sequences `picked` (bool per corpus sequence): features of each sequence with
    its crafted probes re-sent from ports[sequence] (model.diagnose_spoof's spoof_table), in the recorded order."""
    out, base = [], 0
    for t in tables:
        seqs = build_sequences(t)
        seq_of_flow = base + seqs.flow_sequence_index(t["start_ms"].shape[0])
        for i in range(seqs.count):
            s = base + i
            if picked[s]:
                t2 = spoof_table(t, (seq_of_flow == s) & _probe_rows(t, int(ports[s])), int(ports[s]))
                out.append(sequence_features(sequence_dicts(t2, seqs, [i])[0])["flow"])
        base += seqs.count
    return np.concatenate(out)


def _batch(corpus, b):
    return padded_batch(corpus.flow_x, corpus.seq_offset, corpus.seq_len, corpus.ctx, b)


@pytest.mark.parametrize("ports", [SPOOF_PORTS, (123,), (53,)])
def test_spoofed_probes_are_the_features_of_the_resent_sequences(data, ports):
    tables, corpus, scan = data
    assert scan.sum() == 236 + 2820  # every malicious nmap sequence, ctu50 42's External-Attack-to-Device
    b = np.arange(corpus.count)
    flow, mask, _ = _batch(corpus, b)
    got, spoofed, port = spoof_probe_rows(flow.copy(), corpus, scan, b, np.random.default_rng(0), 1.0, ports)
    np.testing.assert_array_equal(spoofed, scan)
    assert set(port.tolist()) == set(ports)
    want = _resent_features(tables, scan, port)
    np.testing.assert_array_equal(got[scan][mask[scan] > 0], want)
    np.testing.assert_array_equal(got[~scan], flow[~scan])
    assert (got[mask == 0] == 0).all()
    changed = got != flow
    assert (changed.sum(2) == changed[..., WELL_KNOWN]).all()  # only the well-known bit moves
    # what stays unspoofed: answered TCP connections and UDP probes from the probed port to itself
    fx, dport = corpus.flow_x, corpus.flow_dst_port
    answered_tcp = scan[corpus.flow_seq] & (fx[:, PROTO_OFFSET] == 1) & (fx[:, 1] > 0) & (fx[:, WELL_KNOWN] == 0)
    assert answered_tcp.sum() >= 16
    spoofed_flows = got[mask > 0][:, WELL_KNOWN] == 1
    assert not spoofed_flows[answered_tcp].any()
    same_port_udp = scan[corpus.flow_seq] & (fx[:, PROTO_OFFSET + 1] == 1) & (dport == port[corpus.flow_seq])
    if ports == (123,) or ports == (53,):
        assert same_port_udp.sum() >= 10  # ctu50 42 probes NTP 16 times, DNS 11 times
    assert not spoofed_flows[same_port_udp & (fx[:, WELL_KNOWN] == 0)].any()
    other_udp = scan[corpus.flow_seq] & (fx[:, PROTO_OFFSET + 1] == 1) & ~same_port_udp
    assert spoofed_flows[other_udp].all() and other_udp.sum() > 250


def test_spoof_probe_rows_picks_whole_scan_sequences_with_probability_p(data):
    _, corpus, scan = data
    b = np.concatenate([np.nonzero(scan)[0][:64], np.nonzero(~scan)[0][:64]])
    flow, _, _ = _batch(corpus, b)
    full, _, full_port = spoof_probe_rows(flow.copy(), corpus, scan, b, np.random.default_rng(3), 1.0)
    half, sel, half_port = spoof_probe_rows(flow.copy(), corpus, scan, b, np.random.default_rng(3), 0.5)
    assert not sel[64:].any() and 16 < sel[:64].sum() < 48
    np.testing.assert_array_equal(half[~sel], flow[~sel])
    # the same draw of ports: a picked sequence is spoofed exactly as at p = 1
    np.testing.assert_array_equal(half_port, full_port)
    np.testing.assert_array_equal(half[sel], full[sel])
    assert all((full[i] != flow[i]).any() for i in np.nonzero(sel)[0])


def test_protocol_is_never_hidden_on_a_spoofed_flow(data):
    """The training pipeline's order: spoofing, then protocol dropout, which must skip the spoofed sequences
    (evidence-mirror-benign-spoof's run hid them and learned "unknown protocol + well-known source port = scan")."""
    _, corpus, scan = data
    b = np.concatenate([np.nonzero(scan)[0][:200:2], np.nonzero(~scan)[0][:100]])
    flow, mask, ctx = _batch(corpus, b)
    cfg = replace(RECIPES["evidence-mirror-benign-spoof2"], protocol_dropout=1.0, flag_dropout=0.0, mirror=0.0)
    got, _ = augment_batch(flow.copy(), ctx.copy(), mask, corpus, b, np.random.default_rng(5), cfg, scan)
    want, sel, _ = spoof_probe_rows(flow.copy(), corpus, scan, b, np.random.default_rng(5), cfg.spoof_scan)
    assert 10 < sel.sum() < 90
    np.testing.assert_array_equal(got[sel], want[sel])  # spoofed sequences: protocol and flags as sent
    spoofed_flow = got[..., WELL_KNOWN] > flow[..., WELL_KNOWN]
    assert spoofed_flow.sum() > 50
    assert (got[spoofed_flow][:, PROTO_OFFSET : PROTO_OFFSET + 2].sum(1) == 1).all()
    assert (got[spoofed_flow][:, UNKNOWN] == 0).all()
    # every other sequence's TCP / UDP flows lost their protocol, as protocol dropout at p 1 does
    tcp_udp = (flow[..., PROTO_OFFSET] + flow[..., PROTO_OFFSET + 1]) > 0
    assert (got[~sel][tcp_udp[~sel]][:, UNKNOWN] == 1).all() and tcp_udp[~sel].sum() > 100
    # the first spoof recipe (spoof_probes off) hides them
    old = replace(cfg, spoof_probes=False)
    got_old, _ = augment_batch(flow.copy(), ctx.copy(), mask, corpus, b, np.random.default_rng(5), old, scan)
    old_spoofed = got_old[..., WELL_KNOWN] > flow[..., WELL_KNOWN]
    assert old_spoofed.sum() > 50 and (got_old[old_spoofed][:, UNKNOWN] == 1).all()


def test_exemption_keeps_the_random_draws_of_augment(data):
    _, corpus, scan = data
    b = np.arange(200)
    flow, _, _ = _batch(corpus, b)
    cfg = TrainConfig(protocol_dropout=0.5)
    keep = np.zeros(b.shape[0], bool)
    np.testing.assert_array_equal(augment(flow.copy(), np.random.default_rng(1), cfg, keep),
                                  augment(flow.copy(), np.random.default_rng(1), cfg))
    np.testing.assert_array_equal(augment(flow.copy(), np.random.default_rng(1), cfg, ~keep)[..., PROTO_OFFSET:UNKNOWN + 1],
                                  flow[..., PROTO_OFFSET:UNKNOWN + 1])
    # spoof_rows (first recipe) is unchanged by this one
    np.testing.assert_array_equal(spoof_rows(flow.copy(), scan, b, np.random.default_rng(0), 0.0), flow)


def test_spoof_probes_needs_the_responder_ports(data):
    _, corpus, scan = data
    b = np.arange(10)
    flow, _, _ = _batch(corpus, b)
    with pytest.raises(ValueError, match="flow_dst_port"):
        spoof_probe_rows(flow, replace(corpus, flow_dst_port=None), scan, b, np.random.default_rng(0), 0.5)


def test_recipe_is_the_first_spoof_recipe_limited_to_probes():
    assert RECIPES["evidence-mirror-benign-spoof2"] == replace(RECIPES["evidence-mirror-benign-spoof"], spoof_probes=True)
    assert RECIPES["evidence-mirror-benign-spoof2"].spoof_scan == 0.25
    assert TrainConfig().spoof_probes is False


def test_training_with_spoof_probes_runs_and_leaves_the_corpus_alone():
    torch.set_num_threads(1)
    caps = [c for c in labelled_captures() if c.name == "nmap-portscan"]
    corpus = build_corpus(caps)
    before = corpus.flow_x.copy()
    cfg = TrainConfig(d=16, layers=1, ff=32, pretrain_epochs=1, epochs=1, max_tokens=512, max_batch=64,
                      evidence=True, flow_head=True, spoof_scan=1.0, spoof_probes=True)
    _, hist = train(corpus, np.arange(corpus.count), cfg, log=lambda _: None)
    assert len(hist["loss"]) == 1
    np.testing.assert_array_equal(corpus.flow_x, before)
