"""Settings come from AQM_* variables, are built on demand, and name what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ConfigError
from app.settings import Settings, build_settings


def test_defaults_are_the_embedded_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = build_settings()
    assert settings.effective_database_url == "sqlite+aiosqlite:///.aqm-data/aqm.db"
    assert (settings.redis_url, settings.host, settings.port) == (None, "127.0.0.1", 8000)
    assert settings.effective_public_url == "http://127.0.0.1:8000"
    assert not settings.github_configured


def test_variables_are_read_with_the_aqm_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQM_PORT", "9001")
    monkeypatch.setenv("AQM_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("AQM_GITHUB_TOKEN", "ghp_secret")
    settings = build_settings()
    assert (settings.port, settings.redis_url, settings.github_configured) == (
        9001,
        "redis://127.0.0.1:6379/0",
        True,
    )
    assert "ghp_secret" not in repr(settings)


def test_a_malformed_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQM_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        build_settings()
    assert caught.value.variable == "AQM_PORT"


def test_serving_webhooks_requires_the_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(github_token="t").require_github()
    assert caught.value.variable == "AQM_GITHUB_WEBHOOK_SECRET"


def test_an_app_id_without_a_private_key_names_the_key_variable() -> None:
    settings = Settings(github_app_id="1", github_webhook_secret="s")
    with pytest.raises(ConfigError) as caught:
        settings.require_github()
    assert caught.value.variable == "AQM_GITHUB_PRIVATE_KEY_PATH"


def test_the_private_key_is_read_from_its_file(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN KEY-----\n")
    settings = Settings(github_app_id="1", github_private_key_path=key, github_webhook_secret="s")
    settings.require_github()
    assert settings.private_key().startswith("-----BEGIN")


# settings -> the variable `aqm serve` says is missing before it accepts webhooks (None: it serves)
REQUIRED = {
    "no GitHub settings need no secret (webhooks answer 503)": ({}, None),
    "a token needs the webhook secret": ({"github_token": "t"}, "AQM_GITHUB_WEBHOOK_SECRET"),
    "a token with the secret serves": ({"github_token": "t", "github_webhook_secret": "s"}, None),
    "an App id needs its private key": (
        {"github_app_id": "1", "github_webhook_secret": "s"},
        "AQM_GITHUB_PRIVATE_KEY_PATH",
    ),
    "an App id with its key and the secret serves": (
        {"github_app_id": "1", "github_private_key": "-----BEGIN KEY-----", "github_webhook_secret": "s"},
        None,
    ),
}


def missing_variable(settings: Settings) -> str | None:
    try:
        settings.require_github()
    except ConfigError as exc:
        return exc.variable
    return None


@pytest.mark.parametrize(("given", "missing"), list(REQUIRED.values()), ids=list(REQUIRED))
def test_what_serving_webhooks_requires(given: dict[str, str], missing: str | None) -> None:
    settings = Settings(**given)  # type: ignore[arg-type]
    assert (settings.github_configured, missing_variable(settings)) == (bool(given), missing)


def test_importing_settings_builds_nothing() -> None:
    import app.settings as module

    assert not [name for name, value in vars(module).items() if isinstance(value, Settings)]
