import os

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles for the property suites: "default" keeps the normal test run to a few
# seconds per suite; "ci" (.ci/run sets ARCHCALC_HYPOTHESIS_PROFILE=ci) runs longer. Examples
# build and run whole nets, so no per-example deadline: the machine's load varies.
settings.register_profile(
    "default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("ARCHCALC_HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update", action="store_true", help="Regenerate golden CLI outputs in tests/golden/."
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update"))
