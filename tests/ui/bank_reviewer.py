"""A separate process that reviews prompts: the concurrency test starts two beside three writers.

usage: python bank_reviewer.py BANK REVIEWER GO_FILE ID...
Waits for GO_FILE, then approves the prompts at even positions of ID... and rejects the others.
"""

import sys
import time
from pathlib import Path

from weprompt.bank import bank_catalog
from weprompt.bank_edit import review_template


def main() -> None:
    bank, reviewer, go, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    task = bank_catalog(bank).task("ocnli")
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)
    for i, tid in enumerate(ids):
        action = "approve" if i % 2 == 0 else "reject"
        review_template(
            task, tid, action, reviewer, comment="" if i % 2 == 0 else f"{reviewer}：太像了", bank_dir=bank
        )
        print(tid, action, flush=True)


if __name__ == "__main__":
    main()
