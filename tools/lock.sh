#!/usr/bin/env bash
# Regenerates constraints.txt, the lock of every package the project installs (all extras), from
# pyproject.toml with pip-tools. Run it after changing a dependency, and commit the result:
#     bash tools/lock.sh                # keep existing pins where they still satisfy pyproject
#     bash tools/lock.sh --upgrade      # re-resolve everything to the newest allowed versions
# It resolves with pip's own configuration, so torch comes out as the 2.13.0 CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=(ui corpus corpus-ray train eval hf lmeval dev)
CUSTOM_COMPILE_COMMAND="bash tools/lock.sh" python -m piptools compile \
  --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
  "${extras[@]/#/--extra=}" --output-file constraints.txt "$@" pyproject.toml
