"""The eBird assets as the UI shows them: a description on every asset, and metadata that
says what the tables hold (``dagster/row_count`` and a preview) instead of dagster-dlt's
raw ``jobs`` JSON. In process (``dg.materialize``) against the local eBird replica."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from databox.ebird.docs import model_summary
from databox.ebird.tables import preview, row_count
from databox.transform.dag import load_dag
from databox.warehouse import connect

MARTS_AND_STAGING = load_dag().models("staging") + load_dag().models("marts")


@pytest.fixture(scope="module")
def replica():
    from databox.replica.ebird_api import EbirdApiReplica

    with EbirdApiReplica() as server:
        yield server


def test_every_ebird_asset_has_a_description():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    ebird = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "ebird"]
    assert len(ebird) == 5 + len(MARTS_AND_STAGING) + 1
    missing = [k.to_user_string() for k in ebird if not (graph.get(k).description or "").strip()]
    assert not missing
    # The models' descriptions are their files' own summaries.
    for model in MARTS_AND_STAGING:
        summary = model_summary(model)
        assert summary, model
        assert graph.get(dg.AssetKey(model.split("."))).description.startswith(summary)


def test_counts_and_previews_of_missing_and_present_tables(duckdb_url):
    wh = connect(duckdb_url)
    assert row_count(wh, "raw_ebird.taxonomy") is None
    assert preview(wh, "raw_ebird.taxonomy") == ([], [])
    with wh.transaction() as tx:
        tx.execute("CREATE SCHEMA raw_ebird")
        tx.execute(
            "CREATE TABLE raw_ebird.historic_observations "
            "(obs_date DATE, region_code TEXT, com_name TEXT, _dlt_id TEXT)"
        )
        tx.execute(
            "INSERT INTO raw_ebird.historic_observations VALUES "
            "('2026-11-28', 'KE', 'b', 'x'), ('2026-11-28', 'KE', 'a', 'y'), "
            "('2026-11-29', 'KE', 'c', 'z')"
        )
    table = "raw_ebird.historic_observations"
    assert row_count(wh, table) == 3
    assert row_count(wh, table, obs_date="2026-11-28") == 2
    columns, rows = preview(wh, table, obs_date="2026-11-28")
    assert columns == ["obs_date", "region_code", "com_name"]  # curated, present, no _dlt_
    assert [r["com_name"] for r in rows] == ["a", "b"]  # ordered: the same data, same preview


def _metadata_by_key(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.step_materialization_data.materialization.partition is None
    }


def test_dlt_and_sqlmesh_assets_report_row_counts_not_dlt_jobs(tmp_path, replica, duckdb_url):
    from dagster_dlt import DagsterDltResource

    from orchestration.ebird_assets import ebird_assets, sqlmesh_marts, sqlmesh_staging
    from orchestration.resources import EbirdResource, WarehouseResource

    resources = {
        "dlt": DagsterDltResource(),
        "ebird": EbirdResource(
            api_token="test-token",
            api_base_url=replica.base_url,
            regions="US-NY",
            dlt_data_dir=str(tmp_path / "dlt"),
            daily_historic_days="1",
        ),
        "warehouse": WarehouseResource(database_url=duckdb_url),
    }
    today = datetime.now(timezone.utc).date()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [ebird_assets, sqlmesh_staging, sqlmesh_marts],
            resources=resources,
            instance=instance,
            tags={"ebird/date": today.isoformat()},
        )
        assert result.success
        by_key = _metadata_by_key(result)
        historic = instance.fetch_materializations(
            dg.AssetKey(["raw_ebird", "historic_observations"]), limit=5
        ).records
    wh = connect(duckdb_url)
    for table in ("recent_observations", "notable_observations", "taxonomy", "hotspots"):
        metadata = by_key[f"raw_ebird/{table}"]
        assert "jobs" not in metadata
        expected = wh.query(f"select count(*) as n from raw_ebird.{table}")[0]["n"]
        assert expected > 0
        assert metadata["dagster/row_count"].value == expected
        assert metadata["preview"].value.startswith("| ")
        assert "dagster/column_schema" in metadata  # dagster-dlt's other entries stay
    for model in MARTS_AND_STAGING:
        expected = wh.query(f"select count(*) as n from {model}")[0]["n"]
        assert by_key[model.replace(".", "/")]["dagster/row_count"].value == expected
    # The daily job's historic day: the partition's own rows.
    yesterday = (today - timedelta(days=1)).isoformat()
    (record,) = [r for r in historic if r.asset_materialization.partition == yesterday]
    expected = wh.query(
        "select count(*) as n from raw_ebird.historic_observations "
        "where cast(obs_date as varchar) = %s",
        [yesterday],
    )[0]["n"]
    assert record.asset_materialization.metadata["dagster/row_count"].value == expected
