import json

import numpy as np

from model.builtin_suppression import BUILTIN_RULES_PATH, builtin_rule, builtin_suppressed


def test_every_case_of_the_shared_spec():
    cases = json.loads(BUILTIN_RULES_PATH.read_text())["cases"]
    assert len(cases) >= 20
    for c in cases:
        assert builtin_rule(c["dst_ip"]) == c["rule"], c["dst_ip"]


def test_vectorised_mask_matches_per_address():
    ips = ["224.0.0.251", "10.0.0.1", "ff02::fb", "10.0.0.1", "255.255.255.255", "not an ip", "224.2.24.27"]
    assert builtin_suppressed(ips).tolist() == [True, False, True, False, True, False, False]
    assert builtin_suppressed(np.array([], dtype=str)).shape == (0,)
