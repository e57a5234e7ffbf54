"""bench.lr_transfer: which seeds the held-out widths add to a seed set (--held-out-seeds), and the designs."""

from __future__ import annotations

import dataclasses

from bench.lr_transfer import DESIGNS, extra_seeds


def test_extra_seeds_follow_the_set_plus_thousands_up_to_the_total():
    assert extra_seeds((7, 8), 4) == (1007, 1008)
    assert extra_seeds((7, 8), 5) == (1007, 1008, 2007)
    assert extra_seeds((7, 8), None) == () and extra_seeds((7, 8), 2) == () and extra_seeds((7, 8), 1) == ()
    assert set(extra_seeds((7, 8), 6)).isdisjoint({7, 8}) and len(set(extra_seeds((7, 8), 6))) == 4


def test_the_long_design_doubles_every_scales_tokens_and_nothing_else() -> None:
    wide, long = DESIGNS["wide"], DESIGNS["long"]
    assert [s.tokens * 2 for s in wide.small] == [s.tokens for s in long.small]
    assert [s.tokens * 2 for s in wide.held_out] == [s.tokens for s in long.held_out]
    assert [s.d_model for s in wide.small + wide.held_out] == [s.d_model for s in long.small + long.held_out]
    assert dataclasses.replace(long, small=wide.small, held_out=wide.held_out) == wide
    # Warmup is a share of each run's tokens, so it doubles with them.
    scale = long.held_out[0]
    assert long.spec(scale, 0.01, 7).warmup_tokens == round(0.3 * 2 * wide.held_out[0].tokens)
