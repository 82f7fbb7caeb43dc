import numpy as np
import pytest

import bayesmoe as bm
from bayesmoe.errors import LawError, PriorError
from bayesmoe.laws import Law
from bayesmoe.laws.priors import Prior

EXPECTED = {
    "chinchilla",
    "krajewski2024",
    "clark2022",
    "ludziejewski2025",
    "abnar2025",
    "zhao2025",
    "wan2026_active_density",
    "wan2026_expansion",
}


def test_catalogue_has_the_required_laws():
    assert EXPECTED <= set(bm.list_laws())
    for name in bm.list_laws():
        law = bm.get_law(name)
        assert law.latex().startswith("L = ")
        assert "<table>" in law._repr_html_()


def test_zhao_published_values_reproduce_laws_md():
    law = bm.get_law("zhao2025")
    p = law.published()
    x = dict(
        N=np.array([1e9, 1.33e8]),
        D=np.array([2e10, 1e10]),
        N_a=np.array([2e8, 3e7]),
        G=np.array([8, 1.0]),
        S=np.array([0.25, 0]),
    )
    np.testing.assert_allclose(law.loss_fn(p, x), [2.84, 3.48], atol=0.005)
    assert law.derived("G_star", p) == pytest.approx(6.78, abs=0.005)
    assert law.derived("S_star", p) == pytest.approx(0.315, abs=0.001)
    assert law.derived("P_star", p) == pytest.approx(1.628, abs=0.001)
    ratio = law.derived("activation_ratio", p, {"N": np.array([30e9, 671e9])})
    np.testing.assert_allclose(ratio, [0.401, 0.220], atol=0.001)


def test_unknown_law_names_the_catalogue():
    with pytest.raises(LawError, match=r"unknown law 'nope'; known laws: .*chinchilla"):
        bm.get_law("nope")
    with pytest.raises(LawError, match=r"unknown law 'chinchila' - did you mean 'chinchilla'\?"):
        bm.get_law("chinchila")


BASE = {
    "name": "mine",
    "citation": "me",
    "inputs": ["N", "D"],
    "loss": "E + A * N**(-alpha) + D**(-1)",
    "params": {
        "E": {"prior": "Uniform(0.1, 4)"},
        "A": {"prior": "LogNormal(3, 2)"},
        "alpha": {"prior": "Uniform(0, 1)"},
    },
}


def test_user_law_from_dict_registers_without_other_edits(tmp_path, monkeypatch):
    law = bm.register_law(Law.from_dict(BASE))
    assert bm.get_law("mine") is law
    text = (bm.laws.models_dir() / "chinchilla.toml").read_text().replace('name = "chinchilla"', 'name = "mylaw"')
    (tmp_path / "mylaw.toml").write_text(text)
    monkeypatch.setenv("BAYESMOE_MODELS", str(tmp_path))
    assert "mylaw" in bm.list_laws()
    assert bm.get_law("mylaw").params == bm.get_law("chinchilla").params


@pytest.mark.parametrize(
    "change, message",
    [
        ({"loss": "E + A * N**(-alpha) + zeta"}, "unknown name"),
        ({"loss": "E + N**(-alpha) + D"}, "not used"),
        ({"inputs": ["N", "D", "Q"]}, "not a standard column"),
        ({"params": {**BASE["params"], "sigma": {"prior": "HalfNormal(1)"}}}, "reserved"),
        ({"loss": "__import__('os').system('x')"}, "not allowed"),
        ({"pooled": ["nope"]}, "pooled"),
        ({"citation": None}, "invalid law spec"),
        (
            {"prior_sets": {"mine": {"description": "d", "source": "s", "priors": {"zeta": "HalfNormal(1)"}}}},
            "not parameters",
        ),
        (
            {"prior_sets": {"mine": {"description": "d", "source": "s", "priors": {"alpha": "Wobbly(1)"}}}},
            "prior set 'mine'",
        ),
        ({"prior_sets": {"mine": {"description": "d", "priors": {"alpha": "HalfNormal(1)"}}}}, "invalid law spec"),
        ({"surprise": 1}, "invalid law spec"),
        ({"active": "N * alpha"}, "only inputs and constants"),
        ({"active": "N / zeta"}, "only inputs and constants"),
        ({"inputs": ["N_a", "D"], "loss": "E + A * N_a**(-alpha) + D**(-1)", "active": "N_a"}, "without an N_a input"),
    ],
)
def test_malformed_law_specs_are_refused(change, message):
    with pytest.raises(LawError, match=message):
        Law.from_dict({**BASE, **change})


def test_malformed_law_file_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("name = 'bad'\nloss = [")
    with pytest.raises(LawError, match="not valid TOML"):
        bm.get_law(str(path))


@pytest.mark.parametrize(
    "text",
    [
        "Normal(0)",
        "Normal(0, -1)",
        "Uniform(2, 1)",
        "Wobbly(1)",
        "Normal(a, 1)",
        "LogUniform(0, 1)",
        "os.system('x')",
        "Normal(0, 1e999)",
    ],
)
def test_bad_priors_are_refused(text):
    with pytest.raises(PriorError):
        Prior.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "Normal(0, 1)",
        "HalfNormal(2)",
        "LogNormal(1, 0.5)",
        "LogUniform(1, 100)",
        "Uniform(-1, 3)",
        "TruncatedNormal(0, 1, -0.5, 2)",
        "Gamma(2, 1)",
        "Exponential(2)",
        "StudentT(3, 0, 1)",
    ],
)
def test_prior_samples_lie_in_support(text):
    prior = Prior.parse(text)
    x = prior.sample(np.random.default_rng(0), 500)
    lo, hi = prior.bounds
    assert np.all((x >= lo) & (x <= hi))
    np.testing.assert_allclose(
        prior.from_free(prior.to_free(x[(x > lo) & (x < hi)])), x[(x > lo) & (x < hi)], rtol=1e-9
    )


def test_prior_sets_are_data_and_replace_only_their_own_priors():
    spec = {
        **BASE,
        "prior_sets": {"narrow": {"description": "d", "source": "s", "priors": {"alpha": "Uniform(0.2, 0.4)"}}},
    }
    law = Law.from_dict(spec)
    assert law.prior_sets == ["narrow"] and law.prior_set("narrow") == {"alpha": Prior.parse("Uniform(0.2, 0.4)")}
    from bayesmoe.inference.reparam import resolve_priors

    resolved = resolve_priors(law, "narrow")
    assert resolved["alpha"].bounds == (0.2, 0.4)
    assert all(resolved[k] == law.priors[k] for k in law.params if k != "alpha")
    assert "Prior set <code>narrow</code>" in law._repr_html_()
    with pytest.raises(LawError, match="no prior set 'wide' \\(it has: 'narrow'\\)"):
        resolve_priors(law, "wide")
    with pytest.raises(LawError, match="it has: none"):
        Law.from_dict(BASE).prior_set("pooled")
