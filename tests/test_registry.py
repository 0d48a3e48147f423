"""The registry: built-ins, entry-point plug-ins (good and broken), register(), helpful errors."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

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
        registry._plugins.cache_clear()

    yield install
    registry._plugins.cache_clear()


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
    registry._plugins.cache_clear()
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
    ],
)
def test_spec_validates_its_fields(kwargs, error, match):
    with pytest.raises(error, match=match):
        EstimatorSpec(**kwargs)


def test_tags_must_be_booleans():
    with pytest.raises(TypeError, match="EstimatorTags.lower_bound must be a bool"):
        EstimatorTags(lower_bound="yes")
