#!/usr/bin/env bash
# Create or refresh .venv from uv.lock. Used by `make run` and `make test`.
# llama-cpp-python has no prebuilt wheel on PyPI: the first install compiles llama.cpp
# (about 14 minutes on 2 cores); uv keeps the built wheel in its cache for later installs.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  python3 -m pip install --quiet "uv==$UV_VERSION"
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
  echo "正在安装依赖（首次安装需编译 llama.cpp，约 14 分钟，请耐心等待）…" >&2
fi
uv sync --frozen "$@"
