#!/bin/sh
# One virtual environment per competing tool under bench/.venvs/ (the tools named, or all four);
# a failed install is recorded in bench/logs/pip_<tool>.log.
cd "$(dirname "$0")"
mkdir -p .venvs logs
for pkg in ${*:-svy balance samplics weightipy}; do
  if [ -x .venvs/$pkg/bin/python ] && .venvs/$pkg/bin/python -c "import importlib.metadata as m; m.version('$pkg')" 2>/dev/null; then
    echo "$pkg: present"; continue; fi
  python3 -m venv .venvs/$pkg && .venvs/$pkg/bin/pip install -q $pkg > logs/pip_$pkg.log 2>&1 \
    && echo "$pkg: installed $(.venvs/$pkg/bin/python -c "import importlib.metadata as m; print(m.version('$pkg'))")" \
    || echo "$pkg: FAILED (see bench/logs/pip_$pkg.log)"
done
