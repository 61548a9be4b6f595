"""The App manifest flow: GitHub's web form that registers an App from a manifest and redirects back
with a code, and `POST /app-manifests/{code}/conversions`, which takes no authentication
(https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest)."""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.playground.simulator import render
from app.playground.simulator.manifests import ManifestError, SimManifests
from app.playground.simulator.routes.deps import SimDep, answer

router = APIRouter()


def _manifests(sim: SimDep) -> SimManifests:
    assert isinstance(sim, SimManifests)
    return sim


@router.post("/app-manifests/{code}/conversions", name="apps.create_from_manifest")
async def convert(code: str, sim: SimDep) -> JSONResponse:
    app, secrets = _manifests(sim).convert_manifest(code)
    body: dict[str, Any] = {
        **render.integration(sim.ctx, app),
        "client_secret": secrets.client_secret,
        "webhook_secret": app.webhook_secret,
        "pem": secrets.private_pem,
    }
    return answer(body, 201)


@router.post("/settings/apps/new", name="web.apps_new")
async def new_app(request: Request, sim: SimDep) -> Response:
    return await _register(request, sim, org=None)


@router.post("/organizations/{org}/settings/apps/new", name="web.org_apps_new")
async def new_org_app(org: str, request: Request, sim: SimDep) -> Response:
    return await _register(request, sim, org=org)


async def _register(request: Request, sim: SimDep, *, org: str | None) -> Response:
    """The operator confirmed GitHub's page: register the App, redirect to its `redirect_url`."""
    form = parse_qs((await request.body()).decode(), keep_blank_values=True)
    try:
        manifest = json.loads(form.get("manifest", [""])[0])
        if not isinstance(manifest, dict):
            raise ManifestError("manifest must be a JSON object")
        app, code = _manifests(sim).create_app_from_manifest(manifest, org=org)
    except (ValueError, ManifestError) as exc:  # json.JSONDecodeError is a ValueError
        return HTMLResponse(f"<p>Invalid GitHub App configuration: {html.escape(str(exc))}</p>", 422)
    redirect = manifest.get("redirect_url") or f"{sim.urls.web}settings/apps/{app.slug}"
    query = {
        "code": code,
        **({"state": request.query_params["state"]} if "state" in request.query_params else {}),
    }
    separator = "&" if urlsplit(redirect).query else "?"
    return RedirectResponse(f"{redirect}{separator}{urlencode(query)}", status_code=302)
