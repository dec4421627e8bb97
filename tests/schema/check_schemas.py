#!/usr/bin/env python3
"""Every schemas/*.schema.json is a valid JSON Schema (draft 2020-12, checked by python3-jsonschema)
with an $id, a title and a description, and every member it defines is described (the unit of a
number lives in its description).

    check_schemas.py SCHEMA_DIR
"""
import json
import pathlib
import sys

import jsonschema


DEFINING = ("type", "enum", "const", "oneOf", "anyOf")


def undescribed(node, path, out):
    """Paths of members (properties) that define a value (type, enum, const, alternatives) and
    carry no description. Conditions (if/then/else) and refinements that only add bounds to a
    member defined elsewhere need none."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if (isinstance(sub, dict) and "description" not in sub
                    and any(k in sub for k in DEFINING)):
                out.append(f"{path}/properties/{name}")
        for key, sub in node.items():
            if key not in ("if", "then", "else"):
                undescribed(sub, f"{path}/{key}", out)
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            undescribed(sub, f"{path}/{i}", out)


def main():
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.schema.json"))
    if not files:
        print(f"FAIL  no *.schema.json in {sys.argv[1]}")
        return 1
    bad = 0
    for f in files:
        try:
            schema = json.loads(f.read_text())
            jsonschema.Draft202012Validator.check_schema(schema)
        except (ValueError, jsonschema.SchemaError) as e:
            print(f"FAIL  {f}: {e}")
            bad += 1
            continue
        problems = []
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append("$schema is not draft 2020-12")
        for key in ("$id", "title", "description"):
            if not schema.get(key):
                problems.append(f"no {key}")
        missing = []
        undescribed(schema, "#", missing)
        problems += [f"{p}: no description" for p in missing]
        for p in problems:
            print(f"FAIL  {f}: {p}")
        bad += bool(problems)
        if not problems:
            print(f"ok    {f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
