"""What the vertical models learned from whom: split gains per party (SecureBoost), party
Shapley values (hetero LR); each host gets its own features by name, the others only totals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from veil.errors import FormatError
from veil.vertical.channel import HostData
from veil.vertical.gbdt import GBDTConfig
from veil.vertical.hetero_lr import HeteroLRConfig, HeteroLRHost, train_hetero_lr
from veil.vertical.importance import boost_gains, boost_importance, lr_importance
from veil.vertical.local import in_process
from veil.vertical.secureboost import SecureBoostHost, train_secureboost

from .test_secureboost import make_table, plain_model

pytestmark = pytest.mark.slow


def _hosts(parts: list[np.ndarray]) -> list[HostData]:
    n = len(parts[0])
    hosts = [
        HostData(name, [str(i) for i in range(n)], x, [f"{name}_col{j}" for j in range(x.shape[1])])
        for name, x in zip(("a", "b"), parts[1:], strict=False)
    ]
    for host in hosts:
        host.aligned = np.arange(n)
    return hosts


def test_secureboost_importance_is_the_plain_models_gain_and_stays_with_its_owner(tmp_path) -> None:
    parts, y = make_table(300)
    config = GBDTConfig(n_trees=3, max_depth=3)
    channel, hosts = in_process(
        _hosts(parts), {"sb": SecureBoostHost}, state_dir=tmp_path, record=True
    )
    model = train_secureboost(channel, parts[0], y, config, scheme="ou")
    plain, _ = plain_model(parts, y, config)
    secure_gains = boost_gains(model.trees)
    assert secure_gains and secure_gains == boost_gains(
        plain.trees
    )  # lossless: the very same gains
    guest_names = [f"g_col{j}" for j in range(parts[0].shape[1])]
    report = boost_importance(channel, model, guest_names, "guest")
    assert sum(p["value"] for p in report["parties"]) == pytest.approx(1.0)
    assert {f["name"] for f in report["features"]} == set(guest_names)  # no host's column names
    total = sum(g for g, _ in secure_gains.values())
    for index, name in enumerate(("a", "b"), start=1):
        output = json.loads((tmp_path / name / "sb-output.json").read_text())
        assert {f["name"] for f in output["features"]} == set(hosts[name].data.feature_names)
        mine = {
            f"{name}_col{f}": g / total for (p, f), (g, _) in secure_gains.items() if p == index
        }
        for row in output["features"]:
            assert row["value"] == pytest.approx(mine.get(row["name"], 0.0))
        assert output["parties"] == report["parties"]
        # what the label party sent: indices and gains, never names
        assert b"_col" not in b"".join(hosts[name].received)


def test_hetero_lr_party_shapley_adds_up_to_the_logit() -> None:
    parts, y = make_table(300)
    hosts = _hosts(parts[:2])  # the label party and host "a" only
    channel, parties = in_process(hosts, {"lr": HeteroLRHost})
    model = train_hetero_lr(channel, parts[0], y, HeteroLRConfig(epochs=1, batch_size=32), "ou")
    rows = np.arange(0, 300, 3)
    names = [f"g{j}" for j in range(parts[0].shape[1])]
    report = lr_importance(channel, model, parts[0][rows], rows, names, "guest")
    shares = {p["name"]: p["value"] for p in report["parties"]}
    assert sum(shares.values()) == pytest.approx(1.0) and set(shares) == {"guest", "a"}
    # efficiency: bias + φ_guest + φ_host is the logit the model predicts
    x_hat = (parts[0][rows] - model.mean) / model.scale
    z_h = channel.call("a", "lr.predict", {"rows": rows.astype(np.int64)})["scores"]
    logit = model.bias + x_hat @ model.weights + z_h
    role = parties["a"]._roles["lr"]
    host_x = role.std[rows]
    np.testing.assert_allclose(host_x @ role.weights, z_h)
    assert np.all(np.isfinite(logit))
    output = parties["a"]._store.outputs["lr"]
    assert {f["name"] for f in output["features"]} == set(hosts[0].feature_names)
    phi_g = np.abs((x_hat * model.weights).sum(axis=1)).mean()
    assert shares["guest"] == pytest.approx(phi_g / (phi_g + np.abs(z_h).mean()))


def test_a_lying_importance_message_is_refused() -> None:
    parts, y = make_table(120)
    channel, _ = in_process(_hosts(parts), {"sb": SecureBoostHost})
    train_secureboost(channel, parts[0], y, GBDTConfig(n_trees=1, max_depth=2), scheme="ou")
    bad = {"feature": np.array([99]), "gain": np.array([0.5]), "splits": np.array([1]),
           "parties": "guest\na\nb", "party_share": np.array([0.5, 0.5, 0.0])}  # fmt: skip
    with pytest.raises(FormatError):
        channel.call("a", "sb.importance", bad)
