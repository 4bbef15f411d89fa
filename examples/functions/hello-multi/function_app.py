"""Azure Functions' entry point (`function_app.app`, Python v2 model, route `hello-multi`)."""
import json

import azure.functions as func

from greeting import greet

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="hello-multi")
def hello_multi(req: func.HttpRequest) -> func.HttpResponse:
    event = req.get_json() if req.get_body() else {}
    return func.HttpResponse(json.dumps(greet(event, "azure")), mimetype="application/json")
