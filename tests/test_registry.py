"""The registry: built-ins, entry-point plug-ins (good and broken), register(), helpful errors."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
import torch

import vaebench as vb

import vaebench.registry as registry
from vaebench import EstimatorSpec, EstimatorTags, PluginWarning, UnknownEstimatorError
from vaebench.estimators import importance

GOOD = EstimatorSpec("plugged_is", importance.estimate, importance.SPEC.tags, "a plug-in")
NOT_A_SPEC = object()
DUPLICATE = EstimatorSpec("importance", importance.estimate, importance.SPEC.tags, "steals a built-in name")


@pytest.fixture
def fake_plugins(monkeypatch):
    """Pretend these entry points are installed; restore the real cache afterwards."""

    def install(*eps: EntryPoint) -> None:
        monkeypatch.setattr(registry, "entry_points", lambda group: [e for e in eps if e.group == group])
        registry.refresh()

    yield install
    registry.refresh()


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)


def test_builtins_are_listed_in_order():
    assert list(registry.list_estimators())[:3] == ["prior", "importance", "elbo"]


def test_good_plugin_is_discovered(fake_plugins):
    fake_plugins(ep("plugged_is", f"{__name__}:GOOD"))
    assert registry.get_estimator("plugged_is") is GOOD
    assert "plugged_is" in registry.list_estimators()


@pytest.mark.parametrize(
    "value, match",
    [
        ("no_such_module_xyz:SPEC", "failed to load .*ModuleNotFoundError"),
        (f"{__name__}:MISSING_ATTRIBUTE", "failed to load .*AttributeError"),
        (f"{__name__}:NOT_A_SPEC", "names a object, not a vaebench.EstimatorSpec"),
        (f"{__name__}:DUPLICATE", "the name 'importance' is already taken"),
        ("tests.plugin_fixtures.exits_at_import:SPEC", "failed to load .*SystemExit"),
    ],
)
def test_broken_plugin_warns_and_is_skipped(fake_plugins, value, match):
    fake_plugins(ep("broken", value), ep("plugged_is", f"{__name__}:GOOD"))
    with pytest.warns(PluginWarning, match=match):
        specs = registry.list_estimators()
    assert "plugged_is" in specs and "broken" not in specs
    assert specs["importance"] is importance.SPEC
    with pytest.raises(UnknownEstimatorError, match="unknown estimator 'broken'"):
        registry.get_estimator("broken")


def test_plugins_are_loaded_once(fake_plugins, monkeypatch):
    calls = []
    fake_plugins(ep("plugged_is", f"{__name__}:GOOD"))
    inner = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda group: calls.append(group) or inner(group))
    registry.refresh()
    registry.list_estimators()
    registry.get_estimator("plugged_is")
    assert len(calls) == 1


def test_register_and_unregister():
    spec = EstimatorSpec("notebook_is", importance.estimate, EstimatorTags(unbiased_in_p=True))
    try:
        assert registry.register(spec) is spec
        assert registry.get_estimator("notebook_is") is spec
        with pytest.raises(ValueError, match="already available; pass overwrite=True"):
            registry.register(spec)
        registry.register(spec, overwrite=True)
    finally:
        registry.unregister("notebook_is")
    with pytest.raises(UnknownEstimatorError):
        registry.get_estimator("notebook_is")


def test_register_refuses_builtins_and_non_specs():
    with pytest.raises(ValueError, match="'elbo' is a built-in estimator"):
        registry.register(EstimatorSpec("elbo", importance.estimate))
    with pytest.raises(TypeError, match="takes a vaebench.EstimatorSpec"):
        registry.register(importance.estimate)
    with pytest.raises(UnknownEstimatorError, match="was not added with register"):
        registry.unregister("importance")


def test_unknown_name_error_lists_and_suggests():
    with pytest.raises(UnknownEstimatorError) as info:
        registry.get_estimator("ELBO")
    message = str(info.value)
    assert "Did you mean 'elbo'?" in message
    assert f"Available: {', '.join(sorted(registry.list_estimators()))}" in message
    with pytest.raises(UnknownEstimatorError, match="Available:"):
        registry.get_estimator("zzzzzz")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(name="My IS", estimate=importance.estimate), ValueError, "lower-case identifier"),
        (dict(name="ok", estimate=42), TypeError, "estimate must be callable"),
        (dict(name="ok", estimate=importance.estimate, tags={"lower_bound": True}), TypeError, "tags must be"),
        (dict(name="ok", estimate=importance.estimate, caution=None), TypeError, "caution must be a str"),
    ],
)
def test_spec_validates_its_fields(kwargs, error, match):
    with pytest.raises(error, match=match):
        EstimatorSpec(**kwargs)


def test_tags_must_be_booleans():
    with pytest.raises(TypeError, match="EstimatorTags.lower_bound must be a bool"):
        EstimatorTags(lower_bound="yes")


@pytest.mark.parametrize("claims", [dict(unbiased_in_log_p=True, lower_bound=True),
                                    dict(unbiased_in_log_p=True, upper_bound=True),
                                    dict(lower_bound=True, upper_bound=True),
                                    dict(lower_bound=True, upper_bound_in_limit=True)])
def test_contradictory_claims_are_refused(claims):
    with pytest.raises(ValueError, match="EstimatorTags"):
        EstimatorTags(**claims)


def test_model_plugins_load_and_broken_ones_are_skipped(monkeypatch):
    # A model plug-in through the vaebench.models entry-point group, beside a broken one that calls
    # sys.exit at import: the good one is listed, the broken one is warned about, nothing exits.
    import sys
    import types

    import vaebench.registry as registry
    from vaebench import ModelSpec, get_model_spec, list_models

    good = types.ModuleType("fake_model_plugin")
    good.SPEC = ModelSpec("tiny-fa", lambda: get_model_spec("linear-gaussian").build(data_dim=3, latent_dim=1), truth="exact",
                          description="a plug-in model")
    bad = types.ModuleType("exits_at_import")
    monkeypatch.setitem(sys.modules, "fake_model_plugin", good)

    def load_bad():
        raise SystemExit(0)

    eps = [EntryPoint("tiny-fa", "fake_model_plugin:SPEC", "vaebench.models"),
           EntryPoint("exits", "exits_at_import:SPEC", "vaebench.models")]
    monkeypatch.setattr(registry, "entry_points", lambda group: [e for e in eps if e.group == group])
    monkeypatch.setattr(EntryPoint, "load", lambda self: good.SPEC if self.name == "tiny-fa" else load_bad())
    registry.refresh()
    try:
        with pytest.warns(PluginWarning, match="exits.*SystemExit"):
            models = list_models()
        assert "tiny-fa" in models and get_model_spec("tiny-fa").build().data_dim == 3
        del bad
    finally:
        registry.refresh()


def test_wrappers_keep_their_truth_through_conversions():
    from vaebench.models import VAE, QuadratureGroundTruth, VAEConfig

    torch.manual_seed(0)
    wrapped = QuadratureGroundTruth(VAE(VAEConfig(4, 1, (8,))))
    for converted in (wrapped.double(), wrapped.float(), wrapped.to(torch.float64), wrapped.to("cpu"), wrapped.cpu()):
        assert isinstance(converted, QuadratureGroundTruth)
        assert vb.truth_of(converted).available
