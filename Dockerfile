# Locker: one image for every role (web, worker, beat, migrate); see README, "Containers".
#
#   docker build -t locker .
#   docker build -t locker --build-arg WITH_FFMPEG=true --build-arg WITH_CLAMAV=true .
#
# WITH_FFMPEG=true adds Debian's ffmpeg (video thumbnails; without it videos get a thumbnail
# error, images and PDFs are unaffected). WITH_CLAMAV=true adds clamdscan, for
# LOCKER_SCANNER=command (LOCKER_SCANNER=clamav talks to a clamd over TCP or a socket and needs
# nothing in this image). Works with the classic builder (no BuildKit features).

ARG BASE_IMAGE=debian:bookworm-slim

# --- build: a virtualenv with the runtime requirements, static files collected -----------------
FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# A compiler for any requirement that has no wheel for this platform; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
# Requirements before the source, so that a change in the code reuses this layer. Only the
# runtime part: requirements.txt lists tests and tooling after its "# Tests and tooling" line.
COPY requirements.txt /tmp/requirements.txt
RUN sed '/^# Tests and tooling/,$d' /tmp/requirements.txt > /tmp/runtime.txt \
    && /opt/venv/bin/pip install -r /tmp/runtime.txt
COPY . /app
WORKDIR /app
# Static files at build time (compressed, hashed names); the throwaway data dir holds the
# secret key that importing the settings generates, and is not kept.
RUN LOCKER_DATA_DIR=/tmp/build-data LOCKER_STATIC_ROOT=/app/static-root \
        /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-data \
    && /opt/venv/bin/python -m compileall -q /app

# --- final: Debian's python3, the virtualenv and the app; no compiler -------------------------
FROM ${BASE_IMAGE}
ARG WITH_FFMPEG=false
ARG WITH_CLAMAV=false
ENV DEBIAN_FRONTEND=noninteractive
RUN extras="" \
    && if [ "$WITH_FFMPEG" = true ]; then extras="$extras ffmpeg"; fi \
    && if [ "$WITH_CLAMAV" = true ]; then extras="$extras clamdscan"; fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates $extras \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 locker \
    && useradd --uid 10001 --gid locker --home-dir /data --no-create-home --no-log-init \
        --shell /usr/sbin/nologin locker \
    && mkdir /data \
    && chown locker:locker /data \
    && chmod 0700 /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOCKER_DATA_DIR=/data \
    LOCKER_STATIC_ROOT=/app/static-root \
    LOCKER_BIND=0.0.0.0 \
    PORT=8000
WORKDIR /app
USER locker
# Everything Locker writes lives here: generated keys (unless given), the SQLite database and
# local objects (embedded defaults), the beat schedule, temporary upload files.
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["python", "-m", "locker.container", "healthcheck"]
ENTRYPOINT ["python", "-m", "locker.container"]
CMD ["web"]
