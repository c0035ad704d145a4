# syntax=docker/dockerfile:1
# Build: docker build -t dnis-service:0.1.0 .
# The image runs `dnis-service serve`; the chart's hook Job runs `dnis-service migrate`.
# docs/image.md: the build arguments, what the image holds, how it is checked (scripts/image-check.sh).

# Any Debian-like image with CPython 3.11 and its venv module; PYTHON is its interpreter command.
ARG BASE_IMAGE=python:3.11-slim
ARG PYTHON=python

FROM ${BASE_IMAGE} AS build
ARG PYTHON
RUN ${PYTHON} -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# The dependencies first, in a layer of their own, so that a change of the code alone reuses them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > requirements.txt \
    && pip install -r requirements.txt
# Then the code, once: as the wheel a user would install (the SQL files travel inside it).
COPY README.md ./
COPY dnis_service ./dnis_service
COPY sql ./sql
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install /wheels/dnis_service-*.whl \
    && pip uninstall --yes pip

FROM ${BASE_IMAGE}
# Only the virtualenv: no source tree, no compiler, no pip.
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DNIS_HOST=0.0.0.0 \
    DNIS_PORT=8080
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin dnis
USER 10001
EXPOSE 8080
ENTRYPOINT ["dnis-service"]
CMD ["serve"]
