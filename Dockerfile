# Orchestrator image: a venv built in one stage, copied into a clean slim image in the next,
# so the final image carries no build cache, no pip wheels and no source tree beyond main.py.
# .ci/deploy-checks replays the COPY, pip install, CMD and HEALTHCHECK below without Docker.

FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /build
COPY pyproject.toml README.md main.py ./
COPY src ./src
# Runtime dependencies only: the dev extras (linters, pytest) stay out of the image.
RUN pip install --no-cache-dir .


FROM python:3.11-slim-bookworm AS runtime

# DATABASE_URL defaults to a SQLite file in /app/data, the one directory the app user can
# write; Kubernetes and any multi-replica setup override it with PostgreSQL.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:${PATH}" \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite+aiosqlite:////app/data/orchestrator.db

# A fixed UID/GID so Kubernetes can pin runAsUser/fsGroup to the same numbers.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY main.py ./
RUN mkdir /app/data && chown app:app /app/data

USER 10001:10001
EXPOSE 8000

# Liveness only (no database check), with the interpreter the image already has: no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/api/health/live', timeout=4)"]

# Exec form: python is PID 1 and receives SIGTERM itself, which starts the graceful drain.
CMD ["python", "main.py"]
