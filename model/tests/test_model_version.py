import json

import numpy as np
import onnx
import onnxruntime as ort

from model.data import TACTICS
from model.export import golden_inputs
from model.features import context_width
from model.spec_paths import FEATURE_SPEC_HASHES, VERSIONS_DIR

VERSION = (VERSIONS_DIR / "DEFAULT").read_text().strip()
DIR = VERSIONS_DIR / VERSION
MANIFEST = json.loads((DIR / "manifest.json").read_text())
GOLDEN = json.loads((DIR / "golden.json").read_text())
SPEC = MANIFEST["feature_spec"]


def _arr(t):
    return np.array(t["data"], dtype=np.float32).reshape(t["dims"])


def _session():
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(DIR / "model.onnx"), so, providers=["CPUExecutionProvider"])


def test_manifest_contract():
    m = MANIFEST
    assert m["version"] == VERSION
    assert m["feature_spec_hash"] == FEATURE_SPEC_HASHES[SPEC]
    assert m["context_features"] == context_width(SPEC)
    assert m["sequencing_spec"] == "sequencing.v1"
    assert m["tactics"] == TACTICS
    assert [t["id"] for t in m["tactic_status"]] == TACTICS
    assert all(("note" in t) == (not t["trained"]) for t in m["tactic_status"])
    assert 0 < m["thresholds"]["score"] < 1
    assert m["max_len"] == 64 and m["embedding_dim"] > 0
    assert (DIR / "model.onnx").stat().st_size <= 20 * 1024 * 1024
    assert m["training_data"] and all("capture" in d for d in m["training_data"])


def test_onnx_io_contract():
    g = onnx.load(str(DIR / "model.onnx"))
    assert g.opset_import[0].version >= 17
    ins = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in g.graph.input}
    assert ins == {"flow_features": ["batch", "len", 36], "flow_mask": ["batch", "len"], "context_features": ["batch", context_width(SPEC)]}
    assert [o.name for o in g.graph.output] == ["score", "tactic_probs", "anomaly", "embedding"]


def test_golden_inputs_are_the_feature_golden_sequences():
    inputs, names = golden_inputs(SPEC)
    assert names == GOLDEN["cases"]
    for k, v in inputs.items():
        np.testing.assert_allclose(_arr(GOLDEN["inputs"][k]), v, rtol=1e-6, atol=1e-6)


def test_onnxruntime_matches_pytorch_on_golden_inputs():
    sess = _session()
    feeds = {k: _arr(v) for k, v in GOLDEN["inputs"].items()}
    got = dict(zip(["score", "tactic_probs", "anomaly", "embedding"], sess.run(None, feeds)))
    for k, v in GOLDEN["outputs"].items():
        np.testing.assert_allclose(got[k], _arr(v), atol=GOLDEN["tolerance"]["abs"], err_msg=k)
    emb = got["embedding"]
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert got["tactic_probs"].shape == (len(GOLDEN["cases"]), len(TACTICS))
    assert ((got["score"] >= 0) & (got["score"] <= 1)).all() and ((got["anomaly"] >= 0) & (got["anomaly"] < 1)).all()


def test_dynamic_batch_and_length_and_padding_invariance():
    sess = _session()
    feeds = {k: _arr(v) for k, v in GOLDEN["inputs"].items()}
    full = sess.run(None, feeds)
    # One sequence alone, trimmed to its own length, scores as it did inside the padded batch.
    n = int(feeds["flow_mask"][0].sum())
    one = sess.run(None, {"flow_features": feeds["flow_features"][:1, :n], "flow_mask": feeds["flow_mask"][:1, :n],
                          "context_features": feeds["context_features"][:1]})
    for a, b in zip(one, full):
        np.testing.assert_allclose(a[0], b[0], atol=1e-4)
