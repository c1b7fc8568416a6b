"""Model throughput, Python side: PyTorch (eager) vs onnxruntime on the same inputs, batch 1 / 64 / 512.

Inputs: bench/model-inputs.ts's deterministic sequences (lengths follow the labelled captures), through
features.v1. Each batch is scored two ways: padded to its longest sequence ("padded"), and split into
length buckets 1, 2, 4, 8, 16, 32, 64 ("bucketed": the one-flow bucket is the fast path, since ~85 % of
sequences have one flow). Prints sequences/s (median of 3 runs) and ratios against PyTorch. When PyTorch sees
a CUDA GPU it also prints PyTorch-on-GPU rates (fp32, bf16 autocast) for the same sequences.

Run: . scripts/python-env.sh && $TW_PYTHON bench/model-throughput.py [--version V] [--threads 1] [--sequences 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from model.bench_inputs import model_bench_sequences  # noqa: E402
from model.features import F, sequence_features  # noqa: E402
from model.net import load_model  # noqa: E402
from model.spec_paths import VERSIONS_DIR  # noqa: E402

BUCKETS = [1, 2, 4, 8, 16, 32, 64]


def pad(feats: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    L = max(f["flow"].shape[0] for f in feats)
    flow = np.zeros((len(feats), L, F), np.float32)
    mask = np.zeros((len(feats), L), np.float32)
    for i, f in enumerate(feats):
        n = f["flow"].shape[0]
        flow[i, :n], mask[i, :n] = f["flow"], 1.0
    return flow, mask, np.stack([f["context"] for f in feats])


def plan(feats: list[dict], batch: int, bucketed: bool) -> list[tuple]:
    """The padded input tensors for scoring all sequences in batches of `batch` (built before timing)."""
    out = []
    for s in range(0, len(feats), batch):
        chunk = feats[s : s + batch]
        if not bucketed:
            out.append(pad(chunk))
            continue
        groups: dict[int, list] = {}
        for f in chunk:
            n = f["flow"].shape[0]
            groups.setdefault(next(b for b in BUCKETS if n <= b), []).append(f)
        out.extend(pad(g) for g in groups.values())
    return out


def run_ort(sess, batches) -> None:
    for flow, mask, ctx in batches:
        sess.run(None, {"flow_features": flow, "flow_mask": mask, "context_features": ctx})


@torch.no_grad()
def run_torch(model, batches) -> None:
    for flow, mask, ctx in batches:
        model(torch.from_numpy(flow), torch.from_numpy(mask), torch.from_numpy(ctx))


@torch.no_grad()
def run_cuda(model, batches, dtype) -> None:
    for flow, mask, ctx in batches:
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            model(flow, mask, ctx)
    torch.cuda.synchronize()


def cuda_rates(model, feats: list[dict]) -> None:
    """PyTorch on the CUDA GPU (fp32 and bf16 autocast), inputs already on the device, beside nothing else:
    the CPU rows above are the baseline of the same run."""
    gpu = torch.device("cuda")
    m = type(model)(**model.config)
    m.load_state_dict(model.state_dict())
    m = m.to(gpu).eval()
    print(f"\nCUDA: {torch.cuda.get_device_name(0)}, PyTorch eager, same sequences")
    print("| batch | layout | fp32 seq/s | bf16 autocast seq/s |")
    print("|---:|---|---:|---:|")
    for batch in (1, 64, 512, 4096):
        for bucketed in (False, True):
            n = min(len(feats), 1024 if batch == 1 else len(feats))
            batches = [tuple(torch.from_numpy(a).to(gpu) for a in b) for b in plan(feats[:n], batch, bucketed)]
            f32, _ = rate(lambda b: run_cuda(m, b, torch.float32), batches, n)
            b16, _ = rate(lambda b: run_cuda(m, b, torch.bfloat16), batches, n)
            print(f"| {batch} | {'bucketed' if bucketed else 'padded'} | {f32:,.0f} | {b16:,.0f} |")


def rate(fn, batches, n: int) -> tuple[float, float]:
    """(sequences per wall-clock second, sequences per CPU-second of this process), medians of 3 runs.
    The CPU-second figure is what one dedicated core would do; on a shared machine wall-clock understates it."""
    fn(batches[: max(1, len(batches) // 10)])  # warm-up
    wall, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(batches)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return n / statistics.median(wall), n / statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sequences", type=int, default=4096)
    ap.add_argument("--no-cuda", action="store_true", help="skip the CUDA rows when a GPU is present")
    args = ap.parse_args()
    version = args.version or (VERSIONS_DIR / "DEFAULT").read_text().strip()
    vdir = VERSIONS_DIR / version
    torch.set_num_threads(args.threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(vdir / "model.onnx"), so, providers=["CPUExecutionProvider"])
    model = load_model(vdir / "model.pt")
    seqs = model_bench_sequences(args.sequences)
    t0 = time.perf_counter()
    spec = json.loads((vdir / "manifest.json").read_text()).get("feature_spec", "features.v1")
    feats = [sequence_features(s, spec) for s in seqs]
    feat_rate = len(seqs) / (time.perf_counter() - t0)
    lens = np.array([f["flow"].shape[0] for f in feats])
    print(f"model {version} ({spec}); {len(seqs)} sequences, mean length {lens.mean():.2f}, one-flow share {(lens == 1).mean():.2f}; "
          f"threads {args.threads}; torch {torch.__version__}, onnxruntime {ort.__version__}")
    print(f"python feature extraction (reference implementation, not the product path): {feat_rate:,.0f} seq/s")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| batch | layout | PyTorch seq/s (wall) | ORT seq/s (wall) | PyTorch seq/CPU-s | ORT seq/CPU-s | ORT / PyTorch (CPU) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for batch in (1, 64, 512):
        for bucketed in (False, True):
            n = min(len(feats), 1024 if batch == 1 else len(feats))
            batches = plan(feats[:n], batch, bucketed)
            pt, ptc = rate(lambda b: run_torch(model, b), batches, n)
            ox, oxc = rate(lambda b: run_ort(sess, b), batches, n)
            print(f"| {batch} | {'bucketed' if bucketed else 'padded'} | {pt:,.0f} | {ox:,.0f} | {ptc:,.0f} | {oxc:,.0f} | {oxc / ptc:.2f}x |")
    if torch.cuda.is_available() and not args.no_cuda:
        cuda_rates(model, feats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
