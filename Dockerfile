# One image for the API, ingestion and projection processes of
# docker-compose.yml; the service's command picks which (`tracking serve`,
# `tracking ingest`, `tracking project`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY adapters ./adapters
RUN pip install . && useradd --system --uid 10001 --home-dir /app tracking
USER tracking

# Listen on every interface inside the container; the ports are the
# defaults of TRACKING_HTTP_PORT and the TRACKING_METRICS_PORT compose sets.
ENV TRACKING_HTTP_HOST=0.0.0.0
EXPOSE 8000 9100
# SIGTERM (docker stop) is a graceful shutdown for every subcommand.
ENTRYPOINT ["tracking"]
CMD ["serve"]
