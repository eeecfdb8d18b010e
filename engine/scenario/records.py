"""What a scenario is: the records a file becomes, and the limits every file is held to.

The records are frozen ``msgspec.Struct`` classes; importing them loads nothing of the
loader (:mod:`engine.scenario.loader` reads files into them). Keys and types are checked
by the loader.

Limits, checked before anything big is allocated (nested arrays are measured level by
level before a single float is converted), so that no file can exhaust memory:

=============================  ==============  ===================================
constant                       value           what it bounds
=============================  ==============  ===================================
``MAX_FILE_BYTES``             4 MiB           size of a scenario file (checked
                                               with ``os.stat`` before reading)
``MAX_NESTING``                64              arrays and inline tables nested in
                                               the TOML text (counted by a scan
                                               before parsing: the parser recurses)
``MAX_TABLES``                 4,096           tables in the TOML text: headers,
                                               inline tables and the parts of dotted
                                               keys (counted by the same scan: the
                                               parser makes a dict for each)
``MAX_ARRAYS``                 500,000         arrays in the TOML text (the same
                                               scan: the parser makes a list each)
``MAX_KEY_PARTS``              64              parts of one dotted key ``a.b.c``
                                               (the same scan: the parser takes
                                               time quadratic in them)
``MAX_ELEMENTS``               1,000,000       elements of any one array in the file
``MAX_DIMS``                   8               nesting depth of any one array
``MAX_SAMPLES``                100,000         rows of ``data.x``
``MAX_INPUTS``                 4,096           ``model.inputs``
``MAX_LAYERS``                 64              entries of ``model.layers``
``MAX_UNITS``                  4,096           ``units`` of one layer
``MAX_WEIGHT_ELEMENTS``        1,000,000       ``fan_in × units`` of one layer
``MAX_PARAMETERS``             2,000,000       weights + biases of a whole model, or
                                               elements of all ``graph.params``
``MAX_GRAPH_VALUES``           1,024           ``graph.inputs`` + ``graph.params``
``MAX_NODES``                  256             entries of ``graph.nodes``
``MAX_EXPRESSION_CHARS``       2,000           one node's expression text
``MAX_STEPS``                  10,000,000      ``train.steps``
(``train.batch_size``)         samples         at most the number of samples
``MAX_GENERATED_SAMPLES``      100,000         ``data.samples`` with a generator
``MAX_CLASSES``                8               ``data.classes`` (gauss, spiral;
                                               the other generators take 2)
``MAX_SEED``                   2**64 - 1       every ``seed``
``MAX_BREAKPOINTS``            64              entries of ``[[breakpoints]]``
``MAX_STEP_ELEMENTS``          20,000,000      numbers one recorded training step
                                               holds in all: node values,
                                               gradients, chain-rule terms,
                                               parameters and optimizer buffers
                                               (counted from the shapes by
                                               :func:`engine.step.program.step_footprint`
                                               when the graph is built, before
                                               anything is allocated)
=============================  ==============  ===================================

``[[breakpoints]]`` (an extension of SPEC §1) lists breakpoints the app sets when it
opens the scenario: each entry has exactly one of ``node = "W1"`` (every event of a node
or parameter), ``phase = "update"`` (where each step enters a phase) or
``when = "norm(grad) > 10"`` (a watchpoint condition, see :mod:`engine.debug.conditions`), and may
add ``enabled = false``. Whether the node exists and
whether the condition compiles need the graph, so
:func:`engine.debug.breakpoints.scenario_breakpoints` checks those.
"""

from __future__ import annotations

import msgspec
import numpy as np

from engine.scenario import data as _data

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NESTING = 64
MAX_TABLES = 4_096
MAX_ARRAYS = 500_000
MAX_KEY_PARTS = 64
MAX_ELEMENTS = 1_000_000
MAX_DIMS = 8
MAX_SAMPLES = 100_000
MAX_INPUTS = 4_096
MAX_LAYERS = 64
MAX_UNITS = 4_096
MAX_WEIGHT_ELEMENTS = 1_000_000
MAX_PARAMETERS = 2_000_000
MAX_GRAPH_VALUES = 1_024
MAX_NODES = 256
MAX_EXPRESSION_CHARS = 2_000
MAX_STEPS = 10_000_000
MAX_GENERATED_SAMPLES = _data.MAX_SAMPLES
MAX_CLASSES = _data.MAX_CLASSES
MAX_SEED = 2**64 - 1
MAX_BREAKPOINTS = 64
MAX_STEP_ELEMENTS = 20_000_000

INITS: tuple[str, ...] = ("xavier", "he", "zeros", "normal")
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad")
GENERATORS: tuple[str, ...] = _data.KINDS
# ACTIVATIONS, LOSSES and FUNCTIONS come from the op table: one list of names each.


class LayerSpec(msgspec.Struct, frozen=True, eq=False):
    """One layer of a ``[model]``: ``z = a_prev @ weight + bias``, ``a = activation(z)``."""

    units: int
    activation: str
    weight: np.ndarray | None = None
    """Shape ``(fan_in, units)``, float64, or ``None`` to draw it from ``init``."""
    bias: np.ndarray | None = None
    """Shape ``(units,)``, float64, or ``None`` for zeros."""


class ModelSpec(msgspec.Struct, frozen=True, eq=False):
    """A layered network (``[model]``)."""

    inputs: int
    layers: tuple[LayerSpec, ...]
    init: str = "xavier"
    seed: int = 0


class GraphSpec(msgspec.Struct, frozen=True, eq=False):
    """An expression graph (``[graph]``), expressions still as text."""

    inputs: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    nodes: tuple[tuple[str, str], ...]
    """``(name, expression)`` pairs in file order, split at the first ``=``."""
    loss: str
    """The loss node's name (the last node when the file gives none)."""


class DataSpec(msgspec.Struct, frozen=True, eq=False):
    """Samples and targets, generated already when the file names a generator."""

    x: np.ndarray
    """Shape ``(samples, inputs)``, float64."""
    y: np.ndarray
    """Shape ``(samples, outputs)`` float64, or ``(samples,)`` class indices (as float64
    holding whole numbers) for ``cross_entropy``."""
    generator: str | None = None
    """The generator's name when the data was generated, for display."""
    file: str | None = None
    """The data file's name (as the scenario gives it) when it was read from one."""


class OptimizerSpec(msgspec.Struct, frozen=True):
    """The update rule (``[optimizer]``), every setting resolved to a number.

    Settings a kind does not use keep their defaults; those whose default depends on the
    kind (``momentum``, ``eps``, ``weight_decay``) are filled in by :func:`optimizer_spec`,
    which is how anything but the loader should make one.
    """

    kind: str
    lr: float
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    alpha: float = 0.99
    centered: bool = False
    lr_decay: float = 0.0
    initial_accumulator_value: float = 0.0


OPTIMIZER_DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {},
    "momentum": {"momentum": 0.9},
    "adam": {"eps": 1e-8},
    "adamw": {"eps": 1e-8, "weight_decay": 0.01},
    "rmsprop": {"momentum": 0.0, "eps": 1e-8},
    "adagrad": {"eps": 1e-10},
}
"""The defaults that differ between kinds, as ``torch.optim`` has them."""

OPTIMIZER_SETTINGS: dict[str, tuple[str, ...]] = {
    "momentum": ("momentum", "rmsprop"),
    "betas": ("adam", "adamw"),
    "eps": ("adam", "adamw", "rmsprop", "adagrad"),
    "weight_decay": OPTIMIZERS,
    "dampening": ("momentum",),
    "nesterov": ("momentum",),
    "alpha": ("rmsprop",),
    "centered": ("rmsprop",),
    "lr_decay": ("adagrad",),
    "initial_accumulator_value": ("adagrad",),
}
"""Each optional optimizer setting and the kinds it belongs to (those of torch.optim that
have it); ``kind`` and ``lr`` are not settings."""


def settings_of(kind: str) -> tuple[str, ...]:
    """The settings optimizer ``kind`` takes besides ``lr``, in the order files list them."""
    return tuple(key for key, kinds in OPTIMIZER_SETTINGS.items() if kind in kinds)


def optimizer_spec(
    kind: str, lr: float, **settings: float | bool | tuple[float, float]
) -> OptimizerSpec:
    """An :class:`OptimizerSpec` of ``kind`` with torch's defaults for that kind, and
    ``settings`` (already checked) over them."""
    values: dict = {**OPTIMIZER_DEFAULTS[kind], **settings}
    return OptimizerSpec(kind, lr, **values)


class TrainSpec(msgspec.Struct, frozen=True):
    """How long to train and how to batch (``[train]``); ``batch_size`` 0 is the full batch."""

    steps: int = 20
    batch_size: int = 0
    seed: int = 0


class BreakpointSpec(msgspec.Struct, frozen=True):
    """One ``[[breakpoints]]`` entry, checked for keys and types but not against the graph."""

    kind: str
    """``"node"``, ``"phase"`` or ``"condition"`` (the file's ``when``)."""
    target: str
    """The node or parameter name, the phase, or the condition's text."""
    enabled: bool = True


class Scenario(msgspec.Struct, frozen=True, eq=False):
    """A validated scenario. Exactly one of ``model`` and ``graph`` is set."""

    name: str
    source: str
    """The file path as given, or the built-in id; used in messages."""
    optimizer: OptimizerSpec
    train: TrainSpec = msgspec.field(default_factory=TrainSpec)
    description: str = ""
    model: ModelSpec | None = None
    graph: GraphSpec | None = None
    data: DataSpec | None = None
    loss: str | None = None
    """The loss kind for ``[model]`` scenarios: mse, sse, bce, cross_entropy, l1, huber or
    hinge."""
    loss_delta: float = 1.0
    """``huber``'s ``delta`` (where the square turns into a straight line)."""
    breakpoints: tuple[BreakpointSpec, ...] = ()
    """The file's ``[[breakpoints]]``, in file order."""
