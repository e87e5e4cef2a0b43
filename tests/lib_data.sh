# Shared by tests/cli_data*.sh (not itself a test): data-set helpers.
# responses_from_answers FILE: for each record of the JSONL FILE, a response
# {"response": ...} that states its 'answer' as the prompt asks: a grid as
# rows of space-separated digits, a number as it is, inside <answer> tags.
responses_from_answers() {
  python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    a = json.loads(line)["answer"]
    text = "\n".join(" ".join(str(v) for v in row) for row in a) if isinstance(a, list) else str(a)
    print(json.dumps({"response": "Worked it out.</think>\n<answer>\n" + text + "\n</answer>"}))
PY
}
# disjoint_prompts TRAIN EVAL: no prompt is in both files; prints the count.
disjoint_prompts() {
  python3 - "$1" "$2" <<'PY'
import json, sys
sets = [{json.loads(l)["prompt"] for l in open(p, encoding="utf-8")} for p in sys.argv[1:3]]
shared = sets[0] & sets[1]
print(len(shared))
sys.exit(1 if shared else 0)
PY
}
