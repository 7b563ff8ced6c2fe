import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from archcalc import limits


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update", action="store_true", help="Regenerate golden CLI outputs in tests/golden/."
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update"))


# Hypothesis profiles for the property suites: "quick" (the default, a few seconds per suite,
# the same examples every run) and "ci" (ARCHCALC_HYPOTHESIS=ci, set by .ci/run: four times
# the examples). No shrinking: a failing example is shown as generated, which keeps a failure
# that is a hang from spending minutes being minimised.
settings.register_profile(
    "quick",
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
settings.register_profile("ci", parent=settings.get_profile("quick"))
settings.load_profile(os.environ.get("ARCHCALC_HYPOTHESIS", "quick"))
# Loading a spec raises Python's recursion limit to what archcalc's depth limit needs; doing it
# up front keeps Hypothesis from warning that a test changed it.
limits.recursion_headroom()
