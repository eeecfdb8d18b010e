"""The trace's number writer: msgspec's speed, ``repr``'s text, for every float64."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.report import json_numbers
from engine.report.json_numbers import array_json, number


def reference(a: np.ndarray) -> bytes:
    """What the trace promises: nested lists of ``repr`` floats, non-finite as strings."""

    def plain(v: object) -> object:
        if isinstance(v, list):
            return [plain(e) for e in v]
        assert isinstance(v, float)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v

    return json.dumps(plain(a.tolist()), separators=(",", ":")).encode()


def test_the_fast_way_is_in_use():
    """With the msgspec installed, arrays are not written one ``repr`` at a time."""
    assert json_numbers._fast_is_exact()


# Every range where msgspec and repr write differently, and their edges.
EDGES = [
    0.0, -0.0, 1.0, -1.0, 0.1, 123.456, 1e15, 9999999999999998.0, 2.0**53,
    0.001, 0.0001, 0.00011, 9.999999999999999e-05, 1e-05, 1.0000000000000001e-05,
    9.999999999999999e-06, -1.5e-05, 1.2345678901234567e-05, 1e-06, -2.5e-07, 1e-09,
    9.99e-10, 1e-10, 1e-99, 1e-100, 5e-324, -2.2250738585072014e-308, 1e16, -2.5e17,
    1e99, 1e100, 1.7976931348623157e308, 1.0000000000000002e-05, 1.00001e-05,
]  # fmt: skip


@pytest.mark.parametrize("shape", [(-1,), (-1, 1), (1, -1), (2, -1), (-1, 1, 1), (2, 1, -1)])
def test_edges_in_every_shape(shape):
    values = np.array(EDGES)  # an even count, for the shapes with 2
    a = values.reshape(shape)
    assert array_json(a) == reference(a)
    assert array_json(-a) == reference(-a)
    assert array_json(a[..., ::-1]) == reference(a[..., ::-1])  # not contiguous


def test_one_number_or_none():
    assert array_json(np.array(1e-05)) == b"1e-05"
    assert array_json(np.float64(2.5e16)) == b"2.5e+16"
    assert array_json(np.array([[1e-05]])) == b"[[1e-05]]"
    assert array_json(np.zeros((0,))) == b"[]"
    assert array_json(np.zeros((2, 0))) == b"[[],[]]"
    assert array_json(np.array([1, 2])) == b"[1.0,2.0]"  # written as float64


def test_non_finite_numbers_are_strings():
    a = np.array([[math.nan, 1e-05], [-math.inf, math.inf]])
    assert array_json(a) == b'[["nan",1e-05],["-inf","inf"]]'
    assert number(math.nan) == '"nan"'
    assert number(-math.inf) == '"-inf"'
    assert number(-0.0) == "-0.0"


floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
small = st.floats(min_value=-1e-3, max_value=1e-3, width=64)  # where the ranges meet


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5), elements=floats)
)
def test_any_array_reads_as_repr_writes_it(a):
    assert array_json(a) == reference(a)


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=40), elements=small)
)
def test_arrays_of_small_numbers(a):
    assert array_json(a) == reference(a)


def test_every_bit_pattern_in_bulk():
    """A million doubles from random bits, and a million of gradient-like sizes."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**64, size=2**20, dtype=np.uint64, endpoint=False)
    a = bits.view(np.float64).reshape(1024, 1024)
    assert array_json(a) == reference(a)
    b = rng.normal(size=(1024, 1024)) * 10.0 ** rng.uniform(-12, 2, size=(1024, 1024))
    assert array_json(b) == reference(b)


def test_a_msgspec_that_writes_otherwise_falls_back_to_repr(monkeypatch):
    """Should msgspec change how it writes, the first array finds out, and repr is used."""

    def odd(value: object) -> bytes:
        return json.dumps(value).replace(".", ",").encode()

    monkeypatch.setattr(json_numbers, "_encode", odd)
    monkeypatch.setattr(json_numbers, "_checked", None)
    a = np.array([0.5, 1e-05, 3e-07])
    assert array_json(a) == b"[0.5,1e-05,3e-07]"
    assert json_numbers._checked is False
