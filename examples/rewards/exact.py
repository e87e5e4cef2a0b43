#!/usr/bin/env python3
"""Exact-match reward for esft --reward-cmd: 1 when the response (or its last
<answer>...</answer>) equals the record's "answer" (a string or a list of
accepted strings), compared case- and space-insensitively. Standard library only.

    esft train --data my.jsonl --reward-cmd "python3 examples/rewards/exact.py" --out run
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esft_reward import answer_region, serve  # noqa: E402


def normalise(text):
    text = re.sub(r"\s+", " ", text.strip().lower())
    return text[:-1].rstrip() if text.endswith(".") else text


def score(prompt, response, item):
    accepted = item["answer"] if isinstance(item["answer"], list) else [item["answer"]]
    hit = normalise(answer_region(response)) in {normalise(str(a)) for a in accepted}
    return {"reward": float(hit), "correct": hit, "parts": {"answer": float(hit)}}


if __name__ == "__main__":
    serve(score)
