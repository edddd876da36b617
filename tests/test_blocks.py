"""Stages run in blocks of draws give the same bits as run on all draws at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xarray as xr

from neocloud import buildout as buildout_module
from neocloud.blocks import distinct_rows, draws_of, in_blocks, in_draw_blocks, per_distinct_draw, stand_in
from neocloud.buildout import buildout
from neocloud.design import design
from neocloud.pipeline import base_dataset
from neocloud.realise import realise


def designed(scenario: Any, catalog: Any, draws: int, seed: int) -> tuple[Any, xr.Dataset]:
    """The realised scenario and the upstream build-out reads: the design of ``draws`` draws."""
    realised = realise(scenario, draws, seed=seed)
    upstream = base_dataset(scenario, draws)
    return realised, upstream.merge(design(realised, catalog, upstream), compat="override")


def assert_same(got: xr.Dataset, expected: xr.Dataset) -> None:
    assert list(got.data_vars) == list(expected.data_vars)
    for key, variable in expected.data_vars.items():
        assert got[key].dims == variable.dims, key
        assert got[key].attrs == variable.attrs, key
        assert got[key].dtype == variable.dtype, key
        np.testing.assert_array_equal(got[key].values, variable.values, err_msg=key)


@pytest.mark.parametrize("block", [7, 64])
def test_buildout_in_blocks_is_bit_identical(abilene: Any, catalog: Any, block: int) -> None:
    draws = 150
    realised, upstream = designed(abilene, catalog, draws, seed=3)
    blocked = in_draw_blocks(buildout, block)(realised, catalog, upstream)
    assert_same(blocked, buildout(realised, catalog, upstream))
    np.testing.assert_array_equal(blocked["draw"].values, np.arange(draws))


def test_buildout_per_distinct_draw_is_buildout_on_every_draw(abilene: Any, catalog: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    realised, upstream = designed(abilene, catalog, 300, seed=4)
    shared = buildout(realised, catalog, upstream)
    monkeypatch.setattr(buildout_module, "per_distinct_draw",  # every draw computed
                        lambda function, arrays, **_: in_blocks(function, arrays))
    assert_same(shared, buildout(realised, catalog, upstream))


def test_draws_of_cuts_every_per_draw_array(abilene: Any) -> None:
    realised = realise(abilene, 10, seed=0)
    cut = draws_of(realised, slice(2, 5), 10)
    assert cut.finance.utilisation.shape == (3,)
    np.testing.assert_array_equal(cut.finance.utilisation, realised.finance.utilisation[2:5])
    assert cut.campus.phases[1].schedule.construction_months.shape == (3,)
    assert cut.name == realised.name


def test_per_distinct_draw_is_the_function_on_every_draw() -> None:
    rng = np.random.default_rng(0)
    varying = rng.integers(0, 3, (200, 2)).astype(float)
    varying[5, 0], varying[6, 0], varying[7, 1] = -0.0, 0.0, np.nan  # -0.0 and 0.0 differ in bits: kept apart
    arrays = {"a": varying, "b": np.full((200, 4), 2.5), "c": rng.integers(0, 2, 200) > 0}

    def per_draw(part: Any) -> dict[str, np.ndarray]:
        with np.errstate(divide="ignore"):
            return {"x": 1.0 / part["a"] + part["b"].sum(1)[:, None],
                    "y": np.where(part["c"], part["a"][:, 0], -1.0)}

    first, inverse = distinct_rows(list(arrays.values()))
    assert len(first) < 200
    np.testing.assert_array_equal(varying[first][inverse].view(np.uint64), varying.view(np.uint64))
    direct, shared = per_draw(arrays), per_distinct_draw(per_draw, arrays, block_draws=16)
    for key, values in direct.items():
        assert shared[key].shape == values.shape
        np.testing.assert_array_equal(shared[key].view(np.uint64), values.view(np.uint64), err_msg=key)


def test_distinct_rows_of_identical_draws_is_one() -> None:
    first, inverse = distinct_rows([np.ones((50, 3)), np.zeros(50)])
    np.testing.assert_array_equal(first, [0])
    np.testing.assert_array_equal(inverse, np.zeros(50))


def test_stand_ins_have_shape_and_dtype_and_no_values() -> None:
    floats, codes = stand_in((3, 4)), stand_in((3, 4, 2), np.int8)
    assert floats.shape == (3, 4) and floats.dtype == np.float64 and np.isnan(floats).all()
    assert codes.shape == (3, 4, 2) and codes.dtype == np.int8 and not codes.any()
    assert floats.strides == (0, 0) and not floats.flags.writeable


def test_per_distinct_draw_makes_stand_ins_of_what_is_unread() -> None:
    """Arrays named unread are stand-ins of their shape and dtype; the others are the function's, bit for bit."""
    rng = np.random.default_rng(3)
    arrays = {"a": rng.integers(0, 3, 50).astype(float), "b": np.ones((50, 2))}

    def function(part: Any) -> dict[str, np.ndarray]:
        codes = np.broadcast_to((part["a"] > 1).astype(np.int8)[:, None], part["b"].shape).copy()
        return {"kept": part["a"][:, None] * part["b"], "codes": codes}

    whole = function(arrays)
    shared = per_distinct_draw(function, arrays, unread=("codes",))
    assert shared["kept"].tobytes() == whole["kept"].tobytes()
    assert shared["codes"].shape == whole["codes"].shape and shared["codes"].dtype == np.int8
    assert shared["codes"].strides == (0, 0)
