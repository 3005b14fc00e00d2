#!/bin/sh
# Set up minikeras for development, then (optionally) run one command in that environment.
#
#   sh scripts/setup.sh                              # install only
#   sh scripts/setup.sh python -m pytest -n 2 tests  # install, then run the tests
#
# Which Python environment:
#   * if a virtualenv is active ($VIRTUAL_ENV), it is used;
#   * otherwise ./.venv is used, created with `python3 -m venv .venv` if it does not exist
#     (set PYTHON=/path/to/python3.11 to create it with another interpreter).
# Into it goes an upgraded pip and `pip install -e ".[test,tutorials,docs,interop]"` (interop:
# h5py, ONNX, ONNX Runtime, Keras 3 and JAX, so the Keras/ONNX round trips run, not skip). A
# stamp file in the environment remembers what was installed, so a second run skips pip unless
# pyproject.toml, the extras, the checkout or the environment changed (MINIKERAS_REINSTALL=1
# forces a reinstall). Then
# `python -m minikeras.kernels.warmup` compiles the kernels into numba's cache (once; a later
# run only checks that they are there).
#
# Any arguments form a command that is run last, from the repository root, with the
# environment's bin/ first on PATH: so `python`, `pytest`, `jupyter` are the environment's,
# whether or not it was active before.
set -eu

say() { printf 'setup.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

cd "$(dirname "$0")/.."
root=$(pwd -P)
[ -f pyproject.toml ] || die "run me from a minikeras checkout (no pyproject.toml in $root)"

# 1. Choose (or create) the environment.
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    venv=$VIRTUAL_ENV
    say "using the active virtualenv $venv"
else
    venv=$root/.venv
    if [ ! -x "$venv/bin/python" ]; then
        base=${PYTHON:-python3}
        command -v "$base" >/dev/null 2>&1 || die "$base not found; install Python 3.11 or newer"
        "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || die "minikeras needs Python >= 3.11, but $base is $("$base" -V 2>&1)"
        say "creating $venv with $("$base" -V 2>&1)"
        if ! "$base" -m venv "$venv"; then
            rm -rf "$venv"
            # Debian's system Python keeps venv/ensurepip in a separate package.
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
                say "python3 -m venv failed; installing Debian's python3-venv and retrying"
                apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
                    || die "could not install python3-venv"
                "$base" -m venv "$venv" || die "python3 -m venv still fails"
            else
                die "python3 -m venv failed; on Debian/Ubuntu run: sudo apt-get install python3-venv"
            fi
        fi
    fi
fi
py=$venv/bin/python
[ -x "$py" ] || die "no interpreter at $py"

# 2. Install, unless the stamp says this exact state is already installed.
stamp=$venv/.minikeras-setup-stamp
extras=test,tutorials,docs,interop
want="$root [$extras] $(cksum < pyproject.toml) $("$py" -V 2>&1)"
have=$(cat "$stamp" 2>/dev/null || true)
if [ "${MINIKERAS_REINSTALL:-0}" != 0 ] || [ "$want" != "$have" ] \
    || ! "$py" -c 'import importlib.metadata as m; m.version("minikeras")' >/dev/null 2>&1; then
    say "installing minikeras[$extras] into $venv (a few minutes the first time)"
    "$py" -m pip install -qq --upgrade pip
    "$py" -m pip install -qq -e ".[$extras]"
    printf '%s\n' "$want" > "$stamp"
    say "done"
else
    say "minikeras[$extras] is already installed in $venv"
fi

# 3. Compile the convolution kernels into numba's cache now, so that the demo and the notebooks
#    start warm (half a minute the first time; under a second to check when already cached, so
#    it runs even when the install above was skipped: edited kernels compile here, not in class).
"$py" -m minikeras.kernels.warmup \
    || say "warning: compiling the kernels ahead of time failed; they will compile on first use"

# 4. Run the command, if any, inside the environment.
if [ "$#" -gt 0 ]; then
    PATH=$venv/bin:$PATH
    VIRTUAL_ENV=$venv
    export PATH VIRTUAL_ENV
    unset PYTHONHOME
    exec "$@"
fi
say "interpreter: $py"
