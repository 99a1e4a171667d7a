# newsqa service image: one uvicorn worker, index prebuilt at build time, runs as a non-root user.
# Build:  docker build --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index> -t newsqa .
# (Without TORCH_INDEX_URL pip takes torch from the default index, which may be a multi-GB CUDA build.)
FROM python:3.11-slim AS runtime

ARG TORCH_INDEX_URL=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    NEWSQA_HOST=0.0.0.0 \
    NEWSQA_PORT=8000 \
    NEWSQA_CORPUS_DIR=/srv/newsqa/corpus \
    NEWSQA_INDEX_DIR=/srv/newsqa/index \
    NEWSQA_PROMPTS_DIR=/srv/newsqa/prompts \
    NEWSQA_DRAIN_SECONDS=2 \
    NEWSQA_GRACEFUL_TIMEOUT_SECONDS=7
# drain + graceful timeout stay under `docker stop`'s default 10 s before SIGKILL

WORKDIR /srv/newsqa

# 1. dependencies in their own layer: only pyproject.toml is copied, so code changes keep this layer cached
COPY pyproject.toml README.md ./
RUN mkdir app && touch app/__init__.py \
 && if [ -n "$TORCH_INDEX_URL" ]; then pip install --index-url "$TORCH_INDEX_URL" "torch==2.13.0"; \
    else pip install "torch==2.13.0"; fi \
 && pip install . \
 && pip uninstall -y newsqa && rm -rf app build

# 2. the application, its wording and the default corpus
COPY app ./app
COPY prompts ./prompts
COPY corpus ./corpus
COPY index/README.md ./index/README.md
RUN pip install --no-deps . \
 && useradd --system --uid 10001 --home /srv/newsqa newsqa \
 && chown -R newsqa /srv/newsqa

USER newsqa
# 3. prebuild the index so the container is ready seconds after start
RUN newsqa index

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec newsqa serve --host \"$NEWSQA_HOST\" --port \"$NEWSQA_PORT\""]
