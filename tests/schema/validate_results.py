#!/usr/bin/env python3
"""Validates sxbench result files against schemas/*.schema.json with python3-jsonschema.

    validate_results.py --schemas DIR [--require NAME ...] [--claims FILE ...] [--records FILE ...] PATH...

Each PATH is a file or a directory searched recursively. Files are matched to schemas by name:
run.json, sft_metrics.json, nccl.json, compute.json and compute_<host>.json,
gpu_metrics_summary.json, validation.json (and the --json output of `sxbench validate`, named
validation*.json), report.json, plan.json, preflight.json, diagnose.json, gpu_metrics.csv (header against x-columns, then every
row as an object); --claims names claims files, --records published-record files. --require NAME fails the run when no file of
that name was validated (so that a test cannot pass on an empty directory).

Known disagreements between a writer and the contract are listed in KNOWN_DISAGREEMENTS: an
error at exactly that place counts as an expected failure (printed, not fatal); a listed
disagreement that no longer occurs fails the run, so that the entry is removed once the writer
follows the contract. Exit status: 0 valid, 1 invalid, 2 usage.
"""
import argparse
import csv
import json
import pathlib
import sys

import jsonschema

# (file name, JSON pointer, condition on the document, what the writer does instead).
KNOWN_DISAGREEMENTS = []

SCHEMA_OF = {
    "run.json": "run",
    "sft_metrics.json": "sft_metrics",
    "nccl.json": "nccl",
    "gpu_metrics_summary.json": "gpu_metrics_summary",
    "report.json": "report",
    "plan.json": "plan",
    "preflight.json": "preflight",
    "diagnose.json": "diagnose",
}


def schema_for(path):
    name = path.name
    if name in SCHEMA_OF:
        return SCHEMA_OF[name]
    if name == "compute.json" or (name.startswith("compute_") and name.endswith(".json")):
        return "compute"
    if name.startswith("validation") and name.endswith(".json"):
        return "validation"
    if name == "gpu_metrics.csv":
        return "gpu_metrics_csv"
    return None


def pointer(error):
    return "/" + "/".join(str(p) for p in error.absolute_path)


class Checker:
    def __init__(self, schema_dir):
        self.validators = {}
        for f in sorted(pathlib.Path(schema_dir).glob("*.schema.json")):
            schema = json.loads(f.read_text())
            jsonschema.Draft202012Validator.check_schema(schema)
            checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
            self.validators[f.name[: -len(".schema.json")]] = (
                schema,
                jsonschema.Draft202012Validator(schema, format_checker=checker),
            )
        self.failures = 0
        self.validated = {}
        self.expected_seen = set()
        self.expected_applicable = set()

    def report(self, path, errors, doc, name):
        unexpected = []
        for e in errors:
            known = next(
                (k for k in KNOWN_DISAGREEMENTS
                 if k[0] == name and k[1] == pointer(e) and k[2](doc)),
                None,
            )
            if known:
                self.expected_seen.add((str(path), known[1]))
                print(f"XFAIL {path}: {known[1]}: {e.message} (known disagreement: {known[3]})")
            else:
                unexpected.append(e)
        for e in unexpected:
            print(f"FAIL  {path}: {pointer(e)}: {e.message}")
        return not unexpected

    def check_json(self, path, schema_name, file_name):
        doc = json.loads(path.read_text())
        _, validator = self.validators[schema_name]
        for k in KNOWN_DISAGREEMENTS:
            if k[0] == file_name and k[2](doc):
                self.expected_applicable.add((str(path), k[1]))
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        return self.report(path, errors, doc, file_name)

    def check_csv(self, path):
        schema, validator = self.validators["gpu_metrics_csv"]
        columns = schema["x-columns"]
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != columns:
                print(f"FAIL  {path}: header {header} differs from x-columns {columns}")
                return False
            ok = True
            rows = 0
            for line, cells in enumerate(reader, start=2):
                rows += 1
                if len(cells) != len(columns):
                    print(f"FAIL  {path}:{line}: {len(cells)} cells, header has {len(columns)}")
                    ok = False
                    continue
                row = {c: convert(v, schema["properties"][c]) for c, v in zip(columns, cells)}
                for e in validator.iter_errors(row):
                    print(f"FAIL  {path}:{line}: {pointer(e)}: {e.message}")
                    ok = False
            if rows == 0:
                print(f"FAIL  {path}: no rows")
                ok = False
            return ok

    def check(self, path, schema_name=None):
        schema_name = schema_name or schema_for(path)
        if schema_name is None:
            return
        try:
            if schema_name == "gpu_metrics_csv":
                ok = self.check_csv(path)
            else:
                ok = self.check_json(path, schema_name, path.name)
        except (OSError, ValueError) as e:
            print(f"FAIL  {path}: {e}")
            ok = False
        self.validated.setdefault(
            path.name if schema_name not in ("claims", "records") else schema_name, []).append(path)
        if ok:
            print(f"ok    {path} ({schema_name})")
        else:
            self.failures += 1


def convert(cell, prop):
    """A CSV cell as the JSON value the row schema describes: empty is null; a number where the
    column is numeric (left as text when it does not parse, so that validation names it)."""
    if cell == "":
        return None
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    try:
        if "integer" in types:
            return int(cell)
        if "number" in types:
            return float(cell)
    except ValueError:
        pass
    return cell


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schemas", required=True, help="directory of *.schema.json")
    ap.add_argument("--require", action="append", default=[], help="file name that must occur")
    ap.add_argument("--claims", action="append", default=[], help="claims file")
    ap.add_argument("--records", action="append", default=[], help="records file (configs/records)")
    ap.add_argument("paths", nargs="*")
    a = ap.parse_args()
    checker = Checker(a.schemas)
    for c in a.claims:
        checker.check(pathlib.Path(c), "claims")
    for r in a.records:
        checker.check(pathlib.Path(r), "records")
    for p in map(pathlib.Path, a.paths):
        if not p.exists():
            print(f"FAIL  {p}: does not exist")
            checker.failures += 1
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                checker.check(f)
    for name in a.require:
        if name not in checker.validated:
            print(f"FAIL  no {name} was found to validate")
            checker.failures += 1
    for path, ptr in sorted(checker.expected_applicable - checker.expected_seen):
        print(f"FAIL  {path}: {ptr} now follows the contract: remove its KNOWN_DISAGREEMENTS entry")
        checker.failures += 1
    n = sum(len(v) for v in checker.validated.values())
    print(f"{n} file(s) validated, {checker.failures} invalid, "
          f"{len(checker.expected_seen)} known disagreement(s)")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
