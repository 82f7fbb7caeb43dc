import warnings

import pytest

import bayesmoe as bm
from bayesmoe.laws.simulation import generic_design, reference_params

warnings.filterwarnings("ignore", message=r"(?s).*ArviZ is undergoing")


@pytest.fixture(scope="session")
def chinchilla_runs():
    """60 synthetic runs from a known Chinchilla law, 1 % noise."""
    truth = {"E": 1.9, "A": 300.0, "alpha": 0.32, "B": 900.0, "beta": 0.3}
    design = generic_design("chinchilla", 60, seed=3)
    return bm.simulate("chinchilla", design, truth, seed=4), truth


@pytest.fixture(scope="session")
def chinchilla_fit(chinchilla_runs):
    runs, _ = chinchilla_runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bm.fit("chinchilla", runs, draws=200, tune=300, chains=2, progressbar=False, seed=1)


@pytest.fixture(scope="session")
def tiny_runs():
    def make(law, n=30, seed=1):
        return bm.simulate(law, generic_design(law, n, seed=seed), reference_params(law), seed=seed)

    return make
