"""Builders: a validated :class:`~engine.scenario.records.Scenario` into a
:class:`~engine.graph.graph.Graph`.

Two builders, one graph form. A layered network becomes ``z{k} = a{k-1} @ W{k} + b{k}``,
``a{k} = act(z{k})`` and a loss node (here); an expression graph becomes one node per
named line and one per sub-expression (:mod:`engine.graph.lower`).
"""

from __future__ import annotations

import numpy as np

from engine.graph.graph import Graph, Node, leaves_before_use
from engine.scenario.records import ModelSpec, Scenario


def build(scenario: Scenario) -> Graph:
    """Build the graph a scenario describes.

    Raises:
        PlaceError: An expression is refused, or shapes do not fit.
    """
    if scenario.model is not None:
        assert scenario.data is not None and scenario.loss is not None
        batch = scenario.train.batch_size or scenario.data.x.shape[0]
        attrs = {"delta": scenario.loss_delta} if scenario.loss == "huber" else {}
        return build_model(
            scenario.model, scenario.loss, batch, scenario.data.y.shape[1:], loss_attrs=attrs
        )
    assert scenario.graph is not None
    from engine.graph.lower import (
        build_graph,
    )  # the expression parser loads only for expression graphs

    return build_graph(scenario.graph)


def build_model(
    model: ModelSpec,
    loss: str,
    batch: int,
    y_tail: tuple[int, ...],
    loss_attrs: dict[str, float] | None = None,
) -> Graph:
    """The graph of a layered network on mini-batches of ``batch`` rows; ``loss_attrs`` are
    the loss's settings (huber's ``delta``)."""
    n_layers = len(model.layers)
    nodes: list[Node] = [Node("x", "input", shape=(batch, model.inputs), layer=0, source="data.x")]
    params: list[str] = []
    prev, fan_in = "x", model.inputs
    for k, layer in enumerate(model.layers, start=1):
        src = f"model.layers[{k - 1}]"
        W, b, z, a = f"W{k}", f"b{k}", f"z{k}", f"a{k}"
        nodes += [
            Node(W, "param", shape=(fan_in, layer.units), layer=k, source=src),
            Node(b, "param", shape=(layer.units,), layer=k, source=src),
            Node(z, "op", "affine", (prev, W, b), shape=(batch, layer.units), layer=k, source=src),
            Node(a, "op", layer.activation, (z,), shape=(batch, layer.units), layer=k, source=src),
        ]
        params += [W, b]
        prev, fan_in = a, layer.units
    # cross_entropy reads the logits z; the other losses read the activation a.
    pred = f"z{n_layers}" if loss == "cross_entropy" else prev
    nodes += [
        Node("y", "input", shape=(batch, *y_tail), layer=n_layers + 1, source="data.y"),
        Node(
            "L",
            "op",
            loss,
            (pred, "y"),
            loss_attrs or {},
            shape=(),
            layer=n_layers + 1,
            source="loss.kind",
        ),
    ]
    return Graph(leaves_before_use(nodes), "L", tuple(params), "model")


def const_value(node: Node) -> np.ndarray:
    """The value of a ``const`` node."""
    return np.array(node.attrs["value"], dtype=np.float64)
