"""The committed model graph (read by Dagster at load time) matches the SQLMesh project."""

from databox.transform.dag import dag_from_project, load_dag


def test_dag_file_matches_the_sqlmesh_project():
    project = dag_from_project()
    dag = load_dag()
    assert {m: list(v) for m, v in dag.deps.items()} == project["deps"], (
        "src/databox/transform/ebird/dag.json is stale: run `uv run python -m databox.transform.dag`"
    )
    assert dag.kinds == project["kinds"]
    assert "staging.stg_ebird_observations" in dag.models("staging")
