"""boto3 against `LocalProvider::serve` (run by tests/serve.rs): python serve_boto3.py URL."""
import base64
import json
import sys

import boto3
from botocore.config import Config

url = sys.argv[1]
client = boto3.client(
    "lambda",
    endpoint_url=url,
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
    config=Config(retries={"max_attempts": 1, "mode": "standard"}),
)


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


r = client.invoke(FunctionName="hello", LogType="Tail", Payload=json.dumps({"name": "boto3"}))
check(r["StatusCode"] == 200, r)
check(r["ExecutedVersion"] == "$LATEST", r)
check("FunctionError" not in r, r)
check(json.loads(r["Payload"].read()) == {"hello": "boto3", "version": "$LATEST"}, "payload")
log = base64.b64decode(r["LogResult"]).decode()
check("log line from hello" in log and "REPORT RequestId:" in log, log)
check(len(r["ResponseMetadata"]["RequestId"]) == 36, r["ResponseMetadata"])

r = client.invoke(FunctionName="hello", Payload=b'{"fail": true}')
check(r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled", r)
check(json.loads(r["Payload"].read())["errorType"] == "ValueError", "error body")

context = base64.b64encode(json.dumps({"custom": {"from": "boto3"}}).encode()).decode()
r = client.invoke(FunctionName="hello", ClientContext=context, Payload=b'{"context": true}')
out = json.loads(r["Payload"].read())
check(out["custom"] == {"from": "boto3"}, out)
check(out["request_id"] == r["ResponseMetadata"]["RequestId"], (out, r["ResponseMetadata"]))
try:
    client.invoke(FunctionName="hello", ClientContext="not base64 json")
    check(False, "a client context that is not base64 JSON is an error")
except client.exceptions.InvalidRequestContentException as e:
    check("Client context must be a valid Base64-encoded JSON object" in str(e), str(e))

check(client.invoke(FunctionName="hello", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202, "Event")
check(client.invoke(FunctionName="hello", InvocationType="DryRun")["StatusCode"] == 204, "DryRun")

for name, qualifier, version in [
    ("hello", "live", "1"),
    ("hello:1", None, "1"),
    ("arn:aws:lambda:us-east-1:123456789012:function:hello:live", None, "1"),
    ("123456789012:function:hello", "$LATEST", "$LATEST"),
]:
    kwargs = {"FunctionName": name}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    r = client.invoke(**kwargs)
    check(r["ExecutedVersion"] == version, (name, qualifier, r))

try:
    client.invoke(FunctionName="nope")
    check(False, "an unknown function is an error")
except client.exceptions.ResourceNotFoundException as e:
    check(e.response["Error"]["Code"] == "ResourceNotFoundException", e.response)
    check("Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope" in str(e), str(e))
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response)

try:
    client.invoke(FunctionName="hello", Payload=b"not json")
    check(False, "a non-JSON payload is an error")
except client.exceptions.InvalidRequestContentException as e:
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)

try:
    client.invoke(FunctionName="hello", Payload=b" " * (6 * 1024 * 1024 + 1))
    check(False, "a payload over 6 MB is an error")
except client.exceptions.RequestTooLargeException as e:
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 413, e.response)

print("boto3: all checks passed")
