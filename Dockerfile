# newsqa service image, in two stages: a builder with torch builds the index and its ONNX graphs; the runtime
# stage serves them with ONNX Runtime and never has torch (about a third of the builder's size).
#
# Build:  docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t newsqa .
#         podman build --format docker --build-arg TORCH_INDEX_URL=... -t newsqa .   (or: make image)
# Podman's default OCI format drops HEALTHCHECK; `--format docker` keeps it (docs/operations.md).
# Without TORCH_INDEX_URL pip takes torch from the default index, which may be a multi-GB CUDA build (builder only).
# EXTRAS: the package extras the runtime stage installs. Empty (the default) serves with the built-in search;
# `--build-arg EXTRAS=milvus` adds pymilvus and Milvus Lite for NEWSQA_SEARCH_BACKEND=milvus (docs/deployment.md),
# with pyarrow, pandas and grpc under them: about 280 MB of site-packages a built-in-search image does not need.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_INDEX_URL=""
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    NEWSQA_CORPUS_DIR=/srv/newsqa/corpus NEWSQA_INDEX_DIR=/srv/newsqa/index NEWSQA_PROMPTS_DIR=/srv/newsqa/prompts
WORKDIR /srv/newsqa
COPY pyproject.toml README.md requirements.lock ./
COPY app ./app
COPY prompts ./prompts
COPY corpus ./corpus
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install --index-url "$TORCH_INDEX_URL" "torch==2.13.0"; \
    else pip install "torch==2.13.0"; fi \
 && grep -v '^torch==' requirements.lock > /tmp/constraints.txt \
 && pip install --constraint /tmp/constraints.txt ".[build]" \
 && newsqa index

# ---------------------------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NEWSQA_HOST=0.0.0.0 \
    NEWSQA_PORT=8000 \
    NEWSQA_CORPUS_DIR=/srv/newsqa/corpus \
    NEWSQA_INDEX_DIR=/srv/newsqa/index \
    NEWSQA_PROMPTS_DIR=/srv/newsqa/prompts \
    NEWSQA_DRAIN_SECONDS=2 \
    NEWSQA_GRACEFUL_TIMEOUT_SECONDS=7
# drain + graceful timeout stay under `docker stop`'s default 10 s before SIGKILL
WORKDIR /srv/newsqa

# 1. the serving dependencies only (no `build` extra: no torch, transformers or model weights), pinned by the lock,
#    and the EXTRAS asked for
COPY pyproject.toml README.md requirements.lock ./
RUN mkdir app && touch app/__init__.py \
 && pip install --constraint requirements.lock ".${EXTRAS:+[$EXTRAS]}" \
 && pip uninstall -y newsqa && rm -rf app build

# 2. the application, its wording, the default corpus, and the index the builder made (its ONNX graphs inside)
COPY app ./app
COPY prompts ./prompts
COPY corpus ./corpus
RUN pip install --no-deps . \
 && useradd --system --uid 10001 --home /srv/newsqa newsqa
COPY --from=builder --chown=newsqa /srv/newsqa/index ./index
RUN chown newsqa /srv/newsqa /srv/newsqa/corpus \
 && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"

USER newsqa
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec newsqa serve --host \"$NEWSQA_HOST\" --port \"$NEWSQA_PORT\""]
