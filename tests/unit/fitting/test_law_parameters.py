"""Every law's raw <-> natural parameter conversion, derived in the Law base from log_params: the
round trip is the identity, and on random parameters it gives exactly the numbers of each law's
written-out mapping (A = e^a, N_c = e^{n_c}, ...; Hoffmann et al. 2022 and Kaplan et al. 2020
parameterisations), computed here by formula."""

from __future__ import annotations

import numpy as np
import pytest

from fitting.laws import LOSS_LAWS
from fitting.laws.hparams import BOWL_1D, BOWL_2D, OPTIMUM_FORMS
from fitting.laws.kaplan_steps import KAPLAN_STEPS

LAWS = [*LOSS_LAWS.values(), KAPLAN_STEPS, BOWL_1D, BOWL_2D]


def written_out(name: str, theta: np.ndarray) -> np.ndarray:
    """The natural parameters of raw theta (..., P) by each law's formula."""
    t = np.moveaxis(theta, -1, 0)
    if name == "chinchilla":  # raw (a, b, e, alpha, beta) -> (E, A, B, alpha, beta)
        return np.stack([np.exp(t[2]), np.exp(t[0]), np.exp(t[1]), t[3], t[4]], axis=-1)
    if name == "chinchilla_equal":  # raw (a, b, e, alpha) -> (E, A, B, alpha)
        return np.stack([np.exp(t[2]), np.exp(t[0]), np.exp(t[1]), t[3]], axis=-1)
    if name in ("kaplan", "kaplan_steps"):  # raw (n_c, d_c | s_c, alpha, alpha) -> (N_c, D_c | S_c, ...)
        return np.stack([np.exp(t[0]), np.exp(t[1]), t[2], t[3]], axis=-1)
    if name == "power":  # raw (a, e, alpha) -> (E, A, alpha)
        return np.stack([np.exp(t[1]), np.exp(t[0]), t[2]], axis=-1)
    assert name.startswith("bowl"), name  # quadratic coefficients are their own natural parameters
    return theta.copy()


def random_raw(law, shape: tuple[int, ...], seed: int) -> np.ndarray:
    lower, upper = np.maximum(law.lower, -30.0), np.minimum(law.upper, 30.0)
    return np.random.default_rng(seed).uniform(lower, upper, size=(*shape, law.n_params))


@pytest.mark.parametrize("law", LAWS, ids=lambda law: law.name)
@pytest.mark.parametrize("shape", [(), (200,), (3, 7)])
def test_derived_conversion_equals_the_written_out_mapping(law, shape):
    theta = random_raw(law, shape, seed=len(shape))
    natural = law.to_natural(theta)
    np.testing.assert_array_equal(natural, written_out(law.name, theta))
    np.testing.assert_allclose(law.from_natural(natural), theta, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("law", LAWS, ids=lambda law: law.name)
def test_natural_to_raw_and_back_is_the_identity(law):
    natural = law.to_natural(random_raw(law, (100,), seed=5))
    np.testing.assert_allclose(law.to_natural(law.from_natural(natural)), natural, rtol=1e-12)


@pytest.mark.parametrize("key", sorted(OPTIMUM_FORMS))
def test_optimum_forms_read_only_the_intercept_on_the_log_scale(key):
    form = OPTIMUM_FORMS[key]
    beta = np.random.default_rng(0).normal(size=(50, len(form.param_names)))
    natural = form.to_natural(beta)
    np.testing.assert_array_equal(natural[:, 0], np.exp(beta[:, 0]))
    np.testing.assert_array_equal(natural[:, 1:], beta[:, 1:])
    np.testing.assert_allclose(form.from_natural(natural), beta, rtol=1e-12, atol=1e-12)
