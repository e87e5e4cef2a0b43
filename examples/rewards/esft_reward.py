"""The esft reward-command protocol (README, "Your own task"), for Python.

esft writes one JSON request per line on stdin,
    {"id": 7, "prompt": "...", "response": "...", "item": {...the data record...}}
and reads one JSON answer per line on stdout,
    {"id": 7, "reward": 1.0, "correct": true, "parts": {"answer": 1.0}}.
serve(score) runs that loop around a plain function
    score(prompt, response, item) -> float | dict(reward=..., correct=..., parts=...).
Standard library only. Print nothing else on stdout; stderr is yours (esft
shows its tail when something goes wrong).
"""
import json
import sys


def answer_region(response):
    """The text after the last <answer> (up to </answer> when closed), else all of it."""
    start = response.rfind("<answer>")
    if start < 0:
        return response
    body = response[start + len("<answer>"):]
    end = body.rfind("</answer>")
    return body if end < 0 else body[:end]


def serve(score):
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        result = score(request["prompt"], request["response"], request["item"])
        answer = result if isinstance(result, dict) else {"reward": float(result)}
        answer["id"] = request["id"]
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
