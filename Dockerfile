# The harness (API Gateway emulation on 3000, bank simulator 8081, webhook receiver 8082, status
# page 8090, the Kafka event source pollers and the retry schedule) in one container, for
# `docker compose --profile app up` (docker-compose.yml's `app` service supplies Kafka, Redis
# and MongoDB through PAYGATE_* variables). The repository layout is kept under /app because
# the harness reads template.yaml from beside its package.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PAYGATE_MODE=external \
    PAYGATE_BIND_HOST=0.0.0.0 \
    PAYGATE_DATA_DIR=/data

RUN useradd --create-home --uid 10001 --user-group paygate \
    && mkdir /data \
    && chown paygate:paygate /data

WORKDIR /app
COPY pyproject.toml README.md template.yaml ./
COPY common ./common
COPY functions ./functions
COPY harness ./harness
# The pinned runtime dependencies of pyproject.toml, no dev extras. Editable, so that the
# harness finds template.yaml in /app.
RUN pip install --editable .

USER 10001:10001
# local-secrets.json (card token and fingerprint keys), pid files and logs: keep /data in a
# volume, or every new container makes new keys and cannot read older card tokens.
VOLUME ["/data"]
EXPOSE 3000 8081 8082 8090

# Start-up measured 48-163 s on a 2-core machine at load 10-23 (python -m harness.container
# against native services), hence the long start period.
HEALTHCHECK --interval=15s --timeout=10s --start-period=120s --retries=4 \
    CMD ["python", "-m", "harness.container", "--check"]
CMD ["python", "-m", "harness.container"]
