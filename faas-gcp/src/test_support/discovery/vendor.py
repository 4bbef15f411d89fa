"""Writes the discovery-document excerpts the GCP fake checks requests against.

Source: the discovery documents google-api-python-client ships in
`googleapiclient/discovery_cache/documents/` (the `revision` of each is kept in its excerpt).
An excerpt keeps the document's global `parameters`, the methods faas calls (below, by id) with
their `httpMethod`, `flatPath`, `parameters`, `request` and `response`, and every schema those
reach; descriptions are dropped. Re-run after upgrading google-api-python-client:

    target/test-venv/bin/python faas-gcp/src/test_support/discovery/vendor.py
"""

import json
import os
import sys

import googleapiclient
from importlib.metadata import version

METHODS = {
    "cloudfunctions.v2": [
        "cloudfunctions.projects.locations.functions.create",
        "cloudfunctions.projects.locations.functions.get",
        "cloudfunctions.projects.locations.functions.list",
        "cloudfunctions.projects.locations.functions.patch",
        "cloudfunctions.projects.locations.functions.delete",
        "cloudfunctions.projects.locations.functions.generateUploadUrl",
        "cloudfunctions.projects.locations.operations.get",
    ],
    "run.v2": [
        "run.projects.locations.services.get",
        "run.projects.locations.services.patch",
        "run.projects.locations.services.revisions.get",
        "run.projects.locations.services.revisions.list",
        "run.projects.locations.services.revisions.delete",
        "run.projects.locations.operations.get",
    ],
    "iamcredentials.v1": [
        "iamcredentials.projects.serviceAccounts.generateIdToken",
        "iamcredentials.projects.serviceAccounts.generateAccessToken",
    ],
    "monitoring.v3": ["monitoring.projects.timeSeries.list"],
    "logging.v2": ["logging.entries.list"],
}
DROPPED = ("description", "enumDescriptions", "enumDeprecated")


def strip(x):
    if isinstance(x, dict):
        # A field may be called `description`: only the prose (strings, lists) goes.
        return {k: strip(v) for k, v in x.items() if k not in DROPPED or isinstance(v, dict)}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


def methods(resource):
    for m in resource.get("methods", {}).values():
        yield m
    for r in resource.get("resources", {}).values():
        yield from methods(r)


def refs(x):
    if isinstance(x, dict):
        if "$ref" in x:
            yield x["$ref"]
        for v in x.values():
            yield from refs(v)
    elif isinstance(x, list):
        for v in x:
            yield from refs(v)


def main():
    docs = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents")
    here = os.path.dirname(os.path.abspath(__file__))
    for name, ids in METHODS.items():
        doc = json.load(open(os.path.join(docs, f"{name}.json")))
        found = {m["id"]: m for m in methods(doc)}
        missing = [i for i in ids if i not in found]
        if missing:
            sys.exit(f"{name}: no methods {missing}")
        kept = [strip(found[i]) for i in ids]
        schemas, todo = {}, [r for m in kept for r in refs(m)]
        while todo:
            ref = todo.pop()
            if ref not in schemas:
                schemas[ref] = strip(doc["schemas"][ref])
                todo.extend(refs(schemas[ref]))
        excerpt = {
            "source": f"google-api-python-client {version('google-api-python-client')}: googleapiclient/discovery_cache/documents/{name}.json",
            "name": doc["name"],
            "version": doc["version"],
            "revision": doc["revision"],
            "rootUrl": doc["rootUrl"],
            "parameters": strip(doc["parameters"]),
            "methods": kept,
            "schemas": dict(sorted(schemas.items())),
        }
        with open(os.path.join(here, f"{name}.json"), "w") as out:
            json.dump(excerpt, out, indent=1, sort_keys=False)
            out.write("\n")


if __name__ == "__main__":
    main()
