"""The tokenizer test corpus (tests/data/tokenizer_corpus.txt): one case per
line, with escapes. Shared by the fixture generators."""


def unescape(line):
    """Corpus escapes: \\n -> newline, \\r -> CR, \\t -> tab, \\\\ -> backslash.
    A backslash before any other character is kept as is."""
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] in "nrt\\":
            out.append({"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}[line[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_corpus(path):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [unescape(l) for l in lines]
