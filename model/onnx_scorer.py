"""Scores corpus sequences through onnxruntime with length bucketing (the path the product takes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from .corpus import Corpus, length_batches, padded_batch

OUTPUTS = ["score", "tactic_probs", "anomaly", "embedding"]


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def score_corpus(sess: ort.InferenceSession, corpus: Corpus, idx: np.ndarray, max_tokens: int = 16384) -> dict:
    res = {k: None for k in OUTPUTS}
    pos_of = {int(s): i for i, s in enumerate(idx)}
    for b in length_batches(corpus.seq_len, idx, max_tokens, 4096):
        flow, mask, ctx = padded_batch(corpus.flow_x, corpus.seq_offset, corpus.seq_len, corpus.ctx, b)
        outs = sess.run(None, {"flow_features": flow, "flow_mask": mask, "context_features": ctx})
        rows = np.array([pos_of[int(s)] for s in b])
        for k, v in zip(OUTPUTS, outs):
            if res[k] is None:
                res[k] = np.zeros((idx.shape[0],) + v.shape[1:], dtype=np.float32)
            res[k][rows] = v
    return res
