"""A Cloud Functions (2nd gen) HTTP function: `--runtime python312 --entry-point main`."""
import os

import functions_framework


@functions_framework.http
def main(request):
    event = request.get_json(silent=True) or {}
    name = event.get("name", "world")
    return {"message": f"hello, {name}", "revision": os.environ.get("K_REVISION", "local")}
