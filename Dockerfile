# The aqm for GitHub image: `aqm serve` (default) or `aqm worker`, stages sandboxed by bubblewrap.
#
#   docker build -t aqm .                                   # python:3.11-slim, no LLM CLI
#   docker build --build-arg CLAUDE_CODE_VERSION=2.1.331 --build-arg LOCAL_MODEL=1 -t aqm .
#   docker run --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     --security-opt systempaths=unconfined -p 8000:8000 -v aqm-data:/data --env-file aqm.env aqm
#
# The three --security-opt let bubblewrap make the stage sandbox's namespaces inside the container
# (docs/deploy.md says why each is needed, and the Kubernetes equivalents); without them the server
# refuses to start rather than run stages unsandboxed. CI builds this file with podman on a base made
# by debootstrap (scripts/image.sh): BASE is any Debian-based image with python3 and python3-venv.
ARG BASE=python:3.11-slim

# ---- build: the wheels of our dependencies (cached until pyproject.toml or constraints.txt change),
# then ours. Nothing of this stage but the wheels reaches the image.
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/build
WORKDIR /src
COPY pyproject.toml constraints.txt ./
RUN /opt/build/bin/python -c 'import tomllib; \
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > requirements.txt \
 && /opt/build/bin/pip wheel --quiet -c constraints.txt -r requirements.txt -w /wheels/deps \
 && sha256sum /wheels/deps/*.whl > /wheels/deps.sha256
COPY README.md ./
COPY action ./action
COPY app ./app
RUN /opt/build/bin/pip wheel --quiet --no-deps . -w /wheels/app \
 && sha256sum /wheels/app/*.whl > /wheels/app.sha256

# ---- runtime: Python, git (the worker's), bubblewrap (the stage sandbox), the wheels, a user.
# Ordered by how often a layer changes: our wheel is installed last but for the optional local model,
# so a warm build after a code change redoes only those steps (each step copies the whole tree with
# podman's vfs storage, so the steps after it cost even when they only set metadata).
FROM ${BASE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/aqm/bin:$PATH AQM_DATA_DIR=/data AQM_HOST=0.0.0.0 AQM_PORT=8000
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends bubblewrap git ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/aqm \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/aqm --shell /usr/sbin/nologin aqm \
 && install -d -o aqm -g aqm -m 0700 /data
WORKDIR /home/aqm
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('AQM_PORT', '8000')}/healthz\", timeout=4)"]
ENTRYPOINT ["aqm"]
CMD ["serve"]
# the LLM CLIs at their checked versions (empty: not installed); each ARG is declared where it is
# used, so changing one rebuilds only the layers from there
ARG CLAUDE_CODE_VERSION=""
ARG GEMINI_CLI_VERSION=""
ARG CODEX_VERSION=""
RUN if [ -n "$CLAUDE_CODE_VERSION$GEMINI_CLI_VERSION$CODEX_VERSION" ]; then \
      apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm \
      && npm install -g --no-fund --no-audit \
         ${CLAUDE_CODE_VERSION:+@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION} \
         ${GEMINI_CLI_VERSION:+@google/gemini-cli@$GEMINI_CLI_VERSION} \
         ${CODEX_VERSION:+@openai/codex@$CODEX_VERSION} \
      && npm cache clean --force && rm -rf /var/lib/apt/lists/*; \
    fi
# The wheels are mounted from the build stage, not copied (no layer keeps them), and a builder's cache
# does not look into a mounted stage: the checksums copied first make each RUN rerun exactly when
# its wheels changed (without them a warm build kept the previous version of our code).
COPY --from=build /wheels/deps.sha256 /opt/aqm-wheels/
RUN --mount=type=bind,from=build,source=/wheels/deps,target=/wheels \
    /opt/aqm/bin/pip install --quiet --no-index --no-deps /wheels/*.whl
COPY --from=build /wheels/app.sha256 /opt/aqm-wheels/
RUN --mount=type=bind,from=build,source=/wheels/app,target=/wheels \
    /opt/aqm/bin/pip install --quiet --no-index --no-deps /wheels/*.whl \
 && /opt/aqm/bin/python -m compileall -q /opt/aqm/lib
# runtime: local (`aqm install-local`: llama-cpp-python built portably, about 4 minutes, and the model)
ARG LOCAL_MODEL=""
RUN if [ -n "$LOCAL_MODEL" ]; then \
      apt-get update -q && apt-get install -y -q --no-install-recommends build-essential cmake \
      && aqm install-local \
      && apt-get purge -y -q --auto-remove build-essential cmake && rm -rf /var/lib/apt/lists/*; \
    fi
USER aqm
