"""List import: 10,000 CSV rows with 3 % bad numbers through the REST API (upload, preview,
start); correct rows in, bad rows reported with reasons, duplicates matched to existing
customers, progress pushed over Socket.IO. Also XLSX, and resuming an interrupted import."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from flask import Flask
from sqlalchemy import func, select

from campaigns import imports
from campaigns.models import CampaignList, ImportRejection, Lead, ListImport
from campaigns.service import do_create_campaign
from campaigns.tasks import run_import
from crm_core.models import ContactPoint, Customer
from crm_core.services.blobs import BlobStore
from hub.realtime import socketio
from tests.factories import PASSWORD, make_customer, make_user
from tests.routing_helpers import Db

NS = "/console"
ROWS = 10_000


def _login(app: Flask, user: Any) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code in (302, 303)
    return client


def _phone(i: int) -> str:
    return f"+4860{i:07d}"


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    out.write("Imię;Nazwisko;Telefon;E-mail;Miasto\n")
    for r in rows:
        out.write(";".join(r) + "\n")
    return out.getvalue().encode("utf-8")


def test_import_10000_rows_with_bad_numbers_and_matches(app: Flask) -> None:
    db = Db(app)
    with db() as s:
        boss = make_user(s, role="supervisor")
        campaign = do_create_campaign(s, fields={"name": "Winter offer"})
        # 100 customers already known by phone, 100 by e-mail (with another phone).
        by_phone = [
            make_customer(s, first_name="Known", phones=(_phone(i),)).id for i in range(100, 150)
        ]
        by_email = [
            make_customer(
                s, first_name="Mailed", phones=("+48790000001",), emails=(f"known{i}@example.com",)
            ).id
            for i in range(50)
        ]
        campaign_id, boss_id = campaign.id, boss.id
    rows: list[list[str]] = []
    # 3 % bad numbers (300 rows), away from the rows that match or are repeated.
    spare = [i for i in range(300, 9950, 32) if not (950 <= i < 1100)]
    bad = {5, 12, *spare[:298]}
    assert len(bad) == 300
    duplicates = set(range(9950, ROWS))  # 50 rows repeating a number of rows 950-999
    for i in range(ROWS):
        if i in bad:
            rows.append([f"Bad{i}", "Row", "12-34" if i % 2 else "not a number", "", "Kraków"])
        elif i in duplicates:
            rows.append(["Twin", f"Of {i - 9000}", _phone(i - 9000), "", "Kraków"])
        elif 1000 <= i < 1050:
            n = i - 1000
            rows.append(["Mailed", "Again", _phone(50_000 + n), f"KNOWN{n}@example.com", "Łódź"])
        else:
            number = _phone(i)
            # National format half the time: read in the deployment's region (PL).
            text = number if i % 2 else f"{number[3:6]} {number[6:9]} {number[9:]}"
            rows.append([f"Anna{i}", f"Nowak{i}", text, "", "Gdańsk"])
    data = _csv(rows)

    client = _login(app, boss)
    sc = socketio.test_client(app, namespace=NS, flask_test_client=client)
    assert sc.is_connected(NS)
    sc.get_received(NS)

    up = client.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        data={"file": (io.BytesIO(data), "list.csv")},
        content_type="multipart/form-data",
    )
    assert up.status_code == 201, up.get_json()
    body = up.get_json()
    assert body["total_rows"] == ROWS
    mapping = body["suggested_mapping"]
    assert mapping == {"first_name": 0, "last_name": 1, "phone": 2, "email": 3, "city": 4}
    iid = body["import_id"]

    pv = client.post(f"/api/v1/campaigns/imports/{iid}/preview", json={"mapping": mapping})
    assert pv.status_code == 200
    outcomes = {r["row"]: (r["outcome"], r.get("code")) for r in pv.get_json()["rows"]}
    assert outcomes[6] == ("reject", "phone_invalid")
    assert outcomes[13] == ("reject", "phone_invalid")
    assert outcomes[1] == ("new", None)
    assert outcomes[2] == ("new", None)  # national format
    assert len(outcomes) == imports.PREVIEW_ROWS

    # Nothing is imported before the start.
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 0

    st = client.post(
        f"/api/v1/campaigns/imports/{iid}/start",
        json={"mapping": mapping, "list_name": "Winter list"},
    )
    assert st.status_code == 202, st.get_json()

    done = client.get(f"/api/v1/campaigns/imports/{iid}").get_json()
    assert done["status"] == "done", done
    assert done["processed_rows"] == ROWS
    assert done["rejected"] == len(bad) + len(duplicates) == 350
    assert done["matched"] == 100
    assert done["imported"] == ROWS - 350 - 100
    assert done["imported"] + done["matched"] + done["rejected"] == ROWS

    with db() as s:
        leads = s.scalar(
            select(func.count()).select_from(Lead).where(Lead.campaign_id == campaign_id)
        )
        assert leads == ROWS - 350
        # Matches point at the existing cards, found by phone and by e-mail.
        matched_ids = set(
            s.scalars(select(Lead.customer_id).where(Lead.customer_id.in_(by_phone + by_email)))
        )
        assert matched_ids == set(by_phone) | set(by_email)
        # The new customers have their phone (E.164) and are not duplicated.
        created = s.scalar(
            select(func.count()).select_from(Customer).where(Customer.display_name.like("Anna%"))
        )
        assert created == done["imported"]
        assert (
            s.scalar(
                select(func.count())
                .select_from(ContactPoint)
                .where(ContactPoint.kind == "phone", ContactPoint.value == _phone(201))
            )
            == 1
        )
        codes = dict(
            s.execute(
                select(ImportRejection.code, func.count())
                .where(ImportRejection.import_id == iid)
                .group_by(ImportRejection.code)
            ).all()
        )
        assert codes == {"phone_invalid": len(bad), "duplicate_in_file": len(duplicates)}
        the_import = s.get(ListImport, iid)
        assert the_import is not None and the_import.list_id is not None

    # The report lists every rejected row with its reason and cells.
    page = client.get(f"/api/v1/campaigns/imports/{iid}/rejections?limit=5").get_json()
    assert page["has_more"] is True
    first = page["items"][0]
    assert first["row_number"] == 6 and first["code"] == "phone_invalid"
    assert first["cells"]["phone"] == "12-34"

    # Progress reached the supervisor live, batch by batch, ending with "done".
    events = [m["args"][0] for m in sc.get_received(NS) if m["name"] == "campaign_import"]
    mine = [e for e in events if e["import_id"] == iid]
    assert len(mine) >= ROWS // imports.BATCH
    processed = [e["processed_rows"] for e in mine]
    assert processed == sorted(processed) and processed[0] == imports.BATCH
    assert mine[-1]["status"] == "done" and mine[-1]["processed_rows"] == ROWS
    assert boss_id


def test_xlsx_import_and_resume_after_interruption(app: Flask) -> None:
    db = Db(app)
    with db() as s:
        boss = make_user(s, role="supervisor")
        campaign = do_create_campaign(s, fields={"name": "Spring"})
        campaign_id = campaign.id
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Company", "Phone", "Country", "Time zone"])
    for i in range(25):
        sheet.append([f"Firma {i}", 600000000 + i if i != 7 else "", "PL", "Europe/Warsaw"])
    sheet.append(["Kyiv Ltd", "+380441234567", "UA", "Mars/Olympus"])
    buf = io.BytesIO()
    book.save(buf)

    client = _login(app, boss)
    up = client.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        data={"file": (io.BytesIO(buf.getvalue()), "firms.xlsx")},
        content_type="multipart/form-data",
    )
    assert up.status_code == 201, up.get_json()
    body = up.get_json()
    assert body["total_rows"] == 26
    mapping = body["suggested_mapping"]
    assert mapping == {"organisation_name": 0, "phone": 1, "country": 2, "timezone": 3}
    iid = body["import_id"]

    # Started, and the worker died after the first batch of 10 rows: the state a
    # start leaves (list, mapping, "running") plus one committed batch.
    store = BlobStore(app.extensions["switchboard.settings"].effective_blob_dir)
    with db() as s:
        imp = s.get(ListImport, iid)
        assert imp is not None
        the_list = CampaignList(campaign_id=campaign_id, name="Firms", source="import")
        s.add(the_list)
        s.flush()
        imp.mapping, imp.list_id, imp.status = mapping, the_list.id, "running"
    with db() as s:
        imp = s.get(ListImport, iid)
        assert imp is not None
        rows = list(imports.data_rows(store.get(imp.sha256), imp.file_kind))
        imports.apply_batch(s, imp, 0, rows[:10])
    with app.app_context():
        final = run_import(iid, batch=10)
    with db() as s:
        imp = s.get(ListImport, iid)
        assert imp is not None and imp.status == "done"
        assert imp.processed_rows == 26
        assert imp.imported == 24 and imp.rejected == 2 and imp.matched == 0
        assert s.scalar(select(func.count()).select_from(Lead)) == 24
        orgs = s.scalars(select(Customer).where(Customer.kind == "organisation")).all()
        assert len(orgs) == 24 and {o.timezone for o in orgs} == {"Europe/Warsaw"}
        codes = sorted((r.row_number, r.code) for r in s.scalars(select(ImportRejection)))
        assert codes == [(8, "phone_missing"), (26, "timezone_invalid")]
    # Running the task again changes nothing: every row was applied exactly once.
    with app.app_context():
        assert run_import(iid) is None
    assert final is None or final["status"] == "done"


def test_bad_uploads_are_refused_clearly(app: Flask) -> None:
    db = Db(app)
    with db() as s:
        boss = make_user(s, role="supervisor")
        agent = make_user(s)
        campaign_id = do_create_campaign(s, fields={"name": "X"}).id
    client = _login(app, boss)
    empty = client.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        data={"file": (io.BytesIO(b""), "empty.csv")},
        content_type="multipart/form-data",
    )
    assert empty.status_code == 422 and empty.get_json()["field"] == "file"
    broken = client.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        data={"file": (io.BytesIO(b"PK\x03\x04garbage"), "x.xlsx")},
        content_type="multipart/form-data",
    )
    assert broken.status_code == 422
    ok = client.post(
        f"/api/v1/campaigns/{campaign_id}/imports",
        data={"file": (io.BytesIO(b"name,phone\nA,601234567\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    iid = ok.get_json()["import_id"]
    no_phone = client.post(
        f"/api/v1/campaigns/imports/{iid}/start",
        json={"mapping": {"first_name": 0}, "list_name": "L"},
    )
    assert no_phone.status_code == 422 and no_phone.get_json()["field"] == "mapping.phone"
    far = client.post(f"/api/v1/campaigns/imports/{iid}/preview", json={"mapping": {"phone": 9}})
    assert far.status_code == 422
    # Agents may not import.
    agent_client = _login(app, agent)
    assert (
        agent_client.post(
            f"/api/v1/campaigns/imports/{iid}/start",
            json={"mapping": {"phone": 1}, "list_name": "L"},
        ).status_code
        == 403
    )
