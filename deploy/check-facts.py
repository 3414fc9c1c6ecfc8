#!/usr/bin/env python3
"""Checks the facts docs/ARCHITECTURE.md states that the code can confirm:
the crate graph (and that no core crate depends on a front, the CLI, the
daemon or the tests), the failpoint list, and the files allowed unsafe code.
Run from the repository root; exits 1 naming each mismatch."""
import json
import re
import subprocess
import sys
from pathlib import Path

ARCH = Path("docs/ARCHITECTURE.md")
CORE = {"proto", "kernel", "shim", "cni", "registry", "engine", "docker-api", "dockerfile"}
OUTER = {"cri", "docker", "builder", "cli", "daemon", "e2e", "bench"}
RENAME = {"berth": "cli", "berthd": "daemon"}


def short(name):
    return RENAME.get(name, name.removeprefix("berth-"))


def section(text, heading):
    """The text of a `## heading` section, up to the next `## `."""
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def differences(what, in_code, in_doc):
    """One line per name that only the code or only ARCHITECTURE has."""
    return ([f"{what} {n} is in the code but not in {ARCH}" for n in sorted(in_code - in_doc)]
            + [f"{what} {n} is in {ARCH} but not in the code" for n in sorted(in_doc - in_code)])


def crate_graph():
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"]))
    names = {p["name"] for p in meta["packages"]}
    graph = {}
    for p in meta["packages"]:
        deps = {short(d["name"]) for d in p["dependencies"]
                if d["name"] in names and d["kind"] in (None, "normal")}
        graph[short(p["name"])] = deps
    return graph


def main():
    text = ARCH.read_text()
    errors = []

    graph = crate_graph()
    crates = section(text, "Crates and their dependencies")
    block = re.search(r"```text\n(.*?)```", crates, re.S)
    stated = {}
    for line in (block.group(1) if block else "").splitlines():
        if "→" not in line:
            continue
        crate, deps = (s.strip() for s in line.split("→", 1))
        stated[crate] = {d.strip() for d in deps.split(",") if d.strip() and d.strip() != "-"}
    for crate in sorted(set(graph) | set(stated)):
        if graph.get(crate) != stated.get(crate):
            errors.append(f"crate graph: {crate} → {sorted(graph.get(crate, []))} in Cargo.toml, "
                          f"{sorted(stated.get(crate, []))} in {ARCH}")
    for crate in sorted(CORE & set(graph)):
        if graph[crate] & OUTER:
            errors.append(f"core crate {crate} depends on {sorted(graph[crate] & OUTER)}")

    sources = [p for p in Path(".").glob("*/src/**/*.rs") if "target" not in p.parts]
    used = set()
    for p in sources:
        used |= set(re.findall(r'failpoint(?:::hit)?\("([a-z_.]+)"\)', p.read_text()))
    bullet = re.search(r"\*\*Failpoints\*\*.*?Steps:(.*?)`e2e/tests/node/failpoints.rs`", text, re.S)
    listed = set(re.findall(r"`([a-z_]+\.[a-z_.]+)`", bullet.group(1) if bullet else ""))
    errors += differences("failpoint", used, listed)

    unsafe = {str(p) for p in sources if "allow(unsafe_code)" in p.read_text()}
    para = re.search(r"Unsafe code is denied workspace-wide(.*?)\n\n", text, re.S)
    allowed = set(re.findall(r"`([a-z_/]+\.rs)`", para.group(1) if para else ""))
    errors += differences("file allowing unsafe code", unsafe, allowed)

    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"architecture facts: {len(graph)} crates, {len(used)} failpoints, "
          f"{len(unsafe)} files with unsafe code, as stated")


if __name__ == "__main__":
    main()
