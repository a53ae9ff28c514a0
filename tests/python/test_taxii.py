"""Drives a live chainwatch server with the real TAXII 2.1 client (taxii2-client) and
checks exported bundles with stix2-validator.

Environment: CHAINWATCH_URL (http://127.0.0.1:PORT or https://…), CHAINWATCH_CA (the PEM
certificate authority to trust for https), CHAINWATCH_USER, CHAINWATCH_PASSWORD,
CHAINWATCH_TOKEN (bearer, for /api/reports), CHAINWATCH_OTHER_USER/CHAINWATCH_OTHER_PASSWORD
(a second organisation of the community). Run with pytest or as a script (exit code 1 on
failure).
"""
import json
import os
import ssl
import sys
import urllib.request
import uuid

import pytest
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import Server, as_pages
from taxii2client.exceptions import TAXIIServiceException
from requests.exceptions import HTTPError

URL = os.environ.get("CHAINWATCH_URL", "")
USER = os.environ.get("CHAINWATCH_USER", "")
PASSWORD = os.environ.get("CHAINWATCH_PASSWORD", "")
TOKEN = os.environ.get("CHAINWATCH_TOKEN", "")
OTHER_USER = os.environ.get("CHAINWATCH_OTHER_USER", "")
OTHER_PASSWORD = os.environ.get("CHAINWATCH_OTHER_PASSWORD", "")
CA = os.environ.get("CHAINWATCH_CA") or True
# urllib's TLS context for the REST calls (the taxii2-client gets `verify=CA`).
URLLIB_CONTEXT = ssl.create_default_context(cafile=CA) if CA is not True else None

GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"

pytestmark = pytest.mark.skipif(not URL, reason="CHAINWATCH_URL not set (run tests/python/run.sh)")


def indicator(i, marking=GREEN, modified="2025-01-01T00:00:00.000Z"):
    return {
        "type": "indicator", "spec_version": "2.1", "id": "indicator--%s" % uuid.uuid4(),
        "created": "2025-01-01T00:00:00.000Z", "modified": modified,
        "name": "attacker wallet %d" % i, "indicator_types": ["malicious-activity"],
        "pattern": "[cryptocurrency-wallet:value = 'bc1qtest%06d']" % i,
        "pattern_type": "stix", "valid_from": "2025-01-01T00:00:00Z",
        "object_marking_refs": [marking],
    }


def collection(user=None, password=None):
    server = Server(URL + "/taxii2/", user=user or USER, password=password or PASSWORD, verify=CA)
    assert server.title == "chainwatch"
    roots = server.api_roots
    assert len(roots) == 1 and server.default is not None
    # The API root is named with the scheme the client used (https stays https).
    assert server.default.url.startswith(URL + "/"), server.default.url
    root = server.default
    assert "application/taxii+json;version=2.1" in root.versions
    assert root.max_content_length > 0
    cols = root.collections
    assert len(cols) >= 1
    col = cols[0]
    assert col.can_read and col.can_write
    return server, root, col


def test_discovery_and_api_root():
    server, root, col = collection()
    assert col.title == "Community"
    assert "application/stix+json;version=2.1" in col.media_types


def test_add_page_manifest_versions_delete():
    _, root, col = collection()
    objs = [indicator(i) for i in range(25)]
    status = col.add_objects({"objects": objs})
    assert status.status == "complete", status
    assert status.success_count == 25 and status.failure_count == 0
    # The status resource can be fetched again.
    again = root.get_status(status.id)
    assert again.success_count == 25
    ids = {o["id"] for o in objs}

    # Several pages with as_pages.
    seen, pages = [], 0
    for env in as_pages(col.get_objects, per_request=7, type="indicator"):
        pages += 1
        seen.extend(o["id"] for o in env.get("objects", []))
    assert pages >= 4, pages
    assert ids <= set(seen), "every added object comes back over the pages"
    assert len(seen) == len(set(seen)), "no object twice"

    # Manifest, paged too.
    man = []
    for env in as_pages(col.get_manifest, per_request=10):
        man.extend(env.get("objects", []))
    mids = {m["id"] for m in man}
    assert ids <= mids
    for m in man:
        assert m["media_type"] == "application/stix+json;version=2.1"
        assert "date_added" in m and "version" in m

    # A second version, then versions and match[version].
    first = objs[0]
    newer = dict(first, modified="2025-02-01T00:00:00.000Z", name="attacker wallet 0 (updated)")
    assert col.add_objects({"objects": [newer]}).success_count == 1
    vers = col.object_versions(first["id"])
    assert vers["versions"] == ["2025-01-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z"], vers
    latest = col.get_object(first["id"])
    assert [o["modified"] for o in latest["objects"]] == ["2025-02-01T00:00:00.000Z"]
    allv = col.get_object(first["id"], version="all")
    assert len(allv["objects"]) == 2
    firstv = col.get_object(first["id"], version="first")
    assert firstv["objects"][0]["modified"] == "2025-01-01T00:00:00.000Z"
    by_id = col.get_objects(id=objs[3]["id"])
    assert [o["id"] for o in by_id["objects"]] == [objs[3]["id"]]

    # added_after: nothing was added after the last object.
    env = col.get_objects(added_after="2100-01-01T00:00:00Z")
    assert not env.get("objects")

    # Delete, then it is gone.
    col.delete_object(objs[1]["id"])
    with pytest.raises(HTTPError) as e:
        col.get_object(objs[1]["id"])
    assert e.value.response.status_code == 404


def test_red_objects_are_invisible_to_another_org():
    if not OTHER_USER:
        pytest.skip("no second organisation")
    _, _, col = collection()
    red = indicator(999, marking=RED)
    assert col.add_objects({"objects": [red]}).success_count == 1
    _, _, other_col = collection(OTHER_USER, OTHER_PASSWORD)
    with pytest.raises(HTTPError) as e:
        other_col.get_object(red["id"])
    assert e.value.response.status_code == 404
    with pytest.raises(HTTPError) as e:
        other_col.object_versions(red["id"])
    assert e.value.response.status_code == 404
    ids = [o["id"] for o in other_col.get_objects(limit=1000).get("objects", [])]
    assert red["id"] not in ids
    assert red["id"] in [o["id"] for o in col.get_object(red["id"])["objects"]]


def _validate(bundle):
    results = validate_instance(bundle, ValidationOptions(version="2.1"))
    errors = [str(e) for e in results.errors]
    for obj in getattr(results, "object_results", []) or []:
        errors.extend(str(e) for e in obj.errors)
    return results.is_valid, errors


def test_exported_bundles_pass_stix2_validator():
    report = {
        "title": "Hot wallet drain", "victim": {"name": "ExampleEx", "kind": "exchange"},
        "chain": "bitcoin", "time": "2025-02-21T14:13:00Z",
        "stolen_outputs": [{"outpoint": "ab" * 32 + ":1", "amount": "12.5"}],
        "attacker_addresses": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"],
        "ttps": ["T1566.001 spearphishing attachment"],
        "attribution": {"actor": "Lazarus Group", "confidence": 85},
        "tlp": "AMBER",
    }
    req = urllib.request.Request(URL + "/api/reports", data=json.dumps(report).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + TOKEN}, method="POST")
    with urllib.request.urlopen(req, context=URLLIB_CONTEXT) as r:
        assert r.status == 201
        out = json.load(r)
    req = urllib.request.Request(URL + "/api/reports/%s/bundle" % out["id"],
                                 headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, context=URLLIB_CONTEXT) as r:
        bundle = json.load(r)
    types = {o["type"] for o in bundle["objects"]}
    assert {"incident", "identity", "cryptocurrency-wallet", "relationship", "marking-definition",
            "extension-definition"} <= types, types
    assert types & {"threat-actor", "intrusion-set"}
    ok, errors = _validate(bundle)
    assert ok and not errors, errors
    # The TAXII side exports pass too.
    _, _, col = collection()
    env = col.get_objects(limit=1000)
    ok, errors = _validate({"type": "bundle", "id": "bundle--%s" % uuid.uuid4(), "objects": env["objects"]})
    assert ok and not errors, errors


def test_wrong_media_types():
    _, _, col = collection()
    with pytest.raises(HTTPError) as e:
        col.add_objects({"objects": [indicator(1)]}, content_type="application/json")
    assert e.value.response.status_code == 415
    with pytest.raises((HTTPError, TAXIIServiceException)) as e:
        col.get_objects(accept="application/json")
    if isinstance(e.value, HTTPError):
        assert e.value.response.status_code == 406


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
