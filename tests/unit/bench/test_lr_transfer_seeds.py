"""bench.lr_transfer --held-out-seeds: which seeds the held-out widths add to a seed set."""

from __future__ import annotations

from bench.lr_transfer import extra_seeds


def test_extra_seeds_follow_the_set_plus_thousands_up_to_the_total():
    assert extra_seeds((7, 8), 4) == (1007, 1008)
    assert extra_seeds((7, 8), 5) == (1007, 1008, 2007)
    assert extra_seeds((7, 8), None) == () and extra_seeds((7, 8), 2) == () and extra_seeds((7, 8), 1) == ()
    assert set(extra_seeds((7, 8), 6)).isdisjoint({7, 8}) and len(set(extra_seeds((7, 8), 6))) == 4
