#!/usr/bin/env python3
"""The crate's top-level module graph, and its cycles (there must be none).

Each top-level module of src/ (a file or a directory) is a node; an edge a -> b means code
of a (tests aside) names `crate::b`. Prints the edges with `-v`, then the cycles; exits 1
when there is one, so CI keeps the layering one-way.

Usage: python3 .ci/modules.py [-v] [path/to/src]
"""

import os
import re
import sys

CRATE_PATH = re.compile(r"\bcrate::(\w+)")
# `use crate::{a::X, b}`: the names right inside the braces.
CRATE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\}", re.S)
LINE_COMMENT = re.compile(r"//[^\n]*")
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
# The unit tests at a file's end, and test-only files: tests may reach anywhere.
TEST_MODULE = re.compile(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", re.S)
TEST_FILES = ("tests.rs", "test_support.rs")


def top_modules(src):
    names = set()
    for entry in os.listdir(src):
        if entry in ("lib.rs", "main.rs"):
            continue
        path = os.path.join(src, entry)
        if os.path.isdir(path):
            names.add(entry)
        elif entry.endswith(".rs"):
            names.add(entry[:-3])
    return names


def code_of(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = BLOCK_COMMENT.sub("", LINE_COMMENT.sub("", text))
    test = TEST_MODULE.search(text)
    return text[: test.start()] if test else text


def named_modules(text):
    names = set(CRATE_PATH.findall(text))
    for group in CRATE_GROUP.findall(text):
        for part in group.split(","):
            head = part.strip().split("::")[0].strip("{} \n")
            if head:
                names.add(head)
    return names


def edges_of(src):
    tops = top_modules(src)
    edges = {m: {} for m in tops}
    for directory, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs") or name.endswith(TEST_FILES) or name.endswith("_tests.rs"):
                continue
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, src)
            top = rel.split(os.sep)[0].removesuffix(".rs")
            if top not in tops:
                continue
            for other in named_modules(code_of(path)) & tops - {top}:
                edges[top].setdefault(other, set()).add(rel)
    return edges


def cycles(edges):
    """Tarjan's strongly connected components with more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main(argv):
    verbose = "-v" in argv
    rest = [a for a in argv if a != "-v"]
    src = rest[0] if rest else os.path.join(os.path.dirname(__file__), "..", "src")
    edges = edges_of(src)
    if verbose:
        for module in sorted(edges):
            print(f"{module} -> {' '.join(sorted(edges[module])) or '(nothing)'}")
    found = cycles(edges)
    if not found:
        print(f"module graph: {len(edges)} top-level modules, no cycle")
        return 0
    for component in found:
        print(f"module cycle: {' <-> '.join(component)}", file=sys.stderr)
        for a in component:
            for b in component:
                if b in edges[a]:
                    files = ", ".join(sorted(edges[a][b]))
                    print(f"  {a} -> {b} in {files}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
