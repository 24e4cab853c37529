"""The eBird SQLMesh project (raw_ebird → staging → marts); see README.md."""
