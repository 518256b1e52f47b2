#!/usr/bin/env bash
# A non-editable install, as a user of the wheel gets it: build the wheel, check that it holds one import
# root (`weprompt`) with its package data, install it with the lock into a brand-new venv, and run it
# from a directory that is not the checkout. Usage: bash tools/wheel_smoke.sh [work dir]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
export PIP_DISABLE_PIP_VERSION_CHECK=1

pip wheel -q --no-deps -w "$work/dist" "$repo"
wheel="$(ls "$work"/dist/weprompt-*.whl)"
python3 - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
top = {n.split("/")[0] for n in names}
roots = {t for t in top if not t.endswith(".dist-info")}
assert roots == {"weprompt"}, f"import roots in the wheel: {sorted(roots)} (want only weprompt)"
need = ["weprompt/prompt_bank/catalog.yaml", "weprompt/prompt_bank/templates/ocnli.yaml",
        "weprompt/pretrain/corpus/offensive_words.txt", "weprompt/eval/paper_table6.yaml",
        "weprompt/pretrain/model.py", "weprompt/annotation_ui/app.py"]
missing = [n for n in need if n not in names]
assert not missing, f"missing from the wheel: {missing}"
print(f"wheel: {len(names)} files, one import root, package data present")
PY

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q -c "$repo/constraints.txt" "$wheel"
cd "$work"  # not the checkout: nothing resolves from the source tree
"$work/venv/bin/weprompt" --help >/dev/null
"$work/venv/bin/weprompt" bank stats >/dev/null
"$work/venv/bin/python" - <<'PY'
import importlib.util
import weprompt.eval.metrics, weprompt.pretrain.model  # noqa: F401
from weprompt.common import paths
assert paths.PACKAGE_BANK_DIR.is_relative_to(__import__("sysconfig").get_paths()["purelib"]), paths.PACKAGE_BANK_DIR
for generic in ("pretrain", "eval", "annotation_ui", "prompt_bank"):
    assert importlib.util.find_spec(generic) is None, f"`{generic}` is importable from the install"
print("installed wheel: imports, bank and verbs work from", __import__("os").getcwd())
PY
if [ -d "$repo/../shared/data/ocnli" ]; then
  "$work/venv/bin/weprompt" bank validate --task ocnli --examples 3 --data-dir "$repo/../shared/data" >/dev/null
  echo "installed wheel: bank validate on real data ok"
fi
