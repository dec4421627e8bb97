#!/usr/bin/env python3
"""Writes docs/result-files.md from schemas/*.schema.json: one section per result file, one table
row per field (path, type with its bounds, required or not, description with the unit).

    scripts/schema_docs.py            rewrite docs/result-files.md
    scripts/schema_docs.py --check    exit 1 when the committed page differs from the generated one

The schemas are the contract; this page is only their rendering, so edit the schemas, never the
page. Standard library only.
"""
import argparse
import difflib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
PAGE = ROOT / "docs" / "result-files.md"
# Order of the sections: a run directory's files first, then what report, plan and validate read
# or write. Schemas not listed follow in name order.
ORDER = ["run", "sft_metrics", "nccl", "compute", "gpu_metrics_summary", "gpu_metrics_csv",
         "validation", "report", "plan", "claims"]


def resolve(schema, node, seen):
    """node with its local $ref followed (once per reference on the current path)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        if not ref.startswith("#/"):
            return extra, seen
        target = schema
        for part in ref[2:].split("/"):
            target = target[part]
        if ref in seen:
            # A recursive shape (e.g. a summary per host inside the summary): named, not unrolled.
            what = "the whole file" if target is schema or ref == schema.get("$ref") else \
                f"`{ref.split('/')[-1]}`"
            return {"type": target.get("type", "object"), "x-same-as": what,
                    "description": extra.get("description", f"Same shape as {what}.")}, seen
        node = {**target, **extra}
        seen = seen | {ref}
    return node, seen


def merged(schema, node, seen):
    """node with allOf members folded in and oneOf/anyOf alternatives listed."""
    node, seen = resolve(schema, node, seen)
    out = dict(node)
    for sub in node.get("allOf", []):
        s, _ = merged(schema, sub, seen)
        for k, v in s.items():
            if k == "properties":
                props = dict(out.get("properties", {}))
                for pk, pv in v.items():
                    props[pk] = {**props.get(pk, {}), **pv} if isinstance(pv, dict) else pv
                out["properties"] = props
            elif k == "required":
                out["required"] = list(dict.fromkeys(out.get("required", []) + v))
            elif k not in out and k not in ("if", "then", "else"):
                out[k] = v
    return out, seen


def type_text(schema, node, seen):
    node, seen = merged(schema, node, seen)
    if "const" in node:
        return f"`{json.dumps(node['const'], ensure_ascii=False)}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in node["enum"])
    alts = node.get("oneOf") or node.get("anyOf")
    if alts:
        return " or ".join(type_text(schema, a, seen) for a in alts)
    t = node.get("type", "any")
    t = " or ".join(t) if isinstance(t, list) else t
    if t == "array" and "items" in node:
        t = f"array of {type_text(schema, node['items'], seen)}"
    bounds = []
    if "minimum" in node:
        bounds.append(f"≥ {node['minimum']}")
    if "exclusiveMinimum" in node:
        bounds.append(f"> {node['exclusiveMinimum']}")
    if "maximum" in node:
        bounds.append(f"≤ {node['maximum']}")
    if "format" in node:
        bounds.append(node["format"])
    if "pattern" in node:
        bounds.append(f"matching `{node['pattern']}`")
    return t + (f" ({', '.join(bounds)})" if bounds else "")


def cell(text):
    return (text or "").replace("|", "\\|").replace("\n", " ")


def rows(schema, node, path, seen, out, depth=0):
    """Table rows for the members of an object node, recursing into objects and arrays."""
    node, seen = merged(schema, node, seen)
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        sub_m, sub_seen = merged(schema, sub, seen)
        field = f"{path}{name}"
        desc = sub.get("description") or sub_m.get("description", "")
        out.append(f"| `{field}` | {cell(type_text(schema, sub, seen))} | "
                   f"{'yes' if name in required else 'no'} | {cell(desc)} |")
        recurse_into(schema, sub_m, field, sub_seen, out, depth)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        field = f"{path}<key>"
        extra_m = merged(schema, extra, seen)[0]
        desc = extra_m.get("description") or "One member; the key is described above."
        out.append(f"| `{field}` | {cell(type_text(schema, extra, seen))} | no | {cell(desc)} |")
        recurse_into(schema, merged(schema, extra, seen)[0], field, seen, out, depth)


def recurse_into(schema, node, field, seen, out, depth):
    if depth > 8:
        return
    if "properties" in node or isinstance(node.get("additionalProperties"), dict):
        rows(schema, node, field + ".", seen, out, depth + 1)
    for alt in node.get("oneOf", []) + node.get("anyOf", []):
        alt_m, alt_seen = merged(schema, alt, seen)
        if "properties" in alt_m:
            rows(schema, alt_m, field + ".", alt_seen, out, depth + 1)
    if node.get("type") == "array" or "items" in node:
        items, items_seen = merged(schema, node.get("items", {}), seen)
        if "properties" in items or items.get("oneOf"):
            recurse_into(schema, items, field + "[]", items_seen, out, depth + 1)


def conditions(schema):
    """The schema's if/then rules in words (which members depend on which values)."""
    lines = []
    for rule in schema.get("allOf", []):
        cond = rule.get("if", {}).get("properties", {})
        then = rule.get("then", {})
        if not cond:
            continue
        when = ", ".join(f"`{k}` is `{json.dumps(v.get('const'))}`" for k, v in cond.items())
        parts = []
        if then.get("required"):
            parts.append("required: " + ", ".join(f"`{r}`" for r in then["required"]))
        for k, v in then.get("properties", {}).items():
            if "$ref" in v:
                parts.append(f"`{k}` follows `{v['$ref'].split('/')[-1]}` below")
            elif isinstance(v, dict) and "properties" in v:
                inner = ", ".join(f"`{k}.{ik}` = `{json.dumps(iv.get('const'))}`"
                                  for ik, iv in v["properties"].items() if "const" in iv)
                if inner:
                    parts.append(inner)
        lines.append(f"- When {when}: {'; '.join(parts)}.")
    return lines


def section(name, schema):
    out = [f"## {schema.get('title', name)}", "", schema.get("description", ""), ""]
    out.append(f"Schema: [`schemas/{name}.schema.json`](../schemas/{name}.schema.json) "
               f"(`$id` `{schema.get('$id', '')}`).")
    out.append("")
    if "x-columns" in schema:
        out.append("Columns, in order: " + ", ".join(f"`{c}`" for c in schema["x-columns"]) + ".")
        out.append("")
    cond = conditions(schema)
    if cond:
        out += ["Conditions:", ""] + cond + [""]
    out += ["| Field | Type | Required | Description |", "|---|---|---|---|"]
    rows(schema, schema, "", set(), out)
    out.append("")
    # Shapes that only a condition selects (e.g. one engine's memory figures).
    for rule in schema.get("allOf", []):
        for k, v in rule.get("then", {}).get("properties", {}).items():
            if isinstance(v, dict) and "$ref" in v:
                target, _ = resolve(schema, v, set())
                out += [f"`{k}` as `{v['$ref'].split('/')[-1]}`: {target.get('description', '')}", "",
                        "| Field | Type | Required | Description |", "|---|---|---|---|"]
                rows(schema, target, f"{k}.", {v["$ref"]}, out)
                out.append("")
    return out


def render():
    schemas = {f.name[: -len(".schema.json")]: json.loads(f.read_text())
               for f in SCHEMAS.glob("*.schema.json")}
    names = [n for n in ORDER if n in schemas] + sorted(n for n in schemas if n not in ORDER)
    out = ["# Result files", "",
           "<!-- Generated by scripts/schema_docs.py from schemas/*.schema.json; edit the schemas"
           " and run the script. A test (schema.docs_current) fails when this page is stale. -->",
           "",
           "Every file sxbench writes for other programs (and for its own report, plan and "
           "validate commands) has one definition: a JSON Schema (draft 2020-12) under "
           "`schemas/`. This page renders them. JSON files name their format and version in "
           "their `schema` member (`sxbench.<file>/<version>`); a reader that meets another "
           "version should name the file as written by another sxbench version. Units are in "
           "each description; `≥ 0` marks figures that cannot be negative. Arrays are shown as "
           "`name[]`, map members (any key) as `<key>`.", "",
           "Files:", ""]
    for n in names:
        title = schemas[n].get("title", n)
        anchor = "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")
        out.append(f"- [{title}](#{anchor})")
    out.append("")
    for n in names:
        out += section(n, schemas[n])
    return "\n".join(out).rstrip("\n") + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument("--page", default=str(PAGE), help="page to write or check")
    a = ap.parse_args()
    text = render()
    page = pathlib.Path(a.page)
    if a.check:
        current = page.read_text() if page.exists() else ""
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), str(page), "generated"))
            print(f"{page} is stale: run scripts/schema_docs.py", file=sys.stderr)
            return 1
        print(f"{page} matches schemas/")
        return 0
    page.write_text(text)
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
