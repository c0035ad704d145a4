# syntax=docker/dockerfile:1
# Build: docker build -t dnis-service:0.1.0 .
# The image runs `dnis-service serve`; the chart's hook Job runs `dnis-service migrate`.

FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY dnis_service ./dnis_service
RUN pip install --no-cache-dir .

FROM python:3.11-slim
# The SQL files are read from the source tree at run time (dnis_service/db/queries.py: ../../sql).
COPY --from=build /opt/venv /opt/venv
COPY dnis_service /app/dnis_service
COPY sql /app/sql
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DNIS_HOST=0.0.0.0 \
    DNIS_PORT=8080
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin dnis
USER 10001
EXPOSE 8080
ENTRYPOINT ["dnis-service"]
CMD ["serve"]
