"""GitHub's own examples as the source of every shape: REST response examples from the OpenAPI subset
and webhook payload examples, both copied into `app/playground/fixtures/` (see its README).

Objects are built by taking an example, re-homing its URLs onto the simulator (`rehome`) and then
overlaying the fields the simulator's state decides (`overlay`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OPENAPI_FILE = FIXTURES / "rest" / "openapi-subset.api.github.com.json"
WEBHOOKS_DIR = FIXTURES / "webhooks"
# The repositories GitHub's examples talk about; rehome() points them at a simulated one.
EXAMPLE_REPOS = ("octocat/Hello-World", "Codertocat/Hello-World", "octokit/octokit.rb", "github/hello-world")
DROP: Any = object()  # an overlay value that removes the key


@dataclass(frozen=True, slots=True)
class Urls:
    """Where the simulator lives: `api` ends with "/" (githubkit's base_url), `web` for html_url."""

    api: str = "http://github.test/"
    web: str = "http://github.test/"

    @property
    def host(self) -> str:
        return self.web.split("://", 1)[-1].strip("/")


@cache
def openapi() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(OPENAPI_FILE.read_text())
    return data


def rest_example(name: str) -> Any:
    """A fresh copy of `components.examples[name].value`."""
    return copy.deepcopy(openapi()["components"]["examples"][name]["value"])


@cache
def _webhook_example(file_stem: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS_DIR / f"{file_stem}.json").read_text())
    return data


def webhook_example(file_stem: str) -> dict[str, Any]:
    """A fresh copy of one webhook example, as recorded upstream (see `templates.py` for the fixes)."""
    return copy.deepcopy(_webhook_example(file_stem))


def webhook_example_names() -> list[str]:
    return sorted(path.stem for path in WEBHOOKS_DIR.glob("*.json"))


def rehome(obj: Any, urls: Urls, full_name: str | None = None) -> Any:
    """Point every github.com URL in an example at the simulator (and its repository at `full_name`)."""
    if isinstance(obj, dict):
        return {key: rehome(value, urls, full_name) for key, value in obj.items()}
    if isinstance(obj, list):
        return [rehome(value, urls, full_name) for value in obj]
    if not isinstance(obj, str):
        return obj
    if full_name:
        for example in EXAMPLE_REPOS:
            obj = obj.replace(f"/{example}", f"/{full_name}")
    obj = obj.replace("https://api.github.com/", urls.api)
    return obj.replace("https://github.com/", urls.web).replace("http://github.com/", urls.web)


def overlay(base: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `fields` on top; a field whose value is DROP removes the key."""
    merged = {**base, **fields}
    return {key: value for key, value in merged.items() if value is not DROP}
