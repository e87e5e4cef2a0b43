#!/usr/bin/env python3
"""Answer-only numeric reward for esft --reward-cmd: 1 when the response's final
number (the first after the last "####", else the last number in the text)
equals the record's "answer", else 0. Unlike the built-in `numeric` there is
no format bonus: on small models that bonus rewards a bare "#### <guess>",
which is often wrong. Standard library only.

    esft train --data math.jsonl --reward-cmd "python3 examples/rewards/final_number.py" --out run
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esft_reward import serve  # noqa: E402

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def final_number(text):
    mark = text.rfind("####")
    found = NUMBER.findall(text[mark + 4:]) if mark >= 0 else NUMBER.findall(text)
    if not found:
        return None
    value = found[0] if mark >= 0 else found[-1]
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return None


def score(prompt, response, item):
    x, want = final_number(response), float(item["answer"])
    hit = x is not None and abs(x - want) <= 1e-6 * max(1.0, abs(want))
    return {"reward": float(hit), "correct": hit, "parts": {"answer": float(hit)}}


if __name__ == "__main__":
    serve(score)
