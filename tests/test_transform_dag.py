"""The committed model graphs (read by Dagster at load time) match the SQLMesh projects."""

import pytest

from databox.transform.dag import DAG_FILE, TELEGRAM_DAG_FILE, dag_from_project, load_dag


@pytest.mark.parametrize("project", ["ebird", "telegram"])
def test_dag_file_matches_the_sqlmesh_project(project):
    graph = dag_from_project(project)
    dag = load_dag(project)
    assert {m: list(v) for m, v in dag.deps.items()} == graph["deps"], (
        f"src/databox/transform/{project}/dag.json is stale: "
        "run `uv run python -m databox.transform.dag`"
    )
    assert dag.kinds == graph["kinds"]


def test_ebird_dag_keeps_its_old_entry_points():
    assert load_dag() == load_dag(DAG_FILE) == load_dag("ebird")
    assert "staging.stg_ebird_observations" in load_dag().models("staging")


def test_telegram_dag_has_the_contract_models():
    dag = load_dag("telegram")
    assert dag == load_dag(TELEGRAM_DAG_FILE)
    assert dag.models("telegram_staging") == [
        "telegram_staging.stg_image_detections",
        "telegram_staging.stg_image_enrichment",
        "telegram_staging.stg_telegram_messages",
    ]
    assert set(dag.models("telegram_marts")) == {
        f"telegram_marts.{name}"
        for name in (
            "dim_channels",
            "dim_dates",
            "fct_messages",
            "fct_image_detections",
            "mart_daily_channel_activity",
            "mart_visual_content",
            "mart_product_terms_weekly",
            "mart_top_objects",
        )
    }
    incremental = {m for m, kind in dag.kinds.items() if kind == "INCREMENTAL_BY_TIME_RANGE"}
    assert incremental == {
        "telegram_staging.stg_telegram_messages",
        "telegram_marts.fct_messages",
        "telegram_marts.fct_image_detections",
        "telegram_marts.mart_daily_channel_activity",
    }
    # Raw tables are upstreams, never models of either project.
    assert "raw.telegram_messages" in dag.deps["telegram_staging.stg_telegram_messages"]
    assert not set(dag.deps) & set(load_dag().deps)
