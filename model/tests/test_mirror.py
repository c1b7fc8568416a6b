"""The `mirror` training augmentation (recipe evidence-mirror) and `model.experiments compare`."""

import json

import numpy as np
import pytest

from model.corpus import corpus_from_tables, padded_batch
from model.data import labelled_captures, read_capture
from model.experiments import compare_table
from model.features import sequence_features
from model.sequencing import build_sequences, sequence_dicts
from model.spec_paths import VERSIONS_DIR
from model.training import mirror_rows

_SWAP = {"src_port": "dst_port", "dst_port": "src_port", "fwd_bytes": "bwd_bytes", "bwd_bytes": "fwd_bytes",
         "fwd_pkts": "bwd_pkts", "bwd_pkts": "fwd_pkts"}


@pytest.mark.parametrize("name", ["iot23-honeypot-7-1", "iot23-20-1"])
def test_mirrored_flows_are_the_features_of_the_reversed_flows(name):
    cap = next(c for c in labelled_captures() if c.name == name)
    t = read_capture(cap)
    corpus = corpus_from_tables([cap], [t])
    want = []
    for s in sequence_dicts(t, build_sequences(t)):
        rev = dict(s, flows=[{k: f[_SWAP.get(k, k)] for k in f} for f in s["flows"]])
        want.append(sequence_features(rev)["flow"])
    np.testing.assert_array_equal(corpus.flow_x_mirror, np.concatenate(want))
    # a reversal changes what it should: some responders answered, some source ports are well known
    assert (corpus.flow_x_mirror[:, 0] != corpus.flow_x[:, 0]).any()
    assert (corpus.flow_x_mirror[:, 11] != corpus.flow_x[:, 11]).any()


def test_mirror_rows_replaces_whole_sequences_and_keeps_padding():
    cap = next(c for c in labelled_captures() if c.name == "iot23-honeypot-7-1")
    corpus = corpus_from_tables([cap], [read_capture(cap)])
    b = np.argsort(-corpus.seq_len)[:16]
    args = (corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
    flow, mask, _ = padded_batch(corpus.flow_x, *args)
    mirrored, _, _ = padded_batch(corpus.flow_x_mirror, *args)
    np.testing.assert_array_equal(mirror_rows(flow.copy(), corpus, b, np.random.default_rng(0), 0.0), flow)
    np.testing.assert_array_equal(mirror_rows(flow.copy(), corpus, b, np.random.default_rng(0), 1.0), mirrored)
    half = mirror_rows(flow.copy(), corpus, b, np.random.default_rng(3), 0.5)
    for i in range(b.shape[0]):
        assert (half[i] == flow[i]).all() or (half[i] == mirrored[i]).all()
    assert (half[mask == 0] == 0).all()
    with pytest.raises(ValueError, match="flow_x_mirror"):
        from dataclasses import replace

        mirror_rows(flow.copy(), replace(corpus, flow_x_mirror=None), b, np.random.default_rng(0), 0.5)


def test_mirror_rows_benign_only_leaves_malicious_sequences_alone():
    cap = next(c for c in labelled_captures() if c.name == "iot23-42-1")
    corpus = corpus_from_tables([cap], [read_capture(cap)])
    b = np.concatenate([np.nonzero(corpus.y == 1)[0][:8], np.nonzero(corpus.y == 0)[0][:8]])
    args = (corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
    flow, _, _ = padded_batch(corpus.flow_x, *args)
    mirrored, _, _ = padded_batch(corpus.flow_x_mirror, *args)
    out = mirror_rows(flow.copy(), corpus, b, np.random.default_rng(0), 1.0, benign_only=True)
    np.testing.assert_array_equal(out[:8], flow[:8])
    np.testing.assert_array_equal(out[8:], mirrored[8:])
    assert (mirrored[:8] != flow[:8]).any()


def test_compare_table_pools_counts_with_and_without_the_largest_benign_capture(tmp_path):
    manifest = json.loads((VERSIONS_DIR / "flow-1.2.0" / "manifest.json").read_text())["metrics"]
    caps = {c["capture"]: dict(c["model"]["per_sequence"]) for c in manifest["captures"]}
    caps["iot23-42-1"] = dict(caps["iot23-42-1"], tp=0, fn=caps["iot23-42-1"]["tp"] + caps["iot23-42-1"]["fn"])
    run = tmp_path / "results.json"
    run.write_text(json.dumps({"r": {"metrics": {"inner_fpr": {"captures": caps}}}}))
    rows = compare_table(["flow-1.2.0", f"{run}:r"]).splitlines()
    overall = manifest["overall"]["model"]["per_sequence"]
    pooled = next(r for r in rows if r.startswith("| **pooled** "))
    assert f"{overall['f1']:.4f} / {overall['fpr']:.4f} ({overall['tp']:,} / {overall['fp']:,})" in pooled.split("|")[2]
    tp, fp = overall["tp"] - 42, overall["fp"]
    assert f"({tp:,} / {fp:,})" in pooled.split("|")[3]
    # flow-1.2.0's largest benign capture is flowprep (146 TP / 2,030 FP held out)
    without = next(r for r in rows if r.startswith("| **pooled without cic2017-flowprep**"))
    assert "(5,663 / 339)" in without.split("|")[2] and "0.0118" in without.split("|")[2]
    with pytest.raises(ValueError, match="flow-0.0.0"):
        compare_table(["flow-0.0.0"])
    with pytest.raises(ValueError, match="no complete results for recipe 'x'"):
        compare_table([f"{run}:x"])
