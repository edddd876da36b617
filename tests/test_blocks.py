"""Stages run in blocks of draws give the same bits as run on all draws at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from neocloud.blocks import draws_of, in_draw_blocks
from neocloud.buildout import buildout
from neocloud.design import design
from neocloud.pipeline import base_dataset
from neocloud.realise import realise


@pytest.mark.parametrize("block", [7, 64])
def test_buildout_in_blocks_is_bit_identical(abilene: Any, catalog: Any, block: int) -> None:
    draws = 150
    realised = realise(abilene, draws, seed=3)
    upstream = base_dataset(abilene, draws)
    upstream = upstream.merge(design(realised, catalog, upstream), compat="override")
    whole = buildout(realised, catalog, upstream)
    blocked = in_draw_blocks(buildout, block)(realised, catalog, upstream)
    assert list(blocked.data_vars) == list(whole.data_vars)
    for key, variable in whole.data_vars.items():
        assert blocked[key].dims == variable.dims, key
        assert blocked[key].attrs == variable.attrs, key
        np.testing.assert_array_equal(blocked[key].values, variable.values, err_msg=key)
    np.testing.assert_array_equal(blocked["draw"].values, np.arange(draws))


def test_draws_of_cuts_every_per_draw_array(abilene: Any) -> None:
    realised = realise(abilene, 10, seed=0)
    cut = draws_of(realised, slice(2, 5), 10)
    assert cut.finance.utilisation.shape == (3,)
    np.testing.assert_array_equal(cut.finance.utilisation, realised.finance.utilisation[2:5])
    assert cut.campus.phases[1].schedule.construction_months.shape == (3,)
    assert cut.name == realised.name
