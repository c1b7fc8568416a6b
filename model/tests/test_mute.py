"""`mute_features` (recipe evidence-mirror-benign-nosrc, issue #5): a muted flow feature cannot move any output of the
trained model, in PyTorch and in the exported graph's buffers."""

from dataclasses import replace

import numpy as np
import torch

from model.corpus import build_corpus
from model.data import labelled_captures
from model.features import C, F, FLOW_FEATURE_NAMES
from model.training import MUTED_STD, RECIPES, TrainConfig, train

WELL_KNOWN = FLOW_FEATURE_NAMES.index("src_port_well_known")


def _tiny(mute: tuple[str, ...]):
    torch.set_num_threads(1)
    caps = [c for c in labelled_captures() if c.name in ("nmap-portscan", "iot23-honeypot-7-1")]
    corpus = build_corpus(caps)
    cfg = TrainConfig(d=16, layers=1, ff=32, pretrain_epochs=1, epochs=1, max_tokens=512, max_batch=64,
                      evidence=True, flow_head=True, mute_features=mute)
    model, _ = train(corpus, np.arange(corpus.count), cfg, log=lambda _: None)
    return model.eval()


def _outputs_with_bit(model, bit: float):
    g = torch.Generator().manual_seed(3)
    flow = torch.rand(8, 12, F, generator=g)
    flow[:, :, WELL_KNOWN] = bit
    mask = torch.ones(8, 12)
    mask[:, 9:] = 0.0
    ctx = torch.rand(8, C, generator=g)
    with torch.no_grad():
        return [t.numpy() for t in model(flow, mask, ctx)]


def test_a_muted_feature_moves_no_output_and_an_unmuted_one_does():
    muted = _tiny(("src_port_well_known",))
    assert muted.feat_std[WELL_KNOWN].item() == MUTED_STD and muted.feat_mean[WELL_KNOWN].item() == 0.0
    for a, b in zip(_outputs_with_bit(muted, 0.0), _outputs_with_bit(muted, 1.0), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    plain = _tiny(())
    moved = [np.abs(a - b).max() for a, b in zip(_outputs_with_bit(plain, 0.0), _outputs_with_bit(plain, 1.0), strict=True)]
    assert max(moved) > 1e-4, moved


def test_recipe_is_flow_1_4_0s_without_the_source_port_bit():
    assert RECIPES["evidence-mirror-benign-nosrc"] == replace(RECIPES["evidence-mirror-benign"],
                                                            mute_features=("src_port_well_known",))
    assert TrainConfig().mute_features == ()
