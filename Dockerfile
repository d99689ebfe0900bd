# syntax=docker/dockerfile:1
# Referral lifecycle service image.
#
#   docker build -t referral-service:0.1.0 .
#   docker run --rm -p 8080:8080 -e REFERRALS_KAFKA_BOOTSTRAP_SERVERS=kafka:9092 referral-service:0.1.0
#
# The builder stage installs the locked dependencies (requirements.lock) and the project's
# wheel into a virtualenv; the runtime stage only receives that virtualenv, so no
# compiler, pip cache or source tree ships. The runtime runs as UID/GID 10001 and needs no
# writable path except /tmp and /data (the SQLite directory), so it works with
# readOnlyRootFilesystem: true.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# The dependencies exactly as locked (`make lock`: versions and hashes), before the source,
# so this layer is rebuilt only when the lock changes and next month's image has the same
# contents as today's.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock

# Then the service's own wheel, built from the build metadata and the two packages, and
# installed without resolving anything; pip check proves the lock covers its requirements.
# pip byte-compiles here (the runtime filesystem is read-only, so nothing could cache
# bytecode there).
COPY pyproject.toml README.md LICENSE ./
COPY state/ state/
COPY service/ service/
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps --no-index /wheels/referral_lifecycle-*.whl \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/python -c "import service.cli, state" \
 && /opt/venv/bin/python -m pip uninstall --yes pip


FROM ${PYTHON_IMAGE} AS runtime

ARG APP_UID=10001
ARG APP_GID=10001

LABEL org.opencontainers.image.title="referral-service" \
      org.opencontainers.image.description="Kafka-driven state machine service for Partner Center sales referrals" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    PATH=/opt/venv/bin:$PATH \
    REFERRALS_HTTP_HOST=0.0.0.0 \
    REFERRALS_HTTP_PORT=8080 \
    REFERRALS_DATABASE_URL=sqlite:////data/referrals.db

# A numeric, home-less system user; /data is the only directory it owns (SQLite database
# and its journal). Mount a volume there (the Helm chart does) to keep the data.
RUN groupadd --system --gid "${APP_GID}" referrals \
 && useradd --system --uid "${APP_UID}" --gid "${APP_GID}" --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin referrals \
 && install --directory --owner="${APP_UID}" --group="${APP_GID}" --mode=0750 /data

COPY --from=builder /opt/venv /opt/venv

WORKDIR /data
USER ${APP_UID}:${APP_GID}
EXPOSE 8080

# /healthz only says the process is alive (it never depends on Kafka or the database).
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('REFERRALS_HTTP_PORT', '8080') + '/healthz', timeout=2)"]

# SIGTERM (the default stop signal) makes the service finish its batch, commit and leave
# the consumer group within REFERRALS_SHUTDOWN_TIMEOUT_SECONDS.
STOPSIGNAL SIGTERM
ENTRYPOINT ["referrals"]
CMD ["run"]
