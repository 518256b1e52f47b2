"""A separate process that saves prompts into a bank: the concurrent-writers test starts several.

usage: python bank_writer.py BANK EXAMPLES_JSON WORKER COUNT GO_FILE
Waits for GO_FILE to exist (so all workers start together), then saves COUNT new ocnli prompts.
"""

import json
import sys
import time
from pathlib import Path

from weprompt.bank import bank_catalog
from weprompt.bank_edit import new_template, save_template


def main() -> None:
    bank, examples_json, worker, count, go = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
        sys.argv[5],
    )
    examples = json.loads(Path(examples_json).read_text(encoding="utf-8"))
    task = bank_catalog(bank).task("ocnli")
    fields = {k for ex in examples for k in ex}
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)
    for i in range(count):
        t = new_template(
            name=f"写手{worker}_提示{i}",
            jinja=f"第{worker}位写手的第{i}个说法：{{{{sentence1}}}}；{{{{sentence2}}}} ||| {{{{answer_choices[label_id]}}}}",
            answer_choices="蕴含 ||| 中立 ||| 矛盾",
        )
        save_template(task, t, f"写手{worker}", examples=examples, data_fields=fields, bank_dir=bank)
        print(t.id, flush=True)


if __name__ == "__main__":
    main()
