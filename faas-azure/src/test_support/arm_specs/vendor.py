"""Writes the ARM operation definitions the Azure fake checks requests against.

Source: the Python SDKs generated from azure-rest-api-specs, at the api-versions faas sends:
azure-mgmt-web (`azure/mgmt/web/v2023_12_01`, from specification/web/.../2023-12-01/WebApps.json)
and azure-mgmt-storage (`v2023_05_01`, from specification/storage/.../2023-05-01/storage.json).
For each operation faas calls (below), its HTTP method, URL template and query parameters (from
the request builder) and its body model (what the operation serializes), and every msrest model
those reach, as the wire shape its `_attribute_map` defines (flattened `properties.x` keys
nested). Re-run after upgrading the SDKs:

    target/test-venv/bin/python faas-azure/src/test_support/arm_specs/vendor.py
"""

import importlib
import inspect
import json
import os
import re
from importlib.metadata import version

SOURCES = {
    "web.2023-12-01.json": (
        "azure-mgmt-web",
        "azure.mgmt.web.v2023_12_01",
        "_web_apps_operations",
        "WebApps",
        [
            "create_or_update", "get", "update", "delete", "list_slots",
            "list_application_settings", "update_application_settings", "sync_function_triggers",
            "list_publishing_credentials", "get_configuration", "update_configuration", "list_host_keys",
            "create_or_update_slot", "get_slot", "update_slot", "delete_slot",
            "list_application_settings_slot", "update_application_settings_slot",
            "sync_function_triggers_slot", "list_publishing_credentials_slot",
            "get_production_site_deployment_status", "list_functions",
            "get_configuration_slot", "update_configuration_slot", "list_host_keys_slot", "swap_slot",
        ],
    ),
    "plans.2023-12-01.json": (
        "azure-mgmt-web",
        "azure.mgmt.web.v2023_12_01",
        "_app_service_plans_operations",
        "AppServicePlans",
        ["get"],
    ),
    "storage.2023-05-01.json": (
        "azure-mgmt-storage",
        "azure.mgmt.storage.v2023_05_01",
        "_storage_accounts_operations",
        "StorageAccounts",
        ["list_keys"],
    ),
}
SCALARS = {"str": "string", "int": "integer", "long": "integer", "bool": "boolean", "float": "number",
           "iso-8601": "date-time", "rfc-1123": "date-time", "duration": "duration", "object": "any",
           "bytearray": "string", "base64": "string", "date": "string", "unix-time": "integer"}


def builders(source):
    """build name -> (method, url template, query parameters)."""
    out = {}
    for m in re.finditer(r"^def build_(\w+)_request\(.*?(?=^def |\Z)", source, re.S | re.M):
        block = m.group(0)
        url = re.search(r'"template_url",\s*"([^"]+)"', block).group(1)
        method = re.search(r'HttpRequest\(method="(\w+)"', block).group(1)
        params = sorted(set(re.findall(r'_params\["([^"]+)"\]', block)))
        out[m.group(1)] = (method, url, params)
    return out


def bodies(source):
    """build name -> body model, from the operations that call the builder."""
    out = {}
    for m in re.finditer(r"^    def (\w+)\(.*?(?=^    def |\Z)", source, re.S | re.M):
        block = m.group(0)
        body = re.search(r'_serialize\.body\(\w+, "(\w+)"\)', block)
        for b in re.findall(r"_request = build_(\w+)_request\(", block):
            if body:
                out[b] = body.group(1)
    return out


def wire(models, name, seen):
    """The msrest model `name` as nested wire fields."""
    if name in seen:
        return
    cls = getattr(models, name)
    seen[name] = {}
    readonly = {k for k, v in getattr(cls, "_validation", {}).items() if v.get("readonly")}
    fields = {}
    for attr, spec in cls._attribute_map.items():
        parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", spec["key"])]
        at = fields
        for p in parts[:-1]:
            at = at.setdefault(p, {"type": "object", "fields": {}})["fields"]
        at[parts[-1]] = {**kind(models, spec["type"], seen), **({"readOnly": True} if attr in readonly else {})}
    seen[name] = {"type": "object", "fields": fields}


def kind(models, t, seen):
    if t.startswith("[") and t.endswith("]"):
        return {"type": "array", "items": kind(models, t[1:-1], seen)}
    if t.startswith("{") and t.endswith("}"):
        return {"type": "map", "values": kind(models, t[1:-1], seen)}
    if t in SCALARS:
        return {"type": SCALARS[t]}
    if hasattr(models, t) and hasattr(getattr(models, t), "_attribute_map"):
        wire(models, t, seen)
        return {"$ref": t}
    return {"type": "string"}  # an enum (its values are not in the msrest model)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for out_name, (dist, package, module, group, wanted) in SOURCES.items():
        ops_module = importlib.import_module(f"{package}.operations.{module}")
        models = importlib.import_module(f"{package}.models")
        source = inspect.getsource(ops_module)
        built, body_of = builders(source), bodies(source)
        seen, operations = {}, []
        for op in wanted:
            method, url, params = built[op]
            entry = {"operation": f"{group}.{op}", "method": method, "url": url, "query": params}
            if op in body_of:
                entry["body"] = body_of[op]
                wire(models, body_of[op], seen)
            operations.append(entry)
        api = package.rsplit(".v", 1)[1].replace("_", "-")
        doc = {
            "source": f"{dist} {version(dist)}: {package} (azure-rest-api-specs, api-version {api})",
            "apiVersion": api,
            "operations": operations,
            "models": dict(sorted(seen.items())),
        }
        with open(os.path.join(here, out_name), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
