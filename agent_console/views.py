"""Log in and out, the agent's console (``/console``) and the supervisor's wallboard
(``/wallboard``): server-rendered pages that the JS in ``static/`` keeps live."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required, login_user, logout_user

from agent_console import bp
from agent_console.service_views import service_js_strings
from crm_core.models.tickets import TICKET_PRIORITIES, TICKET_STATUSES
from crm_core.services.users import authenticate
from hub.agents import PAUSE_CODES
from hub.auth import current, require_role
from hub.db import db
from hub.i18n import plural_forms
from hub.settings import ROOT

# node_modules/ sits next to pyproject.toml (``npm ci`` from ``make venv``).
SOCKET_IO_JS = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"

STATE_LABELS = {
    "offline": _l("Offline"),
    "available": _l("Available"),
    "offered": _l("Ringing"),
    "busy": _l("Busy"),
    "wrap_up": _l("Wrap-up"),
    "break": _l("Break"),
}
PAUSE_LABELS = {
    "lunch": _l("Lunch"),
    "coffee": _l("Coffee"),
    "training": _l("Training"),
    "meeting": _l("Meeting"),
    "coaching": _l("Coaching"),
    "personal": _l("Personal"),
    "missed": _l("Missed offers"),
    "other": _l("Other"),
}
DISPOSITIONS = {
    "resolved": _l("Resolved"),
    "callback": _l("Callback needed"),
    "follow_up": _l("Follow-up ticket"),
    "escalated": _l("Escalated"),
    "sale": _l("Sale"),
    "complaint": _l("Complaint"),
    "wrong_number": _l("Wrong number"),
    "other": _l("Other"),
}
CHANNEL_LABELS = {
    "voice": _l("Call"),
    "email": _l("E-mail"),
    "fax": _l("Fax"),
    "webform": _l("Web form"),
    "sms": _l("SMS"),
    "chat": _l("Chat"),
    "note": _l("Note"),
    "task": _l("Task"),
}
DIRECTION_LABELS = {
    "inbound": _l("inbound"),
    "outbound": _l("outbound"),
    "internal": _l("internal"),
}
TICKET_STATUS_LABELS = {
    "new": _l("New"),
    "open": _l("Open"),
    "pending": _l("Pending"),
    "solved": _l("Solved"),
    "closed": _l("Closed"),
}
PRIORITY_LABELS = {
    "low": _l("Low"),
    "normal": _l("Normal"),
    "high": _l("High"),
    "urgent": _l("Urgent"),
}


def _labels(mapping: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in mapping.items()}


def js_strings() -> dict[str, Any]:
    """Every text the page's JS shows, translated for the agent (the JS has no gettext)."""
    return {
        "states": _labels(STATE_LABELS),
        "pause": _labels(PAUSE_LABELS),
        "dispositions": _labels(DISPOSITIONS),
        "channels": _labels(CHANNEL_LABELS),
        "directions": _labels(DIRECTION_LABELS),
        "ticket_statuses": _labels(TICKET_STATUS_LABELS),
        "priorities": _labels(PRIORITY_LABELS),
        "service": service_js_strings(),
        # Texts with a number: one form per plural category of the language (common.js tn).
        "plurals": {
            "birthday_in": plural_forms(
                "Birthday in %(num)s day (%(date)s)", "Birthday in %(num)s days (%(date)s)"
            ),
        },
        "t": {
            "accept": _("Accept"),
            "decline": _("Decline"),
            "waited": _("waited %(time)s"),
            "expires": _("answer within %(time)s"),
            "queue": _("Queue"),
            "incoming": _("Incoming"),
            "no_offer": _("No incoming work."),
            "no_interactions": _("Nothing open."),
            "no_tickets": _("No tickets."),
            "unknown_caller": _("Unknown caller"),
            "withheld": _("Withheld number"),
            "create_customer": _("Create customer"),
            "link_existing": _("Link to existing"),
            "link": _("Link"),
            "search_customers": _("Search customers"),
            "no_results": _("No matches."),
            "customers": _("Customers"),
            "tickets": _("Tickets"),
            "vip": _("VIP"),
            "no_calls": _("No calls"),
            "no_mail": _("No mail"),
            "organisation": _("Organisation"),
            "class": _("Class"),
            "tags": _("Tags"),
            "contact_points": _("Contact"),
            "custom_fields": _("Details"),
            "open_tickets": _("Open tickets"),
            "recent": _("Last interactions"),
            "birthday_today": _("Birthday today!"),
            "relations": _("Relations"),
            "history": _("History"),
            "load_more": _("Load more"),
            "history_end": _("That is all."),
            "edit": _("Edit"),
            "save": _("Save"),
            "cancel": _("Cancel"),
            "saved": _("Saved."),
            "notes": _("Notes"),
            "add_note": _("Add note"),
            "note_label": _("Note"),
            "disposition": _("Disposition"),
            "choose": _("Choose…"),
            "save_disposition": _("Save disposition"),
            "wrap_up": _("Wrap up"),
            "finish_wrap_up": _("Finish wrap-up"),
            "wrap_up_left": _("Wrap-up: %(time)s left"),
            "wrap_up_over": _("Wrap-up time is over"),
            "on_call_for": _("Active for %(time)s"),
            "transfer": _("Transfer"),
            "transfer_to_queue": _("Transfer to queue"),
            "transfer_to_agent": _("Transfer to agent"),
            "no_interaction": _("Accept an offer or open an item from the left."),
            "from": _("From"),
            "to": _("To"),
            "subject": _("Subject"),
            "status": _("Status"),
            "priority": _("Priority"),
            "assignee": _("Assignee"),
            "unassigned": _("Unassigned"),
            "reply": _("Reply"),
            "message": _("Message"),
            "attachments": _("Attachments"),
            "message_from": _("Message from %(name)s"),
            "dismiss": _("Dismiss"),
            "fax_pages": _("Fax pages"),
            "fax_page": _("Page %(n)s of %(total)s"),
            "fax_open": _("Open to stamp and annotate"),
            "fax_fetching": _("The fax is being fetched from the provider; its pages follow."),
            "fax_unreadable": _("The fax document could not be read: %(error)s"),
            "fax_original": _("Original document"),
            "send_reply": _("Send reply"),
            "reply_to": _("Reply to"),
            "status_after": _("Then set status"),
            "keep_status": _("Keep status"),
            "internal_note": _("Internal note"),
            "thread": _("Thread"),
            "back": _("Back to the list"),
            "first_name": _("First name"),
            "last_name": _("Last name"),
            "organisation_name": _("Organisation name"),
            "kind": _("Kind"),
            "person": _("Person"),
            "organisation_kind": _("Organisation"),
            "city": _("City"),
            "country": _("Country"),
            "language": _("Language"),
            "birthday": _("Birthday"),
            "customer_notes": _("Notes about the customer"),
            "add_contact": _("Add contact"),
            "remove": _("Remove"),
            "phone": _("Phone"),
            "email": _("E-mail"),
            "fax": _("Fax"),
            "value": _("Number or address"),
            "add_relation": _("Add relation"),
            "relation": _("Relation"),
            "related_customer": _("Related customer"),
            "yes": _("Yes"),
            "no": _("No"),
            "surveys": _("Surveys"),
            "survey_unfinished": _("not finished"),
            "run_survey": _("Run a survey"),
            "disconnected": _("Connection lost. Reconnecting…"),
            "reconnected": _("Connected again."),
            "error": _("Something went wrong: %(message)s"),
            "waiting": _("Waiting"),
            "agents_available": _("Available"),
            "longest_wait": _("Longest wait"),
            "service_level": _("Service level"),
            "answered": _("Answered"),
            "abandoned": _("Abandoned"),
            "aht": _("Avg. handle time"),
            "handled_today": _("Handled today"),
            "current_interaction": _("Current"),
            "set_state": _("Set state"),
            "reassign": _("Re-assign"),
            "target": _("target %(time)s"),
            "over_target": _("over target"),
            "near_target": _("near target"),
            "open_card": _("Open card"),
            "interaction": _("Interaction"),
            "filter": _("Filter"),
            "all": _("All"),
            "mine": _("Mine"),
            "open_only": _("Open"),
        },
    }


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a fresh login to another host."""
    if not target:
        return url_for("console.console")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("console.console")
    return target


@bp.get("/")
def index() -> Any:
    return redirect(url_for("console.console"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        email = request.form.get("email", "")[:320]
        password = request.form.get("password", "")[:1024]
        user = authenticate(db.session, email, password)
        if user is None:
            flash(_("Wrong e-mail or password."), "error")
            return render_template("console/login.html", email=email), 401
        login_user(user, remember=bool(request.form.get("remember")))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("console/login.html", email="")


@bp.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("console.login"))


def _page_config() -> dict[str, Any]:
    user = current()
    settings = current_app.extensions["switchboard.settings"]
    return {
        "user": {
            "id": user.id,
            "name": user.name,
            "role": user.role,
            "supervisor": user.is_supervisor,
        },
        "timezone": user.timezone or "UTC",
        "locale": user.language or "en",
        "region": settings.default_region,
        "pause_codes": list(PAUSE_CODES),
        "dispositions": list(DISPOSITIONS),
        "ticket_statuses": list(TICKET_STATUSES),
        "priorities": list(TICKET_PRIORITIES),
        "api": url_for("console.console") + "/api",
        "socket_path": "/socket.io",
        "namespace": "/console",
        "strings": js_strings(),
    }


@bp.get("/console")
@login_required
def console() -> Any:
    return render_template(
        "console/console.html",
        config=_page_config(),
        pause_codes=[(c, PAUSE_LABELS.get(c, c)) for c in PAUSE_CODES],
        dispositions=list(DISPOSITIONS.items()),
        statuses=[(s, TICKET_STATUS_LABELS[s]) for s in TICKET_STATUSES],
        priorities=[(p, PRIORITY_LABELS[p]) for p in TICKET_PRIORITIES],
    )


@bp.get("/wallboard")
@require_role("supervisor")
def wallboard() -> Any:
    tv = request.args.get("tv") == "1"
    return render_template(
        "console/wallboard.html",
        config={**_page_config(), "tv": tv},
        tv=tv,
        pause_codes=[(c, PAUSE_LABELS.get(c, c)) for c in PAUSE_CODES],
    )


@bp.get("/console/vendor/socket.io.min.js")
def socket_io_client() -> Any:
    """socket.io-client from npm (``npm ci``), never a hand-copied file."""
    path = Path(SOCKET_IO_JS)
    if not path.is_file():
        abort(503, description=_("The console's browser libraries are missing: run `npm ci`."))
    response = send_file(path, mimetype="text/javascript", max_age=3600)
    return response
