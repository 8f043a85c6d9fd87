# syntax=docker/dockerfile:1
# The operator image: `kubedirector run` as a non-root user on a read-only root
# filesystem. Multi-stage: stage 1 builds wheels of kubedirector-core (and of the
# bundled plugins), stage 2 installs them into a clean interpreter image, so no
# compiler, source tree or pip cache reaches the image.
#
# The base is pinned by version. Pin it by digest too when building for
# production (python:3.11.14-slim-bookworm@sha256:...); the digest is resolved
# where a registry is reachable, which the project's own machines are not.
#
# Plugins: `--build-arg PLUGINS="kd-hadoop kd-spark kd-tensorflow"` installs
# bundled ones; any other pip-installable plugin goes into a derived image
# (see deploy/README.md, "Image").
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kubedirector_core ./kubedirector_core
COPY plugins ./plugins
RUN pip wheel --wheel-dir /wheels . \
        ./plugins/kd_hadoop ./plugins/kd_spark ./plugins/kd_tensorflow

FROM ${PYTHON_IMAGE}
ARG PLUGINS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels kubedirector-core ${PLUGINS}
# The root filesystem is mounted read-only: no bytecode written at run time,
# HOME and temporary files on /tmp (an emptyDir in deploy/operator.yaml).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
# A numeric user, so that runAsNonRoot can be verified without /etc/passwd.
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080 8081
ENTRYPOINT ["kubedirector"]
CMD ["run"]
