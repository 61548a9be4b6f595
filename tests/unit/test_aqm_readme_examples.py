"""Every YAML example of aqm's README against our validator (tests/fixtures/aqm_readme/).

Complete examples must load; fragments must fail with errors that name the problem, as recorded
in expected.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import SpecErrors
from app.project import reader_for_file
from app.spec.loader import load_config, load_pipeline

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "aqm_readme"
README = ROOT.parent / "shared" / "reference" / "aqm-README.txt"  # absent in a fresh clone
CONFIG_FILE = "config.yaml"  # the config.yaml reference is a project config, not a pipeline

EXPECTED: dict[str, str | list[str]] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
VALID = sorted(name for name, expected in EXPECTED.items() if expected == "valid")
INVALID = sorted((name, expected) for name, expected in EXPECTED.items() if isinstance(expected, list))
FIXTURE_FILES = sorted(p.name for p in FIXTURES.glob("*.yaml"))


def _load(name: str) -> None:
    reader, relative = reader_for_file(FIXTURES / name)
    if name == CONFIG_FILE:
        load_config(reader, relative)
    else:
        load_pipeline(reader, relative, name=Path(name).stem)


def test_expected_json_covers_every_fixture_file() -> None:
    assert sorted(EXPECTED) == FIXTURE_FILES


def test_expectations_are_valid_or_a_nonempty_list_of_substrings() -> None:
    for name, expected in EXPECTED.items():
        assert expected == "valid" or (
            isinstance(expected, list) and expected and all(isinstance(s, str) and s for s in expected)
        ), name


@pytest.mark.parametrize("name", VALID, ids=VALID)
def test_complete_readme_example_loads(name: str) -> None:
    try:
        _load(name)
    except SpecErrors as exc:
        pytest.fail("\n".join(error.render() for error in exc.errors))


@pytest.mark.parametrize(("name", "substrings"), INVALID, ids=[name for name, _ in INVALID])
def test_readme_fragment_fails_with_errors_naming_the_problem(name: str, substrings: list[str]) -> None:
    with pytest.raises(SpecErrors) as caught:
        _load(name)

    rendered = "\n".join(error.render() for error in caught.value.errors)
    missing = [s for s in substrings if s not in rendered]
    assert not missing, f"{missing} not in:\n{rendered}"
    assert all(error.path == name and error.line >= 1 and error.column >= 1 for error in caught.value.errors)


@pytest.mark.skipif(not README.is_file(), reason="the reference README is not beside this checkout")
@pytest.mark.parametrize("name", FIXTURE_FILES, ids=FIXTURE_FILES)
def test_fixture_is_a_verbatim_excerpt_of_the_readme(name: str) -> None:
    readme = README.read_text(encoding="utf-8")

    assert (FIXTURES / name).read_text(encoding="utf-8") in readme
