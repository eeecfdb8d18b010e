"""SPEC v2 scenario files: data files, the new losses and optimizer settings.

Bad files live in ``tests/data/bad_v2/`` (one file per case, beside the data files they
name); each refusal must name the file, the place, and say what was wrong. Good data files
are written here, in a temporary folder, and their numbers checked.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ScenarioError
from engine.open import open_program
from engine.scenario.loader import load, loads
from engine.step.program import make_program
from engine.timeline.timeline import Timeline

BAD = Path(__file__).parent.parent / "data" / "bad_v2"

CASES = [
    # losses
    ("delta_with_mse", "loss.delta", "delta is a setting of kind = 'huber', not of kind = 'mse'"),
    ("delta_zero", "loss.delta", "expected a finite number > 0, found 0.0"),
    ("hinge_two_units", "loss.kind", "hinge scores each sample with one output unit"),
    ("hinge_zero_one_targets", "data.y[0][0]", "hinge targets are labels −1 or +1"),
    # optimizers, as torch.optim refuses them
    ("alpha_with_adam", "optimizer.alpha", "alpha is a setting of kind = 'rmsprop'"),
    ("alpha_above_one", "optimizer.alpha", "expected a number in [0, 1], found 1.5"),
    ("nesterov_without_momentum_kind", "optimizer.nesterov", "not of kind = 'sgd'"),
    ("nesterov_with_dampening", "optimizer.nesterov", "needs momentum > 0 and dampening = 0"),
    ("nesterov_zero_momentum", "optimizer.nesterov", "found momentum = 0, dampening = 0"),
    ("nesterov_not_bool", "optimizer.nesterov", "expected true or false, found 'yes'"),
    ("weight_decay_negative", "optimizer.weight_decay", "expected a finite number ≥ 0"),
    ("centered_with_adagrad", "optimizer.centered", "not of kind = 'adagrad'"),
    ("lr_decay_negative", "optimizer.lr_decay", "expected a finite number ≥ 0, found -1"),
    ("initial_accumulator_negative", "optimizer.initial_accumulator_value", "found -0.5"),
    ("dampening_with_rmsprop", "optimizer.dampening", "a setting of kind = 'momentum'"),
    # where a data file may be, and what it may be
    ("file_absolute", "data.file", "'/etc/passwd.csv' is an absolute path"),
    ("file_dotdot", "data.file", "leaves the scenario's folder ('..')"),
    ("file_missing", "data.file", "nowhere.csv: no such file"),
    ("file_suffix", "data.file", "'points.txt' is neither a .csv nor a .npz file"),
    ("file_directory", "data.file", "folder.csv: is a directory, not a data file"),
    ("file_not_string", "data.file", "found 3 (integer)"),
    ("file_with_generator", "data.generator", "cannot be given together with data.file"),
    ("file_with_x", "data.x", "cannot be given together with data.file"),
    ("target_without_file", "data.target", "it needs data.file"),
    # CSV
    ("csv_no_target", "data.target", "needs exactly one of target"),
    ("csv_both_targets", "data.targets", "found both"),
    ("csv_unknown_target", "data.target", "has no column 'class'; its columns are a, b, label"),
    ("csv_inputs_mismatch", "data.file", "has 1 input column (every column but the targets: a)"),
    ("csv_not_a_number", "data.file", "not_a_number.csv: line 3, column 2 (b): 'abc' is not a"),
    ("csv_short_row", "data.file", "short_row.csv: line 3: 2 values, expected 3"),
    ("csv_no_header", "data.file", "line 1, column 1: found the number 0.5; the first row"),
    ("csv_nan", "data.file", "line 2, column 2 (b): 'nan' is not a number"),
    ("csv_empty_cell", "data.file", "line 2, column 2 (b): an empty cell is not a number"),
    ("csv_duplicate_column", "data.file", "line 1, column 2: column 'a' is named twice"),
    ("csv_only_header", "data.file", "only a header row"),
    ("csv_class_out_of_range", "data.file", "line 3, column 'label': class index 3 is out of"),
    ("csv_bce_target_range", "data.file", "line 3, column 'label': bce targets are probabilit"),
    # NPZ
    ("npz_object_array", "data.file", "array x has dtype object; expected integers or floats"),
    ("npz_strings", "data.file", "array x has dtype <U1"),
    ("npz_complex", "data.file", "array x has dtype complex128"),
    ("npz_extra_array", "data.file", "expected exactly the arrays x and y, found x, y, z"),
    ("npz_missing_y", "data.file", "expected exactly the arrays x and y, found x"),
    ("npz_x_shape", "data.file", "array x has shape (2, 3); expected (samples, 2)"),
    ("npz_sample_mismatch", "data.file", "y has 2 samples but x has 3"),
    ("npz_not_finite", "data.file", "array x[0, 1]: inf is not a finite number"),
    ("npz_not_zip", "data.file", "not an .npz file"),
    ("npz_with_target", "data.target", "an .npz holds its targets as array y"),
    # a graph's input (or param) read from a data file
    ("graph_file_no_column", "graph.inputs.x.column", "points.csv has no column 'c'; its col"),
    ("graph_file_columns_twice", "graph.inputs.x.columns", "a column is named twice"),
    ("graph_file_column_and_columns", "graph.inputs.x.columns", "column (one) or columns"),
    ("graph_file_array_of_csv", "graph.inputs.x.array", "points.csv is a CSV: pick its columns"),
    ("graph_file_column_of_npz", "graph.inputs.x.column", "rows.npz is an .npz: name its array"),
    (
        "graph_file_no_array",
        "graph.inputs.x.file",
        "rows.npz: has no array 'z'; its arrays are x, y",
    ),
    ("graph_file_dotdot", "graph.inputs.x.file", "leaves the scenario's folder ('..')"),
    ("graph_file_unknown_key", "graph.inputs.x.colour", "unknown key 'colour'"),
    ("graph_file_missing_file_key", "graph.inputs.x", "(or a data file: { file = "),
    ("graph_file_object_array", "graph.inputs.x.file", "array x has dtype object"),
    ("graph_file_bad_csv", "graph.inputs.x.file", "line 3, column 2 (b): 'abc' is not a number"),
]


def test_every_bad_file_has_a_case() -> None:
    assert {p.stem for p in BAD.glob("*.toml")} == {c[0] for c in CASES}


@pytest.mark.parametrize(("stem", "place", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_v2_file_is_refused(stem: str, place: str, message: str) -> None:
    path = BAD / f"{stem}.toml"
    with pytest.raises(ScenarioError) as caught:
        open_program(str(path))
    err = caught.value
    assert err.file == str(path)
    assert err.place == place
    assert message in err.message, err.message
    assert str(err).startswith(f"{path}: {place}: ")


MODEL = """name = "data file"

[model]
inputs = 2

[[model.layers]]
units = {units}
activation = "{act}"

[data]
{data}

[loss]
kind = "{loss}"

[optimizer]
kind = "sgd"
lr = 0.1
"""


def scenario_in(folder: Path, data: str, *, units=1, act="identity", loss="mse") -> Path:
    path = folder / "s.toml"
    path.write_text(MODEL.format(units=units, act=act, loss=loss, data=data))
    return path


def test_a_csv_gives_its_columns_as_inputs_and_targets(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("t, a ,b\n1,0.5,2e-1\n0,-1.5,+3\n\n")
    s = load(scenario_in(tmp_path, 'file = "p.csv"\ntarget = "t"'))
    assert s.data is not None and s.data.file == "p.csv"
    np.testing.assert_array_equal(s.data.x, [[0.5, 0.2], [-1.5, 3.0]])
    np.testing.assert_array_equal(s.data.y, [[1.0], [0.0]])


def test_a_csv_with_several_targets_and_class_labels(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("a,b,u,v\n1,2,3,4\n5,6,7,8\n")
    s = load(scenario_in(tmp_path, 'file = "p.csv"\ntargets = ["v", "u"]', units=2))
    assert s.data is not None
    np.testing.assert_array_equal(s.data.y, [[4.0, 3.0], [8.0, 7.0]])
    (tmp_path / "c.csv").write_text("a,label,b\n1,1,2\n5,0,6\n")
    s = load(
        scenario_in(tmp_path, 'file = "c.csv"\ntarget = "label"', units=2, loss="cross_entropy")
    )
    assert s.data is not None
    np.testing.assert_array_equal(s.data.x, [[1.0, 2.0], [5.0, 6.0]])
    np.testing.assert_array_equal(s.data.y, [1.0, 0.0])


def test_an_npz_is_loaded_without_pickle(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.savez(buf, x=np.array([[1, 2], [3, 4]], dtype=np.int32), y=np.array([0.5, -0.5]))
    (tmp_path / "d.npz").write_bytes(buf.getvalue())
    s = load(scenario_in(tmp_path, 'file = "d.npz"'))
    assert s.data is not None
    assert s.data.x.dtype == np.float64
    np.testing.assert_array_equal(s.data.x, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(s.data.y, [[0.5], [-0.5]])


def test_a_data_file_in_a_subfolder_is_inside(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "p.csv").write_text("a,b,t\n1,2,3\n")
    s = load(scenario_in(tmp_path, 'file = "sub/p.csv"\ntarget = "t"'))
    assert s.data is not None and s.data.x.shape == (1, 2)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("a,b,t\n1,2,3\n")
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "p.csv").symlink_to(outside)
    with pytest.raises(ScenarioError) as caught:
        load(scenario_in(folder, 'file = "p.csv"\ntarget = "t"'))
    assert caught.value.place == "data.file"
    assert "resolves outside the scenario's folder" in caught.value.message
    # A symlink that stays inside is fine.
    (folder / "real.csv").write_text("a,b,t\n1,2,3\n")
    (folder / "q.csv").symlink_to(folder / "real.csv")
    assert load(scenario_in(folder, 'file = "q.csv"\ntarget = "t"')).data is not None


def test_text_without_a_folder_cannot_name_a_data_file() -> None:
    text = MODEL.format(units=1, act="identity", loss="mse", data='file = "p.csv"\ntarget = "t"')
    with pytest.raises(ScenarioError) as caught:
        loads(text, "given.toml")
    assert caught.value.place == "data.file"
    assert "not read from a file" in caught.value.message


def test_csv_limits_are_counted_before_converting(tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_text("a,b,t\n" + "1,2,3\n" * 100_001)
    with pytest.raises(ScenarioError) as caught:
        load(scenario_in(tmp_path, 'file = "big.csv"\ntarget = "t"'))
    assert "100,001 rows, above the limit of 100,000 samples" in caught.value.message


def test_hinge_on_generated_data_takes_labels_minus_one_and_one(tmp_path: Path) -> None:
    s = load(scenario_in(tmp_path, 'generator = "moons"\nsamples = 10', loss="hinge"))
    assert s.data is not None
    assert sorted(set(s.data.y.reshape(-1).tolist())) == [-1.0, 1.0]


def test_optimizer_defaults_are_torchs(tmp_path: Path) -> None:
    def spec(kind: str):
        text = MODEL.format(units=1, act="identity", loss="mse", data="x = [[0, 1]]\ny = [1]")
        return loads(text.replace('kind = "sgd"', f'kind = "{kind}"'), "s.toml").optimizer

    adamw, rmsprop, adagrad = spec("adamw"), spec("rmsprop"), spec("adagrad")
    assert adamw.weight_decay == 0.01 and adamw.eps == 1e-8 and adamw.betas == (0.9, 0.999)
    assert rmsprop.alpha == 0.99 and rmsprop.eps == 1e-8 and rmsprop.momentum == 0.0
    assert not rmsprop.centered and rmsprop.weight_decay == 0.0
    assert adagrad.eps == 1e-10 and adagrad.lr_decay == 0.0
    assert adagrad.initial_accumulator_value == 0.0
    momentum = spec("momentum")
    assert momentum.momentum == 0.9 and momentum.dampening == 0.0 and not momentum.nesterov


GRAPH = """name = "graph values from files"
[graph]
inputs = {{ {inputs} }}
params = {{ {params} }}
nodes = [{nodes}]
[optimizer]
kind = "sgd"
lr = 0.1
[train]
steps = 3
"""


def test_graph_inputs_and_params_come_from_csv_columns_and_npz_arrays(tmp_path: Path) -> None:
    """A CSV gives every column, one column (1-D) or several; an .npz gives the array named
    like the entry or the one ``array`` names; indices from a file index as literals do."""
    (tmp_path / "p.csv").write_text("a,b,label\n0.5,1.0,0\n-1.0,2.0,1\n0.25,-0.5,1\n")
    np.savez(tmp_path / "e.npz", C=np.arange(6.0).reshape(3, 2), rows=np.array([0, 2, 2]))
    text = GRAPH.format(
        inputs='x = { file = "p.csv", columns = ["b", "a"] }, t = { file = "p.csv",'
        ' column = "label" }, all = { file = "p.csv" }, ix = { file = "e.npz", array = "rows" }',
        params='w = [0.1, -0.2], C = { file = "e.npz" }',
        nodes='"e = sum(C[ix], axis=1)", "L = mean(square(x @ w + e - t)) + 0.0 * sum(all)"',
    )
    (tmp_path / "g.toml").write_text(text)
    s = load(tmp_path / "g.toml")
    assert s.graph is not None
    inputs, params = s.graph.inputs, s.graph.params
    np.testing.assert_array_equal(inputs["x"], [[1.0, 0.5], [2.0, -1.0], [-0.5, 0.25]])
    np.testing.assert_array_equal(inputs["t"], [0.0, 1.0, 1.0])
    assert inputs["all"].shape == (3, 3) and inputs["all"][1, 2] == 1.0
    np.testing.assert_array_equal(inputs["ix"], [0, 2, 2])
    np.testing.assert_array_equal(params["C"], np.arange(6.0).reshape(3, 2))
    assert all(not a.flags.writeable for a in (*inputs.values(), *params.values()))
    # The same scenario with the values written inline gives the same numbers.
    inline = GRAPH.format(
        inputs="x = [[1.0, 0.5], [2.0, -1.0], [-0.5, 0.25]], t = [0.0, 1.0, 1.0],"
        " all = [[0.5, 1.0, 0.0], [-1.0, 2.0, 1.0], [0.25, -0.5, 1.0]], ix = [0, 2, 2]",
        params="w = [0.1, -0.2], C = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]",
        nodes='"e = sum(C[ix], axis=1)", "L = mean(square(x @ w + e - t)) + 0.0 * sum(all)"',
    )
    a, b = Timeline(make_program(s)), Timeline(make_program(loads(inline, "inline")))
    a.compute(3)
    b.compute(3)
    np.testing.assert_array_equal(a.losses(), b.losses())
    assert np.array_equal(a.start_of(3)[0]["C"], b.start_of(3)[0]["C"])


def test_an_index_from_a_file_is_checked_like_an_inline_one(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", ix=np.array([0, 5]))
    text = GRAPH.format(
        inputs='ix = { file = "e.npz" }', params="C = [[1.0], [2.0]]", nodes='"L = sum(C[ix])"'
    )
    (tmp_path / "g.toml").write_text(text)
    with pytest.raises(ScenarioError) as caught:
        open_program(str(tmp_path / "g.toml"))
    assert caught.value.place == "graph.nodes[0]"
    assert "ix[1] = 5 is out of range" in caught.value.message
