"""eBird API 2.0 → warehouse, with dlt.

Modules (import from them directly; this package imports nothing, so importing it
does not pay dlt's ~1.5 s import):

* ``settings``: ``EbirdSettings`` / ``ebird_settings_from_env`` (EBIRD_* variables);
* ``client``: ``EbirdClient``, HTTP over dlt's retrying requests session;
* ``source``: the ``@dlt.source`` ``ebird_source`` and its five resources;
* ``pipeline``: ``make_pipeline`` (DATABASE_URL → dlt destination) and ``run_ebird``;
* ``check``: ``check_api``, a cheap availability probe for a sensor;
* ``errors``: the exceptions, all ``DataboxError``s.
"""
