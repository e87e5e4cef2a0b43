#!/usr/bin/env python3
"""Numeric reward with partial credit for esft --reward-cmd: 1 when the
response's final number (as final_number.py reads it) equals the record's
"answer"; otherwise 0.5 * max(0, 1 - |x - answer| / max(1, |answer|)), so an
answer that is off by a little earns more than a wild guess, and 0 when the
response has no number. "correct" is exact equality, so accuracy in
metrics.jsonl stays the strict one. Dense rewards give ES a signal when few
answers are right. Standard library only.

    esft train --data math.jsonl --reward-cmd "python3 examples/rewards/closeness.py" --out run
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esft_reward import serve  # noqa: E402
from final_number import final_number  # noqa: E402


def score(prompt, response, item):
    x, want = final_number(response), float(item["answer"])
    if x is None:
        return {"reward": 0.0, "correct": False, "parts": {"answer": 0.0, "closeness": 0.0}}
    hit = abs(x - want) <= 1e-6 * max(1.0, abs(want))
    close = max(0.0, 1.0 - abs(x - want) / max(1.0, abs(want)))
    reward = 1.0 if hit else 0.5 * close
    return {"reward": reward, "correct": hit, "parts": {"answer": float(hit), "closeness": close}}


if __name__ == "__main__":
    serve(score)
