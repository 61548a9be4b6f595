"""Who is calling: an App (RS256 JWT), an installation token, a personal access token, or nobody.

GitHub's rules as the simulator applies them
(https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app):
- the JWT is verified against the App's public key; `exp` must be in the future and at most
  10 minutes after `iat`; it is accepted only on App routes (`/app...`, `/repos/{o}/{r}/installation`);
- installation tokens live `token_lifetime_s` on the simulator's clock; an expired or unknown token is 401;
- `Authorization: token X` and `Bearer X` are both accepted.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import jwt

from app.playground.simulator.errors import Forbidden, NotFound, Unauthorized
from app.playground.simulator.state import Account, GitHubApp, Installation, Permission, Repo, Token, World

MAX_JWT_LIFETIME_S = 600
CLOCK_DRIFT_S = 60


@dataclass(frozen=True, slots=True)
class Identity:
    kind: Literal["anonymous", "app", "installation", "user"]
    account: Account | None = None  # the acting user (an installation acts as `<slug>[bot]`)
    app: GitHubApp | None = None
    installation: Installation | None = None
    token: Token | None = None

    @property
    def login(self) -> str | None:
        return self.account.login if self.account else None


ANONYMOUS = Identity("anonymous")


def parse_authorization(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not credential.strip():
        raise Unauthorized()
    return credential.strip()


def identify(world: World, header: str | None, *, app_route: bool) -> Identity:
    """The caller behind an Authorization header; raises 401 for bad or expired credentials."""
    credential = parse_authorization(header)
    if credential is None:
        return ANONYMOUS
    if credential.count(".") == 2:
        app = verify_jwt(world, credential)
        if not app_route:
            raise Forbidden("This endpoint requires you to be authenticated as an installation.")
        return Identity("app", account=app.bot, app=app)
    if app_route:
        raise Unauthorized("A JSON web token could not be decoded")
    return _token_identity(world, credential)


def _token_identity(world: World, credential: str) -> Identity:
    token = world.tokens.get(credential)
    if token is None or (token.expires_at is not None and token.expires_at <= world.clock.now()):
        raise Unauthorized()
    if token.installation_id is not None:
        inst = world.installations[token.installation_id]
        app = world.apps[inst.app_id]
        return Identity("installation", account=app.bot, app=app, installation=inst, token=token)
    assert token.login is not None
    return Identity("user", account=world.account(token.login), token=token)


def verify_jwt(world: World, credential: str) -> GitHubApp:
    """The App whose key signed this JWT (`iss` = App ID or client ID)."""
    try:
        claims = jwt.decode(credential, options={"verify_signature": False})
        issuer = str(claims.get("iss", ""))
    except jwt.PyJWTError as exc:
        raise Unauthorized("A JSON web token could not be decoded") from exc
    app = next((a for a in world.apps.values() if issuer in (str(a.id), a.client_id)), None)
    if app is None:
        raise Unauthorized("Integration not found")
    try:
        jwt.decode(credential, app.public_key_pem, algorithms=["RS256"], options={"verify_exp": False})
    except jwt.PyJWTError as exc:
        raise Unauthorized("A JSON web token could not be decoded") from exc
    _check_jwt_times(claims)
    return app


def _check_jwt_times(claims: dict[str, object]) -> None:
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise Unauthorized("'Expiration time' and 'Issued at' claims are required")
    now = time.time()  # JWTs follow real time: githubkit signs them with the machine's clock
    if exp <= now:
        raise Unauthorized(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
            "the assertion expires"
        )
    if exp - iat > MAX_JWT_LIFETIME_S + CLOCK_DRIFT_S or iat > now + CLOCK_DRIFT_S:
        raise Unauthorized("'Expiration time' claim ('exp') is too far in the future")


def mint_installation_token(
    world: World,
    inst: Installation,
    *,
    lifetime_s: int,
    repositories: set[str] | None = None,
    permissions: dict[str, str] | None = None,
) -> Token:
    alphabet = string.ascii_letters + string.digits
    value = "ghs_" + "".join(secrets.choice(alphabet) for _ in range(36))
    app = world.apps[inst.app_id]
    token = Token(
        value,
        expires_at=world.clock.now() + timedelta(seconds=lifetime_s),
        installation_id=inst.id,
        permissions=dict(permissions or app.permissions),
        repositories=repositories,
    )
    world.tokens[value] = token
    return token


def permission_of(identity: Identity, repo: Repo) -> Permission:
    """What this caller may do in `repo`: an installation writes where it is installed."""
    if identity.kind == "installation":
        assert identity.installation is not None and identity.token is not None
        narrowed = identity.token.repositories
        covered = identity.installation.covers(repo) and (narrowed is None or repo.full_name in narrowed)
        return "write" if covered else ("read" if not repo.private else "none")
    if identity.kind == "user" and identity.account is not None:
        if identity.account.login == repo.owner.login:
            return "admin"
        granted = repo.collaborators.get(identity.account.login, "none")
        return granted if granted != "none" or repo.private else "read"
    return "none" if repo.private else "read"


def require_read(identity: Identity, repo: Repo) -> None:
    if permission_of(identity, repo) == "none":
        raise NotFound()  # GitHub hides what a caller cannot see


def require_author(identity: Identity, repo: Repo) -> Account:
    """Comments, reviews and reactions: any authenticated caller who can see the repository."""
    require_read(identity, repo)
    if identity.account is None or identity.kind == "anonymous":
        raise Unauthorized("Requires authentication")
    if identity.kind == "installation" and permission_of(identity, repo) != "write":
        raise Forbidden()
    return identity.account


def require_write(identity: Identity, repo: Repo) -> Account:
    account = require_author(identity, repo)
    if permission_of(identity, repo) not in ("write", "admin"):
        raise Forbidden("Must have push access to this repository")
    return account


def require_app_installation(identity: Identity, repo: Repo) -> Account:
    """Check runs: only an App's installation may write them (a PAT gets 403, as on GitHub)."""
    if identity.kind == "user":
        raise Forbidden("You must authenticate via a GitHub App.")
    return require_write(identity, repo)
