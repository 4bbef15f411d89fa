"""A small HTTP-style function: greets, processes data, rejects what it does not know."""
import json
import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def respond(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def lambda_handler(event, context):
    action = event.get("action", "greet")
    print("action=%s request=%s" % (action, context.aws_request_id))
    if action == "greet":
        return respond(200, {"message": "Hello, %s!" % event.get("name", "world")})
    if action == "process":
        data = event.get("data")
        if not isinstance(data, str) or not data:
            return respond(400, {"error": "process needs a non-empty string in 'data'"})
        return respond(200, {"processed": data.upper(), "length": len(data)})
    return respond(400, {"error": "unknown action %r" % action})
