"""Drives Microsoft's own client against the running Azure fake (faas-azure/tests/official_clients.rs).

azure-mgmt-web (api-version 2023-12-01, the one faas sends), with `base_url` at the fake and
its CA trusted, creates a function app and a slot (a long-running `WebApps_CreateOrUpdate` /
`_CreateOrUpdateSlot`: 200 or 202, the `Azure-AsyncOperation` followed), gets the site, lists
its app settings and its slots, and azure-mgmt-storage (2023-05-01) lists the storage
account's keys. Anything the client's models cannot deserialize, or a status the operation
does not define, raises and the script exits non-zero.

    python azure_clients.py BASE_URL CA_FILE TENANT CLIENT_ID CLIENT_SECRET SUBSCRIPTION GROUP PLAN ACCOUNT [APP...]

With APPs (sites faas deployed through the fake), it only reads them instead: each site, its
app settings and its slots (and each slot's settings), Flex sites' `functionAppConfig`
included.
"""

import sys
import time

import requests
from azure.core.credentials import AccessToken
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.v2023_12_01 import models

ARM_SCOPE = "https://management.azure.com/.default"


class FakeEntraCredential:
    """A TokenCredential: a client-secret grant at the fake's Entra token endpoint."""

    def __init__(self, base, ca, tenant, client_id, secret):
        self._url = f"{base}/{tenant}/oauth2/v2.0/token"
        self._ca = ca
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}

    def get_token(self, *scopes, **_kwargs):
        assert scopes == (ARM_SCOPE,), scopes
        answer = requests.post(self._url, data={**self._form, "scope": scopes[0]}, verify=self._ca, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


def read_deployed(web, group, apps):
    """Reads sites faas deployed: they, their settings and their slots must deserialize."""
    slots = 0
    for app in apps:
        site = web.web_apps.get(group, app)
        assert site.name == app and site.kind.startswith("functionapp"), site
        config = site.function_app_config
        if config is not None:
            assert config.runtime.name and config.scale_and_concurrency.instance_memory_mb, config
        else:
            assert site.site_config.linux_fx_version, site.site_config
        settings = web.web_apps.list_application_settings(group, app).properties
        assert "AzureWebJobsStorage" in settings or "AzureWebJobsStorage__accountName" in settings, sorted(settings)
        for slot in web.web_apps.list_slots(group, app):
            name = slot.name.split("/", 1)[1]
            assert slot.id.endswith(f"/sites/{app}/slots/{name}"), slot.id
            web.web_apps.list_application_settings_slot(group, app, name)
            slots += 1
    print(f"ok: read {len(apps)} deployed sites, {slots} slots")


def main(argv):
    base, ca, tenant, client_id, secret, subscription, group, plan, account = argv[:9]
    credential = FakeEntraCredential(base, ca, tenant, client_id, secret)
    options = {"base_url": base, "connection_verify": ca, "polling_interval": 0}
    web = WebSiteManagementClient(credential, subscription, api_version="2023-12-01", **options)
    storage = StorageManagementClient(credential, subscription, api_version="2023-05-01", **options)
    if argv[9:]:
        return read_deployed(web, group, argv[9:])

    app = "official-app"
    site = models.Site(
        location="westeurope",
        kind="functionapp,linux",
        tags={"owner": "official-clients"},
        server_farm_id=plan,
        reserved=True,
        site_config=models.SiteConfig(
            linux_fx_version="PYTHON|3.12",
            app_settings=[
                models.NameValuePair(name="AzureWebJobsStorage", value="UseDevelopmentStorage=true"),
                models.NameValuePair(name="FUNCTIONS_EXTENSION_VERSION", value="~4"),
                models.NameValuePair(name="FUNCTIONS_WORKER_RUNTIME", value="python"),
            ],
        ),
    )
    created = web.web_apps.begin_create_or_update(group, app, site).result()
    assert created.name == app and created.kind == "functionapp,linux", created
    assert created.id.endswith(f"/providers/Microsoft.Web/sites/{app}"), created.id

    got = web.web_apps.get(group, app)
    assert got.id == created.id and got.server_farm_id == plan, got
    assert got.site_config.linux_fx_version == "PYTHON|3.12", got.site_config
    assert got.default_host_name, "no defaultHostName"

    settings = web.web_apps.list_application_settings(group, app)
    assert settings.properties["FUNCTIONS_EXTENSION_VERSION"] == "~4", settings.properties

    slot = web.web_apps.begin_create_or_update_slot(group, app, "staging", site).result()
    assert slot.name == f"{app}/staging", slot.name
    assert slot.id.endswith(f"/sites/{app}/slots/staging"), slot.id
    assert slot.type == "Microsoft.Web/sites/slots", slot.type

    slots = list(web.web_apps.list_slots(group, app))
    assert [s.id for s in slots] == [slot.id], [s.id for s in slots]
    slot_settings = web.web_apps.list_application_settings_slot(group, app, "staging")
    assert "AzureWebJobsStorage" in slot_settings.properties, slot_settings.properties

    keys = storage.storage_accounts.list_keys(group, account).keys
    assert [k.key_name for k in keys] == ["key1", "key2"], keys
    print(f"ok: site {created.id}, slot {slot.id}, {len(settings.properties)} settings")


if __name__ == "__main__":
    main(sys.argv[1:])
