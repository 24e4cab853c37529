"""A local replica of the eBird API 2.0 (``https://api.ebird.org/v2``).

A real HTTP server on 127.0.0.1 answering in the shapes recorded in
``shared/docs/sources.md`` Part 1, so the eBird client and the dlt source are
tested over real sockets, never against mocks. Served routes:

* ``GET /v2/data/obs/{region}/recent``: the most recent observation of each species
  within ``back`` days (1..30, default 14); ``maxResults``, ``hotspot``, ``cat``,
  ``r``; ``detail`` is ignored (always "simple"), as on the real server (§1.4);
* ``GET /v2/data/obs/{region}/recent/notable``: every observation of a notable
  species within ``back`` days; ``detail`` simple|full (§1.5);
* ``GET /v2/data/obs/{region}/historic/{y}/{m}/{d}``: one observation per species
  on that date (``rank`` mrec = latest, create = first submitted); ``detail``,
  ``maxResults``; a future date is a 400 (§1.6);
* ``GET /v2/ref/taxonomy/ebird``: CSV with a header row by default, ``fmt=json``,
  ``species=`` comma list, ``cat=`` (§1.8);
  ``GET /v2/ref/taxonomy/versions``: ``[{"authorityVer": 2024.0, "latest": true}, …]``;
* ``GET /v2/ref/hotspot/{region}``: CSV *without* a header row by default,
  ``fmt=json``, ``back`` (§1.9);
* ``GET /v2/ref/region/info/{region}``: a cheap call to probe availability (§1.10).

Every endpoint needs the token (``X-eBirdApiToken``, or the 3rd-party ``key=``
parameter): taxonomy and hotspots too, as a server enforcing the documented header
would. Errors follow §1.11: a bad or missing token is a 403 with an empty body; a malformed
region code a 400 ``{"errors": [...]}`` naming ``regionCode``; ``back`` or
``maxResults`` out of range a 400; an unknown route (including a trailing slash) a
404 "No endpoint GET …"; a well-formed region that does not exist a 200 with ``[]``.
The "…Cmd" names in the 400 titles and the wording of errors the doc does not quote
(back, maxResults, future date) are this replica's guesses, marked [uncertain] there.

Test controls: ``request_log`` (path, query, token header of every request),
``fail(path_prefix, status, times)`` (e.g. a 429 twice, or a 500 forever),
``delay(path_prefix, seconds, times)`` (for client timeouts),
``tamper(path_prefix, field, value, times)`` (a bad-typed record, e.g. ``howMany``
as text), ``set_token(...)``.

Run ``python -m databox.replica.ebird_api --port 8082`` for a demo server and point
``EBIRD_API_BASE_URL`` at the ``/v2`` URL it prints.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from databox.replica.server import LoopbackServer

# -- reference data --------------------------------------------------------------------


@dataclass(frozen=True)
class Taxon:
    """One taxonomy row (§1.8). ``None`` optional fields are left out of the JSON."""

    species_code: str
    com_name: str
    sci_name: str
    category: str
    taxon_order: float
    order: str | None
    family_code: str | None
    family_com_name: str | None
    family_sci_name: str | None
    banding_codes: tuple[str, ...] = ()
    report_as: str | None = None
    extinct: bool | None = None
    extinct_year: int | None = None

    @property
    def com_name_codes(self) -> list[str]:
        # Four-letter codes from the common name, as eBird builds them (e.g. "AMRO").
        words = re.findall(r"[A-Za-z]+", self.com_name)
        if self.category != "species" or len(words) < 2:
            return []
        return [(words[0][:2] + words[-1][:2]).upper()]

    @property
    def sci_name_codes(self) -> list[str]:
        parts = self.sci_name.split()
        if self.category != "species" or len(parts) != 2:
            return []
        return [(parts[0][:2] + parts[1][:2]).upper()]

    def as_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "sciName": self.sci_name,
            "comName": self.com_name,
            "speciesCode": self.species_code,
            "category": self.category,
            "taxonOrder": float(self.taxon_order),
            "bandingCodes": list(self.banding_codes),
            "comNameCodes": self.com_name_codes,
            "sciNameCodes": self.sci_name_codes,
        }
        optional = {
            "order": self.order,
            "familyCode": self.family_code,
            "familyComName": self.family_com_name,
            "familySciName": self.family_sci_name,
            "reportAs": self.report_as,
            "extinct": self.extinct,
            "extinctYear": self.extinct_year,
        }
        item.update({k: v for k, v in optional.items() if v is not None})
        return item


def _t(code, com, sci, order, fam_code, fam_com, fam_sci, taxon_order, banding=(), **kw) -> Taxon:
    return Taxon(code, com, sci, kw.pop("category", "species"), taxon_order, order, fam_code,
                 fam_com, fam_sci, tuple(banding), **kw)  # fmt: skip


_ANATIDAE = ("Anseriformes", "anatid1", "Ducks, Geese, and Waterfowl", "Anatidae")
_TURDIDAE = ("Passeriformes", "turdid1", "Thrushes and Allies", "Turdidae")
_CORVIDAE = ("Passeriformes", "corvid1", "Crows, Jays, and Magpies", "Corvidae")
_STURNIDAE = ("Passeriformes", "sturni1", "Starlings and Mynas", "Sturnidae")
_CARDINALIDAE = ("Passeriformes", "cardin1", "Cardinals and Allies", "Cardinalidae")

#: Real eBird species codes and names; taxon orders are approximate.
TAXA: dict[str, Taxon] = {
    t.species_code: t
    for t in (
        _t("comost1", "Common Ostrich", "Struthio camelus", "Struthioniformes", "struth1", "Ostriches", "Struthionidae", 7.0),
        _t("cangoo", "Canada Goose", "Branta canadensis", *_ANATIDAE, 281.0, ("CANG",)),
        _t("mallar3", "Mallard", "Anas platyrhynchos", *_ANATIDAE, 435.0, ("MALL",)),
        _t("duck1", "duck sp.", "Anatinae sp.", *_ANATIDAE, 560.0, category="spuh"),
        _t("helgui", "Helmeted Guineafowl", "Numida meleagris", "Galliformes", "numidi1", "Guineafowl", "Numididae", 640.0),
        _t("calqua", "California Quail", "Callipepla californica", "Galliformes", "odonto1", "New World Quail", "Odontophoridae", 662.0, ("CAQU",)),
        _t("rocpig", "Rock Pigeon", "Columba livia", "Columbiformes", "columb1", "Pigeons and Doves", "Columbidae", 2103.0, ("ROPI",)),
        _t("paspig", "Passenger Pigeon", "Ectopistes migratorius", "Columbiformes", "columb1", "Pigeons and Doves", "Columbidae", 2370.0, ("PAPI",), extinct=True, extinct_year=1914),
        _t("annhum", "Anna's Hummingbird", "Calypte anna", "Caprimulgiformes", "trochi1", "Hummingbirds", "Trochilidae", 4000.0, ("ANHU",)),
        _t("marsto1", "Marabou Stork", "Leptoptilos crumenifer", "Ciconiiformes", "ciconi1", "Storks", "Ciconiidae", 6040.0),
        _t("shoebi1", "Shoebill", "Balaeniceps rex", "Pelecaniformes", "balaen1", "Shoebill", "Balaenicipitidae", 6290.0),
        _t("hadibi1", "Hadada Ibis", "Bostrychia hagedash", "Pelecaniformes", "thresk1", "Ibises and Spoonbills", "Threskiornithidae", 6420.0),
        _t("calcon", "California Condor", "Gymnogyps californianus", "Cathartiformes", "cathar1", "New World Vultures", "Cathartidae", 6900.0, ("CACO",)),
        _t("snoowl1", "Snowy Owl", "Bubo scandiacus", "Strigiformes", "strigi1", "Owls", "Strigidae", 8200.0, ("SNOW",)),
        _t("spemou2", "Speckled Mousebird", "Colius striatus", "Coliiformes", "coliid1", "Mousebirds", "Coliidae", 8600.0),
        _t("piekin1", "Pied Kingfisher", "Ceryle rudis", "Coraciiformes", "alcedi1", "Kingfishers", "Alcedinidae", 9400.0),
        _t("acowoo", "Acorn Woodpecker", "Melanerpes formicivorus", "Piciformes", "picida1", "Woodpeckers", "Picidae", 10300.0, ("ACWO",)),
        _t("passer1", "passerine sp.", "Passeriformes sp.", "Passeriformes", None, None, None, 11000.0, category="spuh"),
        _t("blujay", "Blue Jay", "Cyanocitta cristata", *_CORVIDAE, 20100.0, ("BLJA",)),
        _t("amecro", "American Crow", "Corvus brachyrhynchos", *_CORVIDAE, 20400.0, ("AMCR",)),
        _t("supsta1", "Superb Starling", "Lamprotornis superbus", *_STURNIDAE, 26200.0),
        _t("eursta", "European Starling", "Sturnus vulgaris", *_STURNIDAE, 26300.0, ("EUST",)),
        _t("wesblu", "Western Bluebird", "Sialia mexicana", *_TURDIDAE, 26500.0, ("WEBL",)),
        _t("amerob", "American Robin", "Turdus migratorius", *_TURDIDAE, 27100.0, ("AMRO",)),
        _t("houspa", "House Sparrow", "Passer domesticus", "Passeriformes", "passer2", "Old World Sparrows", "Passeridae", 29700.0, ("HOSP",)),
        _t("daejun", "Dark-eyed Junco", "Junco hyemalis", "Passeriformes", "passer3", "New World Sparrows", "Passerellidae", 31600.0, ("DEJU",)),
        _t("slcjun", "Dark-eyed Junco (Slate-colored)", "Junco hyemalis hyemalis/carolinensis", "Passeriformes", "passer3", "New World Sparrows", "Passerellidae", 31610.0, ("SCJU",), category="issf", report_as="daejun"),
        _t("rewbla", "Red-winged Blackbird", "Agelaius phoeniceus", "Passeriformes", "icteri1", "Troupials and Allies", "Icteridae", 33251.0, ("RWBL",)),
        _t("norcar", "Northern Cardinal", "Cardinalis cardinalis", *_CARDINALIDAE, 35300.0, ("NOCA",)),
        _t("paibun", "Painted Bunting", "Passerina ciris", *_CARDINALIDAE, 35800.0, ("PABU",)),
        _t("bird1", "bird sp.", "Aves sp.", None, None, None, None, 36000.0, category="spuh"),
    )
}  # fmt: skip

#: Taxonomy rows served although no observation uses them (spuh, extinct).
EXTRA_TAXA = ("duck1", "passer1", "bird1", "paspig", "daejun")


@dataclass(frozen=True)
class RegionDef:
    """A region the dataset can generate observations for."""

    code: str
    country: tuple[str, str]
    #: (code, name) of the subnational1 units hotspots are spread over.
    sub1: tuple[tuple[str, str], ...]
    #: (code, name) of subnational2 units; empty where the country has none.
    sub2: tuple[tuple[str, str], ...]
    center: tuple[float, float]
    species: tuple[str, ...]
    notable: tuple[str, ...]
    #: species code → exoticCategory (N naturalized, P provisional, X escapee).
    exotic: dict[str, str] = field(default_factory=dict)
    places: tuple[str, ...] = ()


REGION_CATALOG: dict[str, RegionDef] = {
    "US-NY": RegionDef(
        "US-NY",
        ("US", "United States"),
        (("US-NY", "New York"),),
        (("US-NY-061", "New York"), ("US-NY-047", "Kings"), ("US-NY-109", "Tompkins")),
        (41.2, -74.6),
        (
            "cangoo",
            "mallar3",
            "rocpig",
            "blujay",
            "amecro",
            "eursta",
            "amerob",
            "houspa",
            "slcjun",
            "rewbla",
            "norcar",
        ),
        ("snoowl1", "paibun"),
        {"rocpig": "N", "eursta": "N", "houspa": "N"},
        (
            "Central Park--The Ramble",
            "Prospect Park",
            "Jamaica Bay Wildlife Refuge",
            "Sapsucker Woods",
            "Stewart Park, Ithaca",
            "Montezuma NWR--Wildlife Drive",
            "Hempstead Lake State Park",
        ),
    ),
    "US-CA": RegionDef(
        "US-CA",
        ("US", "United States"),
        (("US-CA", "California"),),
        (("US-CA-075", "San Francisco"), ("US-CA-001", "Alameda"), ("US-CA-037", "Los Angeles")),
        (36.4, -120.9),
        (
            "cangoo",
            "mallar3",
            "calqua",
            "rocpig",
            "annhum",
            "acowoo",
            "amecro",
            "eursta",
            "wesblu",
            "houspa",
            "rewbla",
        ),
        ("calcon",),
        {"rocpig": "N", "eursta": "N", "houspa": "N"},
        (
            "Golden Gate Park--Stow Lake",
            "Lake Merritt",
            "Point Reyes--Abbotts Lagoon",
            "Bolsa Chica Ecological Reserve",
            "Arrastradero Preserve",
            "Pinnacles NP--Bear Gulch",
            "Tilden Regional Park",
        ),
    ),
    # A country without subnational2 units: its hotspots carry no subnational2Code.
    "KE": RegionDef(
        "KE",
        ("KE", "Kenya"),
        (("KE-30", "Nairobi"), ("KE-10", "Kajiado"), ("KE-31", "Nakuru")),
        (),
        (-1.3, 36.8),
        ("comost1", "helgui", "marsto1", "hadibi1", "spemou2", "piekin1", "supsta1", "houspa"),
        ("shoebi1",),
        {},
        (
            "Nairobi NP",
            "Karura Forest",
            "Lake Nakuru NP",
            "Lake Naivasha--Crescent Island",
            "Olorgesailie",
            "Nairobi Arboretum",
            "Ngong Road Forest Sanctuary",
        ),
    ),
}

_OBSERVERS = (
    ("Alex", "Example"),
    ("Sam", "Birder"),
    ("Wanjiru", "Kamau"),
    ("Priya", "Nair"),
    ("Jordan", "Lee"),
    ("Otieno", "Ouma"),
    ("Maria", "Lopez"),
    ("Chris", "Ng"),
)

SIMPLE_FIELDS = (
    "speciesCode", "comName", "sciName", "locId", "locName", "obsDt", "howMany", "lat",
    "lng", "obsValid", "obsReviewed", "locationPrivate", "subId", "exoticCategory",
)  # fmt: skip

TAXONOMY_CSV_COLUMNS = (
    # (header, JSON field) in the order ebird-api-ui's parser maps them (§1.8).
    ("SCIENTIFIC_NAME", "sciName"),
    ("COMMON_NAME", "comName"),
    ("SPECIES_CODE", "speciesCode"),
    ("CATEGORY", "category"),
    ("TAXON_ORDER", "taxonOrder"),
    ("COM_NAME_CODES", "comNameCodes"),
    ("SCI_NAME_CODES", "sciNameCodes"),
    ("BANDING_CODES", "bandingCodes"),
    ("ORDER", "order"),
    ("FAMILY_COM_NAME", "familyComName"),
    ("FAMILY_SCI_NAME", "familySciName"),
    ("REPORT_AS", "reportAs"),
    ("EXTINCT", "extinct"),
    ("EXTINCT_YEAR", "extinctYear"),
    ("FAMILY_CODE", "familyCode"),
)
HOTSPOT_CSV_COLUMNS = (
    "locId", "countryCode", "subnational1Code", "subnational2Code", "lat", "lng", "locName",
    "latestObsDt", "numSpeciesAllTime",
)  # fmt: skip

#: Region codes the real API accepts: country, subnational1, subnational2, location.
REGION_CODE = re.compile(r"^(?:[A-Z]{2}(?:-[A-Z0-9]{1,3}){0,2}|L\d+)$")

# -- dataset ---------------------------------------------------------------------------


@dataclass
class Observation:
    """One species on one checklist, with the full-detail record the API serves."""

    day: date
    notable: bool
    hotspot: bool
    record: dict[str, Any]

    @property
    def sort_key(self) -> tuple[str, str]:
        return self.record["obsDt"], self.record["subId"]

    def matches(self, regions: Iterable[str]) -> bool:
        r = self.record
        codes = (r["countryCode"], r["subnational1Code"], r.get("subnational2Code"), r["locId"])
        return any(code in codes for code in regions)

    def simple(self) -> dict[str, Any]:
        return {k: self.record[k] for k in SIMPLE_FIELDS if k in self.record}


@dataclass
class EbirdDataset:
    """Everything the replica serves. Not thread-safe on its own; the replica guards it."""

    today: date
    regions: dict[str, RegionDef]
    #: Hotspot records in the JSON shape (optional fields left out when unknown).
    hotspots: list[dict[str, Any]]
    observations: list[Observation]
    taxonomy: list[dict[str, Any]]
    taxonomy_versions: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"authorityVer": 2024.0, "latest": True},
            {"authorityVer": 2023.0, "latest": False},
        ]
    )

    def recent(self, regions: Sequence[str], back: int, *, hotspot_only: bool = False):
        """Most recent observation of each species within ``back`` days, newest first."""
        since = self.today - timedelta(days=back)
        seen: set[str] = set()
        out = []
        for obs in self._select(regions, hotspot_only):
            if obs.day >= since and obs.record["speciesCode"] not in seen:
                seen.add(obs.record["speciesCode"])
                out.append(obs)
        return out

    def notable_recent(self, regions: Sequence[str], back: int, *, hotspot_only: bool = False):
        """Every observation of a notable species within ``back`` days, newest first."""
        since = self.today - timedelta(days=back)
        return [o for o in self._select(regions, hotspot_only) if o.notable and o.day >= since]

    def historic(
        self, regions: Sequence[str], day: date, *, rank: str = "mrec", hotspot_only: bool = False
    ):
        """One observation per species on ``day``: the latest (mrec) or the first
        submitted (create, i.e. the lowest subId)."""
        todays = [o for o in self._select(regions, hotspot_only) if o.day == day]
        if rank == "create":
            todays.sort(key=lambda o: o.record["subId"])
        chosen: dict[str, Observation] = {}
        for obs in todays:
            chosen.setdefault(obs.record["speciesCode"], obs)
        return list(chosen.values())

    def hotspots_in(self, regions: Sequence[str], back: int | None = None):
        since = None if back is None else (self.today - timedelta(days=back)).isoformat()
        out = []
        for h in self.hotspots:
            codes = (h["countryCode"], h["subnational1Code"], h.get("subnational2Code"), h["locId"])
            if not any(c in codes for c in regions):
                continue
            if since is not None and h.get("latestObsDt", "") < since:
                continue  # never birded, or not within ``back`` days
            out.append(h)
        return out

    def _select(self, regions: Sequence[str], hotspot_only: bool) -> list[Observation]:
        found = [o for o in self.observations if o.matches(regions)]
        if hotspot_only:
            found = [o for o in found if o.hotspot]
        return sorted(found, key=lambda o: o.sort_key, reverse=True)


def build_dataset(
    seed: int = 7,
    regions: Sequence[str] = ("US-NY", "US-CA", "KE"),
    today: date | None = None,
    days: int = 10,
) -> EbirdDataset:
    """A deterministic dataset: for each region, hotspots and private locations, and
    for each of the last ``days`` days (today included) a few checklists with several
    species each. The same arguments always give the same data."""
    today = today or datetime.now(timezone.utc).date()
    unknown = [r for r in regions if r not in REGION_CATALOG]
    if unknown:
        raise ValueError(
            f"no replica data for region(s) {unknown}; known: {sorted(REGION_CATALOG)}"
        )
    defs = {code: REGION_CATALOG[code] for code in regions}
    hotspots: list[dict[str, Any]] = []
    observations: list[Observation] = []
    used_species: set[str] = set()
    sub_counter = 160_000_000
    obs_counter = 2_000_000_000

    for region_index, (code, rdef) in enumerate(defs.items()):
        rng = random.Random(f"{seed}:{code}")
        locations = _locations(rng, rdef, region_index)
        birded = [loc for loc in locations if loc.get("_birded", True)]
        seen_at: dict[str, set[str]] = {loc["locId"]: set() for loc in locations}
        latest_at: dict[str, str] = {}
        for back in range(days - 1, -1, -1):  # oldest day first, so subIds grow with time
            day = today - timedelta(days=back)
            day_rng = random.Random(f"{seed}:{code}:{day.isoformat()}")
            for n in range(day_rng.randint(3, 5)):
                sub_counter += day_rng.randint(1, 900)
                loc = day_rng.choice(birded)
                observer = day_rng.choice(_OBSERVERS)
                # About one checklist in ten has no start time: obsDt is the bare date.
                if day_rng.random() < 0.1:
                    obs_dt = day.isoformat()
                else:
                    obs_dt = f"{day.isoformat()} {day_rng.randint(5, 18):02d}:{day_rng.choice((0, 5, 15, 30, 45)):02d}"
                species = day_rng.sample(
                    rdef.species, day_rng.randint(3, min(7, len(rdef.species)))
                )
                # Notable species: guaranteed on the first checklist of the newest day.
                if (back == 0 and n == 0) or day_rng.random() < 0.2:
                    species.append(day_rng.choice(rdef.notable))
                if code.startswith("US") and day_rng.random() < 0.15:
                    species.append("duck1")  # a spuh now and then
                checklist_id = f"CL{day_rng.randint(20000, 29999)}"
                for species_code in species:
                    obs_counter += day_rng.randint(1, 50)
                    used_species.add(species_code)
                    record = _observation_record(
                        day_rng,
                        TAXA[species_code],
                        loc,
                        obs_dt=obs_dt,
                        sub_id=f"S{sub_counter}",
                        obs_id=f"OBS{obs_counter}",
                        checklist_id=checklist_id,
                        observer=observer,
                        notable=species_code in rdef.notable,
                        exotic=rdef.exotic.get(species_code),
                    )
                    observations.append(
                        Observation(
                            day=day,
                            notable=species_code in rdef.notable,
                            hotspot=not loc["_private"],
                            record=record,
                        )
                    )
                    seen_at[loc["locId"]].add(species_code)
                latest_at[loc["locId"]] = max(latest_at.get(loc["locId"], ""), obs_dt)
        for loc in locations:
            if loc["_private"]:
                continue
            hotspot = {k: loc[k] for k in _HOTSPOT_KEYS if k in loc}
            if loc["_birded"]:
                # Birded before the generated window too: an older date and a larger count.
                older = today - timedelta(days=days + rng.randint(20, 400))
                hotspot["latestObsDt"] = latest_at.get(loc["locId"]) or f"{older.isoformat()} 08:00"
                hotspot["numSpeciesAllTime"] = len(seen_at[loc["locId"]]) + rng.randint(40, 250)
            hotspots.append(hotspot)

    taxonomy = sorted(
        (TAXA[c] for c in used_species | set(EXTRA_TAXA)), key=lambda t: t.taxon_order
    )
    return EbirdDataset(
        today=today,
        regions=defs,
        hotspots=hotspots,
        observations=observations,
        taxonomy=[t.as_json() for t in taxonomy],
    )


_HOTSPOT_KEYS = (
    "locId", "locName", "countryCode", "subnational1Code", "subnational2Code", "lat", "lng",
)  # fmt: skip


def _locations(rng: random.Random, rdef: RegionDef, region_index: int) -> list[dict[str, Any]]:
    """Hotspots (two of them never birded) and two private locations for a region."""
    out = []
    base_id = 100_000 + region_index * 1_000_000
    for i, name in enumerate(rdef.places):
        sub1 = rdef.sub1[i % len(rdef.sub1)]
        loc: dict[str, Any] = {
            "locId": f"L{base_id + rng.randint(1, 99_999) * 10 + i}",
            # One name with a comma, so the CSV must quote it.
            "locName": name if i != 2 else f"{name}, visitor centre",
            "countryCode": rdef.country[0],
            "countryName": rdef.country[1],
            "subnational1Code": sub1[0],
            "subnational1Name": sub1[1],
            "lat": round(rdef.center[0] + rng.uniform(-0.8, 0.8), 7),
            "lng": round(rdef.center[1] + rng.uniform(-0.8, 0.8), 7),
            "_private": False,
            # The last two hotspots were never birded: no latestObsDt/numSpeciesAllTime.
            "_birded": i < len(rdef.places) - 2,
        }
        if rdef.sub2:
            sub2 = rdef.sub2[i % len(rdef.sub2)]
            loc["subnational2Code"], loc["subnational2Name"] = sub2
        out.append(loc)
    for i in range(2):
        sub1 = rdef.sub1[i % len(rdef.sub1)]
        loc = {
            "locId": f"L{base_id + 900_000 + rng.randint(1, 9_999) * 10 + i}",
            "locName": f"{rng.choice(('Backyard', 'Home', 'Walk near home'))} {i + 1}",
            "countryCode": rdef.country[0],
            "countryName": rdef.country[1],
            "subnational1Code": sub1[0],
            "subnational1Name": sub1[1],
            "lat": round(rdef.center[0] + rng.uniform(-0.5, 0.5), 7),
            "lng": round(rdef.center[1] + rng.uniform(-0.5, 0.5), 7),
            "_private": True,
            "_birded": True,
        }
        if rdef.sub2:
            loc["subnational2Code"], loc["subnational2Name"] = rdef.sub2[0]
        out.append(loc)
    return out


def _observation_record(
    rng: random.Random,
    taxon: Taxon,
    loc: dict[str, Any],
    *,
    obs_dt: str,
    sub_id: str,
    obs_id: str,
    checklist_id: str,
    observer: tuple[str, str],
    notable: bool,
    exotic: str | None,
) -> dict[str, Any]:
    """A detail=full observation (§1.3) with the optional fields left out sometimes."""
    # "X" (presence only) leaves howMany out: about one in seven.
    presence_only = rng.random() < 0.15
    record: dict[str, Any] = {
        "speciesCode": taxon.species_code,
        "comName": taxon.com_name,
        "sciName": taxon.sci_name,
        "locId": loc["locId"],
        "locName": loc["locName"],
        "obsDt": obs_dt,
    }
    if not presence_only:
        record["howMany"] = rng.choice((1, 1, 2, 3, 4, 6, 12, 25, 140))
    record.update(
        {
            "lat": loc["lat"],
            "lng": loc["lng"],
            # Rarities wait for review; everything else is auto-accepted.
            "obsValid": not notable or rng.random() < 0.5,
            "obsReviewed": notable and rng.random() < 0.5,
            "locationPrivate": loc["_private"],
            "subId": sub_id,
        }
    )
    if exotic:
        record["exoticCategory"] = exotic
    if "subnational2Code" in loc:
        record["subnational2Code"] = loc["subnational2Code"]
        record["subnational2Name"] = loc["subnational2Name"]
    first, last = observer
    record.update(
        {
            "subnational1Code": loc["subnational1Code"],
            "subnational1Name": loc["subnational1Name"],
            "countryCode": loc["countryCode"],
            "countryName": loc["countryName"],
            "userDisplayName": f"{first} {last}",
            "obsId": obs_id,
            "checklistId": checklist_id,
            "presenceNoted": presence_only,
            "hasComments": rng.random() < 0.2,
            "firstName": first,
            "lastName": last,
            "hasRichMedia": rng.random() < 0.1,
        }
    )
    return record


# -- HTTP ------------------------------------------------------------------------------


class LoggedRequest(NamedTuple):
    path: str
    query: dict[str, str]
    #: The ``X-eBirdApiToken`` header as sent (None when absent).
    token: str | None


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


JSON_TYPE = "application/json;charset=utf-8"
CSV_TYPE = "text/csv;charset=utf-8"
_SUCCESS_HEADERS = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"}


class ApiError(Exception):
    """Raised inside a handler; becomes the ``{"errors": [...]}`` envelope (§1.11)."""

    def __init__(self, status: int, code: str, title: str, status_text: str | None = None):
        super().__init__(title)
        self.status = status
        self.code = code
        self.title = title
        if status_text is None:
            phrase = HTTPStatus(status).phrase.upper().replace(" ", "_")
            status_text = f"{status} {phrase}"  # e.g. "400 BAD_REQUEST"
        self.status_text = status_text

    def reply(self) -> Reply:
        body = {"errors": [{"status": self.status_text, "code": self.code, "title": self.title}]}
        # Error bodies are application/json without a charset (§1.11).
        return Reply(self.status, {"Content-Type": "application/json"}, _dumps(body))


def _bad_request(code: str, title: str) -> ApiError:
    return ApiError(400, code, title)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _csv(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode()


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, bool):
        return "true" if value else ""
    return value


class _Route(NamedTuple):
    pattern: re.Pattern[str]
    name: str


# Every route needs the token: the API documents X-eBirdApiToken for every endpoint,
# and this replica plays a server that enforces it (a recorded taxonomy call with an
# empty token answered 200, §1.1, but nothing promises that the real one keeps
# answering so).
_ROUTES = (
    _Route(re.compile(r"^/v2/data/obs/(?P<region>[^/]+)/recent$"), "recent"),
    _Route(re.compile(r"^/v2/data/obs/(?P<region>[^/]+)/recent/notable$"), "notable"),
    _Route(
        re.compile(
            r"^/v2/data/obs/(?P<region>[^/]+)/historic/(?P<y>[^/]+)/(?P<m>[^/]+)/(?P<d>[^/]+)$"
        ),
        "historic",
    ),
    _Route(re.compile(r"^/v2/ref/taxonomy/ebird$"), "taxonomy"),
    _Route(re.compile(r"^/v2/ref/taxonomy/versions$"), "taxonomy_versions"),
    _Route(re.compile(r"^/v2/ref/hotspot/(?P<region>[^/]+)$"), "hotspots"),
    _Route(re.compile(r"^/v2/ref/region/info/(?P<region>[^/]+)$"), "region_info"),
)


@dataclass
class _Rule:
    prefix: str
    status: int | None
    remaining: int | None
    delay: float = 0.0
    retry_after: float | None = None


@dataclass
class _Tamper:
    prefix: str
    field: str
    value: Any
    index: int
    remaining: int | None


def _normalise_prefix(prefix: str) -> str:
    """Accept "/v2/data/obs/US-CA", "/data/obs/US-CA" or "data/obs/US-CA"."""
    prefix = "/" + prefix.lstrip("/")
    return prefix if prefix.startswith("/v2/") else "/v2" + prefix


class EbirdApiReplica(LoopbackServer):
    """A real HTTP server answering like ``https://api.ebird.org/v2`` from ``dataset``.

    ``base_url`` ends in ``/v2`` like the real one. Thread-safe: the dataset, the log
    and the failure rules are guarded by one lock.
    """

    thread_name = "ebird-api-replica"
    url_path = "/v2"

    def __init__(
        self,
        dataset: EbirdDataset | None = None,
        *,
        token: str = "test-token",
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.dataset = dataset or build_dataset()
        super().__init__(host, port)
        self._token = token
        self._lock = threading.RLock()
        self._log: list[LoggedRequest] = []
        self._rules: list[_Rule] = []
        self._tampering: list[_Tamper] = []

    def __repr__(self) -> str:  # never print the token
        state = f"{self.host}:{self.port}" if self._server else "stopped"
        return f"EbirdApiReplica({state})"

    # -- test controls -------------------------------------------------------------------
    @property
    def request_log(self) -> list[LoggedRequest]:
        """A copy of every request so far: (path, query dict, token header)."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def set_token(self, token: str) -> None:
        """Change the token the server accepts (the old one then gets 403)."""
        with self._lock:
            self._token = token

    def fail(
        self,
        path_prefix: str,
        status: int = 500,
        times: int | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        """Answer requests whose path starts with ``path_prefix`` with ``status``:
        ``times`` times, then normally again; ``None`` = for ever. The prefix may
        leave out ``/v2``. ``retry_after`` adds a ``Retry-After`` header (seconds)."""
        if times is not None and times <= 0:
            return
        with self._lock:
            self._rules.append(
                _Rule(_normalise_prefix(path_prefix), status, times, retry_after=retry_after)
            )

    def delay(self, path_prefix: str, seconds: float, times: int | None = None) -> None:
        """Sleep ``seconds`` before answering matching requests (to trigger client
        timeouts): ``times`` times, or for ever."""
        with self._lock:
            self._rules.append(_Rule(_normalise_prefix(path_prefix), None, times, delay=seconds))

    def tamper(
        self,
        path_prefix: str,
        field: str,
        value: Any,
        *,
        index: int = 0,
        times: int | None = None,
    ) -> None:
        """Serve item ``index`` of matching JSON array replies with ``field`` set to
        ``value`` (e.g. ``howMany`` as the text ``"12"``: an upstream type change):
        ``times`` times, or for ever. The token is still checked first."""
        if times is not None and times <= 0:
            return
        with self._lock:
            self._tampering.append(
                _Tamper(_normalise_prefix(path_prefix), field, value, index, times)
            )

    def clear_failures(self) -> None:
        """Drop every ``fail``, ``delay`` and ``tamper`` rule."""
        with self._lock:
            self._rules.clear()
            self._tampering.clear()

    # -- request handling ----------------------------------------------------------------
    def _take_rules(self, path: str) -> tuple[float, _Rule | None]:
        """Consume the matching rules: the total delay, and the failure to answer."""
        delay, failure = 0.0, None
        with self._lock:
            for rule in list(self._rules):
                if not path.startswith(rule.prefix):
                    continue
                if rule.status is not None and failure is not None:
                    continue  # one failure per request; a later rule waits its turn
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                if rule.status is None:
                    delay += rule.delay
                else:
                    failure = rule
        return delay, failure

    def _respond(self, method: str, raw_path: str, headers) -> Reply:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        token = headers.get("X-eBirdApiToken")  # http.server headers: case-insensitive
        with self._lock:
            self._log.append(LoggedRequest(path, query, token))
        delay, failure = self._take_rules(path)
        if delay:
            time.sleep(delay)
        if failure is not None:
            extra = {}
            if failure.retry_after is not None:
                extra["Retry-After"] = f"{failure.retry_after:g}"
            try:
                phrase = HTTPStatus(failure.status).phrase
            except ValueError:
                phrase = "Error"
            error = ApiError(
                failure.status,
                f"http.status.{failure.status}",
                phrase,
                status_text=str(failure.status),
            )
            status, hdrs, body = error.reply()
            return Reply(status, {**hdrs, **extra}, body)

        for route in _ROUTES:
            match = route.pattern.match(path)
            if match:
                break
        else:
            return ApiError(
                404, "http.status.404", f"No endpoint {method} {path}.", status_text="404"
            ).reply()
        if method != "GET":
            return ApiError(
                405, "http.status.405", f"Request method '{method}' not supported", "405"
            ).reply()
        # Also the 3rd-party ``key=`` query parameter (§1.1).
        given = token if token is not None else query.get("key")
        with self._lock:
            expected = self._token
        if not given or given != expected:
            return Reply(403, {}, b"")  # empty body, content-length 0 (§1.11)
        try:
            with self._lock:
                reply = getattr(self, f"_get_{route.name}")(query, **match.groupdict())
        except ApiError as exc:
            return exc.reply()
        return self._apply_tampering(path, reply)

    def _apply_tampering(self, path: str, reply: Reply) -> Reply:
        """Rewrite one field of one item of a JSON array reply, as ``tamper`` asked."""
        if reply.status != 200 or not reply.headers.get("Content-Type", "").startswith(
            "application/json"
        ):
            return reply
        with self._lock:
            rules = [t for t in self._tampering if path.startswith(t.prefix)]
            for rule in rules:
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._tampering.remove(rule)
        if not rules:
            return reply
        items = json.loads(reply.body)
        if not isinstance(items, list):
            return reply
        for rule in rules:
            if rule.index < len(items):
                items[rule.index][rule.field] = rule.value
        return Reply(reply.status, reply.headers, _dumps(items))

    # -- endpoints ----------------------------------------------------------------------
    def _get_recent(self, query: dict[str, str], region: str) -> Reply:
        regions = _regions(region, query, "rawDataCmd")
        back = _int_param(query, "back", 14, 1, 30, "rawDataCmd", "Back")
        max_results = _int_param(query, "maxResults", None, 1, 10000, "rawDataCmd", "Max results")
        found = self.dataset.recent(regions, back, hotspot_only=_bool(query, "hotspot"))
        found = self._filter_cat(found, query)
        # ``detail`` is ignored here: always the simple shape (§1.4).
        return _json([o.simple() for o in found[:max_results]])

    def _get_notable(self, query: dict[str, str], region: str) -> Reply:
        regions = _regions(region, query, "rawDataCmd")
        back = _int_param(query, "back", 14, 1, 30, "rawDataCmd", "Back")
        max_results = _int_param(query, "maxResults", None, 1, 10000, "rawDataCmd", "Max results")
        found = self.dataset.notable_recent(regions, back, hotspot_only=_bool(query, "hotspot"))
        return _json([_detail(o, query) for o in found[:max_results]])

    def _get_historic(self, query: dict[str, str], region: str, y: str, m: str, d: str) -> Reply:
        regions = _regions(region, query, "rawDataCmd")
        try:
            day = date(int(y), int(m), int(d))
        except ValueError:
            raise _bad_request(
                "typeMismatch", f"Field date of rawDataCmd: Invalid date {y}/{m}/{d}."
            ) from None
        if day > self.dataset.today:
            raise _bad_request(
                "error.data.date_in_future",
                f"Field date of rawDataCmd: Date {day.isoformat()} must not be in the future",
            )
        if day < date(1800, 1, 1):
            raise _bad_request(
                "error.data.date_too_early",
                "Field date of rawDataCmd: Date must be on or after 1800-01-01",
            )
        max_results = _int_param(query, "maxResults", None, 1, 10000, "rawDataCmd", "Max results")
        rank = query.get("rank", "mrec")
        found = self.dataset.historic(regions, day, rank=rank, hotspot_only=_bool(query, "hotspot"))
        found = self._filter_cat(found, query)
        return _json([_detail(o, query) for o in found[:max_results]])

    def _get_taxonomy(self, query: dict[str, str]) -> Reply:
        version = query.get("version")
        if version and not re.fullmatch(r"\d+(\.\d+)?", version):
            raise _bad_request("typeMismatch", "Field version of taxaRefCmd: This field must be a number.")  # fmt: skip
        rows = self.dataset.taxonomy
        if query.get("species"):
            wanted = {s.strip() for s in query["species"].split(",") if s.strip()}
            rows = [r for r in rows if r["speciesCode"] in wanted]
        if query.get("cat"):
            cats = {c.strip() for c in query["cat"].split(",")}
            rows = [r for r in rows if r["category"] in cats]
        if _fmt(query) == "json":
            return _json(rows)
        header = [h for h, _ in TAXONOMY_CSV_COLUMNS]
        body = _csv(
            ([_csv_value(r.get(key)) for _, key in TAXONOMY_CSV_COLUMNS] for r in rows), header
        )
        return Reply(200, {"Content-Type": CSV_TYPE, **_SUCCESS_HEADERS}, body)

    def _get_taxonomy_versions(self, query: dict[str, str]) -> Reply:
        return _json(self.dataset.taxonomy_versions)

    def _get_hotspots(self, query: dict[str, str], region: str) -> Reply:
        regions = _regions(region, query, "hotspotCmd")
        back = _int_param(query, "back", None, 1, 30, "hotspotCmd", "Back")
        rows = self.dataset.hotspots_in(regions, back)
        if _fmt(query) == "json":
            return _json(rows)
        # CSV: no header row (ebird-api-ui's parser reads line 1 as data, §1.9).
        body = _csv([r.get(k) for k in HOTSPOT_CSV_COLUMNS] for r in rows)
        return Reply(200, {"Content-Type": CSV_TYPE, **_SUCCESS_HEADERS}, body)

    def _get_region_info(self, query: dict[str, str], region: str) -> Reply:
        if not REGION_CODE.match(region) or region.startswith("L"):
            # ref/region/info answers a malformed code with a 500 (§1.11).
            raise ApiError(
                500,
                "http.status.500",
                f"No message found under code '{region}' for locale 'en_US'.",
                status_text="500",
            )
        return _json(self._region_info(region))

    def _region_info(self, code: str) -> dict[str, Any]:
        names = self._region_names()
        parts = code.split("-")
        parent_code = "-".join(parts[:-1]) if len(parts) > 1 else None
        kind = ("country", "subnational1", "subnational2")[len(parts) - 1]
        info: dict[str, Any] = {}
        if code in names:
            full = ", ".join(names[c] for c in _lineage(code) if c in names)
            info = {"bounds": self._bounds(code), "result": full}
        info.update({"code": code, "type": kind})
        if parent_code:
            info["parent"] = self._region_info(parent_code)
        lat, lng = self._center(code) if code in names else (0.0, 0.0)
        info.update({"longitude": lng, "latitude": lat})
        return info

    def _region_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for rdef in self.dataset.regions.values():
            names[rdef.country[0]] = rdef.country[1]
            names.update(dict(rdef.sub1))
            names.update(dict(rdef.sub2))
        return names

    def _located(self, code: str) -> list[tuple[float, float]]:
        return [
            (h["lat"], h["lng"])
            for h in self.dataset.hotspots
            if code in (h["countryCode"], h["subnational1Code"], h.get("subnational2Code"))
        ]

    def _center(self, code: str) -> tuple[float, float]:
        points = self._located(code) or [(0.0, 0.0)]
        return (
            round(sum(p[0] for p in points) / len(points), 6),
            round(sum(p[1] for p in points) / len(points), 6),
        )

    def _bounds(self, code: str) -> dict[str, float]:
        points = self._located(code) or [(0.0, 0.0)]
        lats, lngs = [p[0] for p in points], [p[1] for p in points]
        return {"minX": min(lngs), "maxX": max(lngs), "minY": min(lats), "maxY": max(lats)}

    def _filter_cat(self, found: list[Observation], query: dict[str, str]) -> list[Observation]:
        if not query.get("cat"):
            return found
        cats = {c.strip() for c in query["cat"].split(",")}
        return [o for o in found if TAXA[o.record["speciesCode"]].category in cats]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real API
            timeout = 10  # drop idle keep-alive connections
            server_version = "Apache"
            sys_version = ""

            def _serve(self, method: str) -> None:
                try:
                    status, headers, body = replica._respond(method, self.path, self.headers)
                except Exception as exc:  # a replica bug must show up as a 500, not a hang
                    status, headers, body = 500, {"Content-Type": "text/plain"}, repr(exc).encode()
                if body and "gzip" in self.headers.get("Accept-Encoding", ""):
                    body = gzip.compress(body, compresslevel=1)  # the real API gzips (§1.1)
                    headers = {**headers, "Content-Encoding": "gzip"}
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if method != "HEAD":
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (e.g. a timeout test); nothing to answer

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, format: str, *args) -> None:  # quiet in tests
                pass

        return Handler


def _json(value: Any) -> Reply:
    return Reply(200, {"Content-Type": JSON_TYPE, **_SUCCESS_HEADERS}, _dumps(value))


def _lineage(code: str) -> list[str]:
    """ "US-NY-109" → ["US-NY-109", "US-NY", "US"] (the order eBird names them)."""
    parts = code.split("-")
    return ["-".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _regions(region: str, query: dict[str, str], cmd: str) -> list[str]:
    """The path region plus any ``r=`` codes, each validated like the real server."""
    codes = [region] + [c for c in query.get("r", "").split(",") if c]
    for code in codes:
        if not REGION_CODE.match(code):
            raise _bad_request(
                "methodInvocation",
                f"Field regionCode of {cmd}: Property regionCode threw exception; nested "
                "exception is java.lang.IllegalArgumentException: Unable to find matching "
                f"region type for {code}",
            )
    return codes


def _int_param(
    query: dict[str, str],
    name: str,
    default: int | None,
    low: int,
    high: int,
    cmd: str,
    label: str,
) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request("typeMismatch", f"Field {name} of {cmd}: This field must be a number.") from None  # fmt: skip
    if not low <= value <= high:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        raise _bad_request(
            f"error.data.{snake}_out_of_range",
            f"Field {name} of {cmd}: {label} must be between {low} and {high}",
        )
    return value


def _bool(query: dict[str, str], name: str) -> bool:
    return query.get(name, "false").lower() == "true"


def _fmt(query: dict[str, str]) -> str:
    return "json" if query.get("fmt", "csv").lower() == "json" else "csv"


def _detail(obs: Observation, query: dict[str, str]) -> dict[str, Any]:
    return dict(obs.record) if query.get("detail") == "full" else obs.simple()


# -- command line ----------------------------------------------------------------------


def serve(
    host: str = "127.0.0.1",
    port: int = 8082,
    *,
    token: str = "test-token",
    seed: int = 7,
    regions: Sequence[str] = ("US-NY", "US-CA", "KE"),
    days: int = 10,
) -> None:
    """Serve a generated dataset until Ctrl-C (or SIGTERM)."""
    dataset = build_dataset(seed=seed, regions=regions, days=days)
    with EbirdApiReplica(dataset, token=token, host=host, port=port) as replica:
        n_obs = len(dataset.observations)
        print(f"eBird API replica on {replica.base_url} ({n_obs} observations, {days} days)")
        print(f"  regions: {', '.join(dataset.regions)}; token: the one given with --token")
        # flush: a parent reading our stdout through a pipe sees the URL at once.
        print(f"Use it with: EBIRD_API_BASE_URL={replica.base_url}   (Ctrl-C stops)", flush=True)
        replica.serve_until_stopped()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local replica of the eBird API 2.0")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--token", default="test-token", help="the X-eBirdApiToken accepted")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--regions", default="US-NY,US-CA,KE", help="comma list")
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.port,
        token=args.token,
        seed=args.seed,
        regions=[r.strip() for r in args.regions.split(",") if r.strip()],
        days=args.days,
    )


if __name__ == "__main__":
    main()
