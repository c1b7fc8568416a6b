"""ONNX export, manifest.json and golden.json (PyTorch outputs on golden inputs) for a model version."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from .data import TACTIC_NAMES, TACTICS
from .features import F, context_width, sequence_features, spec_of_context_width
from .net import FlowSequenceEncoder
from .spec_paths import FEATURE_SPEC_HASHES, GOLDEN_FEATURES_PATHS, REPO_ROOT, SEQUENCING_SPEC, VERSIONS_DIR

INPUTS = ["flow_features", "flow_mask", "context_features"]
OUTPUTS = ["score", "tactic_probs", "anomaly", "embedding"]
OPSET = 17


def golden_inputs(spec: str = "features.v1") -> tuple[dict, list[str]]:
    """The spec's golden sequences as one padded batch (mixed lengths exercise the mask)."""
    doc = json.loads(GOLDEN_FEATURES_PATHS[spec].read_text())
    feats = [sequence_features(c["sequence"], spec) for c in doc["cases"]]
    L = max(f["flow"].shape[0] for f in feats)
    flow = np.zeros((len(feats), L, F), np.float32)
    mask = np.zeros((len(feats), L), np.float32)
    for i, f in enumerate(feats):
        n = f["flow"].shape[0]
        flow[i, :n], mask[i, :n] = f["flow"], 1.0
    ctx = np.stack([f["context"] for f in feats]).astype(np.float32)
    return {"flow_features": flow, "flow_mask": mask, "context_features": ctx}, [c["name"] for c in doc["cases"]]


def export_onnx(model: FlowSequenceEncoder, path: Path) -> None:
    model = model.cpu().eval()
    ex = golden_inputs(spec_of_context_width(model.context_width))[0]
    args = tuple(torch.from_numpy(ex[k]) for k in INPUTS)
    torch.onnx.export(
        model, args, str(path), input_names=INPUTS, output_names=OUTPUTS, opset_version=OPSET, dynamo=False,
        dynamic_axes={
            "flow_features": {0: "batch", 1: "len"}, "flow_mask": {0: "batch", 1: "len"},
            "context_features": {0: "batch"}, "score": {0: "batch"}, "tactic_probs": {0: "batch"},
            "anomaly": {0: "batch"}, "embedding": {0: "batch"},
        },
    )


@torch.no_grad()
def torch_outputs(model: FlowSequenceEncoder, inputs: dict) -> dict:
    out = model.eval()(*(torch.from_numpy(inputs[k]) for k in INPUTS))
    return {k: v.numpy() for k, v in zip(OUTPUTS, out)}


def _tensor(a: np.ndarray) -> dict:
    return {"dims": list(a.shape), "data": [float(x) for x in a.reshape(-1)]}


def write_version(model: FlowSequenceEncoder, version: str, *, trained_tactics: list[str], metrics: dict,
                  thresholds: dict, training_data: list[dict], training: dict, extra: dict | None = None,
                  versions_dir: Path = VERSIONS_DIR) -> Path:
    out = versions_dir / version
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out / "model.onnx")
    torch.save({"config": model.config, "state_dict": model.state_dict()}, out / "model.pt")
    spec = spec_of_context_width(model.context_width)
    inputs, names = golden_inputs(spec)
    outs = torch_outputs(model, inputs)
    golden = {
        "version": version, "feature_golden": str(GOLDEN_FEATURES_PATHS[spec].relative_to(REPO_ROOT)), "cases": names,
        "tolerance": {"abs": 1e-4},
        "inputs": {k: _tensor(v) for k, v in inputs.items()}, "outputs": {k: _tensor(v) for k, v in outs.items()},
    }
    (out / "golden.json").write_text(json.dumps(golden) + "\n")
    manifest = {
        "version": version,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "feature_spec": spec,
        "feature_spec_hash": FEATURE_SPEC_HASHES[spec],
        "sequencing_spec": SEQUENCING_SPEC["version"],
        "tactics": TACTICS,
        "tactic_status": [
            {"id": t, "name": TACTIC_NAMES[t], "trained": t in trained_tactics,
             **({} if t in trained_tactics else {"note": "no data"})} for t in TACTICS
        ],
        "thresholds": thresholds,
        "embedding_dim": int(model.d),
        "max_len": int(model.max_len),
        "flow_features": F,
        "context_features": context_width(spec),
        "onnx": {"file": "model.onnx", "opset": OPSET, "inputs": INPUTS, "outputs": OUTPUTS,
                 "bytes": (out / "model.onnx").stat().st_size},
        "architecture": {"kind": "pre-norm transformer encoder", "d_model": model.d, "layers": len(model.layers),
                         "heads": model.layers[0].heads, "parameters": int(sum(p.numel() for p in model.parameters()))},
        "anomaly": "Mahalanobis distance of the sequence representation to benign training sequences, d2/(d2+q99): 0.5 at the benign 99th percentile",
        "metrics": metrics,
        "training": training,
        "training_data": training_data,
        **(extra or {}),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def set_default(version: str) -> None:
    (VERSIONS_DIR / "DEFAULT").write_text(version + "\n")
