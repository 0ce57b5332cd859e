# The recsys image: the package, its notebooks, and the `recsys` command (API and pipeline).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY recsys ./recsys
RUN pip install ".[ml,api,notebooks]"
COPY notebooks ./notebooks

RUN useradd --create-home --uid 1000 recsys \
    && mkdir -p /app/var /app/runs /data \
    && chown -R recsys:recsys /app /data
USER recsys

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ping', timeout=2)"
CMD ["recsys", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
