"""The GitHub App side of the simulator: Apps with RSA keys, installations, and tokens
(installation tokens minted by `POST /app/installations/{id}/access_tokens`, and plain PATs).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.playground.simulator.checks import SimChecks
from app.playground.simulator.errors import NotFound
from app.playground.simulator.state import AccountType, GitHubApp, Installation, Token

DEFAULT_PERMISSIONS = {
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
DEFAULT_WEBHOOK_SECRET = "sim-webhook-secret"  # noqa: S105 - a test double's well-known default
DEFAULT_EVENTS = ["check_run", "issue_comment", "issues", "pull_request", "pull_request_review", "push"]


@dataclass(frozen=True, slots=True)
class AppKey:
    private_pem: str  # PEM, TraditionalOpenSSL, as GitHub hands it out
    public_pem: bytes


@cache
def shared_app_key() -> AppKey:
    """One RSA key per process: generating 2048-bit keys per test would cost ~0.1 s each."""
    return generate_app_key()


def generate_app_key() -> AppKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return AppKey(private.decode(), public)


class SimApps(SimChecks):
    """Apps, installations and tokens."""

    token_lifetime_s: int = 3600

    def register_app(
        self,
        slug: str = "aqm",
        *,
        owner: str = "octo",
        name: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        key: AppKey | None = None,
    ) -> tuple[GitHubApp, AppKey]:
        """Register an App; its bot account is `<slug>[bot]`. Returns the App and its key pair."""
        key = key or shared_app_key()
        app_id = self.world.next_id()
        bot = self.world.account(f"{slug}[bot]", type="Bot")
        app = GitHubApp(
            app_id,
            slug,
            name or slug,
            self.world.account(owner),
            key.public_pem,
            f"Iv1.sim{app_id:010d}",
            webhook_secret,
            bot,
            self.world.clock.now(),
            dict(DEFAULT_PERMISSIONS),
            list(DEFAULT_EVENTS),
        )
        self.world.apps[app_id] = app
        return app, key

    def install(
        self,
        app: GitHubApp,
        account: str,
        *,
        repositories: list[str] | None = None,
        account_type: AccountType = "User",
    ) -> Installation:
        """Install `app` on an account: on all its repositories, or only on `repositories`."""
        inst = Installation(
            self.world.next_id(),
            app.id,
            self.world.account(account, type=account_type),
            self.world.clock.now(),
        )
        if repositories is not None:
            inst.repository_selection, inst.repositories = "selected", set(repositories)
        self.world.installations[inst.id] = inst
        return inst

    def installation(self, installation_id: int) -> Installation:
        try:
            return self.world.installations[installation_id]
        except KeyError:
            raise NotFound() from None

    def installation_for(self, full_name: str, app: GitHubApp) -> Installation:
        repo = self.repo(full_name)
        for inst in self.world.installations.values():
            if inst.app_id == app.id and inst.covers(repo):
                return inst
        raise NotFound()

    def add_token(self, value: str, *, login: str) -> Token:
        """A personal access token the simulator accepts as `login` (no expiry)."""
        self.world.account(login)
        token = Token(value, expires_at=None, login=login)
        self.world.tokens[value] = token
        return token

    def expire_tokens(self) -> None:
        """Expire every installation token now: the next call with one gets 401."""
        now = self.world.clock.now()
        for token in self.world.tokens.values():
            if token.installation_id is not None:
                token.expires_at = now
