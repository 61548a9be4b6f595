"""Process settings from AQM_* environment variables, built by entry points (never at import)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigError

DEFAULT_API_URL = "https://api.github.com"


class Settings(BaseSettings):
    """The AQM_* variables of DESIGN.md. Construct with `build_settings()` or directly in tests."""

    model_config = SettingsConfigDict(env_prefix="AQM_", extra="ignore", frozen=True)

    data_dir: Path = Path(".aqm-data")
    database_url: str | None = None  # unset: SQLite under data_dir
    redis_url: str | None = None  # unset: the in-process queue
    github_api_url: str = DEFAULT_API_URL
    github_app_id: str | None = None
    github_private_key: SecretStr | None = None
    github_private_key_path: Path | None = None
    github_webhook_secret: SecretStr | None = None
    github_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    api_token: SecretStr | None = None
    task_lease_s: float = Field(default=60.0, gt=0)  # a running task's lease, renewed every third of it
    reconcile_interval_s: float = Field(default=30.0, gt=0)  # how often stuck work is looked for
    redeliver_after_s: float = Field(default=120.0, ge=0)  # a delivery pending this long is replayed
    # stages run in bubblewrap (app/runtimes/sandbox.py); this opt-out runs them with our secrets,
    # database and files in reach, and every run card says so
    unsafe_unsandboxed_stages: bool = False

    @model_validator(mode="after")
    def _one_private_key(self) -> Settings:
        if self.github_private_key is not None and self.github_private_key_path is not None:
            raise ValueError("set AQM_GITHUB_PRIVATE_KEY or AQM_GITHUB_PRIVATE_KEY_PATH, not both")
        return self

    @property
    def github_configured(self) -> bool:
        """True when any GitHub credential is given: the server then serves webhooks."""
        return self.github_token is not None or self.github_app_id is not None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'aqm.db'}"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def private_key(self) -> str:
        """The App's PEM key, from the variable or the file; ConfigError naming what is missing."""
        if self.github_private_key is not None:
            return self.github_private_key.get_secret_value()
        if self.github_private_key_path is None:
            raise ConfigError(
                "AQM_GITHUB_APP_ID is set but no private key: set AQM_GITHUB_PRIVATE_KEY_PATH "
                "(or AQM_GITHUB_PRIVATE_KEY)",
                variable="AQM_GITHUB_PRIVATE_KEY_PATH",
            )
        try:
            return self.github_private_key_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"AQM_GITHUB_PRIVATE_KEY_PATH: cannot read {self.github_private_key_path}: {exc.strerror}",
                variable="AQM_GITHUB_PRIVATE_KEY_PATH",
            ) from None

    def given_api_token(self) -> str | None:
        """AQM_API_TOKEN, None when unset (the server then makes one); ConfigError when it is set but
        empty: `AQM_API_TOKEN=` (say, from an unset shell variable) would otherwise lock the API."""
        if self.api_token is None:
            return None
        token = self.api_token.get_secret_value()
        if not token.strip():
            raise ConfigError(
                "AQM_API_TOKEN is set but empty: give it a token, or unset it to have one made and "
                "printed at start",
                variable="AQM_API_TOKEN",
            )
        if token != token.strip():  # an Authorization header cannot carry them: the API would be locked
            raise ConfigError("AQM_API_TOKEN has white space around it: remove it", variable="AQM_API_TOKEN")
        return token

    def require_github(self) -> None:
        """The checks `aqm serve` makes before it accepts webhooks."""
        if not self.github_configured:
            return
        if self.github_webhook_secret is None:
            raise ConfigError(
                "AQM_GITHUB_WEBHOOK_SECRET must be set to serve webhooks (GitHub credentials are configured)",
                variable="AQM_GITHUB_WEBHOOK_SECRET",
            )
        if self.github_app_id is not None:
            self.private_key()


def build_settings(**overrides: object) -> Settings:
    """Read AQM_* from the environment; a malformed value is a ConfigError naming its variable."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = f"AQM_{str(first['loc'][0]).upper()}" if first["loc"] else "AQM_*"
        raise ConfigError(f"{name}: {first['msg']}", variable=name) from None
