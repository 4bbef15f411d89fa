"""Drives Google's own clients against the running GCP fake (faas-gcp/tests/official_clients.rs).

google-auth's service-account credentials get an access token from the fake's token endpoint
(the JWT grant Google's libraries send: `aud` https://oauth2.googleapis.com/token); then
google-cloud-functions and google-cloud-run, over their REST transports, read what the fake
serves: list and get functions, get operations (their `response` unpacked to the type its
`@type` names), get the Cloud Run services and list their revisions. Any response a client
cannot parse raises, and the script exits non-zero.

    python gcp_clients.py BASE_URL KEY_FILE FUNCTION_ID... -- OPERATION_NAME...
"""

import sys

import google.auth.transport.requests
from google.api_core.client_options import ClientOptions
from google.cloud import functions_v2, run_v2
from google.longrunning import operations_pb2
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google.protobuf import empty_pb2

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def main(argv):
    base, key_file, rest = argv[0], argv[1], argv[2:]
    split = rest.index("--")
    function_ids, operation_names = rest[:split], rest[split + 1 :]
    assert function_ids and operation_names, "give functions and operations"

    sa = service_account.Credentials.from_service_account_file(key_file, scopes=[CLOUD_PLATFORM])
    sa.refresh(google.auth.transport.requests.Request())
    assert sa.token, "the token endpoint granted no token"
    creds = user_credentials.Credentials(sa.token)

    functions = functions_v2.FunctionServiceClient(
        credentials=creds,
        transport="rest",
        client_options=ClientOptions(api_endpoint=f"{base}/functions"),
    )
    run = run_v2.ServicesClient(
        credentials=creds, transport="rest", client_options=ClientOptions(api_endpoint=f"{base}/run")
    )
    revisions = run_v2.RevisionsClient(
        credentials=creds, transport="rest", client_options=ClientOptions(api_endpoint=f"{base}/run")
    )

    parent = f"projects/{sa.project_id}/locations/europe-west1"
    listed = [f.name for f in functions.list_functions(request={"parent": parent, "page_size": 1})]
    want = sorted(f"{parent}/functions/{f}" for f in function_ids)
    assert sorted(listed) == want, f"list_functions (pages of 1) gave {listed}, not {want}"

    for name in want:
        f = functions.get_function(name=name)
        assert f.name == name, f.name
        assert f.state == functions_v2.Function.State.ACTIVE, f.state
        assert f.update_time.timestamp() > 0 and f.create_time.timestamp() > 0
        assert f.service_config.service, "no Cloud Run service named"
        service = run.get_service(name=f.service_config.service)
        assert service.template.containers, "the service has no template containers"
        assert service.uri, "no service uri"
        revs = list(revisions.list_revisions(parent=service.name))
        assert revs, f"no revisions of {service.name}"
        assert all(r.create_time.timestamp() > 0 for r in revs)

    for op_name in operation_names:
        op = functions.get_operation(request={"name": op_name})
        assert op.done, f"{op_name} is not done"
        assert op.WhichOneof("result") == "response", f"{op_name}: {op.WhichOneof('result')}"
        type_name = op.response.TypeName()
        if type_name == "google.cloud.functions.v2.Function":
            f = functions_v2.Function.pb()()
            assert op.response.Unpack(f), f"{op_name}: response does not unpack"
            assert f.name.startswith(parent), f.name
        elif type_name == "google.protobuf.Empty":
            assert op.response.Unpack(empty_pb2.Empty())
        elif type_name == "google.cloud.run.v2.Service":
            s = run_v2.Service.pb()()
            assert op.response.Unpack(s) and s.template.containers, f"{op_name}: {s}"
            run.get_operation(request={"name": op_name})
        else:
            raise AssertionError(f"{op_name}: unexpected response type {type_name}")
        assert isinstance(op, operations_pb2.Operation)
    print(f"ok: {len(want)} functions, {len(operation_names)} operations")


if __name__ == "__main__":
    main(sys.argv[1:])
