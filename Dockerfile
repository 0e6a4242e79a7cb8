FROM python:3.11-slim
RUN useradd --create-home --uid 10001 inboxflow
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
CMD ["inboxflow", "serve"]
