"""The tiers plugin (``tests/_tiers.py``) on a small suite of its own, run by pytest in a child.

A child, not pytest in this process: the plugin's tally and its watch are per process.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

TESTS = Path(__file__).resolve().parent

CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
pytest_plugins = ["_tiers"]
"""

# The markers are registered in the project's pyproject.toml, which this suite has not.
QUIET = ("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning")

SUITE = """
import importlib
import socket
import subprocess
import sys

import pytest


class Emulator:  # a stand-in: the plugin goes by the names a test reaches
    pass


def start_a_child() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.fixture
def emu():
    yield Emulator()


def test_plain_data():
    assert sorted([2, 1]) == [1, 2]


def test_names_the_emulator():
    assert Emulator() is not None


def test_through_a_fixture(emu):
    assert emu is not None


def test_through_a_helper():
    start_a_child()


@pytest.mark.integration
def test_marked_by_hand():
    assert True


@pytest.mark.unit
def test_a_unit_that_serves():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()


def test_an_integration_that_starts_a_child(emu):
    # The name hidden from the plugin (a string), as a test reaching the package would.
    importlib.import_module("sub" + "process").run([sys.executable, "-c", "pass"], check=True)
"""


@pytest.mark.system
def test_each_test_gets_the_tier_of_what_it_uses(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(*QUIET, "-rA", "--junitxml=report.xml")
    result.assert_outcomes(passed=7, errors=2)
    # Each test's tier, as the plugin records it (a user property, in the report too).
    tiers = {
        case.get("name"): [p.get("value") for p in case.iter("property") if p.get("name") == "tier"]
        for case in ElementTree.parse(pytester.path / "report.xml").iter("testcase")
    }
    assert tiers == {
        "test_plain_data": ["unit"],
        "test_names_the_emulator": ["integration"],
        "test_through_a_fixture": ["integration"],
        "test_through_a_helper": ["system"],
        "test_marked_by_hand": ["integration"],
        "test_a_unit_that_serves": ["unit"],
        "test_an_integration_that_starts_a_child": ["integration"],
    }
    out = result.stdout.str()
    assert "tiers: 2 unit (0 s), 4 integration (0 s), 1 system (0 s)" in out, out
    # What a test does beyond its tier fails it at teardown, naming the mark to add.
    assert re.search(
        r"ERROR at teardown of test_a_unit_that_serves _+\nthis test is in the 'unit' tier"
        r" but it listened on .*: mark it @pytest.mark.integration", out
    ), out
    assert re.search(
        r"ERROR at teardown of test_an_integration_that_starts_a_child _+\nthis test is in"
        r" the 'integration' tier but it started the process .*: mark it @pytest.mark.system",
        out,
    ), out


@pytest.mark.system
def test_two_tiers_on_one_test_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_two="import pytest\n\n\n@pytest.mark.unit\n@pytest.mark.system\n"
        "def test_both():\n    pass\n"
    )
    result = pytester.runpytest_subprocess(*QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_both is marked with more than one tier (system, unit): keep one" in (
        result.stderr.str()
    )
