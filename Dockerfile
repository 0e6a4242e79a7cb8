FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# the data directory exists in the image, owned by the service user, so that a fresh named
# volume mounted there is writable by it
RUN useradd --create-home --uid 10001 inboxflow \
 && mkdir -p /var/lib/inboxflow \
 && chown inboxflow:inboxflow /var/lib/inboxflow
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY adapters adapters
COPY api api
RUN pip install --no-cache-dir .
USER inboxflow
ENV INBOXFLOW_DATA_DIR=/var/lib/inboxflow INBOXFLOW_HOST=0.0.0.0
EXPOSE 8000
STOPSIGNAL SIGTERM
CMD ["inboxflow", "serve"]
