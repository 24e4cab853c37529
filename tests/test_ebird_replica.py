"""The eBird API replica answers like the real API (shared/docs/sources.md Part 1),
over a real socket. Requests go through httpx, independent of the client under test."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from databox.replica.ebird_api import (
    HOTSPOT_CSV_COLUMNS,
    SIMPLE_FIELDS,
    EbirdApiReplica,
    build_dataset,
)
from tests.ebird_helpers import reset_replica

TODAY = date(2024, 3, 15)
TOKEN = "replica-token-123"
EXAMPLES = json.loads(
    (Path(__file__).parent / "fixtures" / "ebird" / "doc_examples.json").read_text()
)


@pytest.fixture(scope="module")
def replica():
    with EbirdApiReplica(build_dataset(seed=7, today=TODAY), token=TOKEN) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(replica):
    yield
    reset_replica(replica, TOKEN)


@pytest.fixture(scope="module")
def http(replica):
    with httpx.Client(base_url=replica.base_url, timeout=5) as client:
        yield client


def get(http, path: str, token: str | None = TOKEN, **params) -> httpx.Response:
    headers = {"X-eBirdApiToken": token} if token is not None else {}
    return http.get(path, params=params, headers=headers)


# -- dataset ---------------------------------------------------------------------------


def test_dataset_is_deterministic_and_realistic():
    a, b = build_dataset(seed=3, today=TODAY), build_dataset(seed=3, today=TODAY)
    assert [o.record for o in a.observations] == [o.record for o in b.observations]
    assert a.hotspots == b.hotspots and a.taxonomy == b.taxonomy
    assert build_dataset(seed=4, today=TODAY).observations != a.observations

    records = [o.record for o in a.observations]
    keys = [(r["subId"], r["speciesCode"]) for r in records]
    assert len(keys) == len(set(keys)), "(subId, speciesCode) is the natural key"
    per_checklist = Counter(r["subId"] for r in records)
    assert min(per_checklist.values()) >= 3, "every checklist has several species"
    days = {o.day for o in a.observations}
    assert days == {TODAY - timedelta(days=n) for n in range(10)}
    # Optional fields are sometimes absent.
    assert any("howMany" not in r for r in records) and any("howMany" in r for r in records)
    assert any("exoticCategory" in r for r in records)
    assert any("subnational2Code" not in r for r in records)  # Kenya
    assert any(r["obsDt"] == r["obsDt"][:10] for r in records), "a checklist without a time"


# -- observations ----------------------------------------------------------------------


def test_recent_is_simple_one_per_species_newest_first(http):
    resp = get(http, "/data/obs/US-NY/recent", detail="full")  # detail is ignored
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json;charset=utf-8"
    items = resp.json()
    assert items and all(set(i) <= set(SIMPLE_FIELDS) for i in items)
    assert set(EXAMPLES["recent_item"]) <= set(SIMPLE_FIELDS)
    species = [i["speciesCode"] for i in items]
    assert len(species) == len(set(species))
    dts = [i["obsDt"] for i in items]
    assert dts == sorted(dts, reverse=True)
    assert {i["locId"][0] for i in items} == {"L"} and {i["subId"][0] for i in items} == {"S"}

    assert len(get(http, "/data/obs/US-NY/recent", maxResults=3).json()) == 3
    one_day = get(http, "/data/obs/US-NY/recent", back=1).json()
    assert all(i["obsDt"][:10] >= str(TODAY - timedelta(days=1)) for i in one_day)
    # A country covers its subregions; a hotspot filter drops private locations.
    us = {i["speciesCode"] for i in get(http, "/data/obs/US/recent").json()}
    ca = {i["speciesCode"] for i in get(http, "/data/obs/US-CA/recent").json()}
    assert set(species) | ca == us
    hot = get(http, "/data/obs/US-NY/recent", hotspot="true").json()
    assert not any(i["locationPrivate"] for i in hot)


def test_notable_detail_full_and_simple(http):
    full = get(http, "/data/obs/US-NY/recent/notable", detail="full").json()
    assert full, "the dataset guarantees a notable sighting on the newest day"
    assert set(EXAMPLES["notable_full_item"]) <= set(full[0]) | {"howMany"}
    assert {i["speciesCode"] for i in full} <= {"snoowl1", "paibun"}
    simple = get(http, "/data/obs/US-NY/recent/notable").json()
    assert len(simple) == len(full) and "userDisplayName" not in simple[0]
    kenya = get(http, "/data/obs/KE/recent/notable", detail="full").json()
    assert kenya and all("subnational2Code" not in i for i in kenya)


def test_historic_one_per_species_on_the_date(http):
    day = TODAY - timedelta(days=2)
    items = get(http, f"/data/obs/US-CA/historic/{day:%Y/%m/%d}", detail="full").json()
    assert items and {i["obsDt"][:10] for i in items} == {day.isoformat()}
    species = [i["speciesCode"] for i in items]
    assert len(species) == len(set(species))
    assert Counter(i["subId"] for i in items).most_common(1)[0][1] > 1
    # Outside the generated window: no data, not an error.
    old = get(http, "/data/obs/US-CA/historic/2020/01/05")
    assert old.status_code == 200 and old.json() == []
    future = get(http, f"/data/obs/US-CA/historic/{TODAY + timedelta(days=1):%Y/%m/%d}")
    assert future.status_code == 400
    assert "future" in future.json()["errors"][0]["title"]


# -- errors (§1.11) ---------------------------------------------------------------------


def test_bad_or_missing_token_is_403_with_empty_body(http, replica):
    for token in ("wrong", None, ""):
        resp = get(http, "/data/obs/US-NY/recent", token=token)
        assert resp.status_code == 403 and resp.content == b""
        assert resp.headers["content-length"] == "0"
    replica.set_token("rotated")
    assert get(http, "/data/obs/US-NY/recent").status_code == 403
    assert get(http, "/data/obs/US-NY/recent", token="rotated").status_code == 200
    # The header name is case-insensitive.
    assert (
        http.get("/ref/region/info/US", headers={"x-ebirdapitoken": "rotated"}).status_code == 200
    )


#: One request per route the replica serves (every one needs the token).
EVERY_ENDPOINT = (
    "/data/obs/US-NY/recent",
    "/data/obs/US-NY/recent/notable",
    f"/data/obs/US-NY/historic/{TODAY - timedelta(days=1):%Y/%m/%d}",
    "/ref/taxonomy/ebird",
    "/ref/taxonomy/versions",
    "/ref/hotspot/US-NY",
    "/ref/region/info/US-NY",
)


def test_every_endpoint_enforces_the_token(http, replica):
    """Reference data included: a server that enforces the documented header answers
    403 with an empty body to taxonomy and hotspot requests without it too."""
    for path in EVERY_ENDPOINT:
        for token in ("wrong", None, ""):
            resp = get(http, path, token=token, fmt="json")
            assert resp.status_code == 403, (path, token)
            assert resp.content == b"" and resp.headers["content-length"] == "0", path
        assert get(http, path, fmt="json").status_code == 200, path
        # The 3rd-party key= parameter stands in for the header (§1.1).
        assert http.get(path, params={"fmt": "json", "key": TOKEN}).status_code == 200, path
    replica.set_token("rotated")
    assert {get(http, p, fmt="json").status_code for p in EVERY_ENDPOINT} == {403}


def test_tamper_serves_a_bad_typed_field(http, replica):
    replica.tamper("/data/obs/US-NY/recent", "howMany", "12", times=1)
    tampered = get(http, "/data/obs/US-NY/recent").json()
    assert tampered[0]["howMany"] == "12"
    assert all(not isinstance(i.get("howMany"), str) for i in tampered[1:])
    again = get(http, "/data/obs/US-NY/recent").json()  # times=1: healthy again
    assert not isinstance(again[0].get("howMany"), str) and again[1:] == tampered[1:]
    replica.tamper("/ref/hotspot", "lat", "north", index=1)
    assert get(http, "/ref/hotspot/KE", fmt="json").json()[1]["lat"] == "north"
    assert get(http, "/ref/hotspot/KE", token="nope", fmt="json").status_code == 403
    replica.clear_failures()
    assert get(http, "/ref/hotspot/KE", fmt="json").json()[1]["lat"] != "north"


def test_malformed_region_back_and_routes(http):
    bad = get(http, "/data/obs/us-ny/recent")
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/json"
    (error,) = bad.json()["errors"]
    assert error["status"] == "400 BAD_REQUEST" and error["code"] == "methodInvocation"
    assert error["title"].startswith("Field regionCode of ")
    assert error["title"].endswith("Unable to find matching region type for us-ny")
    assert set(error) == set(EXAMPLES["error_bad_region"]["errors"][0])

    for back in ("0", "31"):
        resp = get(http, "/data/obs/US-NY/recent", back=back)
        assert resp.status_code == 400
        assert "Field back" in resp.json()["errors"][0]["title"]
    assert (
        get(http, "/data/obs/US-NY/recent", back="x").json()["errors"][0]["code"] == "typeMismatch"
    )

    slash = get(http, "/data/obs/US-NY/recent/")
    assert slash.status_code == 404
    assert slash.json()["errors"][0]["title"] == "No endpoint GET /v2/data/obs/US-NY/recent/."

    unknown = get(http, "/data/obs/US-ZZ/recent")
    assert unknown.status_code == 200 and unknown.json() == []

    info = get(http, "/ref/region/info/foo")
    assert info.status_code == 500 and info.json() == EXAMPLES["error_region_info_unknown"]
    parent_only = get(http, "/ref/region/info/US-ZZ").json()
    assert parent_only["latitude"] == 0.0 and "result" not in parent_only
    assert parent_only["parent"]["code"] == "US"
    assert get(http, "/ref/region/info/US-NY").json()["result"] == "New York, United States"


# -- reference data --------------------------------------------------------------------


def test_taxonomy_csv_default_and_json(http, replica):
    text = get(http, "/ref/taxonomy/ebird")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text.text)))
    assert rows[0][:3] == ["SCIENTIFIC_NAME", "COMMON_NAME", "SPECIES_CODE"]
    items = get(http, "/ref/taxonomy/ebird", fmt="json").json()
    assert len(rows) - 1 == len(items)
    by_code = {i["speciesCode"]: i for i in items}
    assert set(EXAMPLES["taxonomy_item"]) <= set(by_code["rewbla"])
    assert isinstance(by_code["rewbla"]["taxonOrder"], float)
    # Optional fields absent on some rows (§1.8).
    assert "order" not in by_code["bird1"] and "familySciName" not in by_code["bird1"]
    assert "familySciName" not in by_code["passer1"] and by_code["passer1"]["order"]
    assert by_code["slcjun"]["category"] == "issf" and by_code["slcjun"]["reportAs"] == "daejun"
    assert by_code["paspig"]["extinct"] is True
    assert {i["category"] for i in items} >= {"species", "spuh", "issf"}

    some = get(http, "/ref/taxonomy/ebird", fmt="json", species="rewbla,bird1").json()
    assert sorted(i["speciesCode"] for i in some) == ["bird1", "rewbla"]
    assert get(http, "/ref/taxonomy/ebird", version="latest").status_code == 400


def test_hotspots_csv_without_header_and_json(http):
    text = get(http, "/ref/hotspot/US-CA").text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0].startswith("L"), "no header row"
    assert {len(r) for r in rows} == {len(HOTSPOT_CSV_COLUMNS)}
    assert any("," in r[6] for r in rows), "a quoted name with a comma"
    never = [r for r in rows if r[7] == ""]
    assert never and all(r[8] == "" for r in never)

    items = get(http, "/ref/hotspot/US-CA", fmt="json").json()
    assert [i["locId"] for i in items] == [r[0] for r in rows]
    assert set(items[0]) <= set(EXAMPLES["hotspot_item"])
    assert any("latestObsDt" not in i for i in items)
    kenya = get(http, "/ref/hotspot/KE", fmt="json").json()
    assert kenya and all("subnational2Code" not in i for i in kenya)
    recent = get(http, "/ref/hotspot/US-CA", fmt="json", back=3).json()
    assert 0 < len(recent) < len(items)
    assert get(http, "/ref/hotspot/US-CA", token="nope").status_code == 403


# -- test controls ---------------------------------------------------------------------


def test_fail_times_then_ok_and_request_log(http, replica):
    replica.fail("/data/obs/US-NY", 429, times=2)
    statuses = [get(http, "/data/obs/US-NY/recent").status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert get(http, "/data/obs/US-CA/recent").status_code == 200  # other paths unaffected

    replica.fail("v2/data/obs/KE", 500)  # for ever; prefix with or without /v2
    assert [get(http, "/data/obs/KE/recent").status_code for _ in range(3)] == [500] * 3
    body = get(http, "/data/obs/KE/recent").json()
    assert body["errors"][0]["code"] == "http.status.500"

    log = replica.request_log
    assert log[0].path == "/v2/data/obs/US-NY/recent" and log[0].token == TOKEN
    path, query, token = log[-1]
    assert path == "/v2/data/obs/KE/recent" and query == {} and token == TOKEN


def test_delay_and_gzip(http, replica):
    replica.delay("/ref/region/info", 0.3, times=1)
    started = time.monotonic()
    assert get(http, "/ref/region/info/US").status_code == 200
    assert time.monotonic() - started >= 0.3
    resp = get(http, "/ref/region/info/US")
    assert resp.headers["content-encoding"] == "gzip" and resp.json()["code"] == "US"


def test_command_line_serves_until_terminated():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "databox.replica.ebird_api",
            "--port",
            "0",
            "--token",
            "t",
            "--days",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("eBird API replica on http://127.0.0.1:")
        base = first.split()[4]
        assert base.endswith("/v2")
        resp = httpx.get(f"{base}/data/obs/KE/recent", headers={"X-eBirdApiToken": "t"})
        assert resp.status_code == 200 and resp.json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
