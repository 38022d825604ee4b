"""The Helper's handlers on hostile input: a VeilError (→ HTTP 4xx) or an answer, nothing else."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.aggregation.aggregator import HelperCore
from veil.aggregation.messages import VerifyItem, VerifyRequest, b64e
from veil.aggregation.report import seal_share, verify_key_info
from veil.aggregation.store import AggregatorStore
from veil.aggregation.testing import make_consortium
from veil.errors import VeilError

CON = make_consortium(n_clients=1, dimension=16)
REP = CON.builder("c0").build(0, np.full(16, 0.01), 3)
VK = seal_share(CON.cfg.helper_hpke, bytes(48), verify_key_info(CON.cfg.task_id, 0))
BODY = json.loads(
    VerifyRequest(
        CON.cfg.task_id, 0, VK, [VerifyItem(REP.metadata.encode(), REP.helper_share, b"", b"")]
    ).encode()
)

junk = st.one_of(
    st.none(), st.integers(-(2**70), 2**70), st.text(max_size=40), st.lists(st.text(), max_size=5),
    st.binary(max_size=60).map(b64e), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)  # fmt: skip


def _call(body: bytes) -> None:
    core = HelperCore(CON.cfg, CON.helper_hpke, AggregatorStore(":memory:", CON.helper_hpke))
    for handler in (core.handle_verify, core.handle_collect):
        try:
            out = handler(body)
        except VeilError:
            continue
        assert isinstance(out, bytes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(["task", "round", "verify_key", "reports", "report_ids", "checksum"]),
       value=junk)  # fmt: skip
def test_field_replaced_by_junk(key, value):
    body = dict(BODY)
    body[key] = value
    _call(json.dumps(body).encode())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(idx=st.integers(0, 3), value=junk)
def test_report_field_replaced_by_junk(idx, value):
    body = json.loads(json.dumps(BODY))
    body["reports"][0][idx] = value
    _call(json.dumps(body).encode())


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data):
    _call(data)
