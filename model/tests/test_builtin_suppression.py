import json

import numpy as np

from model.builtin_suppression import BUILTIN_RULES_PATH, builtin_rule, builtin_suppressed, sequences_suppressed


def test_every_case_of_the_shared_spec():
    cases = json.loads(BUILTIN_RULES_PATH.read_text())["cases"]
    assert len(cases) >= 20
    for c in cases:
        assert builtin_rule(c["dst_ip"], c.get("protocols", [17]), c.get("dst_ports", [137])) == c["rule"], c


def test_vectorised_mask_matches_per_address():
    ips = ["224.0.0.251", "10.0.0.1", "ff02::fb", "10.0.0.1", "255.255.255.255", "not an ip", "224.2.24.27",
           "10.0.0.255", "10.0.0.255", "10.0.0.255"]
    protocols = [[17], [17], [58], [6], [17], [17], [17], [17, 17], [17, 6], [6]]
    ports = [[137]] * len(ips)
    assert builtin_suppressed(ips, protocols, ports).tolist() == [True, False, True, False, True, False, False,
                                                                  True, False, False]
    assert builtin_suppressed(np.array([], dtype=str), [], []).shape == (0,)


def test_sequences_suppressed_reads_flows_protocols():
    raw = [{"dst_ip": "192.168.10.255", "flows": [{"protocol": 17, "dst_port": 17500}, {"protocol": 17, "dst_port": 9}]},
           {"dst_ip": "192.168.10.255", "flows": [{"protocol": 6, "dst_port": 445}]},
           {"dst_ip": "224.0.0.251", "flows": [{"protocol": 6, "dst_port": 80}]},
           {"dst_ip": "141.142.220.255", "flows": [{"protocol": 17, "dst_port": 137}, {"protocol": 17, "dst_port": 138}]},
           {"dst_ip": "141.142.220.255", "flows": [{"protocol": 17, "dst_port": 137}, {"protocol": 17, "dst_port": 53}]}]
    assert sequences_suppressed(raw).tolist() == [True, False, True, True, False]
