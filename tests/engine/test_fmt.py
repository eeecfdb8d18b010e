"""Number, tensor and shape formatting shared by every output."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import fmt


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.25, "0.25"),
        (1.0, "1.0"),
        (1, "1.0"),
        (-0.1, "-0.1"),
        (0.4, "0.4"),
        (0.5 - 0.1 * 1.0, "0.4"),
        (0.1 + 0.2, "0.3"),
        (1.23e-05, "1.23e-05"),
        (12345.7, "12345.7"),
        (123456.0, "123456.0"),
        (1234567.0, "1.23457e+06"),
        (1e-300, "1e-300"),
        (0.0, "0.0"),
        (-0.0, "0.0"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (np.float64(0.761594155955765), "0.761594"),
        (np.array([[2.5]]), "2.5"),
    ],
)
def test_num(x, text):
    assert fmt.num(x) == text


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_num_is_a_whole_float_close_to_the_value(x):
    text = fmt.num(x)
    assert "." in text or "e" in text  # never reads as an integer
    back = float(text)  # never cut mid-number
    assert math.isclose(back, x, rel_tol=1e-5, abs_tol=0.0) or x == 0


def test_num_digits():
    assert fmt.num(3.14159265, 3) == "3.14"


@pytest.mark.parametrize(
    ("s", "text"), [((), "scalar"), ((4,), "4"), ((2, 4), "2×4"), ((256, 16, 3), "256×16×3")]
)
def test_shape(s, text):
    assert fmt.shape(s) == text


def test_tensor_scalars_and_size_one_arrays_are_one_number():
    assert fmt.tensor(0.5) == "0.5"
    assert fmt.tensor(np.array(0.25)) == "0.25"
    assert fmt.tensor(np.array([[1.0]])) == "1.0"
    assert fmt.tensor(np.array([-0.1])) == "-0.1"


def test_tensor_small_arrays_in_full():
    assert fmt.tensor(np.array([[0.1, -0.2], [0.3, 0.4]])) == "[[0.1, -0.2], [0.3, 0.4]]"
    assert fmt.tensor(np.array([1.0, 2.0, 3.0])) == "[1.0, 2.0, 3.0]"
    assert fmt.tensor(np.arange(12.0).reshape(3, 4)).count(",") == 11


def test_tensor_large_arrays_summarised():
    a = np.linspace(-0.98, 0.99, 256 * 16).reshape(256, 16)
    text = fmt.tensor(a)
    norm = np.linalg.norm(a)
    assert text == f"(256×16) ‖·‖={fmt.num(norm, 3)} range [-0.98, 0.99]"
    assert fmt.tensor(np.zeros(13)).startswith("(13) ‖·‖=0.0")
    assert fmt.tensor(np.zeros(13), max_elems=20).startswith("[0.0, ")


def test_tensor_summary_counts_non_finite():
    a = np.ones(20)
    a[3] = np.nan
    a[5] = np.inf
    text = fmt.tensor(a)
    assert "range [1.0, 1.0]" in text
    assert "(1 nan, 1 inf)" in text
    assert fmt.tensor(np.full(20, np.nan)).endswith("(20 nan)")


def test_tensor_small_non_finite_in_full():
    assert fmt.tensor(np.array([np.nan, np.inf, -np.inf])) == "[nan, inf, -inf]"


def test_printable_escapes_every_control_character():
    assert fmt.printable("a\x1b[31mb\x07c\x9b") == "a\\x1b[31mb\\x07c\\x9b"
    assert fmt.printable("one\ntwo\r\nthree") == "one\\ntwo\\nthree"
    assert fmt.printable("one\r\ntwo\x00", newlines=True) == "one\ntwo\\x00"
    assert fmt.printable("tab\there \u2028") == "tab here \\u2028"
    assert fmt.printable("∂L/∂W1 = 1.0 · 1.0") == "∂L/∂W1 = 1.0 · 1.0"
    for code in [*range(0x20), *range(0x7F, 0xA0)]:
        assert not any(ord(c) == code for c in fmt.printable(chr(code), newlines=True) if c != "\n")
