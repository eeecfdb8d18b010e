"""Scenario files: TOML in, a validated, immutable :class:`Scenario` out.

A scenario file is data. Loading one parses TOML with :mod:`tomllib`, checks every key,
type, name, shape and size limit, and never executes anything the file contains.
Expressions in ``[graph]`` are kept as text here; :mod:`engine.graph.expr` parses them and
:mod:`engine.graph.build` checks their shapes.

Every refusal is one :class:`~engine.errors.ScenarioError` naming the file, the place
(a key path such as ``model.layers[1].activation (layer 2)``, ``graph.nodes[0]`` or
``line 3, column 7``) and what was found against what was expected.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.graph.ops import ACTIVATIONS, LOSSES
from engine.scenario import data as _data
from engine.scenario import datafile as _datafile
from engine.scenario.checks import (
    Checker,
    describe,
    element_index,
    find_assign,
    join_key,
    quote,
    read_only,
    shape_text,
    units_text,
)
from engine.scenario.reading import (
    LONG_INTEGER,
    failing,
    read_bytes,
    syntax_error,
    toml_shape,
)
from engine.scenario.records import (
    GENERATORS,
    INITS,
    MAX_BREAKPOINTS,
    MAX_CLASSES,
    MAX_DIMS,
    MAX_EXPRESSION_CHARS,
    MAX_FILE_BYTES,
    MAX_GENERATED_SAMPLES,
    MAX_GRAPH_VALUES,
    MAX_INPUTS,
    MAX_LAYERS,
    MAX_NODES,
    MAX_PARAMETERS,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_STEPS,
    MAX_UNITS,
    MAX_WEIGHT_ELEMENTS,
    OPTIMIZER_DEFAULTS,
    OPTIMIZER_SETTINGS,
    OPTIMIZERS,
    BreakpointSpec,
    DataSpec,
    GraphSpec,
    LayerSpec,
    ModelSpec,
    OptimizerSpec,
    Scenario,
    TrainSpec,
    optimizer_spec,
)
from engine.step.events import PHASES


def load(path: str | os.PathLike[str], *, source: str | None = None) -> Scenario:
    """Read and validate a scenario file.

    Only a regular file is read: :func:`os.stat` says what the path is before anything
    opens it, so a named pipe, socket or device (or bash's ``<(...)``) is refused at once
    rather than blocking in ``open``. The file is then opened without blocking (should it
    have been swapped for a pipe meanwhile, it is refused as well), its size is checked,
    and at most :data:`MAX_FILE_BYTES` + 1 bytes are ever read.

    Args:
        path: The file to read.
        source: The name to use in messages and :attr:`Scenario.source`; defaults to
            ``path`` as given (a CLI passes the built-in id here).

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: The file cannot be read, is not a regular file, is too large, is
            not UTF-8, or is not a valid scenario. Its ``place`` is empty for problems with
            the file as a whole.
    """
    name = os.fsdecode(path) if source is None else source
    fail = failing(name)
    raw = read_bytes(path, source=name)
    try:
        # utf-8-sig: editors on Windows still write a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        column = len(raw[line_start : err.start].decode("utf-8", "replace")) + 1
        fail(
            f"line {line}, column {column}",
            f"not UTF-8 text: byte 0x{raw[err.start]:02x} is invalid UTF-8",
        )
    return loads(text, name, folder=os.path.dirname(os.path.abspath(os.fspath(path))))


def loads(text: str, source: str, *, folder: str | None = None) -> Scenario:
    """Validate a scenario given as TOML text.

    Args:
        text: The TOML text.
        source: The file name (or built-in id) to use in messages and
            :attr:`Scenario.source`.
        folder: The folder a ``data.file`` is read from (the scenario file's); without
            one, a scenario naming a data file is refused.

    Returns:
        The validated scenario; every array in it is float64 and read-only.

    Raises:
        ScenarioError: The text is not valid TOML or not a valid scenario.
    """
    loader = _Loader(source)
    loader.folder = folder
    if len(text) > MAX_FILE_BYTES:
        loader.fail("", f"text is longer than the limit of {MAX_FILE_BYTES:,} characters")
    problem = toml_shape(text)
    if problem is not None:
        at, reason = problem
        line = text.count("\n", 0, at) + 1
        column = at - text.rfind("\n", 0, at)
        loader.fail(f"line {line}, column {column}", f"invalid TOML: {reason}")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        place, reason = syntax_error(err, text)
        loader.fail(place, f"invalid TOML: {reason}")
    except RecursionError:
        loader.fail("", "invalid TOML: arrays or inline tables are nested too deeply")
    except ValueError:
        # tomllib lets int()'s digit limit escape as a bare ValueError, with no place and
        # advice about sys.set_int_max_str_digits that is no use to someone writing a file.
        long = LONG_INTEGER.search(text)
        place = ""
        if long is not None:
            line = text.count("\n", 0, long.start()) + 1
            place = f"line {line}, column {long.start() - text.rfind(chr(10), 0, long.start())}"
        loader.fail(
            place,
            "invalid TOML: an integer of more than 4,300 digits (far beyond float64, whose"
            " largest value is about 1.8e308)",
        )
    return loader.scenario(document)


# ----------------------------------------------------------------------------------------
# The sections of a scenario


_TOP_KEYS = (
    "name",
    "description",
    "model",
    "graph",
    "data",
    "loss",
    "optimizer",
    "train",
    "breakpoints",
)
_MODEL_KEYS = ("inputs", "init", "seed", "layers")
_LAYER_KEYS = ("units", "activation", "weight", "bias")
_DATA_KEYS = (
    "x",
    "y",
    "generator",
    "samples",
    "noise",
    "seed",
    "classes",
    "file",
    "target",
    "targets",
)
_GENERATOR_KEYS = ("samples", "noise", "seed", "classes")
_LOSS_KEYS = ("kind", "delta")
_OPTIMIZER_KEYS = ("kind", "lr", *OPTIMIZER_SETTINGS)
_TRAIN_KEYS = ("steps", "batch_size", "seed")
_GRAPH_KEYS = ("inputs", "params", "nodes", "loss")
_VALUE_FILE_KEYS = ("file", "column", "columns", "array")
_BREAKPOINT_KEYS = ("node", "phase", "when", "enabled")
_BREAKPOINT_KINDS = {"node": "node", "phase": "phase", "when": "condition"}
"""Each key that says where a breakpoint stops, and the kind it makes."""


def check_optimizer(table: dict[str, Any], source: str) -> OptimizerSpec:
    """An ``[optimizer]`` table checked as a scenario file's is (kinds, settings, ranges,
    what torch refuses), for anything else that lets people choose an optimizer.

    Raises:
        ScenarioError: With ``source`` as the file and ``optimizer.KEY`` as the place.
    """
    return _Loader(source).optimizer(table)


class _Loader(Checker):
    """Validates one parsed document, section by section."""

    folder: str | None = None
    """The folder data files are read from (the scenario file's), if it was read from one."""

    # -- the document ----------------------------------------------------------------------

    def scenario(self, doc: dict[str, Any]) -> Scenario:
        self.keys(doc, "", _TOP_KEYS)
        name = self.required(doc, "name", "", "a non-empty string")
        if not isinstance(name, str):
            self.fail("name", f"expected a non-empty string, found {describe(name)}")
        if not name.strip():
            self.fail("name", "expected a non-empty string, found an empty one")
        if "\n" in name or "\r" in name:
            self.fail("name", "expected a one-line name, found a line break")
        description = doc.get("description", "")
        if not isinstance(description, str):
            self.fail("description", f"expected a string, found {describe(description)}")

        if "model" in doc and "graph" in doc:
            self.fail("graph", "found both [model] and [graph]; a scenario has exactly one of them")
        if "model" not in doc and "graph" not in doc:
            self.fail("", "found neither [model] nor [graph]; a scenario needs exactly one of them")
        if "optimizer" not in doc:
            self.fail("optimizer", "missing [optimizer]; expected a table with kind and lr")

        model = graph = data = loss = None
        samples = None
        delta = 1.0
        if "model" in doc:
            for key, what in (("data", "samples x and targets y"), ("loss", "a table with kind")):
                if key not in doc:
                    self.fail(key, f"missing [{key}]; a [model] scenario needs {what}")
            model = self.model(self.table(doc["model"], "model"))
            loss_table = self.table(doc["loss"], "loss")
            loss = self.loss(loss_table, model)
            delta = self.loss_delta(loss_table, loss)
            data = self.data(self.table(doc["data"], "data"), model, loss)
            samples = data.x.shape[0]
        else:
            for key in ("data", "loss"):
                if key in doc:
                    self.fail(
                        key,
                        f"[{key}] belongs to [model] scenarios; a [graph] keeps its values in"
                        " graph.inputs and names its loss node with graph.loss",
                    )
            graph = self.graph(self.table(doc["graph"], "graph"))

        optimizer = self.optimizer(self.table(doc["optimizer"], "optimizer"))
        train = self.train(self.table(doc.get("train", {}), "train"), samples)
        breakpoints = self.breakpoints(doc["breakpoints"]) if "breakpoints" in doc else ()
        return Scenario(
            name=name,
            source=self.source,
            optimizer=optimizer,
            train=train,
            description=description,
            model=model,
            graph=graph,
            data=data,
            loss=loss,
            loss_delta=delta,
            breakpoints=breakpoints,
        )

    # -- [model] ---------------------------------------------------------------------------

    def model(self, table: dict[str, Any]) -> ModelSpec:
        self.keys(table, "model", _MODEL_KEYS)
        inputs = self.integer(
            self.required(table, "inputs", "model", "an integer ≥ 1 (features per sample)"),
            "model.inputs",
            1,
            MAX_INPUTS,
        )
        init = self.choice(table.get("init", "xavier"), "model.init", INITS, "init")
        seed = self.integer(table.get("seed", 0), "model.seed", 0, MAX_SEED)
        layers = self.required(table, "layers", "model", "an array of tables ([[model.layers]])")
        if not isinstance(layers, list):
            self.fail(
                "model.layers",
                f"expected an array of tables ([[model.layers]]), found {describe(layers)}",
            )
        if not layers:
            self.fail("model.layers", "expected at least one layer, found an empty array")
        if len(layers) > MAX_LAYERS:
            self.fail(
                "model.layers", f"found {len(layers)} layers, above the limit of {MAX_LAYERS}"
            )
        # Every size is checked from the integers before any weight is read or drawn.
        heads: list[tuple[int, int, str]] = []
        fan_in, total = inputs, 0
        for i, layer in enumerate(layers):
            units, activation = self.layer_head(layer, i, fan_in)
            heads.append((fan_in, units, activation))
            total += (fan_in + 1) * units
            fan_in = units
        if total > MAX_PARAMETERS:
            self.fail(
                "model.layers",
                f"the layers have {total:,} weights and biases in all,"
                f" above the limit of {MAX_PARAMETERS:,}",
            )
        specs = tuple(self.layer_values(layers[i], i, *head) for i, head in enumerate(heads))
        return ModelSpec(inputs=inputs, layers=specs, init=init, seed=seed)

    def layer_head(self, layer: Any, i: int, fan_in: int) -> tuple[int, str]:
        """A layer's keys, ``units`` and ``activation``: everything but its arrays."""
        place, note = f"model.layers[{i}]", f" (layer {i + 1})"
        if not isinstance(layer, dict):
            self.fail(
                place + note,
                f"expected a table with units and activation, found {describe(layer)}",
            )
        self.keys(layer, place, _LAYER_KEYS, note)
        units = self.integer(
            self.required(layer, "units", place, "an integer ≥ 1", note),
            f"{place}.units{note}",
            1,
            MAX_UNITS,
        )
        if fan_in * units > MAX_WEIGHT_ELEMENTS:
            self.fail(
                f"{place}.units{note}",
                f"layer {i + 1} would have {fan_in:,} × {units:,} = {fan_in * units:,} weights,"
                f" above the limit of {MAX_WEIGHT_ELEMENTS:,}",
            )
        activation = self.choice(
            self.required(layer, "activation", place, f"one of {', '.join(ACTIVATIONS)}", note),
            f"{place}.activation{note}",
            ACTIVATIONS,
            "activation",
        )
        return units, activation

    def layer_values(
        self, layer: dict[str, Any], i: int, fan_in: int, units: int, activation: str
    ) -> LayerSpec:
        """A layer's optional ``weight`` and ``bias``, checked against its shape."""
        place, note = f"model.layers[{i}]", f" (layer {i + 1})"
        origin = f"model.inputs = {fan_in}" if i == 0 else f"layer {i}'s units = {fan_in}"

        def weight_shape(shape: tuple[int, ...]) -> None:
            if shape != (fan_in, units):
                self.fail(
                    f"{place}.weight{note}",
                    f"expected shape {shape_text((fan_in, units))} = (fan_in, units), where fan_in"
                    f" is {origin}; found shape {shape_text(shape)}",
                )

        def bias_shape(shape: tuple[int, ...]) -> None:
            if shape != (units,):
                self.fail(
                    f"{place}.bias{note}",
                    f"expected shape {shape_text((units,))} = (units,);"
                    f" found shape {shape_text(shape)}",
                )

        weight = bias = None
        if "weight" in layer:
            weight = self.tensor(layer["weight"], f"{place}.weight", note, check=weight_shape)
        if "bias" in layer:
            bias = self.tensor(layer["bias"], f"{place}.bias", note, check=bias_shape)
        return LayerSpec(units=units, activation=activation, weight=weight, bias=bias)

    # -- [loss] ----------------------------------------------------------------------------

    def loss(self, table: dict[str, Any], model: ModelSpec) -> str:
        self.keys(table, "loss", _LOSS_KEYS)
        kind = self.choice(
            self.required(table, "kind", "loss", f"one of {', '.join(LOSSES)}"),
            "loss.kind",
            LOSSES,
            "loss",
        )
        n = len(model.layers)
        last = model.layers[-1]
        where = f"model.layers[{n - 1}].activation (layer {n})"
        if kind == "cross_entropy" and last.activation != "identity":
            self.fail(
                "loss.kind",
                "cross_entropy takes logits, so the last layer's activation must be identity;"
                f" found {last.activation!r} at {where}",
            )
        if kind == "cross_entropy" and last.units < 2:
            self.fail(
                "loss.kind",
                "cross_entropy needs one output unit per class (at least 2), but the last layer"
                " has 1 unit; for two classes use bce with a sigmoid output",
            )
        if kind == "bce" and last.activation not in ("sigmoid", "softmax"):
            self.fail(
                "loss.kind",
                "bce takes probabilities, so the last layer's activation must be sigmoid or"
                f" softmax; found {last.activation!r} at {where}",
            )
        if kind == "hinge" and last.units != 1:
            self.fail(
                "loss.kind",
                f"hinge scores each sample with one output unit, but the last layer has"
                f" {last.units} units; expected units = 1 at model.layers[{n - 1}]",
            )
        return kind

    def loss_delta(self, table: dict[str, Any], kind: str) -> float:
        """huber's ``delta`` (default 1.0, as torch.nn.HuberLoss)."""
        if "delta" not in table:
            return 1.0
        if kind != "huber":
            self.fail("loss.delta", f"delta is a setting of kind = 'huber', not of kind = {kind!r}")
        return self.number(table["delta"], "loss.delta", "a finite number > 0", lambda v: v > 0)

    # -- [data] ----------------------------------------------------------------------------

    def data(self, table: dict[str, Any], model: ModelSpec, loss: str) -> DataSpec:
        self.keys(table, "data", _DATA_KEYS)
        if "file" in table:
            return self.data_file(table, model, loss)
        for key in ("target", "targets"):
            if key in table:
                self.fail(
                    f"data.{key}",
                    f"{key} names columns of a CSV data file; it needs data.file",
                )
        if "generator" in table:
            for key in ("x", "y"):
                if key in table:
                    self.fail(
                        f"data.{key}",
                        f"{key} cannot be given together with data.generator; give either"
                        " x and y, or a generator",
                    )
            return self.generated(table, model, loss)
        for key in _GENERATOR_KEYS:
            if key in table:
                self.fail(
                    f"data.{key}",
                    f"{key} is a generator setting; it needs data.generator, not x and y",
                )
        inputs = model.inputs

        def x_shape(shape: tuple[int, ...]) -> None:
            if len(shape) != 2 or shape[1] != inputs:
                self.fail(
                    "data.x",
                    f"expected shape (samples, {inputs}), as model.inputs = {inputs};"
                    f" found shape {shape_text(shape)}",
                )
            if shape[0] > MAX_SAMPLES:
                self.fail(
                    "data.x", f"found {shape[0]:,} samples, above the limit of {MAX_SAMPLES:,}"
                )

        x = self.tensor(
            self.required(
                table, "x", "data", f"an array of shape (samples, {inputs}), or a generator"
            ),
            "data.x",
            check=x_shape,
        )
        samples = x.shape[0]
        y_value = self.required(table, "y", "data", "the targets, one per sample")
        y = self.targets(y_value, "data.y", samples, model.layers[-1].units, loss)
        return DataSpec(x=x, y=y)

    def targets(
        self,
        value: Any,
        place: str,
        samples: int,
        units: int,
        loss: str,
        locate: Callable[[int, tuple[int, ...]], tuple[str, str]] | None = None,
    ) -> np.ndarray:
        """Targets checked against the last layer and the loss: class indices of shape
        (samples,) for cross_entropy, else (samples, units); probabilities for bce, −1 or +1
        for hinge.

        Args:
            value: The TOML value of ``data.y``, or an array read from a data file.
            place: Where it comes from, for messages.
            locate: ``(flat index, shape) -> (place, prefix)`` naming a bad element; by
                default ``place`` with the element's index, and no prefix.
        """

        def where(i: int, shape: tuple[int, ...]) -> tuple[str, str]:
            if locate is not None:
                return locate(i, shape)
            return place + element_index(i, shape), ""

        def y_samples(shape: tuple[int, ...]) -> None:
            if shape and shape[0] != samples:
                self.fail(
                    place,
                    f"y has {shape[0]} samples but x has {samples}; expected one target per sample",
                )

        def convert(check: Callable[[tuple[int, ...]], None]) -> np.ndarray:
            if isinstance(value, np.ndarray):
                check(value.shape)
                return read_only(np.array(value, dtype=np.float64))
            return self.tensor(value, place, check=check)

        if loss == "cross_entropy":

            def labels_shape(shape: tuple[int, ...]) -> None:
                if len(shape) == 2 and shape[1] == 1:
                    shape = shape[:1]
                if len(shape) != 1:
                    self.fail(
                        place,
                        f"cross_entropy takes class indices of shape (samples,) = ({samples},);"
                        f" found shape {shape_text(shape)}",
                    )
                y_samples(shape)

            labels = convert(labels_shape)
            original = labels.shape
            labels = labels.reshape(samples)
            for bad, problem in (
                (labels != np.floor(labels), "is not a whole number"),
                ((labels < 0) | (labels >= units), "is out of range"),
            ):
                hits = np.flatnonzero(bad)
                if hits.size:
                    i = int(hits[0])
                    at, prefix = where(i, original)
                    self.fail(
                        at,
                        f"{prefix}class index {labels[i]:g} {problem}; expected a whole number"
                        f" from 0 to {units - 1} (the last layer has {units_text(units)})",
                    )
            return labels

        def targets_shape(shape: tuple[int, ...]) -> None:
            # A plain list of numbers is the natural way to write one output per sample.
            one_column = len(shape) == 1 and units == 1
            if not one_column and (len(shape) != 2 or shape[1] != units):
                self.fail(
                    place,
                    f"expected shape (samples, {units}), as the last layer has {units_text(units)};"
                    f" found shape {shape_text(shape)}",
                )
            y_samples(shape)

        y = convert(targets_shape)
        original = y.shape
        y = y.reshape(samples, units)
        checks = {
            "bce": (
                (y < 0) | (y > 1),
                "bce targets are probabilities; expected a number from 0 to 1",
            ),
            "hinge": (
                (y != 1) & (y != -1),
                "hinge targets are labels −1 or +1 (the side of the margin); expected -1 or 1",
            ),
        }
        if loss in checks:
            bad, expected = checks[loss]
            hits = np.flatnonzero(bad)
            if hits.size:
                i = int(hits[0])
                at, prefix = where(i, original)
                self.fail(at, f"{prefix}{expected}, found {y.flat[i]:g}")
        return y

    def data_file(self, table: dict[str, Any], model: ModelSpec, loss: str) -> DataSpec:
        """Samples and targets from a CSV or NPZ file beside the scenario."""
        for key in ("x", "y", "generator", *_GENERATOR_KEYS):
            if key in table:
                self.fail(
                    f"data.{key}",
                    f"{key} cannot be given together with data.file; the samples come from the"
                    " file (give either a file, x and y, or a generator)",
                )
        name = table["file"]
        if not isinstance(name, str):
            self.fail(
                "data.file", f'expected a file name such as "points.csv", found {describe(name)}'
            )
        if self.folder is None:
            self.fail(
                "data.file",
                "a data file is found beside the scenario file, but this scenario was not read"
                " from a file",
            )
        try:
            raw = _datafile.read(self.folder, name)
            if name.lower().endswith(".csv"):
                return self.csv_data(table, model, loss, name, raw)
            for key in ("target", "targets"):
                if key in table:
                    self.fail(
                        f"data.{key}",
                        f"{key} names columns of a CSV file; an .npz holds its targets as array y",
                    )
            x, y = _datafile.parse_npz(raw, name)
        except _datafile.DataFileError as err:
            self.fail("data.file", str(err))
        if x.ndim != 2 or x.shape[1] != model.inputs:
            self.fail(
                "data.file",
                f"{name}: array x has shape {shape_text(x.shape)}; expected (samples,"
                f" {model.inputs}), as model.inputs = {model.inputs}",
            )
        if x.shape[0] > MAX_SAMPLES:
            self.fail(
                "data.file", f"{name}: {x.shape[0]:,} samples, above the limit of {MAX_SAMPLES:,}"
            )

        def locate(i: int, shape: tuple[int, ...]) -> tuple[str, str]:
            return "data.file", f"{name}: y{element_index(i, shape)}: "

        units = model.layers[-1].units
        labels = self.targets(y, "data.file", x.shape[0], units, loss, locate)
        return DataSpec(x=read_only(x), y=labels, file=name)

    def csv_data(
        self, table: dict[str, Any], model: ModelSpec, loss: str, name: str, raw: bytes
    ) -> DataSpec:
        """A CSV's target columns (``target`` or ``targets``) and every other column as an
        input, in the file's order."""
        given = [k for k in ("target", "targets") if k in table]
        if len(given) != 1:
            self.fail(
                "data.target" if not given else "data.targets",
                f'a CSV data file needs exactly one of target = "column" or targets = ["a", "b"]'
                f" (which columns are the targets); found {'both' if given else 'neither'}",
            )
        key = given[0]
        wanted = table[key]
        if key == "target":
            if not isinstance(wanted, str) or not wanted:
                self.fail("data.target", f"expected a column name, found {describe(wanted)}")
            names = [wanted]
        else:
            if not isinstance(wanted, list) or not wanted:
                self.fail(
                    "data.targets", f"expected an array of column names, found {describe(wanted)}"
                )
            for i, item in enumerate(wanted):
                if not isinstance(item, str):
                    self.fail(
                        f"data.targets[{i}]", f"expected a column name, found {describe(item)}"
                    )
            names = list(wanted)
            if len(set(names)) != len(names):
                self.fail("data.targets", "a column is named twice")
            if loss == "cross_entropy" and len(names) != 1:
                self.fail(
                    "data.targets",
                    'cross_entropy takes one column of class indices: use target = "column"',
                )
        header, values = _datafile.parse_csv(raw, name)
        self.columns(names, header, f"data.{key}", name, indexed=key == "targets")
        inputs = [c for c in header if c not in names]
        if len(inputs) != model.inputs:
            self.fail(
                "data.file",
                f"{name} has {len(inputs)} input column{'s' if len(inputs) != 1 else ''}"
                f" (every column but the targets: {', '.join(inputs[:20]) or 'none'}), but"
                f" model.inputs = {model.inputs}",
            )
        x = values[:, [header.index(c) for c in inputs]]
        y = values[:, [header.index(c) for c in names]]
        if key == "target" and model.layers[-1].units != 1 and loss != "cross_entropy":
            self.fail(
                "data.target",
                f"one target column, but the last layer has {model.layers[-1].units} units;"
                " name one column per unit with targets = [...]",
            )

        def locate(i: int, shape: tuple[int, ...]) -> tuple[str, str]:
            row, col = divmod(i, len(names)) if len(shape) == 2 else (i, 0)
            return "data.file", f"{name}: line {row + 2}, column {names[col]!r}: "

        units = model.layers[-1].units
        labels = self.targets(y, "data.file", x.shape[0], units, loss, locate)
        return DataSpec(x=read_only(np.ascontiguousarray(x)), y=labels, file=name)

    def generated(self, table: dict[str, Any], model: ModelSpec, loss: str) -> DataSpec:
        kind = self.choice(table["generator"], "data.generator", GENERATORS, "generator")
        samples = self.integer(table.get("samples", 200), "data.samples", 1, MAX_GENERATED_SAMPLES)
        noise = self.number(
            table.get("noise", 0.0), "data.noise", "a finite number ≥ 0", lambda v: v >= 0
        )
        seed = self.integer(table.get("seed", 0), "data.seed", 0, MAX_SEED)
        limit = _data.max_classes(kind)
        classes = self.integer(table.get("classes", 2), "data.classes", 2, MAX_CLASSES)
        if classes > limit:
            self.fail(
                "data.classes", f"generator {kind!r} makes exactly 2 classes; found {classes}"
            )
        if model.inputs != 2:
            self.fail(
                "data.generator",
                f"generated data has 2 features, but model.inputs = {model.inputs};"
                " expected model.inputs = 2",
            )
        units = model.layers[-1].units
        if loss == "cross_entropy":
            if classes > units:
                self.fail(
                    "data.classes",
                    f"found {classes} classes, but the last layer has {units_text(units)};"
                    " cross_entropy needs one unit per class",
                )
        else:
            if units != 1:
                self.fail(
                    "data.generator",
                    f"with loss {loss!r}, generated targets are one 0/1 column, so the last layer"
                    f" needs 1 unit; found {units} (use cross_entropy for one unit per class)",
                )
            if classes != 2:
                self.fail(
                    "data.classes",
                    f"with loss {loss!r}, generated targets are 0/1, so classes must be 2;"
                    f" found {classes} (use cross_entropy for more classes)",
                )
        x, labels = _data.generate(kind, samples, noise, seed, classes)
        if loss == "hinge":  # a margin loss wants the classes on either side: −1 and +1
            labels = 2 * labels - 1
        y = read_only(labels.astype(np.float64))
        if loss != "cross_entropy":
            y = y.reshape(samples, 1)
        return DataSpec(x=read_only(x), y=y, generator=kind)

    # -- [graph] ---------------------------------------------------------------------------

    def values(self, value: Any, place: str, what: str) -> dict[str, np.ndarray]:
        table = self.table(value, place)
        if len(table) > MAX_GRAPH_VALUES:
            self.fail(
                place, f"found {len(table):,} entries, above the limit of {MAX_GRAPH_VALUES:,}"
            )
        out: dict[str, np.ndarray] = {}
        for key, item in table.items():
            where = join_key(place, key)
            self.name(key, where, what)
            if isinstance(item, dict):
                out[key] = self.value_file(item, where, key)
            else:
                out[key] = self.tensor(item, where, scalar=True)
        return out

    def value_file(self, table: dict[str, Any], place: str, key: str) -> np.ndarray:
        """A graph input's (or param's) value read from a data file beside the scenario:
        ``{ file = "a.csv" }`` (every column), with ``column = "c"`` (one column, shape
        (rows,)) or ``columns = ["a", "b"]`` (shape (rows, 2)); or ``{ file = "a.npz" }``
        (the array named like the entry, or ``array = "name"``)."""
        if "file" not in table:  # not meant as a file: a value of the wrong type
            self.fail(
                place,
                "expected a number or an array of numbers (or a data file:"
                f' {{ file = "points.csv" }}), found {describe(table)}',
            )
        self.keys(table, place, _VALUE_FILE_KEYS)
        name = table["file"]
        at = join_key(place, "file")
        if not isinstance(name, str):
            self.fail(at, f'expected a file name such as "points.csv", found {describe(name)}')
        if self.folder is None:
            self.fail(
                at,
                "a data file is found beside the scenario file, but this scenario was not read"
                " from a file",
            )
        csv = name.lower().endswith(".csv")
        for option in ("array",) if csv else ("column", "columns"):
            if option in table:
                why = (
                    f"array names an array of an .npz file; {name} is a CSV: pick its columns"
                    " with column or columns"
                    if csv
                    else f"{option} picks columns of a CSV file; {name} is an .npz: name its"
                    " array with array"
                )
                self.fail(join_key(place, option), why)
        if "column" in table and "columns" in table:
            self.fail(
                join_key(place, "columns"), "give column (one) or columns (several), not both"
            )
        try:
            raw = _datafile.read(self.folder, name)
            if not csv:
                array = table.get("array", key)
                if not isinstance(array, str) or not array:
                    self.fail(
                        join_key(place, "array"), f"expected an array name, found {describe(array)}"
                    )
                return read_only(
                    _datafile.npz_arrays(raw, name, (array,), max_axes=MAX_DIMS)[array]
                )
            header, values = _datafile.parse_csv(raw, name)
        except _datafile.DataFileError as err:
            self.fail(at, str(err))
        if "column" in table:
            (one,) = self.columns([table["column"]], header, join_key(place, "column"), name)
            return read_only(values[:, one])
        if "columns" in table:
            wanted = table["columns"]
            where = join_key(place, "columns")
            if not isinstance(wanted, list) or not wanted:
                self.fail(where, f"expected an array of column names, found {describe(wanted)}")
            picked = self.columns(wanted, header, where, name, indexed=True)
            if len(set(picked)) != len(picked):
                self.fail(where, "a column is named twice")
            return read_only(values[:, picked])
        return read_only(values)

    def columns(
        self,
        wanted: list[Any],
        header: tuple[str, ...],
        place: str,
        name: str,
        *,
        indexed: bool = False,
    ) -> list[int]:
        """The positions of columns ``wanted`` in CSV ``name``'s ``header``; ``indexed``:
        ``place`` is an array of names, and a refusal names the element (``place[1]``)."""
        picked = []
        for i, column in enumerate(wanted):
            where = f"{place}[{i}]" if indexed else place
            if not isinstance(column, str) or not column:
                self.fail(where, f"expected a column name, found {describe(column)}")
            if column not in header:
                shown = ", ".join(header[:20]) + (", …" if len(header) > 20 else "")
                self.fail(where, f"{name} has no column {quote(column)}; its columns are {shown}")
            picked.append(header.index(column))
        return picked

    def graph(self, table: dict[str, Any]) -> GraphSpec:
        self.keys(table, "graph", _GRAPH_KEYS)
        inputs = self.values(table.get("inputs", {}), "graph.inputs", "an input")
        params = self.values(
            self.required(
                table, "params", "graph", "a table of trainable values, e.g. { W = 0.5 }"
            ),
            "graph.params",
            "a param",
        )
        if not params:
            self.fail(
                "graph.params", "expected at least one parameter to train, found an empty table"
            )
        total = sum(value.size for value in params.values())
        if total > MAX_PARAMETERS:
            self.fail(
                "graph.params",
                f"the params have {total:,} elements in all, above the limit of {MAX_PARAMETERS:,}",
            )
        for key in params:
            if key in inputs:
                self.fail(
                    join_key("graph.params", key),
                    f"{key!r} is both an input and a param; a name may be only one of them",
                )
        if len(inputs) + len(params) > MAX_GRAPH_VALUES:
            self.fail(
                "graph.params",
                f"found {len(inputs) + len(params):,} inputs and params,"
                f" above the limit of {MAX_GRAPH_VALUES:,}",
            )

        lines = self.required(table, "nodes", "graph", 'an array of "name = expression" strings')
        if not isinstance(lines, list):
            self.fail(
                "graph.nodes",
                f'expected an array of "name = expression" strings, found {describe(lines)}',
            )
        if not lines:
            self.fail("graph.nodes", "expected at least one node, found an empty array")
        if len(lines) > MAX_NODES:
            self.fail("graph.nodes", f"found {len(lines)} nodes, above the limit of {MAX_NODES}")
        nodes: list[tuple[str, str]] = []
        first_line: dict[str, int] = {}
        for i, line in enumerate(lines):
            place = f"graph.nodes[{i}]"
            if not isinstance(line, str):
                self.fail(place, f'expected a string "name = expression", found {describe(line)}')
            cut = find_assign(line)
            if cut is None:
                self.fail(place, f"expected \"name = expression\", found {quote(line)} with no '='")
            name, expression = line[:cut].strip(), line[cut + 1 :].strip()
            if not name:
                self.fail(place, f"expected a name before '=', found {quote(line)}")
            self.name(name, place, "a node")
            if name in inputs or name in params:
                kind = "an input" if name in inputs else "a param"
                self.fail(place, f"node {name!r} has the name of {kind}; choose another name")
            if name in first_line:
                self.fail(
                    place,
                    f"node {name!r} is defined twice; first at graph.nodes[{first_line[name]}]",
                )
            if not expression:
                self.fail(place, f"node {name!r} has an empty expression after '='")
            if len(expression) > MAX_EXPRESSION_CHARS:
                self.fail(
                    place,
                    f"expression has {len(expression):,} characters,"
                    f" above the limit of {MAX_EXPRESSION_CHARS:,}",
                )
            first_line[name] = i
            nodes.append((name, expression))

        loss = table.get("loss", nodes[-1][0])
        if not isinstance(loss, str):
            self.fail("graph.loss", f"expected the name of a node, found {describe(loss)}")
        if loss not in first_line:
            names = ", ".join(name for name, _ in nodes)
            self.fail(
                "graph.loss", f"no node named {quote(loss)}; expected one of the nodes: {names}"
            )
        return GraphSpec(inputs=inputs, params=params, nodes=tuple(nodes), loss=loss)

    # -- [optimizer] and [train] -----------------------------------------------------------

    def optimizer(self, table: dict[str, Any]) -> OptimizerSpec:
        self.keys(table, "optimizer", _OPTIMIZER_KEYS)
        kind = self.choice(
            self.required(table, "kind", "optimizer", f"one of {', '.join(OPTIMIZERS)}"),
            "optimizer.kind",
            OPTIMIZERS,
            "optimizer",
        )
        for key, owners in OPTIMIZER_SETTINGS.items():
            if key in table and kind not in owners:
                kinds = " or ".join(repr(o) for o in owners)
                self.fail(
                    f"optimizer.{key}",
                    f"{key} is a setting of kind = {kinds}, not of kind = {kind!r}",
                )
        lr = self.number(
            self.required(table, "lr", "optimizer", "a finite number > 0"),
            "optimizer.lr",
            "a finite number > 0",
            lambda v: v > 0,
        )
        defaults = OPTIMIZER_DEFAULTS[kind]
        settings: dict[str, Any] = {}
        in_unit, closed_unit = "a number in [0, 1)", "a number in [0, 1]"
        for key, expected, ok in (
            ("momentum", in_unit, lambda v: 0 <= v < 1),
            ("eps", "a finite number > 0", lambda v: v > 0),
            ("weight_decay", "a finite number ≥ 0", lambda v: v >= 0),
            ("dampening", closed_unit, lambda v: 0 <= v <= 1),
            ("alpha", closed_unit, lambda v: 0 <= v <= 1),
            ("lr_decay", "a finite number ≥ 0", lambda v: v >= 0),
            ("initial_accumulator_value", "a finite number ≥ 0", lambda v: v >= 0),
        ):
            if key in table:
                settings[key] = self.number(table[key], f"optimizer.{key}", expected, ok)
        for key in ("nesterov", "centered"):
            if key in table:
                if not isinstance(table[key], bool):
                    self.fail(
                        f"optimizer.{key}", f"expected true or false, found {describe(table[key])}"
                    )
                settings[key] = table[key]
        if "betas" in table:
            betas_value = table["betas"]
            if not isinstance(betas_value, list) or len(betas_value) != 2:
                self.fail(
                    "optimizer.betas",
                    "expected an array of two numbers [beta1, beta2],"
                    f" found {describe(betas_value)}",
                )
            settings["betas"] = tuple(
                self.number(b, f"optimizer.betas[{i}]", in_unit, lambda v: 0 <= v < 1)
                for i, b in enumerate(betas_value)
            )
        if settings.get("nesterov"):
            # torch.optim.SGD refuses this too: Nesterov's look-ahead needs an undamped buffer.
            momentum = settings.get("momentum", defaults.get("momentum", 0.9))
            dampening = settings.get("dampening", 0.0)
            if momentum <= 0 or dampening != 0:
                self.fail(
                    "optimizer.nesterov",
                    "nesterov = true needs momentum > 0 and dampening = 0, as torch.optim.SGD"
                    f" requires; found momentum = {momentum:g}, dampening = {dampening:g}",
                )
        return optimizer_spec(kind, lr, **settings)

    def train(self, table: dict[str, Any], samples: int | None) -> TrainSpec:
        self.keys(table, "train", _TRAIN_KEYS)
        steps = self.integer(table.get("steps", 20), "train.steps", 1, MAX_STEPS)
        batch_size = self.integer(table.get("batch_size", 0), "train.batch_size", 0)
        if samples is None and batch_size != 0:
            self.fail(
                "train.batch_size",
                f"a [graph] has no samples to batch; expected 0 or no batch_size,"
                f" found {batch_size}",
            )
        if samples is not None and batch_size > samples:
            self.fail(
                "train.batch_size",
                f"found {batch_size}, but the data has {samples} samples; expected 0 (full batch)"
                f" to {samples}",
            )
        seed = self.integer(table.get("seed", 0), "train.seed", 0, MAX_SEED)
        return TrainSpec(steps=steps, batch_size=batch_size, seed=seed)

    # -- [[breakpoints]] -------------------------------------------------------------------

    def breakpoints(self, value: Any) -> tuple[BreakpointSpec, ...]:
        expected = "an array of tables ([[breakpoints]]), each with node, phase or when"
        if not isinstance(value, list):
            self.fail("breakpoints", f"expected {expected}, found {describe(value)}")
        if len(value) > MAX_BREAKPOINTS:
            self.fail(
                "breakpoints",
                f"found {len(value)} breakpoints, above the limit of {MAX_BREAKPOINTS}",
            )
        return tuple(self.breakpoint(entry, i) for i, entry in enumerate(value))

    def breakpoint(self, entry: Any, i: int) -> BreakpointSpec:
        place = f"breakpoints[{i}]"
        one_of = "exactly one of node, phase or when"
        if not isinstance(entry, dict):
            self.fail(place, f"expected a table with {one_of}, found {describe(entry)}")
        self.keys(entry, place, _BREAKPOINT_KEYS)
        given = [key for key in _BREAKPOINT_KINDS if key in entry]
        if not given:
            self.fail(
                place,
                f'expected {one_of}, e.g. node = "W1", phase = "update" or'
                f' when = "norm(grad) > 10"; found none',
            )
        if len(given) > 1:
            self.fail(
                join_key(place, given[1]),
                f"found both {given[0]} and {given[1]}; a breakpoint has {one_of}"
                " (write two [[breakpoints]] entries for two)",
            )
        key = given[0]
        where = join_key(place, key)
        value = entry[key]
        if key == "phase":
            target = self.choice(value, where, PHASES, "phase")
        elif key == "node":
            if not isinstance(value, str):
                self.fail(
                    where, f"expected the name of a node or parameter, found {describe(value)}"
                )
            if not value.isidentifier():
                self.fail(
                    where,
                    f"expected the name of a node or parameter such as W1 or a1,"
                    f" found {quote(value)}",
                )
            target = value
        else:
            if not isinstance(value, str):
                self.fail(
                    where,
                    f'expected a condition as a string, e.g. "norm(grad) > 10";'
                    f" found {describe(value)}",
                )
            if not value.strip():
                self.fail(where, "expected a condition, found an empty string")
            if len(value) > MAX_EXPRESSION_CHARS:
                self.fail(
                    where,
                    f"condition has {len(value):,} characters,"
                    f" above the limit of {MAX_EXPRESSION_CHARS:,}",
                )
            target = value.strip()
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            self.fail(
                join_key(place, "enabled"), f"expected true or false, found {describe(enabled)}"
            )
        return BreakpointSpec(kind=_BREAKPOINT_KINDS[key], target=target, enabled=enabled)
