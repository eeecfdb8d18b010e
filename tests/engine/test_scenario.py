"""Loading and validating scenario files, and finding the built-in ones.

Good files load to the right arrays; bad ones are refused with one message naming the
file, the place and what was wrong.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import engine.scenario.checks as checks_module
import engine.scenario.loader as scenario_module
import engine.scenario.records as records_module
import scenarios
from engine.errors import ScenarioError
from engine.fmt import printable
from engine.open import open_program
from engine.scenario import data
from engine.scenario.loader import load, loads
from engine.scenario.reading import read_bytes
from engine.scenario.records import (
    MAX_ARRAYS,
    MAX_FILE_BYTES,
    MAX_KEY_PARTS,
    MAX_NESTING,
    MAX_TABLES,
    MAX_WEIGHT_ELEMENTS,
    Scenario,
)

DATA = Path(__file__).resolve().parent.parent / "data"
BAD = DATA / "bad"
GOOD = DATA / "good"

# (file stem, a substring of the place, a substring — or several — of the message)
BAD_CASES: list[tuple[str, str, str | tuple[str, ...]]] = [
    ("syntax_error", "line 2, column 7", "invalid TOML: expected ']'"),
    ("not_utf8", "line 1, column 12", "not UTF-8 text: byte 0xe9 is invalid UTF-8"),
    ("unknown_top_key", "author", ("unknown key 'author'", "allowed keys are name, description")),
    ("unknown_model_key", "model.hidden", "unknown key 'hidden'"),
    ("unknown_layer_key", "model.layers[0].dropout (layer 1)", "unknown key 'dropout'"),
    ("unknown_data_key", "data.z", "unknown key 'z'"),
    ("unknown_loss_key", "loss.reduction", "allowed keys are kind"),
    ("unknown_optimizer_key", "optimizer.amsgrad", "unknown key 'amsgrad'"),
    ("unknown_train_key", "train.epochs", "allowed keys are steps, batch_size, seed"),
    ("unknown_graph_key", "graph.outputs", "unknown key 'outputs'"),
    ("missing_name", "name", "missing required key 'name'"),
    ("empty_name", "name", "expected a non-empty string"),
    ("description_not_string", "description", "expected a string, found 3 (integer)"),
    ("model_and_graph", "graph", "found both [model] and [graph]"),
    ("neither_model_nor_graph", "", "found neither [model] nor [graph]"),
    ("model_not_table", "model", "expected a table, found 3 (integer)"),
    ("graph_with_data", "data", "[data] belongs to [model] scenarios"),
    ("graph_with_loss", "loss", "[loss] belongs to [model] scenarios"),
    ("model_without_data", "data", "missing [data]"),
    ("model_without_loss", "loss", "missing [loss]"),
    ("missing_optimizer", "optimizer", "missing [optimizer]"),
    (
        "unknown_activation",
        "model.layers[1].activation (layer 2)",
        (
            "unknown activation 'tanhh'; expected one of identity, sigmoid, tanh, relu,"
            " leaky_relu, softmax"
        ),
    ),
    ("unknown_init", "model.init", "unknown init 'glorot'; expected one of xavier, he"),
    ("unknown_loss", "loss.kind", "unknown loss 'triplet_margin'"),
    ("unknown_optimizer", "optimizer.kind", "unknown optimizer 'lbfgs'"),
    ("lr_zero", "optimizer.lr", "expected a finite number > 0, found 0"),
    ("lr_negative", "optimizer.lr", "expected a finite number > 0, found -1"),
    ("lr_nan", "optimizer.lr", "found nan"),
    ("lr_inf", "optimizer.lr", "found inf"),
    ("lr_string", "optimizer.lr", "found 'fast' (string)"),
    ("lr_missing", "optimizer.lr", "missing required key 'lr'"),
    ("steps_zero", "train.steps", "expected an integer ≥ 1, found 0"),
    ("steps_float", "train.steps", "expected an integer ≥ 1, found 1.5 (float)"),
    ("steps_too_large", "train.steps", "above the limit of 10,000,000"),
    ("boolean_as_number", "model.inputs", "found true (boolean)"),
    ("boolean_in_array", "data.x[3][1]", "expected a number, found true (boolean)"),
    ("units_string", "model.layers[0].units (layer 1)", "expected an integer ≥ 1, found 'two'"),
    ("units_zero", "model.layers[0].units (layer 1)", "found 0"),
    ("units_too_large", "model.layers[0].units (layer 1)", "above the limit of 4,096"),
    ("weights_too_many", "model.layers[0].units (layer 1)", "4,096 × 4,096 = 16,777,216 weights"),
    ("too_many_layers", "model.layers", "found 65 layers, above the limit of 64"),
    (
        "parameters_too_many",
        "model.layers",
        "2,003,001 weights and biases in all, above the limit of 2,000,000",
    ),
    ("empty_layers", "model.layers", "expected at least one layer"),
    ("layers_not_array", "model.layers", "expected an array of tables ([[model.layers]])"),
    (
        "weight_shape",
        "model.layers[0].weight (layer 1)",
        ("expected shape (2, 3) = (fan_in, units)", "found shape (3, 2)"),
    ),
    (
        "weight_shape_layer2",
        "model.layers[1].weight (layer 2)",
        ("expected shape (2, 1)", "layer 1's units = 2", "found shape (1, 2)"),
    ),
    (
        "bias_shape",
        "model.layers[0].bias (layer 1)",
        ("expected shape (2,)", "found shape (3,)"),
    ),
    ("inf_in_weight", "model.layers[0].weight[0][1] (layer 1)", "expected a finite number"),
    ("empty_array", "model.layers[0].bias (layer 1)", "found an empty array"),
    ("ragged_array", "data.x[1]", "ragged array: found an array of 1, expected an array of 2"),
    ("string_in_array", "data.x[2][1]", "expected a number, found 'a' (string)"),
    ("nan_in_data", "data.x[2][1]", "expected a finite number, found nan"),
    ("x_wrong_width", "data.x", ("expected shape (samples, 2)", "found shape (4, 3)")),
    ("x_not_2d", "data.x", "found shape (4,)"),
    ("sample_mismatch", "data.y", "y has 3 samples but x has 4"),
    ("y_wrong_width", "data.y", ("expected shape (samples, 1)", "found shape (4, 2)")),
    (
        "cross_entropy_softmax",
        "loss.kind",
        ("activation must be identity", "found 'softmax' at model.layers[1].activation"),
    ),
    ("cross_entropy_one_hot", "data.y", "cross_entropy takes class indices of shape (samples,)"),
    ("class_out_of_range", "data.y[2]", "class index 2 is out of range; expected a whole number"),
    ("class_not_whole", "data.y[1]", "class index 0.5 is not a whole number"),
    ("bce_identity", "loss.kind", "bce takes probabilities"),
    ("bce_target_range", "data.y[1][0]", "expected a number from 0 to 1, found 2"),
    (
        "betas_with_sgd",
        "optimizer.betas",
        "setting of kind = 'adam' or 'adamw', not of kind = 'sgd'",
    ),
    ("momentum_with_adam", "optimizer.momentum", "not of kind = 'adam'"),
    ("momentum_out_of_range", "optimizer.momentum", "expected a number in [0, 1), found 1.0"),
    ("betas_out_of_range", "optimizer.betas[1]", "expected a number in [0, 1), found 1.5"),
    ("eps_zero", "optimizer.eps", "expected a finite number > 0, found 0"),
    ("batch_size_too_large", "train.batch_size", "found 5, but the data has 4 samples"),
    ("batch_size_negative", "train.batch_size", "expected an integer ≥ 0, found -1"),
    ("node_without_equals", "graph.nodes[1]", 'expected "name = expression"'),
    ("node_only_comparison", "graph.nodes[1]", "found 'L == z' with no '='"),
    ("node_empty_expression", "graph.nodes[1]", "node 'L' has an empty expression"),
    ("node_bad_name", "graph.nodes[1]", "'L[0]' cannot name a node"),
    ("node_keyword_name", "graph.nodes[1]", "'lambda' cannot name a node"),
    ("node_function_name", "graph.nodes[1]", "'exp' is a function name"),
    ("node_not_string", "graph.nodes[1]", "found 3 (integer)"),
    ("duplicate_node", "graph.nodes[2]", "node 'z' is defined twice; first at graph.nodes[0]"),
    ("node_param_clash", "graph.nodes[0]", "node 'W' has the name of a param"),
    ("node_input_clash", "graph.nodes[0]", "node 'x' has the name of an input"),
    ("expression_too_long", "graph.nodes[1]", "above the limit of 2,000"),
    ("too_many_nodes", "graph.nodes", "found 257 nodes, above the limit of 256"),
    ("empty_nodes", "graph.nodes", "expected at least one node"),
    ("graph_loss_missing_node", "graph.loss", "no node named 'M'; expected one of the nodes: z, L"),
    ("graph_loss_is_param", "graph.loss", "no node named 'W'"),
    ("graph_batch_size", "train.batch_size", "a [graph] has no samples to batch"),
    ("graph_missing_params", "graph.params", "missing required key 'params'"),
    ("graph_empty_params", "graph.params", "expected at least one parameter"),
    ("name_input_and_param", "graph.params.x", "'x' is both an input and a param"),
    ("param_function_name", "graph.params.exp", "'exp' is a function name"),
    ("param_bad_name", 'graph.params."my param"', "'my param' cannot name a param"),
    ("param_nan", "graph.params.W[1]", "expected a finite number, found nan"),
    ("param_too_deep", "graph.params.W", "nested deeper than the limit of 8"),
    ("param_string", "graph.params.W", "expected a number, found '0.5' (string)"),
    ("generator_with_x", "data.x", "cannot be given together with data.generator"),
    ("unknown_generator", "data.generator", "unknown generator 'blobs'; expected one of xor"),
    ("generator_inputs", "data.generator", "model.inputs = 3"),
    ("generator_xor_classes", "data.classes", "generator 'xor' makes exactly 2 classes; found 3"),
    ("generator_classes_too_many", "data.classes", "found 9, above the limit of 8"),
    ("generator_samples_too_many", "data.samples", "found 100,001, above the limit of 100,000"),
    ("generator_noise_negative", "data.noise", "expected a finite number ≥ 0, found -0.1"),
    ("generator_setting_without_generator", "data.noise", "noise is a generator setting"),
    # Found by fuzzing: each was an internal error (exit 70), a hang or a flood before.
    (
        "expression_huge_exponent",
        "graph.nodes[1]",
        ("the integer 100000000000… (401 digits) is too large for float64", "(column 10)"),
    ),
    ("expression_huge_operand", "graph.nodes[0]", ("(401 digits) is too large", "(column 9)")),
    ("expression_huge_negative", "graph.nodes[1]", ("(401 digits) is too large", "(column 10)")),
    (
        "expression_long_chain",
        "graph.nodes[1]",
        ('"L = z + z + z', "nested deeper than the limit of 64 levels", "(column 5)"),
    ),
    ("expression_unary_chain", "graph.nodes[1]", ("nested deeper than the limit", "(column 70)")),
    ("expression_deep_calls", "graph.nodes[1]", ("nested deeper than the limit", "(column 330)")),
    (
        "expression_newline",
        "graph.nodes[1]",
        ('"L = (z - y)\\n** 2 +"', "not a valid expression", "(column 14)"),
    ),
    ("expression_escape_bytes", "graph.nodes[1]", ('"L = z * \\x1b[31m\\x07"', "not a valid")),
    (
        "expression_escape_string",
        "graph.nodes[1]",
        "only numbers are allowed, found '\\x1b]0;pwned\\x07' (column 9)",
    ),
    ("condition_huge_integer", "breakpoints[0].when", ("(401 digits)", "(column 14)")),
    ("condition_long_or", "breakpoints[0].when", ('"L > 1 or L > 1', "nested deeper than")),
    ("condition_comparison_chain", "breakpoints[0].when", "nested deeper than the limit of 64"),
    ("condition_escape_bytes", "breakpoints[0].when", ('"L > \\x1b[2J"', "(column 5)")),
    ("toml_nested_arrays", "line 4, column 79", "nested deeper than the limit of 64 levels"),
    ("toml_huge_integer", "line 11, column 9", "an integer of more than 4,300 digits"),
    ("toml_nested_inline_tables", "line 4, column 394", "arrays or inline tables nested deeper"),
    (
        "toml_too_many_tables",
        "line 4, column 16394",
        "invalid TOML: more than the limit of 4,096 tables (table headers, inline tables and",
    ),
    (
        "toml_dotted_key_too_long",
        "line 2, column 128",
        "invalid TOML: a dotted key with more than the limit of 64 parts",
    ),
    ("toml_dotted_keys_flood", "line 2050, column 1", "more than the limit of 4,096 tables"),
    ("unknown_key_escape_bytes", '"\\x1b[31mred"', "unknown key '\\x1b[31mred'"),
    ("node_name_escape_bytes", "graph.nodes[0]", "'z\\x1b[1m' cannot name a node"),
    (
        "step_too_large",
        "graph.nodes[4]",
        (
            "one training step would hold up to 1,255,002,265 numbers",
            "above the limit of 20,000,000",
            "at u4 (1000×1000)",
        ),
    ),
    (
        "step_too_large_model",
        "model.layers[0] (layer 1)",
        ("above the limit of 20,000,000", "at z1 (100000×1000)", "a smaller train.batch_size"),
    ),
]


def test_every_bad_file_has_a_case() -> None:
    on_disk = {path.stem for path in BAD.glob("*.toml")}
    assert on_disk == {stem for stem, _, _ in BAD_CASES}


@pytest.mark.parametrize(("stem", "place", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_file_is_refused(stem: str, place: str, message: str | tuple[str, ...]) -> None:
    """Refused by the loader, or when the graph is built (expressions, the memory bound);
    either way one line, with every control character from the file escaped."""
    path = BAD / f"{stem}.toml"
    with pytest.raises(ScenarioError) as caught:
        open_program(str(path))
    err = caught.value
    text = str(err)
    assert printable(text) == text
    assert err.file == str(path)
    assert text.startswith(f"{path}: ")
    assert place in err.place
    assert place in text
    for part in (message,) if isinstance(message, str) else message:
        assert part in err.message, err.message
        assert part in text
    assert "Traceback" not in text


def test_error_string_format() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads('name = "x"\n[graph]\nparams = {W = 1}\nnodes = ["L = W"]\n', "inline.toml")
    assert str(caught.value) == (
        "inline.toml: optimizer: missing [optimizer]; expected a table with kind and lr"
    )


# ----------------------------------------------------------------------------------------
# Good files


def _readonly(*arrays: np.ndarray | None) -> None:
    for array in arrays:
        assert array is not None
        assert array.dtype == np.float64
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array[...] = 0


def test_layered_model() -> None:
    s = load(GOOD / "layered.toml")
    assert isinstance(s, Scenario)
    assert s.name == "XOR, two tanh units"
    assert s.source == str(GOOD / "layered.toml")
    assert s.description.strip().startswith("A 2-2-1 network")
    assert s.graph is None and s.model is not None and s.data is not None
    assert s.model.inputs == 2 and s.model.init == "he" and s.model.seed == 7
    first, second = s.model.layers
    assert (first.units, first.activation) == (2, "tanh")
    np.testing.assert_array_equal(first.weight, [[0.1, -0.2], [0.3, 0.4]])
    np.testing.assert_array_equal(first.bias, [0.0, 0.1])
    assert (second.units, second.activation, second.weight, second.bias) == (
        1,
        "sigmoid",
        None,
        None,
    )
    np.testing.assert_array_equal(s.data.x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert s.data.y.shape == (4, 1)
    np.testing.assert_array_equal(s.data.y[:, 0], [0, 1, 1, 0])
    assert s.data.generator is None
    assert s.loss == "bce"
    assert s.optimizer.kind == "momentum"
    assert s.optimizer.lr == 1.0 and isinstance(s.optimizer.lr, float)
    assert s.optimizer.momentum == 0.5
    assert (s.train.steps, s.train.batch_size, s.train.seed) == (5, 2, 11)
    _readonly(first.weight, first.bias, s.data.x, s.data.y)


def test_graph() -> None:
    s = load(GOOD / "graph.toml")
    assert s.model is None and s.data is None and s.loss is None and s.graph is not None
    g = s.graph
    assert list(g.inputs) == ["x", "y"] and list(g.params) == ["W", "b"]
    np.testing.assert_array_equal(g.inputs["x"], [[1.0, 2.0]])
    assert g.inputs["y"].shape == () and float(g.inputs["y"]) == 0.5
    np.testing.assert_array_equal(g.params["W"], [[0.5], [-0.25]])
    assert g.params["b"].shape == () and float(g.params["b"]) == 0.0
    assert g.nodes == (("z", "x @ W + b"), ("d", "z - y"), ("L", "sum(d ** 2)"))
    assert g.loss == "L"  # the last node, as none is named
    assert s.optimizer.kind == "adam"
    assert s.optimizer.betas == (0.8, 0.99) and s.optimizer.eps == 1e-6
    assert s.train.steps == 20 and s.train.batch_size == 0 and s.train.seed == 0
    _readonly(*g.inputs.values(), *g.params.values())


def test_generated_data_cross_entropy() -> None:
    s = load(GOOD / "generated.toml")
    assert s.data is not None and s.model is not None
    assert s.data.generator == "spiral"
    assert s.data.x.shape == (90, 2) and s.data.y.shape == (90,)
    x, labels = data.generate("spiral", 90, noise=0.05, seed=3, classes=3)
    np.testing.assert_array_equal(s.data.x, x)
    np.testing.assert_array_equal(s.data.y, labels.astype(np.float64))
    assert sorted(np.unique(s.data.y)) == [0.0, 1.0, 2.0]
    assert s.loss == "cross_entropy"
    assert (s.train.steps, s.train.batch_size) == (100, 30)
    _readonly(s.data.x, s.data.y)


def test_generated_data_one_output() -> None:
    s = load(GOOD / "generated_mse.toml")
    assert s.data is not None
    assert s.data.x.shape == (50, 2) and s.data.y.shape == (50, 1)
    assert set(np.unique(s.data.y)) == {0.0, 1.0}
    # The defaults: noise 0, seed 0, 2 classes.
    x, labels = data.generate("circle", 50)
    np.testing.assert_array_equal(s.data.x, x)
    np.testing.assert_array_equal(s.data.y[:, 0], labels)
    _readonly(s.data.x, s.data.y)


def test_class_labels_as_a_column_are_flattened() -> None:
    s = load(GOOD / "labels.toml")
    assert s.data is not None and s.model is not None
    assert s.data.y.shape == (3,)
    np.testing.assert_array_equal(s.data.y, [0.0, 2.0, 1.0])
    np.testing.assert_array_equal(s.model.layers[0].weight, [[1.0, 2.0, 3.0]])
    _readonly(s.data.y)


def test_source_can_be_given() -> None:
    s = load(GOOD / "graph.toml", source="worked-example")
    assert s.source == "worked-example"


def test_defaults_for_a_model() -> None:
    s = loads(
        'name = "n"\n[model]\ninputs = 1\n[[model.layers]]\nunits = 1\nactivation = "identity"\n'
        "[data]\nx = [[1]]\ny = [[2]]\n[loss]\nkind = 'sse'\n"
        "[optimizer]\nkind = 'adam'\nlr = 0.5\n",
        "d.toml",
    )
    assert s.model is not None
    assert (s.model.init, s.model.seed) == ("xavier", 0)
    assert s.optimizer.betas == (0.9, 0.999) and s.optimizer.eps == 1e-8
    assert s.train.steps == 20 and s.train.batch_size == 0
    assert s.description == ""


def test_a_node_may_use_comparison_operators_after_its_equals_sign() -> None:
    s = loads(
        'name = "n"\n[graph]\nparams = { W = 1 }\n'
        'nodes = ["a = W", "b=a<=W", "c = a == b", "L = a >= c"]\nloss = "b"\n'
        "[optimizer]\nkind = 'sgd'\nlr = 1\n",
        "cmp.toml",
    )
    assert s.graph is not None
    assert s.graph.nodes == (("a", "W"), ("b", "a<=W"), ("c", "a == b"), ("L", "a >= c"))
    assert s.graph.loss == "b"


# ----------------------------------------------------------------------------------------
# Files as a whole


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as caught:
        load(path)
    assert caught.value.place == ""
    assert str(caught.value) == f"{path}: no such file"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is a directory"):
        load(tmp_path)


@pytest.fixture
def odd_files(tmp_path: Path) -> dict[str, Path]:
    """A named pipe, a symlink loop, a dangling symlink and a device, made in ``tmp_path``."""
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    (tmp_path / "loop_a.toml").symlink_to(tmp_path / "loop_b.toml")
    (tmp_path / "loop_b.toml").symlink_to(tmp_path / "loop_a.toml")
    (tmp_path / "dangling.toml").symlink_to(tmp_path / "nowhere.toml")
    return {
        "fifo": fifo,
        "loop": tmp_path / "loop_a.toml",
        "dangling": tmp_path / "dangling.toml",
        "device": Path(os.devnull),
    }


ODD_FILE_MESSAGES = {
    "fifo": "is a named pipe (FIFO), not a regular file",
    "loop": "too many levels of symbolic links",
    "dangling": "no such file",
    "device": "is a character device, not a regular file",
}


@pytest.mark.parametrize("kind", sorted(ODD_FILE_MESSAGES))
def test_only_regular_files_are_read(odd_files: dict[str, Path], kind: str) -> None:
    """A pipe would block ``open`` for ever; it is refused from ``os.stat`` alone."""
    with pytest.raises(ScenarioError) as caught:
        load(odd_files[kind])
    assert caught.value.place == ""
    assert ODD_FILE_MESSAGES[kind] in caught.value.message


def test_read_bytes_reads_as_load_does(odd_files: dict[str, Path], tmp_path: Path) -> None:
    """What a file watcher reloads with: the same checks, the bytes unparsed."""
    path = tmp_path / "plain.toml"
    path.write_bytes(b'name = "x"\n')
    assert read_bytes(path) == b'name = "x"\n'
    with pytest.raises(ScenarioError) as caught:
        read_bytes(odd_files["fifo"], source="watched.toml")
    assert str(caught.value).startswith("watched.toml: is a named pipe (FIFO)")


@pytest.mark.parametrize("kind", ["fifo", "loop", "device"])
def test_resolve_refuses_what_is_not_a_regular_file(odd_files: dict[str, Path], kind: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenarios.resolve(str(odd_files[kind]))
    assert caught.value.place == ""
    assert ODD_FILE_MESSAGES[kind] in caught.value.message


def test_a_pipe_swapped_in_after_stat_is_refused_without_blocking(tmp_path: Path) -> None:
    """The race: ``stat`` saw a regular file, ``open`` finds a pipe. Opening without
    blocking and checking the opened descriptor refuses it; run in a child process, so
    that a regression hangs only the child, which the timeout ends."""
    fifo = tmp_path / "swapped.toml"
    os.mkfifo(fifo)
    code = textwrap.dedent(f"""
        import os, stat
        from engine.errors import ScenarioError
        from engine.scenario.loader import load
        real_stat = os.stat
        regular = real_stat({str(tmp_path / "regular")!r})
        os.stat = lambda path, *a, **k: regular if str(path) == {str(fifo)!r} else real_stat(path, *a, **k)
        try:
            load({str(fifo)!r})
        except ScenarioError as err:
            print(err.message)
    """)
    (tmp_path / "regular").write_text("", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "is a named pipe (FIFO), not a regular file" in result.stdout


def test_file_beyond_the_size_limit_is_refused_without_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.toml"
    with open(path, "wb") as handle:
        handle.truncate(5 * 1024 * 1024)  # sparse: no 5 MiB written
    assert path.stat().st_size > MAX_FILE_BYTES

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the loader opened a file that is too large")

    monkeypatch.setattr("builtins.open", no_open)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    assert caught.value.place == ""
    assert "5,242,880 bytes; the limit is 4,194,304 (4 MiB)" in caught.value.message


def test_text_beyond_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads("#" * (MAX_FILE_BYTES + 1), "long.toml")
    assert caught.value.place == ""
    assert "longer than the limit" in caught.value.message


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (GOOD / "graph.toml").read_bytes())
    assert load(path).name == "A linear unit, by hand"


def test_syntax_error_at_the_end_of_the_file() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads('name = "x"\nlr = ', "end.toml")
    assert caught.value.place == "line 2, column 5"
    assert caught.value.message == "invalid TOML: invalid value at the end of the file"


def test_duplicate_key_is_a_syntax_error() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads('name = "x"\nname = "y"\n', "dup.toml")
    assert caught.value.message.startswith("invalid TOML: ")


def test_deeply_nested_toml_is_refused_not_crashed() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads('name = "x"\na = ' + "[" * 100_000, "deep.toml")
    assert caught.value.place == f"line 2, column {5 + MAX_NESTING}"
    assert caught.value.message == (
        f"invalid TOML: arrays or inline tables nested deeper than the limit of {MAX_NESTING}"
        " levels"
    )
    with pytest.raises(ScenarioError, match="nested deeper than the limit"):
        loads("a = " + "{b = " * 10_000, "inline.toml")


def test_a_flood_of_tables_is_refused_before_parsing() -> None:
    """tomllib makes a dict per table: 4 MiB of {} would take hundreds of megabytes."""
    with pytest.raises(ScenarioError) as caught:
        loads("a = [" + "{}, " * 1_000_000 + "]", "tables.toml")
    assert caught.value.place == f"line 1, column {6 + 4 * MAX_TABLES}"
    assert "more than the limit of 4,096 tables" in caught.value.message
    # Headers count once each, arrays of tables too; arrays do not count.
    text = 'name = "x"\nz = 1\n' + "".join(f"a{i} = [[[1]]]\n" for i in range(5000))
    text += "[[breakpoints]]\nphase = 'update'\n" * 64
    with pytest.raises(ScenarioError) as caught:
        loads(text, "ok.toml")
    assert caught.value.place == "z"  # parsed; refused by the loader as an unknown key


@pytest.mark.parametrize(
    "text",
    [
        'a = "' + "[" * 100 + '"',
        "a = '" + "[" * 100 + "'",
        'a = """\n' + "[" * 100 + '\\"""\n"""',
        "a = '''" + "[" * 100 + "''''",
        "# " + "[" * 100,
        'a = "\\"[[[["\n',
    ],
    ids=["basic", "literal", "multi-line basic", "multi-line literal", "comment", "escape"],
)
def test_brackets_in_strings_and_comments_do_not_nest(text: str) -> None:
    """The nesting scan skips strings and comments as TOML does; what is left is up to
    the parser (here: no name, or a syntax error), never a nesting refusal."""
    with pytest.raises(ScenarioError) as caught:
        loads(text, "strings.toml")
    assert "nested" not in caught.value.message


def test_a_flood_of_arrays_is_refused_before_parsing() -> None:
    """tomllib makes a list per array: 4 MiB of [[[[[[[0]]]]]]] took 230 MB."""
    with pytest.raises(ScenarioError) as caught:
        loads('name = "x"\nW = [' + ",".join(["[[[[[[[0]]]]]]]"] * 100_000) + "]\n", "arrays.toml")
    # The outer array is the first; each element brings seven more.
    n = MAX_ARRAYS - 1
    assert caught.value.place == f"line 2, column {5 + 16 * (n // 7) + n % 7 + 1}"
    assert caught.value.message == f"invalid TOML: more than the limit of {MAX_ARRAYS:,} arrays"


@pytest.mark.parametrize(
    "text",
    [
        "x = [" + ", ".join(["1.5"] * 10_000) + "]",
        "x = [" + ", ".join(["[0.5, 1e-3]"] * 5_000) + "]",
        "t = [" + ", ".join(["07:32:00.999"] * 1_000) + "]",
        'd = "' + "a." * 1_000 + '"',
        "# " + "a." * 1_000,
        "".join(f"k{i}.a = 1\n" for i in range(MAX_TABLES)),
        "a" + ".b" * (MAX_KEY_PARTS - 1) + " = 1",
    ],
    ids=["floats", "rows", "times", "string", "comment", "dotted keys", "longest key"],
)
def test_dots_of_values_strings_and_comments_are_no_key_parts(text: str) -> None:
    """Within the limits: the text parses, and the loader refuses it (an unknown key, or
    no name), not the scan."""
    with pytest.raises(ScenarioError) as caught:
        loads(text + "\n", "dots.toml")
    assert not caught.value.message.startswith("invalid TOML"), caught.value


def test_nesting_up_to_the_limit_reaches_the_loader() -> None:
    depth = MAX_NESTING - 1  # inside the inline table { W = … }: one level already
    text = 'name = "x"\n[optimizer]\nkind = "sgd"\nlr = 1\n[graph]\nparams = { W = '
    text += "[" * depth + "0" + "]" * depth
    with pytest.raises(ScenarioError) as caught:
        loads(text + " }\n", "deep.toml")
    assert caught.value.place == "graph.params.W"
    assert "nested deeper than the limit of 8 levels" in caught.value.message


def test_huge_integer_literal_is_refused() -> None:
    """Python refuses to read an integer of more than 4,300 digits (and tomllib lets its
    ValueError escape, with no place): the refusal says where, and nothing of Python."""
    with pytest.raises(ScenarioError) as caught:
        loads('name = "x"\nb = [1, -' + "1_0" * 3000 + "]", "digits.toml")
    assert caught.value.place == "line 2, column 9"
    assert caught.value.message.startswith("invalid TOML: an integer of more than 4,300 digits")
    assert "sys." not in caught.value.message


# ----------------------------------------------------------------------------------------
# Limits: refused from the integers, before anything is allocated


def test_huge_weight_is_refused_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        'name = "n"\n[model]\ninputs = 4096\n'
        + '[[model.layers]]\nunits = 4096\nactivation = "tanh"\n' * 3
        + "[data]\nx = [[0]]\ny = [[0]]\n[loss]\nkind = 'mse'\n[optimizer]\nkind = 'sgd'\nlr = 1\n"
    )

    def no_arrays(*args: object, **kwargs: object) -> None:
        raise AssertionError("allocated an array before checking the limit")

    monkeypatch.setattr(np, "array", no_arrays)
    monkeypatch.setattr(np, "zeros", no_arrays)
    with pytest.raises(ScenarioError) as caught:
        loads(text, "big.toml")
    assert caught.value.place == "model.layers[0].units (layer 1)"
    assert f"above the limit of {MAX_WEIGHT_ELEMENTS:,}" in caught.value.message


def test_weight_at_the_limit_is_accepted() -> None:
    # 1000 × 1000 is exactly MAX_WEIGHT_ELEMENTS; no weight given, so init draws it later.
    text = (
        'name = "n"\n[model]\ninputs = 1000\n[[model.layers]]\nunits = 1000\n'
        'activation = "identity"\n[data]\nx = [[' + ", ".join(["0"] * 1000) + "]]\n"
        "y = [[" + ", ".join(["0"] * 1000) + "]]\n[loss]\nkind = 'mse'\n"
        "[optimizer]\nkind = 'sgd'\nlr = 1\n"
    )
    s = loads(text, "edge.toml")
    assert s.model is not None and s.data is not None
    assert s.model.layers[0].weight is None
    assert s.data.x.shape == (1, 1000) and s.data.y.shape == (1, 1000)


def test_samples_beyond_the_limit_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lowered limit keeps the test fast; the mechanism is the same at 100,000.
    monkeypatch.setattr(scenario_module, "MAX_SAMPLES", 10)
    rows = ", ".join(["[0]"] * 11)
    text = (
        'name = "n"\n[model]\ninputs = 1\n[[model.layers]]\nunits = 1\n'
        f'activation = "identity"\n[data]\nx = [{rows}]\ny = [{rows}]\n[loss]\nkind = "mse"\n'
        "[optimizer]\nkind = 'sgd'\nlr = 1\n"
    )
    with pytest.raises(ScenarioError) as caught:
        loads(text, "many.toml")
    assert caught.value.place == "data.x"
    assert caught.value.message == "found 11 samples, above the limit of 10"


def test_array_beyond_the_element_limit_is_refused_before_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A lowered limit keeps the test fast (a real 1,000,001-element file takes seconds to parse).
    monkeypatch.setattr(checks_module, "MAX_ELEMENTS", 1000)
    row = "[" + ", ".join(["0"] * 40) + "]"
    text = (
        'name = "n"\n[graph]\nparams = { W = [' + ", ".join([row] * 26) + "] }\n"
        'nodes = ["L = sum(W)"]\n[optimizer]\nkind = "sgd"\nlr = 1\n'
    )

    def no_arrays(*args: object, **kwargs: object) -> None:
        raise AssertionError("converted an array beyond the limit")

    monkeypatch.setattr(np, "array", no_arrays)
    with pytest.raises(ScenarioError) as caught:
        loads(text, "wide.toml")
    assert caught.value.place == "graph.params.W"
    assert caught.value.message == "array has more than the limit of 1,000 elements"


def test_limit_values() -> None:
    assert (
        records_module.MAX_FILE_BYTES,
        records_module.MAX_ELEMENTS,
        records_module.MAX_SAMPLES,
        records_module.MAX_LAYERS,
        records_module.MAX_UNITS,
        records_module.MAX_WEIGHT_ELEMENTS,
        records_module.MAX_PARAMETERS,
        records_module.MAX_NODES,
        records_module.MAX_EXPRESSION_CHARS,
        records_module.MAX_STEPS,
        records_module.MAX_GENERATED_SAMPLES,
        records_module.MAX_CLASSES,
    ) == (4 * 2**20, 10**6, 10**5, 64, 4096, 10**6, 2 * 10**6, 256, 2000, 10**7, 10**5, 8)


def test_limits_are_documented_in_the_module_docstring() -> None:
    doc = records_module.__doc__ or ""
    names = [name for name in dir(records_module) if name.startswith("MAX_")]
    assert len(names) >= 12
    for name in names:
        assert f"``{name}``" in doc, name


# ----------------------------------------------------------------------------------------
# Data, never code


def test_loading_never_executes_an_expression(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "pwn.toml"
    path.write_text(
        'name = "pwn"\n[graph]\nparams = { W = 1 }\n'
        "nodes = [\"z = __import__('os').system('touch PWNED')\", \"L = z\"]\n"
        '[optimizer]\nkind = "sgd"\nlr = 1\n',
        encoding="utf-8",
    )
    s = load(path)
    assert s.graph is not None
    assert s.graph.nodes[0] == ("z", "__import__('os').system('touch PWNED')")
    assert not (tmp_path / "PWNED").exists()
    assert not os.path.exists("PWNED")


def test_loader_source_has_no_eval_exec_or_pickle() -> None:
    folder = Path(records_module.__file__).parent
    sources = [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.py"))]
    assert len(sources) >= 5  # the records, the checks, the reading, the loader, the data
    source = "\n".join(sources)
    forbidden = (
        r"\beval\s*\(",
        r"\bexec\s*\(",
        r"(?<!re\.)\bcompile\s*\(",  # the built-in; re.compile builds a regex
        r"\bpickle\b",
        r"__import__",
        r"\bimportlib\b",
        r"^\s*(from|import)\s+(textual|tui)\b",
    )
    for pattern in forbidden:
        assert not re.search(pattern, source, re.MULTILINE), pattern


# ----------------------------------------------------------------------------------------
# The built-in index (scenarios/__init__.py)


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "builtin"
    folder.mkdir()
    for stem in ("xor", "worked-example", "circle"):
        (folder / f"{stem}.toml").write_text('name = "x"\n', encoding="utf-8")
    (folder / "notes.md").write_text("not a scenario", encoding="utf-8")
    monkeypatch.setattr(scenarios, "builtin_dir", lambda: folder)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return folder


def test_builtin_dir_is_the_package_folder() -> None:
    assert scenarios.builtin_dir() == Path(scenarios.__file__).resolve().parent


def test_builtin_ids_are_sorted_stems(builtins: Path) -> None:
    assert scenarios.builtin_ids() == ["circle", "worked-example", "xor"]


def test_resolve_builtin_id(builtins: Path) -> None:
    assert scenarios.resolve("xor") == builtins / "xor.toml"


def test_resolve_existing_file_wins(builtins: Path) -> None:
    Path("xor").write_text('name = "mine"\n', encoding="utf-8")
    Path("mine.toml").write_text('name = "mine"\n', encoding="utf-8")
    assert scenarios.resolve("xor") == Path("xor")
    assert scenarios.resolve("mine.toml") == Path("mine.toml")


def test_resolve_directory_does_not_shadow_a_builtin(builtins: Path) -> None:
    Path("xor").mkdir()
    Path("folder").mkdir()
    assert scenarios.resolve("xor") == builtins / "xor.toml"
    with pytest.raises(ScenarioError, match="is a directory"):
        scenarios.resolve("folder")


@pytest.mark.parametrize("ref", ["nope", "nope.toml", "../builtin/xor", "xor.toml", "notes"])
def test_resolve_unknown(builtins: Path, ref: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenarios.resolve(ref)
    assert caught.value.file == ref and caught.value.place == ""
    assert str(caught.value) == (
        f"{ref}: no such file or built-in scenario; built-ins are: circle, worked-example, xor"
    )


@pytest.mark.parametrize("stem", scenarios.builtin_ids())
def test_every_builtin_scenario_loads(stem: str) -> None:
    s = load(scenarios.resolve(stem), source=stem)
    assert s.name and s.source == stem
    assert " " not in stem
