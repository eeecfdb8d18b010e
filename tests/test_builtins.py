"""Every built-in scenario passes ``bpdbg check``, and the classic ones give the numbers
their authors published."""

from __future__ import annotations

import io

import numpy as np
import pytest

import scenarios
from engine.open import open_program
from engine.timeline.timeline import Timeline
from tui import cli


@pytest.mark.parametrize("ident", scenarios.builtin_ids())
def test_every_builtin_passes_check(ident: str) -> None:
    out = io.StringIO()
    assert cli.run_check(open_program(ident), out) == 0, out.getvalue()
    assert "OK: all" in out.getvalue()


def test_mazur_after_one_step_has_his_numbers() -> None:
    """Matt Mazur, "A Step by Step Backpropagation Example": E_total = 0.298371109 before
    the update; after it w1..w4 = 0.149780716, 0.19956143, 0.24975114, 0.29950229 and
    w5..w8 = 0.35891648, 0.408666186, 0.511301270, 0.561370121 (biases held constant)."""
    program = open_program("mazur")
    assert program.graph.params == ("W1", "W2")  # the biases are inputs: never updated
    record = Timeline(program).record(0)
    assert round(record.result.loss, 9) == 0.298371109
    after = record.result.params_after
    w1, w3, w2, w4 = np.asarray(after["W1"]).reshape(-1)
    w5, w7, w6, w8 = np.asarray(after["W2"]).reshape(-1)
    assert round(w1, 9) == 0.149780716
    assert round(w2, 8) == 0.19956143
    assert round(w3, 8) == 0.24975114
    assert round(w4, 8) == 0.29950229
    assert round(w5, 8) == 0.35891648
    assert round(w6, 9) == 0.408666186
    assert round(w7, 9) == 0.511301270
    assert round(w8, 9) == 0.561370121
    grad = np.asarray(record.result.grads["W2"])
    assert round(float(grad[0, 0]), 9) == 0.082167041  # his ∂E_total/∂w5


def test_a_builtin_reads_the_data_file_beside_it() -> None:
    program = open_program("csv-points")
    data = program.scenario.data
    assert data is not None and data.file == "csv-points.csv"
    assert data.x.shape == (24, 2)
    assert set(np.asarray(data.y).reshape(-1).tolist()) == {0.0, 1.0}


def test_the_hand_written_cross_entropy_equals_the_built_in_one() -> None:
    record = Timeline(open_program("ninja-cross-entropy")).record(0)
    values = record.result.values
    np.testing.assert_allclose(values["loss"], values["builtin"], rtol=1e-14)
