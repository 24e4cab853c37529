"""The SQLMesh projects' model graphs, without importing SQLMesh.

Dagster needs every model's name, kind and upstreams when the code location loads;
asking ``sqlmesh.Context`` costs ~8 s (import + project load), so each project's graph
is kept in ``<project>/dag.json`` (``ebird/dag.json``, ``telegram/dag.json``),
regenerated with ``python -m databox.transform.dag`` after a model changes (it writes
both). ``tests/test_transform_dag.py`` fails when a file and its project disagree.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TRANSFORM_DIR = Path(__file__).resolve().parent
PROJECTS = ("ebird", "telegram")
DAG_FILE = TRANSFORM_DIR / "ebird" / "dag.json"
TELEGRAM_DAG_FILE = TRANSFORM_DIR / "telegram" / "dag.json"


@dataclass(frozen=True)
class ModelGraph:
    #: model (``schema.name``) → upstream models and raw tables (``schema.name``)
    deps: dict[str, tuple[str, ...]]
    kinds: dict[str, str]

    def models(self, schema: str | None = None) -> list[str]:
        return sorted(m for m in self.deps if schema is None or m.split(".")[0] == schema)


def dag_path(project: str | Path = "ebird") -> Path:
    """A project's dag.json: a project name (``"ebird"``, ``"telegram"``) or a path."""
    if isinstance(project, Path):
        return project
    if project not in PROJECTS:
        raise KeyError(f"no SQLMesh project {project!r}; have {PROJECTS}")
    return TRANSFORM_DIR / project / "dag.json"


def load_dag(project: str | Path = "ebird") -> ModelGraph:
    """A project's graph, by name (default eBird) or by the path of a dag.json."""
    data = json.loads(dag_path(project).read_text())
    return ModelGraph(
        deps={m: tuple(v) for m, v in data["deps"].items()}, kinds=dict(data["kinds"])
    )


def dag_from_project(project: str = "ebird") -> dict:
    from databox.transform.runner import SqlMeshRunner

    # Only the project is read; the warehouse is a throwaway file (DATABASE_URL refuses
    # :memory:, which no real setting should use).
    with tempfile.TemporaryDirectory(prefix="databox-dag-") as tmp:
        runner = SqlMeshRunner(
            f"duckdb:///{Path(tmp) / 'dag.duckdb'}",
            TRANSFORM_DIR / project,
            cache_dir=Path(tmp) / "cache",
        )
        deps = {m: sorted(v) for m, v in sorted(runner.model_dependencies().items())}
        return {"deps": deps, "kinds": dict(sorted(runner.model_kinds().items()))}


if __name__ == "__main__":
    for name in PROJECTS:
        path = dag_path(name)
        path.write_text(json.dumps(dag_from_project(name), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {path}", file=sys.stderr)
