"""SQL transformations of the raw tables (SQLMesh projects), run from Python.

``databox.transform.runner.SqlMeshRunner`` drives a project through ``sqlmesh.Context``;
the eBird project lives in ``ebird/``. Nothing here imports Dagster or, at import time,
SQLMesh (a 2.5 s import).
"""
