"""GitHub's App manifest flow, simulated (https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest).

1. The operator's browser POSTs a form with `manifest` (JSON) to `/settings/apps/new?state=…`
   (or `/organizations/{org}/settings/apps/new`); on GitHub they name the App and confirm.
2. GitHub registers the App and redirects to the manifest's `redirect_url` with `?code=…&state=…`.
3. The server exchanges the code, once and within an hour: `POST /app-manifests/{code}/conversions`
   answers 201 with the App, its `pem`, `webhook_secret` and `client_secret`; a used, unknown or
   expired code is a 404.

The simulator has no login: the web user is `SimManifests.web_login` (the standard owner).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from app.playground.simulator.apps import DEFAULT_EVENTS, SimApps, generate_app_key
from app.playground.simulator.errors import NotFound
from app.playground.simulator.state import GitHubApp, ManifestCode

CODE_LIFETIME = timedelta(hours=1)


class ManifestError(ValueError):
    """A manifest GitHub would refuse; the message is what its page says."""


def manifest_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class SimManifests(SimApps):
    """Apps registered from a manifest, and the one-time codes that hand out their secrets."""

    web_login: str = "octo"

    def create_app_from_manifest(
        self, manifest: Mapping[str, Any], *, org: str | None = None
    ) -> tuple[GitHubApp, str]:
        """What GitHub does when the operator confirms the manifest form: the App, and the code
        the redirect carries. ManifestError for what GitHub's page would refuse."""
        name = manifest.get("name")
        hook = manifest.get("hook_attributes") or {}
        if not isinstance(manifest.get("url"), str) or not manifest["url"]:
            raise ManifestError("url is required")
        if not isinstance(name, str) or not manifest_slug(name):
            raise ManifestError("name is required")
        if hook and not isinstance(hook.get("url"), str):
            raise ManifestError("hook_attributes.url is required")
        slug = manifest_slug(name)
        if any(app.slug == slug for app in self.world.apps.values()):
            raise ManifestError(f"Name {name!r} is already taken")
        key = generate_app_key()
        webhook_secret = secrets.token_hex(20)
        app, _ = self.register_app(
            slug, owner=org or self.web_login, name=name, webhook_secret=webhook_secret, key=key
        )
        app.permissions = {str(k): str(v) for k, v in (manifest.get("default_permissions") or {}).items()}
        app.permissions.setdefault("metadata", "read")
        app.events = [str(e) for e in (manifest.get("default_events") or DEFAULT_EVENTS)]
        code = secrets.token_hex(16)
        self.world.manifest_codes[code] = ManifestCode(
            app.id, key.private_pem, secrets.token_hex(20), self.world.clock.now() + CODE_LIFETIME
        )
        return app, code

    def convert_manifest(self, code: str) -> tuple[GitHubApp, ManifestCode]:
        """The App and its secrets for `code`, once; NotFound for a used, unknown or expired code."""
        found = self.world.manifest_codes.pop(code, None)
        if found is None or found.expires_at <= self.world.clock.now():
            raise NotFound()
        return self.world.apps[found.app_id], found
