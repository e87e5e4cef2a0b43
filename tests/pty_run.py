#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal of a given width and measures what it
drew, as a terminal would show it (for tests of progress output).

  pty_run.py run --cols 80 [--resize-on TEXT --resize-cols 40] --log FILE -- CMD...
      Runs CMD with stdin/stdout/stderr on a pty of 80 columns, copies
      everything it writes to FILE, and exits with CMD's exit status. With
      --resize-on, the first time TEXT appears in the output the pty is
      resized to --resize-cols (the kernel sends CMD SIGWINCH) and the byte
      offset of that moment is written to FILE.resize.

  pty_run.py measure FILE [--from-text TEXT] [--until-text TEXT]
      Prints "widest=W lines=L blank=B segments=S": the widest run of
      printable characters between two carriage returns or newlines
      (escape sequences removed), the number of newlines, of empty lines,
      and of segments; with --from-text, only what follows the first TEXT
      found after the resize offset (or from the start), and with
      --until-text, only what precedes the first TEXT found after that.
"""
import argparse
import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios

ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def set_size(fd, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))


def run(args):
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(args.cmd[0], args.cmd)
    set_size(master, args.cols)
    out = bytearray()
    resized = args.resize_on is None
    while True:
        try:
            ready, _, _ = select.select([master], [], [], 60)
        except InterruptedError:
            continue
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the pty
            break
        if not chunk:
            break
        out += chunk
        if not resized and args.resize_on.encode() in out:
            set_size(master, args.resize_cols)
            with open(args.log + ".resize", "w") as f:
                f.write(str(len(out)))
            resized = True
    _, status = os.waitpid(pid, 0)
    with open(args.log, "wb") as f:
        f.write(out)
    return os.waitstatus_to_exitcode(status)


def measure(args):
    with open(args.file, "rb") as f:
        data = f.read()
    start = 0
    if os.path.exists(args.file + ".resize"):
        with open(args.file + ".resize") as f:
            start = int(f.read())
    if args.from_text:
        at = data.find(args.from_text.encode(), start)
        start = at + len(args.from_text) if at >= 0 else len(data)
    else:
        start = 0
    end = len(data)
    if args.until_text:
        at = data.find(args.until_text.encode(), start)
        end = at if at >= 0 else end
    text = ESCAPE.sub(b"", data[start:end])
    segments = re.split(rb"[\r\n]", text)
    lines = text.split(b"\n")
    widest = max((len(s.decode("utf-8", "replace")) for s in segments), default=0)
    blank = sum(1 for line in lines[:-1] if not line.replace(b"\r", b"").strip())
    newlines = text.count(b"\n")
    print(f"widest={widest} lines={newlines} blank={blank} segments={len(segments)}")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run")
    r.add_argument("--cols", type=int, required=True)
    r.add_argument("--resize-on")
    r.add_argument("--resize-cols", type=int, default=40)
    r.add_argument("--log", required=True)
    r.add_argument("cmd", nargs="+")
    m = sub.add_parser("measure")
    m.add_argument("file")
    m.add_argument("--from-text")
    m.add_argument("--until-text")
    args = p.parse_args()
    return run(args) if args.mode == "run" else measure(args)


if __name__ == "__main__":
    sys.exit(main())
