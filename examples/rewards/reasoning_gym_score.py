#!/usr/bin/env python3
"""Rewards from reasoning_gym's own scorers (pip install reasoning-gym), for
esft --reward-cmd. Each record carries what reasoning_gym generated for it
("answer", "metadata" with "source_dataset"); the response's last
<answer>...</answer> (else all of it) is scored by that task's score_answer.

Make a data set, then train:
    python3 examples/rewards/reasoning_gym_score.py --make basic_arithmetic 200 1 > arith.jsonl
    esft train --data arith.jsonl --eval-split 0.2 \\
        --reward-cmd "python3 examples/rewards/reasoning_gym_score.py" --out run
"""
import json
import os
import sys

import reasoning_gym

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esft_reward import answer_region, serve  # noqa: E402

scorers = {}


def score(prompt, response, item):
    name = item["metadata"]["source_dataset"]
    if name not in scorers:
        scorers[name] = reasoning_gym.get_score_answer_fn(name)
    reward = float(scorers[name](answer=answer_region(response).strip(), entry=item))
    return {"reward": reward, "correct": reward >= 1.0}


def make(name, size, seed):
    for entry in reasoning_gym.create_dataset(name, size=size, seed=seed):
        prompt = entry["question"] + "\nGive the final answer as <answer>...</answer>."
        print(json.dumps({"prompt": prompt, "answer": entry["answer"], "metadata": entry["metadata"]}))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--make":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        serve(score)
