"""Campaign list import: rows per second through the real import task, against a floor.

    .venv/bin/python bench/campaign_import.py                       # SQLite scratch file
    .venv/bin/python bench/campaign_import.py --url postgresql+psycopg://postgres@127.0.0.1:5432/x
    .venv/bin/python bench/campaign_import.py --rows 50000 --bad-share 0.03 --floor-rows 300

A fresh database (created, migrated to head, dropped at the end for PostgreSQL) gets a
campaign and a CSV of ``--rows`` rows (``--bad-share`` bad numbers, 1 % repeated numbers,
1 % rows matching existing customers by e-mail). The import runs through
``campaigns.tasks.run_import`` (batches of 1,000 rows, one transaction each) and every row
must be accounted for. The floor, measured in the same run on the same database: the same
kind of rows created one by one with ``crm_core.services.customers.do_create_customer``
plus a lead each, one transaction per row (what a naive import does). Prints one JSON
line; exits 1 when the import is not at least 10x the floor, 2 when rows are missing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SWITCHBOARD_BENCH_URL", ""))
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--bad-share", type=float, default=0.03)
    parser.add_argument("--floor-rows", type=int, default=300)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="sb-import-bench-"))
    admin = None
    if args.url.startswith("postgresql"):
        name = f"switchboard_bench_import_{uuid.uuid4().hex[:6]}"
        admin = create_engine(
            make_url(args.url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    try:
        return run(url, tmp, args)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(url: str, tmp: Path, args: argparse.Namespace) -> int:
    from campaigns import imports
    from campaigns.models import CampaignList, Lead, ListImport
    from campaigns.service import do_create_campaign
    from campaigns.tasks import run_import
    from crm_core.services.blobs import BlobStore
    from crm_core.services.customers import do_create_customer
    from hub.app import create_app
    from hub.db import db
    from hub.migrate import upgrade

    upgrade(url)
    app = create_app(
        {
            "database_url": url,
            "var_dir": str(tmp / "var"),
            "env": "test",
            "secret_key": "b" * 64,
            "default_region": "PL",
        }
    )
    n, bad_every = args.rows, max(2, round(1 / args.bad_share)) if args.bad_share else 0
    with app.app_context():
        with db.transaction() as s:
            campaign = do_create_campaign(s, fields={"name": "Bench"})
            floor_campaign = do_create_campaign(s, fields={"name": "Floor"})
            for i in range(n // 100):
                do_create_customer(
                    s,
                    fields={"first_name": "Known", "last_name": str(i)},
                    contact_points=[{"kind": "email", "value": f"known{i}@example.com"}],
                )
            cid, floor_id = campaign.id, floor_campaign.id
        out = io.StringIO()
        out.write("first_name;last_name;phone;email\n")
        bad = dup = 0
        for i in range(n):
            if bad_every and i % bad_every == 3:
                out.write(f"Bad;{i};12-{i};\n")
                bad += 1
            elif i % 100 == 7 and i > 100:
                out.write(f"Twin;{i};+4860{i - 50:07d};\n")
                dup += 1
            elif i % 100 == 11:
                out.write(f"Known;{i};+4879{i:07d};known{i // 100}@example.com\n")
            else:
                out.write(f"Anna;{i};+4860{i:07d};\n")
        data = out.getvalue().encode()
        store = BlobStore(tmp / "var" / "blobs")
        with db.transaction() as s:
            upload = imports.do_upload_import(
                s,
                s.get(type(campaign), cid),
                filename="bench.csv",
                data=data,
                store=store,
                region="PL",
            )
            iid = upload.import_row.id
        with db.transaction() as s:
            # What do_start_import leaves (list, mapping, "running"), without its event, so
            # that the task runs here, timed, rather than eagerly inside the commit.
            imp = s.get(ListImport, iid)
            assert imp is not None
            the_list = CampaignList(campaign_id=cid, name="Bench", source="import")
            s.add(the_list)
            s.flush()
            imp.mapping = {"first_name": 0, "last_name": 1, "phone": 2, "email": 3}
            imp.list_id, imp.status = the_list.id, "running"
        started = time.perf_counter()
        final = run_import(iid)
        elapsed = time.perf_counter() - started
        assert final is not None
        # The floor: the naive way, one action and one commit per row.
        started = time.perf_counter()
        for i in range(args.floor_rows):
            with db.transaction() as s:
                c = do_create_customer(
                    s,
                    fields={"first_name": "Floor", "last_name": str(i)},
                    contact_points=[{"kind": "phone", "value": f"+4850{i:07d}"}],
                    region="PL",
                )
                s.add(
                    Lead(
                        campaign_id=floor_id,
                        customer_id=c.id,
                        phone=f"+4850{i:07d}",
                        state="pending",
                        priority=0,
                        attempts=0,
                    )
                )
        floor_elapsed = time.perf_counter() - started
        with db.transaction() as s:
            leads = s.scalar(select(func.count()).select_from(Lead).where(Lead.campaign_id == cid))
    accounted = final["imported"] + final["matched"] + final["rejected"]
    rate = n / elapsed
    floor_rate = args.floor_rows / floor_elapsed
    result = {
        "bench": "campaign_import",
        "backend": make_url(url).get_backend_name(),
        "rows": n,
        "bad_rows": bad,
        "repeated_rows": dup,
        "imported": final["imported"],
        "matched": final["matched"],
        "rejected": final["rejected"],
        "leads": leads,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rate),
        "floor_rows_per_s": round(floor_rate),
        "speedup": round(rate / floor_rate, 1),
    }
    print(json.dumps(result))
    if accounted != n or final["status"] != "done" or leads != n - final["rejected"]:
        return 2
    return 0 if rate >= 10 * floor_rate else 1


if __name__ == "__main__":
    sys.exit(main())
