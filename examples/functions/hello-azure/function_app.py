"""An Azure Functions (Python v2 model) HTTP function. Deploy it with
`examples/deploy --provider azure --function hello --src examples/functions/hello-azure`:
the route is the function's name, which is what the provider invokes (`/api/hello`)."""
import json
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    event = req.get_json() if req.get_body() else {}
    name = event.get("name", "world")
    body = {"message": f"hello, {name}", "site": os.environ.get("WEBSITE_SITE_NAME", "local")}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
