"""faas local runtime for Python: a Lambda Runtime API client.

Imports the handler named by _HANDLER from LAMBDA_TASK_ROOT, then loops: fetch an event from
AWS_LAMBDA_RUNTIME_API, call handler(event, context), post the JSON result or the error in
Lambda's shape (errorMessage, errorType, stackTrace).
"""
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.rsplit(":", 1)
BASE = "/2018-06-01/runtime"


def call(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(HOST, int(PORT))
    conn.request(method, BASE + path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    result = (resp.status, resp, data)
    conn.close()
    return result


def error_payload(exc, error_type=None, message=None):
    tb = traceback.format_list(traceback.extract_tb(exc.__traceback__)) if exc is not None else []
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": tb,
    }


def post_error(path, payload):
    body = json.dumps(payload).encode()
    call("POST", path, body, {"Lambda-Runtime-Function-Error-Type": payload["errorType"],
                               "Content-Type": "application/json"})


def init_failed(payload):
    sys.stderr.write("[ERROR] %s: %s\n" % (payload["errorType"], payload["errorMessage"]))
    sys.stderr.flush()
    post_error("/init/error", payload)
    sys.exit(1)


def load_handler():
    handler = os.environ.get("_HANDLER", "")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    try:
        module_path, fn_name = handler.rsplit(".", 1)
    except ValueError:
        init_failed({"errorMessage": "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % handler,
                     "errorType": "Runtime.MalformedHandlerName", "requestId": "", "stackTrace": []})
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        init_failed(error_payload(e, "Runtime.UserCodeSyntaxError",
                                  "Syntax error in module '%s': %s" % (module_name, e)))
    except ImportError as e:
        init_failed(error_payload(e, "Runtime.ImportModuleError",
                                  "Unable to import module '%s': %s" % (module_name, e)))
    except Exception as e:  # noqa: BLE001 - any import-time failure is an init error
        init_failed(error_payload(e))
    fn = getattr(module, fn_name, None)
    if fn is None:
        init_failed({"errorMessage": "Handler '%s' missing on module '%s'" % (fn_name, module_name),
                     "errorType": "Runtime.HandlerNotFound", "requestId": "", "stackTrace": []})
    return fn


class Client:
    """The mobile client of a client context, as awslambdaric shows it."""
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext:
    """Lambda's client context (the Invoke API's ClientContext): custom, env and client."""
    __slots__ = ["custom", "env", "client"]


def from_dict(cls, data):
    if not isinstance(data, dict):
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, data.get(field))
    return obj


def client_context_of(header):
    """The Lambda-Runtime-Client-Context header (JSON) as context.client_context."""
    if not header:
        return None
    ctx = from_dict(ClientContext, json.loads(header))
    if ctx is not None:
        ctx.client = from_dict(Client, ctx.client)
    return ctx


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn, client_context=None):
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = client_context

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


def main():
    fn = load_handler()
    while True:
        status, resp, body = call("GET", "/invocation/next")
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        deadline = int(resp.getheader("Lambda-Runtime-Deadline-Ms", "0"))
        arn = resp.getheader("Lambda-Runtime-Invoked-Function-Arn", "")
        context = LambdaContext(request_id, deadline, arn,
                                client_context_of(resp.getheader("Lambda-Runtime-Client-Context")))
        path = "/invocation/%s" % request_id
        try:
            event = json.loads(body) if body else {}
            result = fn(event, context)
        except Exception as e:  # noqa: BLE001 - reported to the platform
            payload = error_payload(e)
            payload["requestId"] = request_id
            sys.stderr.write("[ERROR] %s: %s\n%s" % (payload["errorType"], payload["errorMessage"],
                                                      "".join(payload["stackTrace"])))
            sys.stderr.flush()
            post_error(path + "/error", payload)
            continue
        try:
            out = json.dumps(result).encode()
        except Exception as e:  # noqa: BLE001
            post_error(path + "/error", error_payload(e, "Runtime.MarshalError",
                                                      "Unable to marshal response: %s" % e))
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        call("POST", path + "/response", out, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
