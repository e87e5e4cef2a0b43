#!/usr/bin/env bash
# esft bench report on the tiny model with small budgets: every device is
# measured or reported as failed / timed out / unavailable, the JSON holds
# to scripts/bench-report.schema.json, and bench compare reads it back.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

expect 0 "$ESFT" synth --out "$TMP/tiny.gguf"

# opencl made to fail and vulkan to hang (test switches of the device process)
ESFT_TEST_FAIL_BACKEND=opencl ESFT_TEST_HANG_BACKEND=vulkan \
  expect 0 "$ESFT" bench report --quick --model "$TMP/tiny.gguf" --budget 25 --threads 1 \
  -o "$TMP/r.md" --json "$TMP/r.json"
grep -q '^\[1/[0-9]\] cpu 0: ok' "$TMP/err" && ok || { bad "no progress line for cpu"; cat "$TMP/err" >&2; }

cat >"$TMP/check.py" <<'PY'
import json, sys
schema = json.load(open(sys.argv[1]))
report = json.load(open(sys.argv[2]))
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
def is_type(v, t):
    if t == "integer": return isinstance(v, int) and not isinstance(v, bool)
    if t == "number": return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, TYPES[t])
def check(v, s, where):
    errs = []
    t = s.get("type")
    if t and not any(is_type(v, x) for x in (t if isinstance(t, list) else [t])):
        return [f"{where}: {v!r} is not {t}"]
    if "enum" in s and v not in s["enum"]: errs.append(f"{where}: {v!r} not in {s['enum']}")
    if "minimum" in s and is_type(v, "number") and v < s["minimum"]: errs.append(f"{where}: {v} < {s['minimum']}")
    if isinstance(v, dict):
        errs += [f"{where}: missing {k}" for k in s.get("required", []) if k not in v]
        for k, sub in s.get("properties", {}).items():
            if k in v: errs += check(v[k], sub, f"{where}.{k}")
    if isinstance(v, list) and "items" in s:
        for i, x in enumerate(v): errs += check(x, s["items"], f"{where}[{i}]")
    return errs
errs = check(report, schema, "report")
by = {d["backend"]: d for d in report["devices"]}
cpu = by.get("cpu")
if not cpu or cpu["status"] != "ok": errs.append(f"cpu not ok: {cpu}")
else:
    for k in ("limits", "matmul", "noise", "decode", "es_iteration"):
        if k not in cpu: errs.append(f"cpu lacks {k}")
    if len(cpu.get("matmul", [])) != 12: errs.append("cpu: expected 3 shapes x 4 T in --quick")
    if [d["batch"] for d in cpu.get("decode", [])] != [1, 16, 64]: errs.append("cpu: decode batches")
    if not cpu.get("limits", {}).get("gflops", 0) > 0: errs.append("cpu: no peak")
    for e in cpu.get("matmul", []):
        if e["of_peak"] is None or abs(e["of_peak"] - e["gflops"] / cpu["limits"]["gflops"]) > 1e-9:
            errs.append(f"cpu: of_peak is not gflops / peak: {e}")
ocl, vk = by.get("opencl"), by.get("vulkan")
if ocl and ocl["status"] != "unavailable":
    if ocl["status"] != "failed" or "ESFT_TEST_FAIL_BACKEND" not in ocl["error"]: errs.append(f"opencl: {ocl['status']} {ocl['error']}")
    if "matmul" in ocl: errs.append("a failed device carries results")
if vk and vk["status"] != "unavailable" and vk["status"] != "timeout": errs.append(f"vulkan: {vk['status']} {vk['error']}")
if report["model"]["arch"] != "llama" or not report["model"]["params"] > 0: errs.append(f"model: {report['model']}")
print("\n".join(errs) if errs else "schema and content ok")
sys.exit(1 if errs else 0)
PY
python3 "$TMP/check.py" "$ROOT/scripts/bench-report.schema.json" "$TMP/r.json" >"$TMP/out" 2>&1 && ok ||
  { bad "report JSON:"; cat "$TMP/out" >&2; }
grep -q '^| cpu 0: ' "$TMP/r.md" && grep -q '^## Greedy decode' "$TMP/r.md" && ok || bad "markdown sections missing"
grep -q 'failed: opencl failed on purpose' "$TMP/r.md" || grep -q '^| opencl |' "$TMP/r.md" && ok ||
  bad "the failed device is not in the markdown"

# compare: a report against itself is 1.000 everywhere
expect 0 "$ESFT" bench compare "$TMP/r.json" "$TMP/r.json"
ratios=$(grep -c '^| .* | 1\.000 |$' "$TMP/out"); others=$(grep '^| ' "$TMP/out" | grep -v '| 1\.000 |$' | grep -vc '^| metric\|^|---')
[ "$ratios" -gt 10 ] && [ "$others" = 0 ] && ok || { bad "compare: $ratios ratios of 1, $others others"; cat "$TMP/out" >&2; }

# bad input: one line, the culprit named
expect 1 "$ESFT" bench compare "$TMP/r.md" "$TMP/r.json" && grep -q 'r.md: not an esft bench report' "$TMP/err" && ok
expect 1 "$ESFT" bench compare "$TMP/none.json" "$TMP/r.json" && grep -q 'none.json' "$TMP/err" && ok
expect 2 "$ESFT" bench compare "$TMP/r.json"
expect 2 "$ESFT" bench report --backend nonsense --model "$TMP/tiny.gguf"
expect 1 "$ESFT" bench report --model "$TMP/tiny.gguf" -o "$TMP/no/such/dir/r.md"
expect 1 "$ESFT" bench report --model "$TMP/missing.gguf"
finish
